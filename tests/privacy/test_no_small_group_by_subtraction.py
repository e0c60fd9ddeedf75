"""A reader who takes a unit's total and subtracts the groups that are shown must never be left
with a hidden group of 1..threshold-1 people: whenever a group's figure is hidden, enough others
are hidden with it (complementary suppression), per area, with skips counted."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.results.reports import UnitReport, unit_report
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Round
from tests.report_data import Row, add_responses, install_mini, make_round, make_unit


def _unit(runtime: Runtime, rows: tuple[Row, ...]) -> UnitReport:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
        add_responses(session, round_id, unit, version, rows, now - timedelta(days=1))
    with runtime.sessions() as session:
        return unit_report(session, unit, round_id)


def left_over(report: UnitReport) -> list[tuple[str, str, int]]:
    """(split, area, respondents) of what a reader computes as total minus the shown groups, where
    that is a group of 1..threshold-1."""
    found = []
    splits = [("role", report.roles), *((s.question_id, s.groups) for s in report.splits)]
    for name, groups in splits:
        if not groups:
            continue
        for area in report.areas:
            shown = [g.areas[area.area_id] for g in groups if area.area_id in g.areas]
            rest = area.stat.n - sum(s.n for s in shown)
            if 0 < rest < report.threshold:
                found.append((name, area.area_id, rest))
    return found


def test_subtracting_the_teachers_from_the_total_does_not_give_the_one_principal_who_rated_technology(
    runtime: Runtime,
) -> None:
    t = ("teacher", "new", 3, 3, 3, 3)
    report = _unit(
        runtime,
        (
            t,
            t,
            t,
            ("principal", "old", 1, 2, 5, 5),  # the only principal who rated the technology
            t,
            t,
            ("principal", "old", 5, 3, None, None),
            ("principal", "new", 2, 1, None, None),
            t,
            t,
            t,
            t,
        ),
    )
    # Whether the split by role is shown at all is rule 4's business (test below); whatever it
    # shows, the total minus the teachers leaves nobody alone.
    assert left_over(report) == []


def test_subtracting_the_answered_groups_does_not_give_the_one_who_left_a_question_blank(
    runtime: Runtime,
) -> None:
    new, old = ("teacher", "new", 3, 3, 3, 3), ("principal", "old", 2, 2, 2, 2)
    report = _unit(
        runtime,
        (
            new,
            new,
            new,
            old,
            old,
            old,
            ("teacher", None, 1, 1, 5, 5),  # three left "how long?" blank, two of them skipped B
            ("teacher", None, 2, 2, None, None),
            ("principal", None, 3, 3, None, None),
            new,
            new,
            new,
        ),
    )
    assert report.splits  # the split by years is shown
    assert left_over(report) == []


def test_a_reader_who_noted_the_total_early_cannot_subtract_a_group_shown_later(runtime: Runtime) -> None:
    # After three answers (two new, one long-serving) the unit's figures are shown and noted. Had
    # the split by years been shown after six, "new" (three) minus the first three would be the
    # answers of one newcomer less those of the long-serving one: two people.
    rows: tuple[Row, ...] = (
        ("teacher", "new", 1, 2, 4, 5),
        ("teacher", "new", 2, 2, 3, 4),
        ("teacher", "old", 3, 4, 5, 5),
        ("principal", "old", 4, 4, 2, 3),
        ("principal", "old", 5, 3, 1, 2),
        ("principal", "new", 2, 1, 4, 4),
    )
    early = _unit(runtime, rows[:3])
    assert early.areas  # noted
    with transaction(runtime.sessions) as session:
        version = session.scalar(select(Round.instrument_version_id).where(Round.id == early.round_id))
        assert version is not None
        add_responses(session, early.round_id, early.unit_id, version, rows[3:], runtime.clock.now())
    with runtime.sessions() as session:
        later = unit_report(session, early.unit_id, early.round_id)
    assert later.published == 6
    assert later.splits == ()
    assert {g.key for g in later.roles} == {"teacher", "principal"}  # three and three, one step each
