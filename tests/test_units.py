"""Units, join codes and roles in chat: names and people are checked, nothing is half-done."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage.models import JoinCode, Membership, Role, Unit
from tests.harness import Conversation, texts
from tests.org_setup import Organisation, build_organisation, code_from, person


@pytest.fixture
def org(runtime: Runtime) -> Organisation:
    return build_organisation(runtime)


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def role_of(runtime: Runtime, display_name: str, unit_name: str) -> Role | None:
    from storage.models import Person

    with runtime.sessions() as session:
        return session.scalar(
            select(Membership.role)
            .join(Person, Person.id == Membership.person_id)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(Person.display_name == display_name, Unit.name == unit_name)
        )


def test_an_ambiguous_person_is_listed_and_nothing_changes(runtime: Runtime, org: Organisation) -> None:
    code = code_from(org.admin.say('unit invite "Ystad bibliotek" uses 2'))
    person(runtime, "anna1", "Anna Svensson", code)
    person(runtime, "anna2", "Anna Berg", code)
    reply = texts(org.admin.say('unit role @anna principal "Ystad bibliotek"'))
    assert "Who do you mean by @anna? Pick a number; nothing was changed yet." in reply
    assert "1. Anna Berg · Ystad bibliotek\n2. Anna Svensson · Ystad bibliotek" in reply
    assert role_of(runtime, "Anna Svensson", "Ystad bibliotek") is Role.STAFF
    assert role_of(runtime, "Anna Berg", "Ystad bibliotek") is Role.STAFF
    # A name, even a full one, is only offered to pick; the platform user id names one at once.
    org.admin.say('unit role @"Anna Berg" principal "Ystad bibliotek"')
    assert role_of(runtime, "Anna Berg", "Ystad bibliotek") is Role.STAFF
    assert "Anna Berg is now principal in Ystad bibliotek." in texts(org.admin.click("1"))
    assert "Anna Svensson is now principal" in texts(org.admin.say("unit role @anna1 principal"))
    assert "I can't find anyone called @olle in Ystad bibliotek; nothing was changed." in texts(
        org.admin.say('unit role @olle staff "Ystad bibliotek"')
    )


def test_a_person_in_two_units_needs_the_unit_named(runtime: Runtime, org: Organisation) -> None:
    org.staff.say(f"join {code_from(org.admin.say('unit invite Lunds'))}")
    reply = texts(org.admin.say("unit role @sven principal"))
    assert "Sven Staff is in several units (Lunds bibliotek, Ystad bibliotek)." in reply
    assert role_of(runtime, "Sven Staff", "Lunds bibliotek") is Role.STAFF
    assert "Sven Staff is now principal in Lunds bibliotek." in texts(
        org.admin.say("unit role @sven principal Lunds bibliotek")
    )


def test_unit_names_are_checked_before_anything_is_created(runtime: Runtime, org: Organisation) -> None:
    before = count(runtime, Unit)
    assert "There is already a unit called Ystad bibliotek." in texts(
        org.admin.say('unit create "ystad BIBLIOTEK"')
    )
    assert "I don't know a unit called Region Norr." in texts(
        org.admin.say('unit create "Umeå bibliotek" parent "Region Norr"')
    )
    assert "Write the name of the unit" in texts(org.admin.say("unit create"))
    assert count(runtime, Unit) == before


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ('unit invite "Ystad bibliotek" role boss', "boss is not a role: use staff, principal or manager."),
        ('unit invite "Ystad bibliotek" uses 0', "uses must be a number from 1 to 1000."),
        ('unit invite "Ystad bibliotek" days 400', "days must be a number from 1 to 365."),
        ('unit invite "Ystad bibliotek" role', "role needs a value after it."),
        ("unit invite Malmö", "I don't know a unit called Malmö."),
        (
            "unit invite bibliotek",
            "Several units match bibliotek: Halmstad bibliotek, Lunds bibliotek, Ystad bibliotek.",
        ),
        ('unit invite "Ystad bibliotek" uses 2 soon', "uses must be a number from 1 to 1000."),
    ],
)
def test_a_wrong_invite_makes_no_code(
    runtime: Runtime, org: Organisation, command: str, message: str
) -> None:
    before = count(runtime, JoinCode)
    assert message in texts(org.admin.say(command))
    assert count(runtime, JoinCode) == before


def test_multi_use_code_expires(runtime: Runtime, org: Organisation, clock: ManualClock) -> None:
    code = code_from(org.admin.say('unit invite "Lunds bibliotek" uses 3 days 2'))
    person(runtime, "a", "Ada", code)
    person(runtime, "b", "Bea", code)
    clock.advance(days=3)
    late = Conversation(runtime.engine, "c", display_name="Cid")
    assert f"The code {code} has expired." in texts(late.say(f"join {code}"))
    assert "Members of Lunds bibliotek:\n• Ada (staff)\n• Bea (staff)\n• Lars Lund (staff)" in texts(
        org.admin.say("unit members Lunds bibliotek")
    )


def test_principal_invites_staff_to_own_unit_and_they_join(runtime: Runtime, org: Organisation) -> None:
    code = code_from(org.principal.say('unit invite "Ystad bibliotek" uses 10'))
    newcomer = person(runtime, "ny", "Nora Ny", code)
    assert "Welcome, Nora! You are now a member of Ystad bibliotek." in texts(newcomer.history)
    assert "• Nora Ny (staff)" in texts(org.principal.say("unit members Ystad"))
    assert "unit.invite" in texts(org.admin.say("audit 30"))


def test_units_in_swedish(runtime: Runtime, org: Organisation) -> None:
    org.admin.say("language sv")
    tree = texts(org.admin.say("unit list"))
    assert "Enheter:" in tree
    assert "• Region Skåne (1 medlem: 1 överordnad chef)" in tree
    assert "  • Ystad bibliotek (2 medlemmar: 1 medarbetare, 1 rektor/chef)" in tree
    invite = texts(org.admin.say("unit invite Ystad uses 5"))
    assert "Den kan användas 5 gånger och gäller till och med måndag 7 december 2026." in invite
