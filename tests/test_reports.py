"""Unit results: every number of a small fixed data set checked against hand-computed values,
and each anonymity rule proved on its own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.reports import unit_report
from bot.runtime import Runtime
from storage.db import transaction
from tests.report_data import GOLDEN, PREVIOUS, add_responses, install_mini, make_round, make_unit


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
    assert (stmts["B2"].stat.n, stmts["B2"].stat.mean) == (5, pytest.approx(3.8))
    assert stmts["B2"].stat.sd == pytest.approx(1.303840, abs=1e-6)
    assert stmts["A1"].distribution == (1, 2, 1, 1, 1)
    assert (stmts["B2"].distribution, stmts["B2"].skipped) == ((0, 1, 1, 1, 2), 1)
    assert [s.code for s in report.weakest()] == ["A2", "A1", "B1", "B2"]
    a, b = report.area("a"), report.area("b")
    assert a is not None and b is not None
    assert (a.stat.n, a.stat.mean, a.stat.sd) == (6, pytest.approx(2.75), pytest.approx(1.214496, abs=1e-6))
    assert (b.stat.n, b.stat.mean) == (6, pytest.approx(20.5 / 6))
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
    (years,) = report.splits
    groups = {g.key: g for g in years.groups}
    assert years.question_id == "years"
    assert (groups["new"].n, groups["old"].n) == (3, 3)
    assert groups["new"].areas["a"].mean == pytest.approx(5 / 3)
    assert groups["new"].areas["b"].mean == pytest.approx(11.5 / 3)
    assert groups["old"].areas["a"].mean == pytest.approx(11.5 / 3)
    assert groups["old"].areas["b"].mean == pytest.approx(3.0)
