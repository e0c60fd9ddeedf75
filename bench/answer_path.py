"""Benchmark 1, the answer path: `Engine.handle` for a button answer, with many people answering in
interleaved order (so nothing is warm in a cache by accident), against one bare INSERT + COMMIT of an
answer row per event on the same database: the least any durable answer can cost."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from bench.databases import Database
from bench.population import START, Latencies, Taker, answer, begin, library_assessment, ms, start
from bench.registry import Outcome, Sizes, register
from storage.models import Answer

TARGET_RATIO = 0.4


@register("answer-path", "answers/s and latency of Engine.handle for a button answer")
def run(database: Database, sizes: Sizes) -> Outcome:
    people = sizes.pick(full=1000, smoke=12)
    rounds = sizes.pick(full=10, smoke=2)
    app = start(database)
    try:
        assessment = library_assessment(app)
        takers = [Taker(f"person-{i}") for i in range(people)]
        # Setup, not measured: everyone starts and answers the background questions.
        for taker in takers:
            begin(app, assessment, taker)
        for _ in range(assessment.background):
            for taker in takers:
                answer(app, assessment, taker)

        baseline_rate = _baseline(app.db, [t.response_id for t in takers], people * rounds)

        if app.engine.quick_answers is None:
            raise RuntimeError("the answer path is measured with the quick path on")
        order = random.Random(8)
        latencies = Latencies()
        started = time.perf_counter()
        for _ in range(rounds):
            order.shuffle(takers)
            for taker in takers:
                t0 = time.perf_counter()
                answer(app, assessment, taker)
                latencies.timed(t0)
        elapsed = time.perf_counter() - started

        with app.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Answer))
        if stored != people * rounds:
            raise RuntimeError(f"expected {people * rounds} answers stored, found {stored}")
    finally:
        app.db.dispose()
    rate = people * rounds / elapsed
    ratio = rate / baseline_rate
    return Outcome(
        figures=f"{rate:.0f} answers/s, p50 {ms(latencies.percentile(50))}, p99 {ms(latencies.percentile(99))}"
        f" ({people} people x {rounds} answers)",
        baseline=f"baseline insert+commit {baseline_rate:.0f}/s",
        ratio=ratio,
        target=f">= {TARGET_RATIO}",
        met=ratio >= TARGET_RATIO,
    )


def _baseline(db: Engine, response_ids: list[int], events: int) -> float:
    """One INSERT + COMMIT per event through the same SQLAlchemy engine (same pool, same pragmas)."""
    insert = text(
        "INSERT INTO answer (response_id, item_code, kind, value, answered_at)"
        " VALUES (:response_id, :item_code, 'value', :value, :answered_at)"
    )
    at = START + timedelta(minutes=1)
    with db.connect() as conn:
        started = time.perf_counter()
        for i in range(events):
            conn.execute(
                insert,
                {
                    "response_id": response_ids[i % len(response_ids)],
                    "item_code": f"base-{i}",
                    "value": 1 + i % 7,
                    "answered_at": at.replace(tzinfo=None),
                },
            )
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute(text("DELETE FROM answer WHERE item_code LIKE 'base-%'"))
        conn.commit()
    return events / elapsed
