"""Unit results: every number of a small fixed data set checked against hand-computed values,
and each anonymity rule proved on its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from bot.i18n import translator
from bot.results import report_files, report_text
from bot.results.reports import UnitReport, may_show_comments, unit_report
from bot.runtime import Runtime
from storage.db import transaction
from tests.report_data import GOLDEN, PREVIOUS, Row, add_responses, install_mini, make_round, make_unit


def seed_golden(runtime: Runtime) -> tuple[int, int]:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        spring = make_round(session, version, unit, now, name="Spring 2026", threshold=3, opens_days_ago=200)
        add_responses(session, spring, unit, version, PREVIOUS, now - timedelta(days=190))
        autumn = make_round(session, version, unit, now, name="Autumn 2026", threshold=3)
        add_responses(session, autumn, unit, version, GOLDEN, now - timedelta(days=5), invited_extra=1)
    return unit, autumn


def test_golden_unit_report_matches_hand_computed_values(runtime: Runtime) -> None:
    unit, round_id = seed_golden(runtime)
    with runtime.sessions() as session:
        report = unit_report(session, unit, round_id)
    assert (report.invited, report.completed, report.published) == (7, 6, 6)
    assert report.completion_rate == pytest.approx(6 / 7)
    stmts = {s.code: s for s in report.statements}
    assert stmts["A1"].stat.n == 6
    assert stmts["A1"].stat.mean == pytest.approx(17 / 6)
    assert stmts["A1"].stat.sd == pytest.approx(1.471960, abs=1e-6)
    assert stmts["A2"].stat.mean == pytest.approx(16 / 6)
    assert stmts["A2"].stat.sd == pytest.approx(1.211060, abs=1e-6)
    assert stmts["B1"].stat.mean == pytest.approx(19 / 6)
    assert stmts["B1"].stat.sd == pytest.approx(1.471960, abs=1e-6)
    assert stmts["B2"].stat.n == 5
    assert stmts["B2"].stat.mean == pytest.approx(3.8)
    assert stmts["B2"].stat.sd == pytest.approx(1.303840, abs=1e-6)
    assert stmts["A1"].distribution == (1, 2, 1, 1, 1)
    assert (stmts["B2"].distribution, stmts["B2"].skipped) == ((0, 1, 1, 1, 2), 1)
    assert [s.code for s in report.weakest()] == ["A2", "A1", "B1", "B2"]
    a, b = report.area("a"), report.area("b")
    assert a is not None
    assert b is not None
    assert a.stat.n == 6
    assert a.stat.mean == pytest.approx(2.75)
    assert a.stat.sd == pytest.approx(1.214496, abs=1e-6)
    assert b.stat.n == 6
    assert b.stat.mean == pytest.approx(20.5 / 6)
    assert b.stat.sd == pytest.approx(1.319722, abs=1e-6)
    assert a.change == pytest.approx(0.75)
    assert b.change == pytest.approx(20.5 / 6 - 3)
    assert report.previous_round_name == "Spring 2026"
    roles = {g.key: g for g in report.roles}
    assert set(roles) == {"principal", "teacher"}
    assert roles["teacher"].areas["a"].mean == pytest.approx(7 / 3)
    assert roles["teacher"].areas["a"].sd == pytest.approx(1.040833, abs=1e-6)
    assert roles["teacher"].areas["b"].mean == pytest.approx(12.5 / 3)
    assert roles["principal"].areas["a"].mean == pytest.approx(9.5 / 3)
    assert roles["principal"].areas["b"].mean == pytest.approx(8 / 3)
    gaps = [(g.area_id, g.high, g.low, round(g.difference, 4)) for g in report.role_gaps]
    assert gaps == [("b", "teacher", "principal", 1.5), ("a", "principal", "teacher", 0.8333)]
    # Not the split by years: its groups were 2 + 1 in the first step, whose unit figures were
    # shown, so "new" at six minus the unit at three would leave two people (rule 4).
    assert report.splits == ()


def seed(
    runtime: Runtime,
    rows: list[Row],
    *,
    threshold: int,
    unit_name: str = "Ystad school",
) -> tuple[int, int, int]:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, unit_name, now)
        round_id = make_round(session, version, unit, now, threshold=threshold)
        add_responses(session, round_id, unit, version, rows, now - timedelta(days=5))
    return unit, round_id, version


def report_of(runtime: Runtime, unit: int, round_id: int) -> UnitReport:
    with runtime.sessions() as session:
        return unit_report(session, unit, round_id)


def add_more(
    runtime: Runtime, unit: int, round_id: int, version: int, rows: list[Row], days_ago: int
) -> None:
    with transaction(runtime.sessions) as session:
        add_responses(session, round_id, unit, version, rows, runtime.clock.now() - timedelta(days=days_ago))


TEACHER: Row = ("teacher", "new", 3, 3, 3, 3)


def test_below_threshold_nothing_is_shown_charted_or_exported(runtime: Runtime) -> None:
    unit, round_id, _ = seed(runtime, [TEACHER] * 4, threshold=5)
    report = report_of(runtime, unit, round_id)
    assert (report.completed, report.published, report.shown) == (4, 0, False)
    assert (report.areas, report.statements, report.splits, report.roles) == ((), (), (), ())
    t = translator("en")
    text = report_text.summary(t, report)
    assert "4 of 4 answered" in text
    assert "shown from 5 answers on" in text
    assert report_files.aggregates_csv(t, report).decode("utf-8-sig").count("\n") == 3  # headers only


def test_one_more_response_does_not_change_the_result_until_a_full_step(runtime: Runtime) -> None:
    first: list[Row] = [("teacher", "new", v, v, v, v) for v in (1, 2, 3, 4, 5)]
    unit, round_id, version = seed(runtime, first, threshold=5)
    at_five = report_of(runtime, unit, round_id)
    assert at_five.published == 5
    # A sixth person answers all 5s: if the result moved, anyone could compute their answers.
    add_more(runtime, unit, round_id, version, [("teacher", "new", 5, 5, 5, 5)], days_ago=4)
    at_six = report_of(runtime, unit, round_id)
    assert (at_six.completed, at_six.published) == (6, 5)
    assert at_six.areas == at_five.areas
    assert at_six.statements == at_five.statements
    assert "based on the first 5 answers" in report_text.summary(translator("en"), at_six)
    add_more(runtime, unit, round_id, version, [("teacher", "new", 1, 1, 1, 1)] * 4, days_ago=3)
    at_ten = report_of(runtime, unit, round_id)
    assert at_ten.published == 10
    assert at_ten.areas != at_five.areas


def test_a_statement_that_grew_by_fewer_than_the_threshold_keeps_its_last_safe_value(
    runtime: Runtime,
) -> None:
    # Between the two steps only one more person answered B2 (the others skipped it): its new mean
    # minus the old would be that person's answer, so B2 keeps its last safe value (3 answers of 4).
    rows: list[Row] = (
        [("teacher", "new", 3, 3, 3, 4)] * 3
        + [("teacher", "new", 3, 3, 3, 1)]
        + [("teacher", "new", 3, 3, 3, None)] * 2
    )
    unit, round_id, _ = seed(runtime, rows, threshold=3)
    report = report_of(runtime, unit, round_id)
    assert report.published == 6
    b2 = next(s for s in report.statements if s.code == "B2")
    assert (b2.stat.n, b2.stat.mean, b2.distribution, b2.skipped) == (3, 4.0, (0, 0, 0, 3, 0), 0)
    assert all(s.stat.n == 6 for s in report.statements if s.code != "B2")


def test_split_is_suppressed_when_the_rest_of_the_unit_is_a_small_group(runtime: Runtime) -> None:
    # 4 new + 4 long-serving are each at the threshold, but the one person who did not answer the
    # question would be "total minus the two groups".
    rows: list[Row] = (
        [("teacher", "new", 2, 2, 2, 2)] * 4
        + [("teacher", "old", 4, 4, 4, 4)] * 4
        + [("teacher", None, 5, 5, 5, 5)]
    )
    unit, round_id, _ = seed(runtime, rows, threshold=3)
    report = report_of(runtime, unit, round_id)
    assert report.published == 9
    assert report.splits == ()
    # The same groups without the lone non-answerer are shown.
    unit2, round2, _ = seed(runtime, rows[:3] + rows[4:7], threshold=3, unit_name="Other")
    shown = report_of(runtime, unit2, round2)
    assert shown.published == 6
    assert [g.key for g in shown.splits[0].groups] == ["new", "old"]


def test_whose_view_needs_every_role_at_the_threshold(runtime: Runtime) -> None:
    # Two principals among seven teachers: showing the teachers would show the principals too.
    rows: list[Row] = [("teacher", "new", 3, 3, 3, 3)] * 7
    rows += [("principal", "old", 5, 5, 5, 5)] * 2
    unit, round_id, _ = seed(runtime, rows, threshold=3)
    report = report_of(runtime, unit, round_id)
    assert report.published == 9
    assert report.roles == ()
    assert report.role_gaps == ()
    assert report_text.whose_view_lines(translator("en"), report) == []


def test_comments_are_only_for_groups_at_the_threshold() -> None:
    assert not may_show_comments(4, 5)
    assert may_show_comments(5, 5)


def test_query_count_does_not_grow_with_respondents(runtime: Runtime) -> None:
    small_unit, small_round, _ = seed(runtime, list(GOLDEN), threshold=3, unit_name="Small")
    big_unit, big_round, _ = seed(runtime, list(GOLDEN) * 10, threshold=3, unit_name="Big")
    counts = []
    for unit, round_id in ((small_unit, small_round), (big_unit, big_round)):
        statements: list[str] = []

        def count(*args: object, seen: list[str] = statements) -> None:
            seen.append(str(args[2]))

        event.listen(runtime.db, "before_cursor_execute", count)
        try:
            report_of(runtime, unit, round_id)
        finally:
            event.remove(runtime.db, "before_cursor_execute", count)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]))
    assert counts[0] == counts[1]
    assert counts[0] <= 16


def test_summary_in_swedish_uses_decimal_comma(runtime: Runtime) -> None:
    unit, round_id = seed_golden(runtime)
    text = report_text.summary(translator("sv"), report_of(runtime, unit, round_id))
    assert "6 av 7 har svarat (86\xa0%)" in text
    assert "Samarbete 2,8 (spridning 1,2) (+0,8 sedan Spring 2026)" in text
    assert "A2 Vi planerar ihop. (2,7)" in text


def test_a_split_that_may_not_move_keeps_its_last_safe_value(runtime: Runtime) -> None:
    # Step 1 (6 answers): 3 new and 3 long-serving, shown. Step 2 adds 2 new and 1 long-serving:
    # showing it would let anyone compute what those few people answered, so step 1 stays.
    rows: list[Row] = [("teacher", "new", 2, 2, 2, 2)] * 3
    rows += [("teacher", "old", 4, 4, 4, 4)] * 3
    rows += [("teacher", "new", 5, 5, 5, 5)] * 2 + [("teacher", "old", 1, 1, 1, 1)]
    unit, round_id, _ = seed(runtime, rows, threshold=3)
    report = report_of(runtime, unit, round_id)
    assert report.published == 9
    (years,) = report.splits
    groups = {g.key: g for g in years.groups}
    assert (groups["new"].n, groups["new"].areas["a"].mean) == (3, 2.0)
    assert (groups["old"].n, groups["old"].areas["a"].mean) == (3, 4.0)
    assert report.area("a") is not None
    assert report.area("a").stat.n == 9  # type: ignore[union-attr]
