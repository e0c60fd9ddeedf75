"""A staff workshop on a unit's result, run in the terminal: the result, one statement at a time with
its distribution and a timer, votes, notes, moving on, pausing, resuming and the ranking at the end.
(Telegram groups and Slack channels: tests/test_workshop_groups.py.)"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import openpyxl
from pypdf import PdfReader
from pypdf.generic import DictionaryObject
from sqlalchemy import select

from bot.clock import ManualClock
from bot.messages import Reply
from bot.outbox import Dispatcher
from bot.results.reports import unit_report
from bot.runtime import Runtime
from bot.runtime import start as start_runtime
from bot.workshop import agenda
from storage.db import transaction
from storage.models import ActionPlan, Outbox, OutboxState, PlanItem, PlanItemStatus, Role, WorkshopNote
from tests.harness import Conversation, texts
from tests.report_data import GOLDEN, Row, add_responses, install_mini, make_round, make_unit
from tests.test_unit_results import join
from tests.timed import RecordingSender


def school(runtime: Runtime, rows: Sequence[Row] = GOLDEN) -> tuple[int, int]:
    """Ystad school, whose six staff answered the mini survey (threshold 3)."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        autumn = make_round(session, version, unit, now, name="Autumn 2026", threshold=3)
        add_responses(session, autumn, unit, version, rows, now - timedelta(days=5))
    return unit, autumn


def principal(runtime: Runtime, unit: int) -> Conversation:
    pia = Conversation(runtime.engine, "pia", display_name="Pia Rektor")
    join(runtime, pia, unit, Role.PRINCIPAL)
    return pia


def staff(runtime: Runtime, unit: int | None, user: str, name: str) -> Conversation:
    who = Conversation(runtime.engine, user, display_name=name)
    if unit is None:
        who.say("help")
    else:
        join(runtime, who, unit, Role.STAFF)
    return who


def test_principal_runs_a_workshop_alone_in_the_terminal(runtime: Runtime, clock: ManualClock) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    opening = pia.say("workshop start minutes 3 pick 2")
    assert "4 statements, weakest first, 3 min each" in opening[0].text
    assert opening[1].image is not None
    first = opening[2]
    assert first.text.startswith("Statement 1/4 · Collaboration\nA2 We plan together.")
    assert "Answers: 1: 1 · 2: 2 · 3: 1 · 4: 2 · 5: 0 · skipped: 0" in first.text
    assert "⏱ 3 minutes, until 09:03." in first.text
    assert [c.label for c in first.flat_choices] == [
        "⭐ A priority for us (0)",
        "◀ Back",
        "⏸ Pause",
        "Next ▶",
    ]

    voted = pia.click("⭐ A priority for us (0)")
    assert voted[0].edit
    assert "⭐ A priority for us (1)" in [c.label for c in voted[0].flat_choices]
    assert pia.say("workshop note We never find time to plan together")[0].text == "📝 Noted on A2 (1 note)."

    clock.advance(minutes=1)
    second = pia.click("Next ▶")
    assert second[0].text.startswith("Statement 2/4 · Collaboration\nA1 We share material.")
    assert "until 09:04" in second[0].text
    back = pia.say("workshop back")
    assert back[0].text.startswith("Statement 1/4")
    paused = pia.say("workshop pause")
    assert "Paused at statement 1/4" in paused[0].text
    # The next day it goes on where it was.
    clock.advance(days=1)
    resumed = pia.say("workshop resume")
    assert resumed[0].text.startswith("Statement 1/4")
    assert "⭐ A priority for us (1)" in [c.label for c in resumed[0].flat_choices]
    for _ in range(3):
        pia.say("workshop next")
    assert "the last statement" in texts(pia.say("workshop next"))
    ended = pia.say("workshop end")
    assert "4 statements · 1 vote · 1 note" in ended[0].text
    assert "Our priorities, by votes:\n1) A2 We plan together. (1 vote)" in ended[0].text


def test_the_workshop_shows_exactly_the_figures_of_unit_results(runtime: Runtime) -> None:
    # B2 was skipped by four of six: too few answers to be shown, in unit results and in the workshop.
    rows = [(*row[:5], None if i < 4 else row[5]) for i, row in enumerate(GOLDEN)]
    unit, autumn = school(runtime, rows)
    pia = principal(runtime, unit)
    results = pia.say("unit results")
    opening = pia.say("workshop start")
    assert opening[1].text == results[0].text
    with runtime.sessions() as session:
        report = unit_report(session, unit, autumn)
    shown = {s.code for s in report.statements}
    assert shown == {"A1", "A2", "B1"}
    seen: list[str] = [opening[2].text]
    for _ in range(2):
        seen.append(pia.say("workshop next")[0].text)
    for text, statement in zip(seen, report.weakest(), strict=True):
        assert statement.code in text
        points = " · ".join(f"{p}: {n}" for p, n in enumerate(statement.distribution, start=1))
        assert f"Answers: {points} · skipped: {statement.skipped}" in text
    assert "There is support" not in texts(pia.history)
    assert "Statement 3/3" in seen[-1]


def test_only_members_vote_each_once_with_a_limited_number_of_votes(runtime: Runtime) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sven = staff(runtime, unit, "sven", "Sven Staff")
    olle = staff(runtime, None, "olle", "Olle Outsider")
    first = pia.say("workshop start votes 1")[2]
    vote = first.flat_choices[0].payload
    assert "(1)" in sven.press(vote)[0].flat_choices[0].label
    assert "(2)" in pia.press(vote)[0].flat_choices[0].label
    assert "Only members of Ystad school can vote." in texts(olle.press(vote))
    second = pia.say("workshop next")[0]
    assert "You have used your vote" in texts(sven.press(second.flat_choices[0].payload))
    # A second press takes the vote back; then it can go elsewhere.
    assert "(1)" in sven.press(vote)[0].flat_choices[0].label
    assert "(1)" in sven.press(second.flat_choices[0].payload)[0].flat_choices[0].label
    # Counts, never names.
    assert "Sven" not in texts(pia.history)
    assert "Olle" not in texts(pia.say("workshop end"))


def test_only_the_principal_or_a_named_facilitator_runs_it(runtime: Runtime) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sven = staff(runtime, unit, "sven", "Sven Staff")
    anna = staff(runtime, unit, "anna", "Anna Berg")
    assert "principal or a facilitator" in texts(sven.say("workshop start"))
    assert "Sven Staff can now run workshops on Ystad school" in texts(pia.say("workshop facilitator @sven"))
    assert sven.say("workshop start")[2].text.startswith("Statement 1/4")
    # Anna is a member in the same chat only in a group; here she has no workshop of her own.
    assert "no workshop going on in this chat" in texts(anna.say("workshop next"))


def test_when_time_is_up_the_timer_says_so_and_a_move_cancels_it(
    runtime: Runtime, clock: ManualClock
) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    pia.say("workshop start minutes 2")
    clock.advance(minutes=1, seconds=59)
    assert dispatcher.drain() == 0
    clock.advance(seconds=1)
    assert dispatcher.drain() == 1
    assert sender.to("pia")[-1].text == "⏰ Time is up: A2 We plan together."
    pia.say("workshop next")
    pia.say("workshop next")  # the second statement's timer is dropped: it moved on
    clock.advance(minutes=2)
    assert dispatcher.drain() == 1
    assert "Time is up: B1" in sender.to("pia")[-1].text
    with runtime.sessions() as session:
        states = list(session.scalars(select(Outbox.state).where(Outbox.kind == "workshop")))
    assert sorted(states) == sorted([OutboxState.SENT, OutboxState.CANCELLED, OutboxState.SENT])


def test_a_workshop_that_moves_on_by_itself_keeps_notes_on_the_right_statement(
    runtime: Runtime, clock: ManualClock
) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    pia.say("workshop start minutes 2 auto")
    clock.advance(minutes=2)
    dispatcher.drain()
    moved = sender.to("pia")[-1]
    assert moved.replies[0].text.startswith("⏰ Time is up: A2")
    assert moved.replies[1].text.startswith("Statement 2/4 · Collaboration\nA1")
    assert "until 09:04" in moved.replies[1].text
    assert "(1 note)" in pia.say("workshop note Share the slides")[0].text
    with runtime.sessions() as session:
        assert session.scalar(select(WorkshopNote.item_code)) == "A1"


def test_a_paused_workshop_stays_silent_until_resumed(runtime: Runtime, clock: ManualClock) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    pia.say("workshop start")
    clock.advance(minutes=1)
    pia.say("workshop pause")
    clock.advance(minutes=10)
    assert dispatcher.drain() == 0
    clock.advance(days=1)
    assert "⏱ 2.0 min left, until 09:13." in texts(pia.say("workshop resume"))
    clock.advance(minutes=2)
    assert dispatcher.drain() == 1
    assert sender.to("pia")[-1].text == "⏰ Time is up: A2 We plan together."


def test_a_workshop_survives_a_restart(runtime: Runtime, clock: ManualClock) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    pia.say("workshop start")
    pia.say("workshop next")
    again = start_runtime(runtime.config, clock)
    try:
        pia_again = Conversation(again.engine, "pia", display_name="Pia Rektor")
        assert pia_again.say("workshop next")[0].text.startswith("Statement 3/4")
    finally:
        again.db.dispose()


def test_the_timer_moves_on_only_when_asked() -> None:
    t0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    timing = agenda.Timing(0, 3, t0, 0.0, 3, auto_next=True)
    assert agenda.settle(timing, t0 + timedelta(minutes=7)).position == 2
    assert agenda.settle(timing, t0 + timedelta(minutes=20)).position == 2
    paused = agenda.pause(timing, t0 + timedelta(minutes=1))
    assert agenda.time_left(paused, t0 + timedelta(days=1)) == 120
    assert [a.due_at for a in agenda.alarms(agenda.resume(paused, t0 + timedelta(hours=1)))] == [
        t0 + timedelta(hours=1, minutes=2),
        t0 + timedelta(hours=1, minutes=5),
        t0 + timedelta(hours=1, minutes=8),
    ]
    still = agenda.Timing(0, 3, t0, 0.0, 3, auto_next=False)
    assert agenda.settle(still, t0 + timedelta(minutes=7)).position == 0
    assert agenda.ranking(["A2", "A1", "B1"], {"B1": 2, "A1": 2}) == [("A1", 2), ("B1", 2), ("A2", 0)]


def _ended_workshop(runtime: Runtime) -> tuple[Conversation, Conversation, list[Reply]]:
    """A workshop where Pia and Sven chose A2 and A1, with notes on both."""
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sven = staff(runtime, unit, "sven", "Sven Staff")
    first = pia.say("workshop start pick 2 votes 2")[2]
    pia.press(first.flat_choices[0].payload)
    sven.press(first.flat_choices[0].payload)
    pia.say("workshop note We never find time to plan together")
    second = pia.say("workshop next")[0]
    sven.press(second.flat_choices[0].payload)
    pia.say("workshop note One shared folder for the slides")
    return pia, sven, pia.say("workshop end")


def test_the_top_priorities_become_plan_items_with_one_press_and_suggested_actions(runtime: Runtime) -> None:
    pia, sven, ended = _ended_workshop(runtime)
    assert "1) A2 We plan together. (2 votes)\n2) A1 We share material. (1 vote)" in ended[0].text
    assert "Only the unit's principal can add to its plan." in texts(
        sven.press(ended[0].flat_choices[0].payload)
    )
    added = pia.click("Add the priorities to the plan")
    assert added[0].text.startswith("Added 2 priorities to the plan of Ystad school (owner: Pia Rektor).")
    assert added[1].text == "Suggested actions for A2:\n• Plan one lesson together."
    assert "Added to the plan: Plan one lesson together." in texts(
        pia.click("Adopt: Plan one lesson together.")
    )
    plan = texts(pia.say("plan"))
    assert "Priority from the workshop: A2 We plan together." in plan
    assert "Priority from the workshop: A1 We share material." in plan
    assert "Plan one lesson together." in plan
    # Pressed again, nothing is doubled.
    assert "Added 0 priorities" in texts(pia.press(ended[0].flat_choices[0].payload))


def test_the_pack_is_a_printable_document_with_the_notes_and_the_priorities(runtime: Runtime) -> None:
    pia, _sven, _ended = _ended_workshop(runtime)
    pdf = pia.click("Workshop pack (PDF)")[0].file
    assert pdf is not None
    reader = PdfReader(io.BytesIO(pdf.content))
    pages = [page.extract_text() for page in reader.pages]
    total = len(pages)
    for n, text in enumerate(pages, start=1):
        assert "Ystad school · Autumn 2026" in text
        assert f"Page {n} / {total}" in text
    assert 'Ystad school · Round "Autumn 2026" · 6 of 6 answered' in pages[0]
    a2 = next(p for p in pages if "A2 We plan together." in p and "Our notes" in p)
    assert "2 priority votes" in a2
    assert "We never find time to plan together" in a2
    a1 = next(p for p in pages if "A1 We share material." in p and "Our notes" in p)
    assert "One shared folder for the slides" in a1
    assert "Sven" not in "\n".join(pages)
    assert "Our priorities\nA2 We plan together. (2 votes)\nA1 We share material. (1 vote)" in pages[-1]
    catalog = reader.root_object
    assert "/StructTreeRoot" in catalog
    assert cast(DictionaryObject, catalog["/MarkInfo"])["/Marked"]
    sheet = pia.click("Spreadsheet")[0].file
    assert sheet is not None
    workbook = openpyxl.load_workbook(io.BytesIO(sheet.content))
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert [(r[1], r[-2], r[-1]) for r in rows[1:3]] == [
        ("A2", 2, "We never find time to plan together"),
        ("A1", 1, "One shared folder for the slides"),
    ]
    assert [r[1] for r in workbook["Our priorities"].iter_rows(values_only=True)][1:] == ["A2", "A1"]


def test_what_other_units_at_the_same_level_adopted_shows_only_counts_of_enough_units(
    runtime: Runtime,
) -> None:
    pia, _sven, ended = _ended_workshop(runtime)
    now = runtime.clock.now()

    def another_unit_adopts(name: str, text: str) -> None:
        with transaction(runtime.sessions) as session:
            other = make_unit(session, name, now)
            plan = ActionPlan(unit_id=other, created_at=now)
            session.add(plan)
            session.flush()
            session.add(
                PlanItem(
                    plan_id=plan.id,
                    text=text,
                    status=PlanItemStatus.NOT_STARTED,
                    area_id="a",
                    cadence_days=14,
                    created_at=now,
                )
            )

    another_unit_adopts("Lund school", "Plan one lesson together.")
    another_unit_adopts("Malmö school", "Planera en gemensam lektion.")  # the same action, in Swedish
    two = texts(pia.press(ended[0].flat_choices[0].payload))
    assert "Other units" not in two  # two units are fewer than the threshold (3)
    another_unit_adopts("Ystad north school", "Plan one lesson together.")
    three = texts(pia.press(ended[0].flat_choices[0].payload))
    assert "Other units at this level adopted most often:\n• Plan one lesson together. (3 units)" in three
    assert not any(name in three for name in ("Lund", "Malmö", "north"))


def test_forged_workshop_buttons_get_a_friendly_answer_and_change_nothing(runtime: Runtime) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    first = pia.say("workshop start")[2]
    workshop_id = first.flat_choices[0].payload.split(":")[1]
    for forged in (
        "wv:999:A2",
        f"wv:{workshop_id}:Z9",
        f"wv:{workshop_id}",
        f"wm:{workshop_id}:x:next",
        f"wm:{workshop_id}:1:jump",
        "wm:abc",
        f"wa:{workshop_id}:A2:x",
        f"wf:{workshop_id}:exe",
        "wp:",
    ):
        answer = texts(pia.press(forged))
        assert answer
        assert "went wrong" not in answer, forged
    assert pia.say("workshop next")[0].text.startswith("Statement 2/4")
