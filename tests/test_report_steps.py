"""A unit with many steps: the report's compressed per-step counts give exactly what counting each
step by hand gives (rule 2: a figure moves only when it grew by 0 or by at least the threshold).

The statements here have steps where everyone answered, steps where some skipped, steps where
nobody was asked (no answer rows at all, as for a statement of another role) and a tail of small
steps, which is where a figure must keep its last safe value.
"""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from sqlalchemy import delete

from bot.results.reports import unit_report
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Answer
from tests.report_data import Row, add_responses, install_mini, make_round, make_unit

THRESHOLD = 3
CODES = ("A1", "A2", "B1", "B2")


def answers_of(i: int) -> Row:
    """Respondent i (in completion order): a fixed, irregular pattern of values and skips."""
    a1 = 1 + i % 5
    a2 = None if i % 7 == 3 else 1 + (i * 3) % 5
    b1 = 1 + (i * 2) % 5
    # B2: of the last 12 respondents only two answer it, so its last steps grow by fewer than 3.
    b2 = None if (i >= 48 and i not in (50, 59)) or i % 11 == 5 else 1 + (i * 7) % 5
    return ("teacher", "new" if i % 2 else "old", a1, a2, b1, b2)


# Steps (of 3 respondents) in which nobody was asked B1: no answer rows at all for them.
NOT_ASKED_B1 = {4, 5, 9}
ROWS = [answers_of(i) for i in range(61)]  # 20 full steps and one respondent after the last step


def by_hand(code: str) -> tuple[int, float, float, tuple[int, ...], int]:
    """(n, mean, spread, distribution, skipped) of a statement as published, counted step by step."""
    index = CODES.index(code)
    steps = len(ROWS) // THRESHOLD
    shown_at, shown_count, count = None, 0, 0
    for step in range(steps):
        people = range(step * THRESHOLD, (step + 1) * THRESHOLD)
        if code == "B1" and step in NOT_ASKED_B1:
            continue
        count += sum(1 for i in people if ROWS[i][2 + index] is not None)
        grown = count - shown_count
        if count >= THRESHOLD and (shown_at is None or grown == 0 or grown >= THRESHOLD):
            shown_at, shown_count = step, count
    assert shown_at is not None
    asked = [
        i for i in range((shown_at + 1) * THRESHOLD) if not (code == "B1" and i // THRESHOLD in NOT_ASKED_B1)
    ]
    values = [v for i in asked if isinstance(v := ROWS[i][2 + index], int)]
    distribution = tuple(sum(1 for v in values if v == point) for point in range(1, 6))
    skipped = sum(1 for i in asked if ROWS[i][2 + index] is None)
    return len(values), statistics.mean(values), statistics.stdev(values), distribution, skipped


def area_by_hand(codes: tuple[str, ...]) -> tuple[int, float, float]:
    """(n, mean, spread) of an area as published: each respondent's mean over the statements they
    gave a value, counted step by step like a statement."""

    def person_mean(i: int) -> float | None:
        values = [
            v
            for code in codes
            if not (code == "B1" and i // THRESHOLD in NOT_ASKED_B1)
            and isinstance(v := ROWS[i][2 + CODES.index(code)], int)
        ]
        return sum(values) / len(values) if values else None

    shown_at, shown_count, count = None, 0, 0
    for step in range(len(ROWS) // THRESHOLD):
        count += sum(1 for i in range(step * THRESHOLD, (step + 1) * THRESHOLD) if person_mean(i) is not None)
        grown = count - shown_count
        if count >= THRESHOLD and (shown_at is None or grown == 0 or grown >= THRESHOLD):
            shown_at, shown_count = step, count
    assert shown_at is not None
    means = [m for i in range((shown_at + 1) * THRESHOLD) if (m := person_mean(i)) is not None]
    return len(means), statistics.mean(means), statistics.stdev(means)


def test_a_big_unit_shows_what_counting_every_step_by_hand_shows(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Big school", now)
        round_id = make_round(session, version, unit, now, threshold=THRESHOLD)
        ids = add_responses(session, round_id, unit, version, ROWS, now - timedelta(days=5))
        not_asked = [rid for i, rid in enumerate(ids) if i // THRESHOLD in NOT_ASKED_B1]
        session.execute(delete(Answer).where(Answer.response_id.in_(not_asked), Answer.item_code == "B1"))
    with runtime.sessions() as session:
        report = unit_report(session, unit, round_id)
    assert report.published == 60
    statements = {s.code: s for s in report.statements}
    for code in CODES:
        n, mean, spread, distribution, skipped = by_hand(code)
        shown = statements[code]
        assert (code, shown.stat.n, shown.distribution, shown.skipped) == (code, n, distribution, skipped)
        assert shown.stat.mean == pytest.approx(mean)
        assert shown.stat.sd == pytest.approx(spread)
    for area_id, codes in (("a", ("A1", "A2")), ("b", ("B1", "B2"))):
        area = report.area(area_id)
        assert area is not None
        n, mean, spread = area_by_hand(codes)
        assert (area_id, area.stat.n) == (area_id, n)
        assert area.stat.mean == pytest.approx(mean)
        assert area.stat.sd == pytest.approx(spread)
    # B2 really is held back at an earlier step, and B1 really has steps without answers.
    assert statements["B2"].stat.n + statements["B2"].skipped < 60
    assert statements["B1"].stat.n == 60 - 3 * len(NOT_ASKED_B1)
