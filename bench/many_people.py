"""Benchmark 2, many people at once: 10,000 people each take the 28-question library assessment
(4 background questions + 24 statements, plus the press that starts it), interleaved.

People arrive as a steady cohort: a fixed number are in the middle of the assessment at any time,
the next event comes from a random one of them, and whoever finishes is replaced by a newcomer. So
every tenth of the run has a similar mix of starts, answers and completions, and comparing the last
tenth with the first shows whether the bot slows down as the tables fill up (it should not).
Peak memory is the process's peak resident set size during the run.
"""

from __future__ import annotations

import contextlib
import random
import resource
import time
from array import array
from pathlib import Path

from sqlalchemy import func, select

from bench.databases import Database
from bench.population import Taker, answer, begin, library_assessment, start
from bench.registry import Outcome, Sizes, register
from storage.models import Answer, Response, ResponseStatus

MEMORY_LIMIT_MB = 300
# "No slower" with room for the noise of a shared machine: the last tenth at >= 90% of the first.
FLAT_RATIO = 0.9


@register("many-people", "10,000 people completing a 28-question assessment, interleaved")
def run(database: Database, sizes: Sizes) -> Outcome:
    people = sizes.pick(full=10_000, smoke=6)
    concurrent = sizes.pick(full=1_000, smoke=3)
    app = start(database)
    try:
        assessment = library_assessment(app)
        per_person = 1 + assessment.questions  # the start press, then every question
        total = people * per_person
        finished_at = array("d")  # perf_counter after each event
        chooser = random.Random(2)
        waiting = iter(Taker(f"person-{i}") for i in range(people))
        active: list[Taker] = [t for _, t in zip(range(concurrent), waiting, strict=False)]
        started_takers: set[str] = set()
        _reset_peak_memory()
        started = time.perf_counter()
        while active:
            k = chooser.randrange(len(active))
            taker = active[k]
            if taker.user not in started_takers:
                begin(app, assessment, taker)
                started_takers.add(taker.user)
            else:
                answer(app, assessment, taker)
            finished_at.append(time.perf_counter())
            if taker.step == assessment.questions:
                newcomer = next(waiting, None)
                if newcomer is None:
                    active[k] = active[-1]
                    active.pop()
                else:
                    active[k] = newcomer
        elapsed = time.perf_counter() - started
        peak_mb = _peak_memory_mb()

        with app.sessions() as session:
            completed = session.scalar(
                select(func.count()).select_from(Response).where(Response.status == ResponseStatus.COMPLETED)
            )
            answers = session.scalar(select(func.count()).select_from(Answer))
        if completed != people or answers != people * len(assessment.codes):
            raise RuntimeError(
                f"expected {people} completed responses, found {completed} ({answers} answers)"
            )
    finally:
        app.db.dispose()
    if len(finished_at) != total:
        raise RuntimeError(f"expected {total} events, ran {len(finished_at)}")
    tenth = max(1, total // 10)
    first_rate = tenth / (finished_at[tenth - 1] - started)
    last_rate = tenth / (finished_at[-1] - finished_at[-tenth - 1])
    ratio = last_rate / first_rate
    met = ratio >= FLAT_RATIO and peak_mb < MEMORY_LIMIT_MB
    return Outcome(
        figures=f"{people} people, {total} events in {elapsed:.1f} s, {total / elapsed:.0f} events/s,"
        f" peak memory {peak_mb:.0f} MB; last 10% {last_rate:.0f} events/s",
        baseline=f"baseline first 10% {first_rate:.0f} events/s",
        ratio=ratio,
        target=f">= {FLAT_RATIO} and memory < {MEMORY_LIMIT_MB} MB",
        met=met,
    )


def _reset_peak_memory() -> None:
    """Start the peak-RSS count afresh (Linux: writing 5 to clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
