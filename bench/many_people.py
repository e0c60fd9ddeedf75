"""Benchmark 2, many people at once: 10,000 people each take the 28-question library assessment
(4 background questions + 24 statements, plus the press that starts it), interleaved.

People arrive as a cohort: a fixed number are in the middle of the assessment at any time, the
next event comes from a random one of them, and whoever finishes is replaced by a newcomer.

"Throughput flat" compares the same work late and early: for each kind of event (the start, an
answer, the answer that completes), the mean time of its last tenth of occurrences against its
first tenth; the ratio is the whole run priced at the early costs over the run priced at the late
ones. The raw event rates of the run's first and last tenth are printed too, but their mix of work
differs: the first tenth is the cohort filling up, with few completions yet, and the last is the
cohort draining, with more; a completion draws the person's result chart, which costs many times
what an answer does. Every half a percent of the run the same reference chart is
drawn outside the events, so the line also says how much the machine itself slowed down or sped up
meanwhile. Peak memory is the process's peak resident set size.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import random
import resource
import statistics
import time
from array import array
from pathlib import Path

from sqlalchemy import func, select

from bench.databases import Database
from bench.population import Assessment, Taker, answer, begin, library_assessment, start
from bench.registry import Outcome, Sizes, register
from bot.directory import catalogue
from bot.i18n import translator
from bot.results import charts
from bot.results.scoring import summarise
from bot.runtime import Runtime
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
        durations = array("d")  # seconds each event took
        kinds = bytearray()  # each event's kind: START, ANSWER or COMPLETION
        samples = sizes.pick(full=REFERENCE_SAMPLES, smoke=5)
        reference = _Reference(app, assessment, every=max(1, total // samples))
        chooser = random.Random(2)
        waiting = iter(Taker(f"person-{i}") for i in range(people))
        active: list[Taker] = [t for _, t in zip(range(concurrent), waiting, strict=False)]
        started_takers: set[str] = set()
        _reset_peak_memory()
        started = time.perf_counter()
        while active:
            reference.maybe_draw(len(durations))
            k = chooser.randrange(len(active))
            taker = active[k]
            event_started = time.perf_counter()
            if taker.user not in started_takers:
                begin(app, assessment, taker)
                started_takers.add(taker.user)
                kinds.append(START)
            else:
                answer(app, assessment, taker)
                kinds.append(COMPLETION if taker.step == assessment.questions else ANSWER)
            durations.append(time.perf_counter() - event_started)
            if taker.step == assessment.questions:
                newcomer = next(waiting, None)
                if newcomer is None:
                    active[k] = active[-1]
                    active.pop()
                else:
                    active[k] = newcomer
        elapsed = time.perf_counter() - started - reference.spent
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
    if len(durations) != total:
        raise RuntimeError(f"expected {total} events, ran {len(durations)}")
    tenth = max(1, total // 10)
    early, late = _costs_early_and_late(list(durations), kinds)
    counts = collections.Counter(kinds)
    at_early = sum(counts[kind] * cost for kind, cost in early.items())
    at_late = sum(counts[kind] * cost for kind, cost in late.items())
    ratio = at_early / at_late
    met = ratio >= FLAT_RATIO and peak_mb < MEMORY_LIMIT_MB
    return Outcome(
        figures=f"{people} people, {total} events in {elapsed:.1f} s, {total / elapsed:.0f} events/s,"
        f" peak memory {peak_mb:.0f} MB; mean time early/late: "
        + ", ".join(f"{NAMES[k]} {early[k] * 1000:.1f}/{late[k] * 1000:.1f} ms" for k in sorted(early))
        + f"; raw rates: first 10% {tenth / sum(durations[:tenth]):.0f} events/s,"
        f" last 10% {tenth / sum(durations[-tenth:]):.0f} events/s; the machine itself: "
        + reference.summary(total),
        baseline=f"baseline the run at early costs {at_early:.1f} s, at late costs {at_late:.1f} s",
        ratio=ratio,
        target=f">= {FLAT_RATIO} and memory < {MEMORY_LIMIT_MB} MB",
        met=met,
    )


START, ANSWER, COMPLETION = 0, 1, 2
# How often the machine's own speed is sampled over the run (see _Reference).
REFERENCE_SAMPLES = 200


class _Reference:
    """The same chart drawn now and then during the run, outside any event and not counted in it: a
    fixed piece of CPU work that touches no data. On a shared machine the CPU's speed drifts (the
    fan-out benchmark's CPU per message moved by a fifth between quiet runs); if this slows by as
    much as the events do, the machine slowed, not the bot."""

    def __init__(self, app: Runtime, assessment: Assessment, every: int) -> None:
        with app.sessions() as session:
            instrument = catalogue.load(session, assessment.version_id)
        result = summarise(instrument, None, dict.fromkeys(assessment.codes, 4))
        self._draw = functools.partial(charts.personal_chart, translator("en"), instrument, result)
        self._draw()  # matplotlib's first drawing loads fonts: not a sample
        self._every = every
        self.samples: list[tuple[int, float]] = []  # (events so far, seconds)
        self.spent = 0.0

    def maybe_draw(self, events: int) -> None:
        if events % self._every or not events:
            return
        started = time.perf_counter()
        self._draw()
        seconds = time.perf_counter() - started
        self.samples.append((events, seconds))
        self.spent += seconds

    def summary(self, total: int) -> str:
        tenth = total // 10
        early = [s for at, s in self.samples if at < tenth]
        late = [s for at, s in self.samples if at >= total - tenth]
        if not early or not late:
            return "not sampled (too few events)"
        return (
            f"a reference chart {statistics.fmean(early) * 1000:.1f} ms in the first 10%,"
            f" {statistics.fmean(late) * 1000:.1f} ms in the last"
        )


NAMES = {START: "start", ANSWER: "answer", COMPLETION: "completion"}


def _costs_early_and_late(
    durations: list[float], kinds: bytearray
) -> tuple[dict[int, float], dict[int, float]]:
    """Per kind of event: the mean seconds of its first tenth of occurrences, and of its last."""
    by_kind: dict[int, list[float]] = collections.defaultdict(list)
    for kind, seconds in zip(kinds, durations, strict=True):
        by_kind[kind].append(seconds)
    early, late = {}, {}
    for kind, times in by_kind.items():
        tenth = max(1, len(times) // 10)
        early[kind] = statistics.fmean(times[:tenth])
        late[kind] = statistics.fmean(times[-tenth:])
    return early, late


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
