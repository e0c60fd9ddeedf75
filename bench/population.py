"""Simulated people for the benchmarks: a real runtime (migrations, bundled instruments, engine) on a
throw-away database, and people who answer by pressing the buttons the bot showed them."""

from __future__ import annotations

import itertools
import statistics
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from bench.databases import Database
from bot import runtime as runtime_module
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import Incoming, Reply
from bot.runtime import Runtime
from storage.models import Instrument as InstrumentRow

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# Benchmark people talk through a networked platform (not the terminal), so every part of the
# real answer path runs, the flood guard included.
PLATFORM = "bench"
INTERNAL_ERRORS = ("something went wrong on my side", "can't reach my database")

_event_ids = itertools.count(1)


def start(database: Database, tmp_output: str = "assessbot-bench-output") -> Runtime:
    config = Config(database_url=database.url, output_dir=tmp_output, log_level="WARNING")
    return runtime_module.start(config, ManualClock(START), offer_admin_claim=False)


def active_version(app: Runtime, instrument_id: str) -> int:
    with app.sessions() as session:
        version = session.scalar(
            select(InstrumentRow.active_version_id).where(InstrumentRow.id == instrument_id)
        )
    if version is None:
        raise LookupError(f"instrument {instrument_id} is not installed")
    return version


def press(user: str, payload: str) -> Incoming:
    return Incoming(
        platform=PLATFORM,
        user_id=user,
        action=payload,
        event_id=f"b{next(_event_ids)}",
        display_name=user,
        locale_hint="en",
    )


def check(replies: list[Reply], what: str) -> list[Reply]:
    """A benchmark of a broken answer path measures nothing: stop the run instead."""
    for reply in replies:
        if any(error in reply.text for error in INTERNAL_ERRORS):
            raise RuntimeError(f"{what}: the bot answered {reply.text!r}")
    return replies


def payloads(replies: list[Reply]) -> list[str]:
    for reply in reversed(replies):
        if reply.choices:
            return [c.payload for c in reply.flat_choices]
    return []


@dataclass
class Taker:
    """One person taking the library self-assessment by buttons."""

    user: str
    response_id: int = 0
    step: int = 0  # how many questions answered


@dataclass
class Assessment:
    """The bundled digcomp-library instrument: 4 background questions, then 24 statements."""

    version_id: int
    codes: list[str]
    background: int = 4
    points: int = 7

    @property
    def questions(self) -> int:
        return self.background + len(self.codes)

    def payload(self, taker: Taker) -> str:
        """The button for the taker's next question (first option, then a value on the scale)."""
        if taker.step < self.background:
            return f"g:{taker.response_id}:{taker.step}:0"
        code = self.codes[taker.step - self.background]
        value = 1 + zlib.crc32(f"{taker.user}:{code}".encode()) % self.points
        return f"a:{taker.response_id}:{code}:{value}"


def library_assessment(app: Runtime) -> Assessment:
    from bot.directory import catalogue

    version_id = active_version(app, "digcomp-library")
    with app.sessions() as session:
        instrument = catalogue.load(session, version_id)
    return Assessment(
        version_id,
        [item.code for item in instrument.items_for(None)],
        background=len(instrument.background),
        points=instrument.scale.points,
    )


def begin(app: Runtime, assessment: Assessment, taker: Taker) -> None:
    """Press the instrument's start button; the first question's buttons carry the response id."""
    replies = check(app.engine.handle(press(taker.user, f"i:{assessment.version_id}")), "start")
    first = next(p for p in payloads(replies) if p.startswith(("g:", "a:")))
    taker.response_id = int(first.split(":")[1])


def answer(app: Runtime, assessment: Assessment, taker: Taker) -> None:
    check(app.engine.handle(press(taker.user, assessment.payload(taker))), "answer")
    taker.step += 1


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)

    def timed(self, started: float) -> None:
        self.seconds.append(time.perf_counter() - started)

    def percentile(self, p: float) -> float:
        if len(self.seconds) < 2:
            return self.seconds[0] if self.seconds else 0.0
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[int(p) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
