"""Benchmark 5, a crowd: many people pressing scale buttons at once, through the real Telegram adapter.

`assessbot` runs as `assessbot run` runs it (`adapters.telegram.run` in a thread, long polling, the
outbox sender bound to its loop) against the project's fake Bot API, with the people in a process
of their own (bench/crowd_people.py). Beside it, in the same run and against a fresh fake, a
minimal python-telegram-bot bot: per press one insert+commit, one edit and one send (and the
callback answer every bot owes), with the library's defaults. Figures: presses/s, and p50/p99
from a press to the next statement's keyboard.

Three settings:
- capacity: 40 people pressing as fast as replies come, the fake answering everything; target
  presses/s >= 1.0x the minimal bot's.
- meeting: 40 people reading 2-4 s per statement, the fake answering 429 (retry_after) past 30
  sends/s across chats (edits and callback answers not counted); target p50 <= 150 ms, p99 <= 500
  ms, every press answered.
- wave: the meeting while the outbox sends a wave of reminders to other people; target press p99
  <= 500 ms, every press answered and every reminder sent, none lost to a 429.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.crowd_people import FIRST_WAVE, Crowd
from bench.databases import Database
from bench.minimal_bot import minimal_bot
from bench.registry import Outcome, Sizes, register
from bench.reminders import people_with_reminders
from bench.telegram_running import telegram_running
from bot import runtime as runtime_module
from bot.clock import SystemClock
from bot.config import Config
from bot.outbox import Dispatcher

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0
TELEGRAM_LIMIT = 30  # sends/s across chats, as Telegram documents for messages to many users
P50_TARGET, P99_TARGET = 0.150, 0.500


@dataclass(frozen=True)
class Figures:
    presses: int
    pressed: int
    per_second: float
    p50: float
    p99: float
    rejected: dict[str, int]
    peak: int
    wave_received: int

    @property
    def unanswered(self) -> int:
        return self.pressed - self.presses

    def text(self, who: str) -> str:
        refused = sum(self.rejected.values())
        return (
            f"{who} {self.per_second:.0f} presses/s, p50 {self.p50 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms"
            f" ({self.presses}/{self.pressed} answered, {refused} answered 429, peak {self.peak} sends/s)"
        )


def _figures(result: dict[str, Any]) -> Figures:
    latencies = sorted(result["latencies"])
    if result["failures"]:
        raise RuntimeError(f"people could not press: {result['failures'][:3]}")

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return Figures(
        presses=len(latencies),
        pressed=int(result["pressed"]),
        per_second=len(latencies) / float(result["elapsed"]),
        p50=statistics.median(latencies) if latencies else float("nan"),
        p99=quantile(0.99),
        rejected=dict(result["rejected"]),
        peak=int(result["peak_sends_per_second"]),
        wave_received=int(result["wave_received"]),
    )


class CrowdServer:
    """The fake and the people in their child process (bench/crowd_people.py's protocol)."""

    module = "bench.crowd_people"

    def __init__(self, crowd: Crowd) -> None:
        self.crowd = crowd
        self.token = self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> CrowdServer:
        code = f"from {self.module} import serve; serve({json.dumps(json.dumps(asdict(self.crowd)))})"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        started = self._ask(None)
        self.token, self.url = started["token"], started["url"]
        return self

    def _ask(self, command: str | None) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdin
        assert self._process.stdout
        if command is not None:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the crowd's process stopped")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def people_ready(self, command: str = "people") -> None:
        """Tell the people to go to a statement (`command` says where the bot is, if it must)."""
        failures = self._ask(command)["ready"]
        if failures:
            raise RuntimeError(f"people could not reach a statement: {failures[:3]}")

    def go(self) -> Figures:
        return _figures(self._ask("go"))

    def __exit__(self, *_exc: object) -> None:
        if self._process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert self._process.stdin is not None
            self._process.stdin.write("stop\n")
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# ---------------------------------------------------------------- assessbot


@contextlib.contextmanager
def _dispatching(app: runtime_module.Runtime, sender: Any) -> Iterator[None]:
    """The outbox dispatcher as `assessbot run` runs it (every few seconds, its default concurrency)."""
    from adapters import telegram

    stop = threading.Event()
    dispatcher = Dispatcher(
        app.sessions,
        {telegram.PLATFORM: sender},
        app.clock,
        worker="bench",
        concurrency=app.config.outbox_concurrency,
    )

    def loop() -> None:
        while not stop.is_set():
            dispatcher.drain(200)
            stop.wait(1.0)

    thread = threading.Thread(target=loop, name="bench-outbox", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def run_assessbot(database: Database, crowd: Crowd) -> Figures:
    from adapters import telegram

    with CrowdServer(crowd) as server:
        config = Config(
            database_url=database.url,
            log_level="WARNING",
            telegram_token=server.token,
            telegram_api_url=server.url,
        )
        clock = SystemClock()
        app = runtime_module.start(config, clock, offer_admin_claim=False)
        sender = telegram.TelegramSender(clock)
        with telegram_running(config, app, sender, within=STARTUP_TIMEOUT):
            server.people_ready()
            if crowd.wave:
                people_with_reminders(app, crowd.wave, first_chat=FIRST_WAVE, name="W", key="crowd-wave")
                with _dispatching(app, sender):
                    return server.go()
            return server.go()


# ---------------------------------------------------------------- the minimal bot


def run_minimal(database: Database, crowd: Crowd) -> Figures:
    with CrowdServer(replace(crowd, wave=0)) as server:
        up, stop = threading.Event(), threading.Event()
        bot = threading.Thread(
            target=minimal_bot, args=(server.token, server.url, database.url, up, stop), daemon=True
        )
        bot.start()
        try:
            if not up.wait(STARTUP_TIMEOUT):
                raise RuntimeError("the minimal bot did not start")
            server.people_ready()
            return server.go()
        finally:
            stop.set()
            bot.join(timeout=30)


# ---------------------------------------------------------------- the settings


def _crowd(sizes: Sizes, think: tuple[float, float], per_second: int | None, wave: int = 0) -> Crowd:
    people = sizes.pick(full=40, smoke=3)
    if sizes.smoke:
        think = (think[0] / 10, think[1] / 10)
    duration = 1.0 if sizes.smoke else (10.0 if think == (0.0, 0.0) else 24.0)
    return Crowd(people, think, duration, per_second, wave=sizes.pick(full=wave, smoke=wave // 40))


def capacity_outcome(crowd: Crowd, ours: Figures, minimal: Figures, baseline: str) -> Outcome:
    ratio = ours.per_second / minimal.per_second
    return Outcome(
        figures=f"{crowd.people} people, " + ours.text("assessbot"),
        baseline=minimal.text(baseline),
        ratio=ratio,
        target=">= 1.0 with every press answered",
        met=ratio >= 1.0 and ours.unanswered == 0,
    )


def meeting_outcome(crowd: Crowd, ours: Figures, minimal: Figures, baseline: str) -> Outcome:
    return Outcome(
        figures=f"{crowd.people} people, " + ours.text("assessbot"),
        baseline=minimal.text(baseline),
        ratio=ours.per_second / minimal.per_second,
        target="p50 <= 150 ms, p99 <= 500 ms, every press answered",
        met=_meeting_verdict(ours),
    )


@register("crowd-capacity", "40 people pressing as fast as replies come, beside a minimal bot")
def capacity(database: Database, sizes: Sizes) -> Outcome:
    crowd = _crowd(sizes, (0.0, 0.0), None)
    minimal = run_minimal(database, crowd)
    return capacity_outcome(crowd, run_assessbot(database, crowd), minimal, "minimal bot")


def _meeting_verdict(ours: Figures) -> bool:
    return ours.p50 <= P50_TARGET and ours.p99 <= P99_TARGET and ours.unanswered == 0


@register("crowd-meeting", "40 people reading 2-4 s per statement, the fake answering 429 past 30 sends/s")
def meeting(database: Database, sizes: Sizes) -> Outcome:
    crowd = _crowd(sizes, (2.0, 4.0), TELEGRAM_LIMIT)
    minimal = run_minimal(database, crowd)
    return meeting_outcome(crowd, run_assessbot(database, crowd), minimal, "minimal bot")


@register("crowd-wave", "the meeting while the outbox sends a wave of reminders to others")
def wave(database: Database, sizes: Sizes) -> Outcome:
    crowd = _crowd(sizes, (2.0, 4.0), TELEGRAM_LIMIT, wave=400)
    minimal = run_minimal(database, crowd)
    ours = run_assessbot(database, crowd)
    return Outcome(
        figures=(
            f"{crowd.people} people and {crowd.wave} reminders, "
            + ours.text("assessbot")
            + f", reminders sent during the run {ours.wave_received}"
        ),
        baseline=minimal.text("minimal bot without a wave"),
        ratio=ours.per_second / minimal.per_second,
        target="p99 <= 500 ms, every press answered",
        met=_meeting_verdict(ours),
    )
