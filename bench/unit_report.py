"""Benchmark 4, the unit report: `bot.reports.unit_report(session, unit_id, round_id)` over
1,000,000 answers in 2,000 units, against a hand-written SQL GROUP BY over the same answer table
(the per-statement count and mean for one unit in one round). Target: report time / baseline <= 2.

The data is generated with set-based SQL (generate_series), so setting up a million answers takes
seconds, not an hour of simulated chats. Until the reports module lands, the benchmark still builds
the data and measures the baseline, and says plainly that the report itself is not available yet.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.databases import Database
from bench.population import START, library_assessment, ms, start
from bench.registry import Outcome, Sizes, register
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Round

TARGET_RATIO = 2.0
REPEATS = 7

BASELINE = text(
    """
    SELECT a.item_code, count(a.value) AS answered, avg(a.value) AS mean,
           sum(CASE WHEN a.kind = 'skip' THEN 1 ELSE 0 END) AS skipped
    FROM answer a JOIN response r ON r.id = a.response_id
    WHERE r.round_id = :round_id AND r.unit_id = :unit_id AND r.status = 'completed'
    GROUP BY a.item_code
    """
)


@register("unit-report", "the unit report over 1,000,000 answers in 2,000 units", databases=("postgresql",))
def run(database: Database, sizes: Sizes) -> Outcome:
    units = sizes.pick(full=2_000, smoke=20)
    answers_wanted = sizes.pick(full=1_000_000, smoke=2_400)
    app = start(database)
    try:
        round_id, unit_id, answers = _populate(app, units, answers_wanted)
        with app.sessions() as session:
            baseline_rows = session.execute(BASELINE, {"round_id": round_id, "unit_id": unit_id}).all()
            if not baseline_rows:
                raise RuntimeError("the baseline found no answers for the sample unit")
            baseline = _median(
                lambda: session.execute(BASELINE, {"round_id": round_id, "unit_id": unit_id}).all()
            )
            report = _report_function()
            if report is None:
                return Outcome(
                    figures="bot.reports.unit_report is not in this build (the reports issue); "
                    f"baseline GROUP BY for one unit over {answers} answers in {units} units: {ms(baseline)}",
                    available=False,
                )
            measured = _median(lambda: report(session, unit_id, round_id))
    finally:
        app.db.dispose()
    ratio = measured / baseline
    return Outcome(
        figures=f"unit report {ms(measured)} (median of {REPEATS}) over {answers} answers in {units} units",
        baseline=f"baseline GROUP BY {ms(baseline)}",
        ratio=ratio,
        target=f"<= {TARGET_RATIO}",
        met=ratio <= TARGET_RATIO,
    )


def _report_function() -> Callable[[Session, int, int], object] | None:
    try:
        reports = import_module("bot.reports")
    except ModuleNotFoundError:
        return None
    return getattr(reports, "unit_report", None)


def _median(call: Callable[[], object]) -> float:
    call()  # warm caches and plans once, then measure
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _populate(app: Runtime, units: int, answers_wanted: int) -> tuple[int, int, int]:
    """Units, one round over all of them, completed responses spread evenly, 24 answers each."""
    assessment = library_assessment(app)
    codes = assessment.codes
    responses = max(units, answers_wanted // len(codes))
    at = START.replace(tzinfo=None)
    with transaction(app.sessions) as session:
        session.execute(
            text(
                "INSERT INTO unit (name, created_at) SELECT 'unit-' || g, :at FROM generate_series(1, :n) g"
            ),
            {"at": at, "n": units},
        )
        round_ = Round(
            name="bench",
            instrument_version_id=assessment.version_id,
            opens_at=START - timedelta(days=1),
            closes_at=START + timedelta(days=30),
            created_at=START,
        )
        session.add(round_)
        session.flush()
        first_unit = session.execute(text("SELECT min(id) FROM unit")).scalar_one()
        session.execute(
            text("INSERT INTO round_unit (round_id, unit_id) SELECT :round_id, id FROM unit"),
            {"round_id": round_.id},
        )
        session.execute(
            text(
                """
                INSERT INTO response (instrument_version_id, round_id, unit_id, status, cursor,
                                      started_at, completed_at)
                SELECT :version, :round_id, :first_unit + g % :units, 'completed', :steps, :at, :at
                FROM generate_series(1, :n) g
                """
            ),
            {
                "version": assessment.version_id,
                "round_id": round_.id,
                "first_unit": first_unit,
                "units": units,
                "steps": assessment.questions,
                "at": at,
                "n": responses,
            },
        )
        codes_sql = ", ".join(f"('{code}', {n})" for n, code in enumerate(codes))
        session.execute(
            text(
                f"""
                INSERT INTO answer (response_id, item_code, kind, value, answered_at)
                SELECT r.id, c.code,
                       CASE WHEN (r.id + c.n) % 17 = 0 THEN 'skip' ELSE 'value' END,
                       CASE WHEN (r.id + c.n) % 17 = 0 THEN NULL ELSE 1 + (r.id * 7 + c.n * 3) % 7 END,
                       :at
                FROM response r CROSS JOIN (VALUES {codes_sql}) AS c(code, n)
                WHERE r.round_id = :round_id
                """
            ),
            {"round_id": round_.id, "at": at},
        )
        round_id = round_.id
    with app.db.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return round_id, first_unit + units // 2, responses * len(codes)
