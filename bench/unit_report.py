"""Benchmark 4, the unit report: `bot.reports.unit_report(session, unit_id, round_id)` over
1,000,000 answers in 2,000 units, against a hand-written SQL GROUP BY over the same answer table
(the per-statement count and mean for one unit in one round). Target: report time / baseline <= 2.

The data is generated with set-based SQL (generate_series), so setting up a million answers takes
seconds, not an hour of simulated chats. Rows written past the bot also skip what the bot does when
a response completes: sealing the unit's steps and keeping its publication once a step of
responses fills (bot/results/publication_store.py). So every unit is sealed and published once after loading, as the completions
would have left it, and that time is printed. The line also gives the report's time with nothing
kept (the unit's publication deleted in the measuring transaction): what a report costs when it
has to make the result from the answers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, text

from bench.databases import Database
from bench.population import START, library_assessment, ms, start
from bench.registry import Outcome, Sizes, register
from bot.results import publication_store
from bot.results.reports import UnitReport, unit_report
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Round, UnitPublication

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
        started = time.perf_counter()
        _publish_every_unit(app, round_id)
        publishing = time.perf_counter() - started
        _analyze(app)
        with app.sessions() as session:
            baseline_rows = session.execute(BASELINE, {"round_id": round_id, "unit_id": unit_id}).all()
            if not baseline_rows:
                raise RuntimeError("the baseline found no answers for the sample unit")
            baseline = _median(
                lambda: session.execute(BASELINE, {"round_id": round_id, "unit_id": unit_id}).all()
            )
            kept = unit_report(session, unit_id, round_id)
            measured = _median(lambda: unit_report(session, unit_id, round_id))
            # The same report with nothing kept, in this transaction only (rolled back below).
            session.execute(
                delete(UnitPublication).where(
                    UnitPublication.round_id == round_id, UnitPublication.unit_id == unit_id
                )
            )
            if not kept.shown or _figures(unit_report(session, unit_id, round_id)) != _figures(kept):
                raise RuntimeError("the report made from the answers differs from the kept one")
            from_answers = _median(lambda: unit_report(session, unit_id, round_id))
            session.rollback()
    finally:
        app.db.dispose()
    ratio = measured / baseline
    return Outcome(
        figures=f"unit report {ms(measured)} (median of {REPEATS}; {ms(from_answers)} with nothing kept) "
        f"over {answers} answers in {units} units (publishing every unit once: {publishing:.1f} s)",
        baseline=f"baseline GROUP BY {ms(baseline)}",
        ratio=ratio,
        target=f"<= {TARGET_RATIO}",
        met=ratio <= TARGET_RATIO,
    )


def _publish_every_unit(app: Runtime, round_id: int) -> None:
    """What the bot does when a unit's step fills, done once per unit for the loaded rows."""
    with transaction(app.sessions) as session:
        unit_ids = session.scalars(
            text("SELECT unit_id FROM round_unit WHERE round_id = :round_id ORDER BY unit_id"),
            {"round_id": round_id},
        ).all()
        for unit_id in unit_ids:
            publication_store.seal(session, round_id, unit_id)
            publication_store.publish(session, round_id, unit_id, START)


def _figures(report: UnitReport) -> list[tuple[str, int, float]]:
    """The report's statements and areas, means to 9 places: the kept sums were added in another
    order, which moves the last bits of a float."""
    return [(s.code, s.stat.n, round(s.stat.mean, 9)) for s in report.statements] + [
        (a.area_id, a.stat.n, round(a.stat.mean, 9)) for a in report.areas
    ]


def _analyze(app: Runtime) -> None:
    with app.db.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


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
    return round_id, first_unit + units // 2, responses * len(codes)
