"""Action plans as a shared to-do list: owners see what they own and report on it whenever they
like, the principal edits, reassigns, closes and removes items by number, "which unit?" comes with
numbered buttons, and an adopted action reads in each person's own language."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.messages import Incoming
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import AuditLog, PlanItem, PlanItemStatus, ProgressUpdate, Role
from tests.harness import Conversation, texts
from tests.test_plans import PEER_LEARNING, _unit_with_results
from tests.timed import RecordingSender, add_member, add_unit, run_until, stockholm

PEER_LEARNING_SV = "Schemalägg en återkommande stund för kollegialt lärande om digitala arbetssätt"


def _planned(runtime: Runtime, clock: ManualClock) -> tuple[Conversation, Conversation, Conversation]:
    _unit_with_results(runtime, clock)
    pia, anna, bo = (Conversation(runtime.engine, u) for u in ("pia", "anna", "bo"))
    pia.say("plan adopt 1 owner @anna due 2027-03-31")
    pia.say('plan add "Share one tool a month" owner @anna')
    pia.say('plan add "Visit the library" owner @bo')
    return pia, anna, bo


def test_an_owner_sees_their_actions_and_reports_on_them_whenever_they_like(
    runtime: Runtime, clock: ManualClock
) -> None:
    pia, anna, bo = _planned(runtime, clock)
    mine = anna.say("my actions")
    listed = texts(mine)
    assert f"1. {PEER_LEARNING}" in listed
    assert "2. Share one tool a month" in listed
    assert "Visit the library" not in listed
    assert [c.label for c in mine[-1].flat_choices] == [
        "Not started",
        "In progress",
        "Done",
        "Blocked",
        "Comment",
    ]

    # No nudge has come yet: Anna marks the second item in progress and comments on the first.
    anna.press(mine[-1].flat_choices[1].payload)
    anna.click("No comment")
    anna.press(mine[-2].flat_choices[4].payload)
    assert "comment is saved" in texts(anna.say("Booked the first slot for 14 January."))
    with runtime.sessions() as s:
        items = {i.text: i for i in s.scalars(select(PlanItem))}
        assert items["Share one tool a month"].status is PlanItemStatus.IN_PROGRESS
        comments = s.scalars(select(ProgressUpdate.comment).where(ProgressUpdate.comment.is_not(None))).all()
        assert comments == ["Booked the first slot for 14 January."]
    assert "Booked the first slot for 14 January." in texts(pia.say("plan report"))
    # Bo sees only his, and in Swedish the command is "mina åtgärder".
    assert "Visit the library" in texts(bo.say("mina åtgärder"))
    nothing = Conversation(runtime.engine, "cy")
    assert "You don't own any action" in texts(nothing.say("my actions"))


def test_the_principal_edits_reassigns_closes_and_removes_items_by_number(
    runtime: Runtime, clock: ManualClock
) -> None:
    pia, anna, bo = _planned(runtime, clock)
    assert "Changed 2: Share two tools a month" in texts(pia.say('plan edit 2 "Share two tools a month"'))
    assert "Visit the library is now Anna Lärare's" in texts(pia.say("plan owner 3 @anna"))
    assert "due 30 April 2027" in texts(pia.say("plan due 1 2027-04-30"))
    assert "Closed 2: Share two tools a month" in texts(pia.say("plan done 2"))
    assert "Removed 3: Visit the library" in texts(pia.say("plan remove 3"))
    assert "There is no item 7" in texts(pia.say("plan done 7"))
    shown = texts(pia.say("plan"))
    assert "2. Share two tools a month\n   done" in shown
    assert "Visit the library" not in shown
    assert "Visit the library" not in texts(bo.say("my actions"))
    assert "Sorry, you don't have permission" in texts(anna.say("plan done 1"))
    with runtime.sessions() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert {"plan.edit", "plan.owner", "plan.due", "plan.done", "plan.remove"} <= set(actions)


def test_which_unit_is_asked_with_numbered_buttons(runtime: Runtime, clock: ManualClock) -> None:
    pia, _anna, _bo = _planned(runtime, clock)
    with transaction(runtime.sessions) as s:
        from storage.models import Identity, Person

        person = s.scalar(select(Person).join(Identity).where(Identity.platform_user_id == "pia"))
        assert person is not None
        add_member(s, person, add_unit(s, "Backaskolan", clock.now()), Role.PRINCIPAL, clock.now())
    asked = pia.say("plan done 2")
    assert "Which unit?" in texts(asked)
    assert "1. Backaskolan\n2. Ekskolan" in texts(asked)
    assert [c.label for c in pia.choices()] == ["1", "2", "Cancel"]
    assert "Closed 2: Share one tool a month" in texts(pia.click("2"))


def test_an_adopted_action_reads_in_the_owners_language(runtime: Runtime, clock: ManualClock) -> None:
    pia, anna, _bo = _planned(runtime, clock)
    anna.say("språk sv")
    assert PEER_LEARNING_SV in texts(anna.say("mina åtgärder"))
    assert PEER_LEARNING in texts(pia.say("plan"))  # the principal reads it in English
    home = texts(runtime.engine.home(Incoming(platform="console", user_id="anna")))
    assert "Dina åtgärder" in home
    assert PEER_LEARNING_SV in home
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    run_until(runtime, clock, dispatcher, clock.now() + timedelta(days=15), timedelta(hours=3))
    nudges = [d.text for d in sender.to("anna")]
    assert any(PEER_LEARNING_SV in text for text in nudges), nudges
    assert not any(PEER_LEARNING in text for text in nudges)
    assert stockholm(2026, 12, 8) < clock.now()
