"""The benchmark registry: each benchmark registers itself; `python -m bench` runs them all.

A benchmark measures something and, in the same run and on the same database, a baseline to
compare it with, so the printed ratio means something on any machine. Benchmarks print; they
never assert timing (correctness checks may raise, and then the run fails).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.databases import Database


@dataclass(frozen=True)
class Outcome:
    """What one benchmark measured on one database, ready to print as one line."""

    figures: str  # "812 answers/s, p50 1.1 ms, p99 3.4 ms"
    baseline: str = ""  # "baseline insert+commit 1530/s"
    ratio: float | None = None
    target: str = ""  # ">= 0.5"
    met: bool | None = None
    # False when the benchmark cannot run yet (a part it measures has not landed).
    available: bool = True

    def line(self, name: str, database: str) -> str:
        if not self.available:
            return f"{name} {database}: not available yet: {self.figures}"
        parts = [self.figures]
        if self.baseline:
            parts.append(self.baseline)
        verdict = ""
        if self.ratio is not None:
            verdict = f"ratio {self.ratio:.2f}"
        if self.target:
            verdict += f" (target {self.target})" if verdict else f"target {self.target}"
        if self.met is not None:
            verdict += " ok" if self.met else " MISSED"
        if verdict:
            parts.append(verdict.strip())
        return f"{name} {database}: " + "; ".join(parts)


@dataclass(frozen=True)
class Sizes:
    """How big to make a run: the full run, or the few-seconds smoke run CI does."""

    smoke: bool
    # A full run scaled down (0.1 = a tenth of the people, answers, units), for slow machines.
    scale: float = 1.0

    def pick(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else max(1, round(full * self.scale))


Run = Callable[[Database, Sizes], Outcome]


@dataclass(frozen=True)
class Benchmark:
    name: str
    summary: str
    run: Run
    databases: tuple[str, ...]


BENCHMARKS: dict[str, Benchmark] = {}


def register(
    name: str, summary: str, databases: tuple[str, ...] = ("sqlite", "postgresql")
) -> Callable[[Run], Run]:
    def add(run: Run) -> Run:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = Benchmark(name, summary, run, databases)
        return run

    return add
