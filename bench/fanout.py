"""Benchmark 3, fan-out: 10,000 reminders through the real Telegram adapter to the fake Bot API
server, which enforces a per-second limit (500/s, so the run is short). Figure: the achieved send
rate; baseline: the allowed rate; target ratio >= 0.9, with zero lost and zero duplicated.

The run: N people, each with a Telegram identity in a chat of their own, and N due `reminder` rows
in the outbox. The bot runs as `assessbot run` runs it (`adapters.telegram.run` in a thread, long
polling the fake, the outbox sender bound to its event loop) with its overall limit
(`telegram_max_per_second`) set to the fake's. Once it is up, the outbox `Dispatcher` drains the
outbox through the sender, several sends at a time (`concurrency`); the rate is messages sent over
the wall time of the drain. Afterwards every row must be `sent` and every chat must have received
exactly one message (the fake counts accepted sendMessage calls per chat).

Besides the rate the line shows the CPU per message of the bot's process and of the fake's (both
compete for the same cores): on a shared machine they say more than the rate does.
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import func, select

from bench.databases import Database
from bench.registry import Outcome, Sizes, register
from bench.reminders import people_with_reminders
from bench.telegram_running import telegram_running
from bot import runtime as runtime_module
from bot.clock import SystemClock
from bot.config import Config
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.models import Outbox, OutboxState

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_PER_SECOND = 500
TARGET = 0.9
# Sends in flight at once (`ASSESSBOT_OUTBOX_CONCURRENCY=16`; the default, 8, is for Telegram's 30/s):
# enough to cover the round trip to the server at the allowed rate, with room for the moments the
# bot's threads wait for a core on a busy machine.
CONCURRENCY = 16
BATCH = 200
FIRST_CHAT = 100_000
STARTUP_TIMEOUT = 30.0
# After the drain, rows refused with 429 wait out their retry_after before a last pass.
SETTLE_TIMEOUT = 60.0


class FakeReport(NamedTuple):
    accepted: collections.Counter[int]  # accepted sendMessage calls per chat id
    rejected: int  # sends answered 429
    cpu: float  # seconds of CPU the fake's process has used so far


class FakeServer:
    """The fake Bot API server in a process of its own, as Telegram would be: its request handling
    does not compete with the bot for this interpreter (the fake is Python too, and one process
    running both would measure the fake's speed as much as the bot's). JSON lines over stdin/stdout.
    """

    def __init__(self, chats: int, per_second: int) -> None:
        self.chats = chats
        self.per_second = per_second
        self.token = ""
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> FakeServer:
        code = f"from bench.fanout import serve_fake; serve_fake({self.chats}, {self.per_second})"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started = json.loads(self._read())
        self.token, self.url = started["token"], started["url"]
        return self

    def _read(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the fake Telegram server stopped")
        return line

    def _write(self, command: str) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()

    def report(self) -> FakeReport:
        self._write("report")
        answer = json.loads(self._read())
        accepted = collections.Counter({int(chat): count for chat, count in answer["accepted"].items()})
        return FakeReport(accepted, int(answer["rejected"]), float(answer["cpu"]))

    def __exit__(self, *_exc: object) -> None:
        if self._process is None:
            return
        with contextlib.suppress(OSError):
            self._write("stop")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def serve_fake(chats: int, per_second: int) -> None:
    """The child process of `FakeServer`."""
    from tests.fakes.telegram_api import FakeTelegramAPI

    with FakeTelegramAPI() as fake:
        fake.rate_limit(per_second=per_second)
        for i in range(chats):
            fake.add_chat(FIRST_CHAT + i, first_name=f"P{i}")
        print(json.dumps({"token": fake.token, "url": f"http://127.0.0.1:{fake.port}"}), flush=True)
        for command in sys.stdin:
            if command.strip() != "report":
                break
            accepted = collections.Counter(
                int(call.params["chat_id"]) for call in fake.calls_of("sendMessage") if call.ok
            )
            report = {"accepted": accepted, "rejected": fake.rejected_429, "cpu": time.process_time()}
            print(json.dumps(report), flush=True)


def _states(app: Runtime) -> dict[OutboxState, int]:
    with app.sessions() as session:
        rows = session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all()
    return {state: count for state, count in rows}


def _drain(dispatcher: Dispatcher, app: Runtime, n: int) -> None:
    """Until every row is sent (rows put back after a 429 come due again a second or so later)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        dispatcher.drain(BATCH)
        if _states(app).get(OutboxState.SENT, 0) >= n or time.monotonic() > deadline:
            return
        time.sleep(0.1)


@register("fanout", "10,000 reminders through the Telegram adapter to a rate-limited fake Bot API")
def run(database: Database, sizes: Sizes) -> Outcome:
    from adapters import telegram

    n = sizes.pick(full=10_000, smoke=200)
    clock = SystemClock()
    with FakeServer(n, ALLOWED_PER_SECOND) as fake:
        config = Config(
            database_url=database.url,
            log_level="WARNING",
            telegram_token=fake.token,
            telegram_api_url=fake.url,
            telegram_max_per_second=ALLOWED_PER_SECOND,
        )
        app = runtime_module.start(config, clock, offer_admin_claim=False)
        sender = telegram.TelegramSender(clock)
        people_with_reminders(app, n, first_chat=FIRST_CHAT, name="P", key="fanout")
        with telegram_running(config, app, sender, within=STARTUP_TIMEOUT):
            dispatcher = Dispatcher(
                app.sessions, {telegram.PLATFORM: sender}, clock, worker="bench", concurrency=CONCURRENCY
            )
            fake_cpu_begun = fake.report().cpu
            begun, cpu_begun = time.perf_counter(), time.process_time()
            _drain(dispatcher, app, n)
            elapsed, cpu = time.perf_counter() - begun, time.process_time() - cpu_begun
            fake_cpu = fake.report().cpu - fake_cpu_begun
        accepted, rejected, _cpu = fake.report()

    states = _states_after(database)  # counted again on a fresh connection, after the bot stopped
    per_chat = [accepted.get(FIRST_CHAT + i, 0) for i in range(n)]
    lost = sum(1 for c in per_chat if c == 0)
    duplicated = sum(c - 1 for c in per_chat if c > 1)
    unsent = n - states.get(OutboxState.SENT, 0)
    stray = sum(accepted.values()) - sum(per_chat)  # messages to chats nobody was meant to get
    sent = sum(per_chat)
    rate = sent / elapsed if elapsed > 0 else 0.0
    ratio = rate / ALLOWED_PER_SECOND
    clean = lost == 0 and duplicated == 0 and unsent == 0 and stray == 0
    return Outcome(
        figures=(
            f"{n} messages in {elapsed:.1f} s, {rate:.0f}/s ({CONCURRENCY} sends in flight, "
            f"{rejected} answered 429, CPU per message: bot {cpu / max(1, n) * 1000:.2f} ms, "
            f"fake server {fake_cpu / max(1, n) * 1000:.2f} ms); lost {lost}, duplicated {duplicated}"
            + (f", outbox rows not sent {unsent}" if unsent else "")
            + (f", to unknown chats {stray}" if stray else "")
        ),
        baseline=f"allowed {ALLOWED_PER_SECOND}/s",
        ratio=ratio,
        target=f">= {TARGET} with none lost or duplicated",
        met=ratio >= TARGET and clean,
    )


def _states_after(database: Database) -> dict[OutboxState, int]:
    from storage.db import make_engine, make_session_factory

    engine = make_engine(database.url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all()
    finally:
        engine.dispose()
    return {state: count for state, count in rows}
