"""Opening, following and closing assessment rounds: who is invited, in which language, exactly once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.messages import replies_from_json
from bot.runtime import Runtime
from storage.models import Identity, Outbox, OutboxState, Round, RoundParticipant, RoundUnit
from tests.harness import texts
from tests.org_setup import Organisation, build_organisation, code_from, person


@pytest.fixture
def org(runtime: Runtime) -> Organisation:
    return build_organisation(runtime)


def rows(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def invitations(runtime: Runtime) -> dict[str, Outbox]:
    with runtime.sessions() as session:
        found = session.execute(
            select(Identity.platform_user_id, Outbox)
            .join(Outbox, Outbox.person_id == Identity.person_id)
            .where(Outbox.kind == "invite")
        ).all()
        session.expunge_all()
        return {user: row for user, row in found}


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            'round open digcomp-library "Malmö bibliotek" closes 2026-12-12',
            "I don't know a unit called Malmö bibliotek.",
        ),
        (
            'round open digcomp-libary "Ystad bibliotek" closes 2026-12-12',
            "I don't know an instrument called digcomp-libary.",
        ),
        ('round open digcomp-library "Ystad bibliotek" closes 2026-11-22', "2026-11-22 has already passed"),
        ('round open digcomp-library "Ystad bibliotek" closes 31/2', "31/2 is not a date"),
        ('round open digcomp-library "Ystad bibliotek" closes 2026-02-30', "2026-02-30 is not a date"),
        ('round open digcomp-library "Ystad bibliotek" closes 2026-12-12 threshold 2', "at least 3"),
        ('round open digcomp-library "Ystad bibliotek" closes 2026-12-12 threshold many', "at least 3"),
        (
            'round open digcomp-library "Ystad bibliotek" closes 2026-12-12 remind 3days',
            "reminder rule at 3days",
        ),
        (
            'round open digcomp-library "Ystad bibliotek"',
            "Write round open, the instrument, the unit and the closing date",
        ),
        (
            'round open digcomp-library "Ystad bibliotek" closes 2026-12-12 closes 2026-12-13',
            "closes is given twice",
        ),
        ("round open digcomp-library bibliotek closes 2026-12-12", "Several units match bibliotek"),
        (
            "round open digcomp-library Ystad closes 2026-12-12 anonymous please",
            "I don't understand please here.",
        ),
    ],
)
def test_a_wrong_round_open_says_why_and_stores_nothing(
    runtime: Runtime, org: Organisation, command: str, message: str
) -> None:
    outbox_before = rows(runtime, Outbox)
    reply = texts(org.admin.say(command))
    assert message in reply
    assert rows(runtime, Round) == 0
    assert rows(runtime, RoundUnit) == 0
    assert rows(runtime, RoundParticipant) == 0
    assert rows(runtime, Outbox) == outbox_before


def test_closing_today_is_allowed_and_options_are_stored(runtime: Runtime, org: Organisation) -> None:
    reply = texts(
        org.admin.say(
            'round open digcomp-library Ystad closes 2026-11-23 remind " 5d , -1wd" threshold 4 anonymous name Höst 2026'
        )
    )
    assert "Round #1 (Höst 2026) is open for Ystad bibliotek until Monday 23 November 2026." in reply
    assert "Reminders: 5d,-1wd,max3 · anonymity threshold: 4 · anonymous" in reply
    with runtime.sessions() as session:
        round_ = session.get(Round, 1)
        assert round_ is not None
        assert (round_.name, round_.threshold, round_.anonymous, round_.reminder_rule) == (
            "Höst 2026",
            4,
            True,
            "5d,-1wd,max3",
        )
        # Open through the closing day in Stockholm: 23:59:59 local is 22:59:59 UTC in November.
        assert round_.closes_at.isoformat() == "2026-11-23T22:59:59+00:00"


def test_default_threshold_and_rule_come_from_the_config(runtime: Runtime, org: Organisation) -> None:
    reply = texts(org.admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-12'))
    assert "Reminders: 3wd,-2d,max3 · anonymity threshold: 5" in reply


def test_invitations_one_per_person_in_their_language_and_never_twice(
    runtime: Runtime, org: Organisation
) -> None:
    admin = org.admin
    code = code_from(admin.say('unit invite "Ystad bibliotek" uses 5'))
    person(runtime, "svea", "Svea Svensk", code, locale="sv")
    # Sven is in Ystad; make him a member of Lund too: the region-wide round invites him once.
    org.staff.say(f"join {code_from(admin.say('unit invite Lunds'))}")

    reply = texts(admin.say('round open digcomp-library "Region Skåne" closes 2026-12-12 with-subunits'))
    # Pia (principal), Sven, Svea (Ystad staff), Lars (Lund staff); not Maja, the manager.
    assert "I am sending invitations to 4 people." in reply
    sent = invitations(runtime)
    assert set(sent) == {"pia", "sven", "svea", "lars"}
    assert all(row.idempotency_key.startswith("invite:1:") for row in sent.values())
    swedish = replies_from_json(sent["svea"].payload)[0]
    assert (
        "Du är inbjuden till skattningen Digital kompetens för bibliotekspersonal för Ystad bibliotek."
        in swedish.text
    )
    assert "12 december 2026" in swedish.text
    assert [(c.label, c.payload) for c in swedish.flat_choices] == [("Starta skattningen", "o:1")]
    english = replies_from_json(sent["lars"].payload)[0]
    assert (
        "You are invited to the assessment Digital competence for library staff for Lunds bibliotek."
        in english.text
    )

    again = texts(admin.say('round open digcomp-library "Region Skåne" closes 2026-12-12 with-subunits'))
    assert "Everyone there is already invited; the round's settings are unchanged." in again
    assert len(invitations(runtime)) == 4

    # Someone added to the unit by an admin later is invited when the command is repeated.
    with runtime.sessions() as session, session.begin():
        from storage.models import Membership, Person, Role, Unit

        newcomer = Person(display_name="Nils Ny", created_at=runtime.clock.now())
        session.add(newcomer)
        session.flush()
        session.add(Identity(person_id=newcomer.id, platform="console", platform_user_id="nils"))
        ystad = session.scalar(select(Unit).where(Unit.name == "Ystad bibliotek"))
        assert ystad is not None
        session.add(
            Membership(
                person_id=newcomer.id, unit_id=ystad.id, role=Role.STAFF, joined_at=runtime.clock.now()
            )
        )
    third = texts(admin.say('round open digcomp-library "Region Skåne" closes 2026-12-12 with-subunits'))
    assert "I invited 1 person who was not invited before." in third
    assert set(invitations(runtime)) == {"pia", "sven", "svea", "lars", "nils"}
    assert rows(runtime, Round) == 1


def test_a_person_with_two_open_rounds_chooses_which_to_take(runtime: Runtime, org: Organisation) -> None:
    org.admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-12 name Library autumn')
    org.admin.say(
        'round open school-digital-maturity "Ystad bibliotek" closes 2026-12-19 name Maturity check'
    )
    org.staff.say("assess")
    offered = [(c.label, c.payload) for c in org.staff.choices()]
    assert offered[:2] == [
        ("Library autumn (closes 12 December)", "o:1"),
        ("Maturity check (closes 19 December)", "o:2"),
    ]
    started = texts(org.staff.click("Maturity check (closes 19 December)"))
    assert "Background question 1/" in started or "Statement 1/" in started
    with runtime.sessions() as session:
        from storage.models import Response

        response = session.scalar(select(Response))
        assert response is not None
        assert response.round_id == 2


def test_closing_a_round_cancels_unsent_invitations_and_stops_answers(
    runtime: Runtime, org: Organisation, clock: ManualClock
) -> None:
    org.admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-12')
    reply = texts(org.admin.say("round close 1"))
    assert "Round #1 (Digital competence for library staff) is closed; no more answers are taken." in reply
    assert {row.state for row in invitations(runtime).values()} == {OutboxState.CANCELLED}
    assert "That round has closed." in texts(org.staff.press("o:1"))
    assert "already closed" in texts(org.admin.say("round close 1"))
    status = texts(org.admin.say("round list"))
    assert "closed (planned until 12 December 2026)" in status
    assert "round.close" in texts(org.admin.say("audit 3"))


def test_round_status_without_rounds_and_unknown_round(runtime: Runtime, org: Organisation) -> None:
    assert "There is no open round." in texts(org.admin.say("round status"))
    assert "I don't know a round #9." in texts(org.admin.say("round status #9"))
    assert "There are no rounds yet." in texts(org.admin.say("round list"))
