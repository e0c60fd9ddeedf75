"""A principal's action plan from results to follow-ups, an overdue item and the manager's digest."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.directory import catalogue
from bot.outbox import Dispatcher
from bot.results import publication_store
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    AnswerKind,
    PlanItem,
    PlanItemStatus,
    ProgressUpdate,
    Response,
    ResponseStatus,
    Role,
)
from tests.harness import Conversation, texts
from tests.timed import RecordingSender, add_member, add_person, add_unit, open_round, run_until, stockholm

PEER_LEARNING = "Schedule a recurring slot for peer learning on digital ways of working"


def _unit_with_results(runtime: Runtime, clock: ManualClock) -> None:
    """Ekskolan (under Ystad kommun) after a round in which three teachers answered 2 throughout."""
    start = clock.now()
    with transaction(runtime.sessions) as s:
        ystad = add_unit(s, "Ystad kommun", start)
        school = add_unit(s, "Ekskolan", start, parent=ystad)
        pia = add_person(s, "pia", "Pia Rektor", start)
        maja = add_person(s, "maja", "Maja Chef", start)
        add_member(s, pia, school, Role.PRINCIPAL, start)
        add_member(s, maja, ystad, Role.MANAGER, start)
        teachers = [
            add_person(s, u, n, start) for u, n in [("anna", "Anna Lärare"), ("bo", "Bo Ek"), ("cy", "Cy")]
        ]
        for teacher in teachers:
            add_member(s, teacher, school, Role.STAFF, start)
        round_ = open_round(
            s,
            school,
            teachers,
            instrument="school-digital-maturity",
            opens=start - timedelta(days=30),
            closes=start - timedelta(days=2),
            threshold=3,
        )
        instrument = catalogue.load(s, round_.instrument_version_id)
        for teacher in teachers:
            response = Response(
                person_id=teacher.id,
                instrument_version_id=round_.instrument_version_id,
                round_id=round_.id,
                unit_id=school.id,
                role="teacher",
                status=ResponseStatus.COMPLETED,
                started_at=start - timedelta(days=10),
                completed_at=start - timedelta(days=10),
            )
            s.add(response)
            s.flush()
            for item in instrument.items_for("teacher"):
                s.add(
                    Answer(
                        response_id=response.id,
                        item_code=item.code,
                        kind=AnswerKind.VALUE,
                        value=2,
                        answered_at=start - timedelta(days=10),
                    )
                )
        s.flush()
        publication_store.seal(s, round_.id, school.id)  # as the bot does when the third completes


def test_principal_adopts_two_actions_owners_report_and_the_manager_gets_a_digest(
    runtime: Runtime, clock: ManualClock
) -> None:
    _unit_with_results(runtime, clock)
    pia = Conversation(runtime.engine, "pia")
    anna = Conversation(runtime.engine, "anna")
    bo = Conversation(runtime.engine, "bo")
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)

    suggested = texts(pia.say("plan"))
    assert "Suggested actions for Ekskolan" in suggested
    assert f"1. {PEER_LEARNING}" in suggested
    assert "Developing" in suggested
    assert "Sorry, you don't have permission" in texts(bo.say("plan"))

    assert "Owner: Anna Lärare. Due 27 November 2026." in texts(
        pia.say("plan adopt 1 owner @anna due 2026-11-27 every 1 weeks")
    )
    added = texts(pia.say("plan adopt 2 due 2027-01-15 every 1 weeks"))
    assert "Owner: Pia Rektor." in added
    again = texts(pia.say("plan adopt 2 due 2027-01-15 every 1 weeks"))  # sent twice: still one item
    assert "That action is already in the plan" in again
    assert "I can't find anyone called @nobody in Ekskolan; nothing was changed." in texts(
        pia.say("plan adopt 3 owner @nobody")
    )
    with transaction(runtime.sessions) as s:
        first, second = s.scalars(select(PlanItem).order_by(PlanItem.id)).all()
        first_id, second_id = first.id, second.id

    # A week later (Monday 30 November, 09:30): both owners are asked; the first item is overdue,
    # so its owner gets the overdue prompt (one message, not two) and the principal a note.
    run_until(runtime, clock, dispatcher, stockholm(2026, 11, 30, 12))
    to_anna = sender.to("anna")
    assert len(to_anna) == 1
    assert to_anna[0].text == f"“{first.text}” was due 27 November and is not done yet. How is it going?"
    assert to_anna[0].at == stockholm(2026, 11, 30, 9, 30)
    note, nudge = sender.to("pia")
    assert "For your information" in note.text
    assert "(owner Anna Lärare)" in note.text
    assert note.at == stockholm(2026, 11, 30, 9, 30)
    assert nudge.text == f"How is “{second.text}” going? (due 15 January)"
    # One message a second per chat at most: the second one waited for the next dispatch.
    assert nudge.at == stockholm(2026, 11, 30, 10, 0)
    assert sender.to("maja") == []

    # Anna: in progress, no comment. Pia: done, with a comment. Bo cannot report on Anna's item.
    clock.set(stockholm(2026, 11, 30, 13))
    assert "not valid" in texts(bo.press(f"pu:{first_id}:dn"))
    labels = [c.label for c in to_anna[0].replies[0].flat_choices]
    assert labels == ["Not started", "In progress", "Done", "Blocked"]
    anna.press(to_anna[0].replies[0].flat_choices[1].payload)
    assert "Thanks for the update!" in texts(anna.click("No comment"))
    pia.press(nudge.replies[0].flat_choices[2].payload)
    assert "comment is saved" in texts(pia.say("Shared at the staff meeting; everyone has a slot."))

    # The first working day of December: the manager's digest.
    run_until(runtime, clock, dispatcher, stockholm(2026, 12, 1, 12))
    # Two: the plan's, and her tree's results (Ystad kommun over Ekskolan, tests/privacy/test_roll_up).
    digests = sender.to("maja")
    assert len(digests) == 2
    digest = [d for d in digests if "Action plan for Ekskolan" in d.text]
    assert len(digest) == 1
    assert digest[0].at == stockholm(2026, 12, 1, 9, 30)
    assert "2 actions: 1 done, 0 in progress, 0 not started, 0 blocked, 1 overdue" in digest[0].text
    assert "“Shared at the staff meeting; everyone has a slot.” (Pia Rektor, 30 November;" in digest[0].text
    report = texts(pia.say("plan report"))
    assert "2 actions: 1 done, 0 in progress, 0 not started, 0 blocked, 1 overdue" in report
    shown = texts(pia.say("plan"))
    assert "in progress · owner Anna Lärare · due 27 November · overdue" in shown
    assert "done · owner Pia Rektor" in shown

    with transaction(runtime.sessions) as s:
        updates = s.scalars(select(ProgressUpdate).order_by(ProgressUpdate.id)).all()
        assert [(u.plan_item_id, u.status, u.comment) for u in updates] == [
            (first_id, PlanItemStatus.IN_PROGRESS, None),
            (second_id, PlanItemStatus.DONE, "Shared at the staff meeting; everyone has a slot."),
        ]
        assert all(u.at == stockholm(2026, 11, 30, 13) for u in updates)

    # Nothing was sent twice, and nothing more about the finished item.
    assert len(sender.to("anna")) == 1
    assert len(sender.to("pia")) == 2
    run_until(runtime, clock, dispatcher, stockholm(2026, 12, 8, 12))
    assert [d.text for d in sender.to("pia")[2:]] == []
    # The weekly follow-up of the open item, on Monday 7 December.
    assert [d.at for d in sender.to("anna")[1:]] == [stockholm(2026, 12, 7, 9, 30)]
    assert sender.to("anna")[1].text == f"How is “{first.text}” going? (due 27 November)"
