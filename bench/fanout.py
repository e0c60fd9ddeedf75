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
"""

from __future__ import annotations

import collections
import threading
import time

from sqlalchemy import func, insert, select

from bench.databases import Database
from bench.registry import Outcome, Sizes, register
from bot import runtime as runtime_module
from bot.clock import SystemClock
from bot.config import Config
from bot.messages import Choice, Reply, replies_to_json
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Identity, Outbox, OutboxState, Person

ALLOWED_PER_SECOND = 500
TARGET = 0.9
# Sends in flight at once: enough to cover the round trip to the server at the allowed rate.
CONCURRENCY = 16
BATCH = 200
FIRST_CHAT = 100_000
STARTUP_TIMEOUT = 30.0
# After the drain, rows refused with 429 wait out their retry_after before a last pass.
SETTLE_TIMEOUT = 60.0


def _people_with_reminders(app: Runtime, n: int) -> None:
    """N people, each reachable in their own Telegram chat, and one due reminder each."""
    now = app.clock.now()
    reply = [Reply("Time for your self-assessment.", ((Choice("Continue", "cmd:assess"),),))]
    payload = replies_to_json(reply)
    with transaction(app.sessions) as session:
        people = session.scalars(
            insert(Person).returning(Person.id, sort_by_parameter_order=True),
            [{"display_name": f"P{i}", "created_at": now} for i in range(n)],
        ).all()
        session.execute(
            insert(Identity),
            [
                {
                    "person_id": pid,
                    "platform": "telegram",
                    "workspace": "",
                    "platform_user_id": str(FIRST_CHAT + i),
                    "address": str(FIRST_CHAT + i),
                }
                for i, pid in enumerate(people)
            ],
        )
        session.execute(
            insert(Outbox),
            [
                {
                    "person_id": pid,
                    "kind": "reminder",
                    "payload": payload,
                    "due_at": now,
                    "idempotency_key": f"fanout:{i}",
                    "state": OutboxState.PENDING,
                    "attempts": 0,
                }
                for i, pid in enumerate(people)
            ],
        )


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
    from tests.fakes.telegram_api import FakeTelegramAPI

    n = sizes.pick(full=10_000, smoke=200)
    clock = SystemClock()
    with FakeTelegramAPI() as fake:
        fake.rate_limit(per_second=ALLOWED_PER_SECOND)
        for i in range(n):
            fake.add_chat(FIRST_CHAT + i, first_name=f"P{i}")
        config = Config(
            database_url=database.url,
            log_level="WARNING",
            telegram_token=fake.token,
            telegram_api_url=f"http://127.0.0.1:{fake.port}",
            telegram_max_per_second=ALLOWED_PER_SECOND,
        )
        app = runtime_module.start(config, clock, offer_admin_claim=False)
        stop = threading.Event()
        failure: list[BaseException] = []
        sender = telegram.TelegramSender(clock)

        def serve() -> None:
            try:
                telegram.run(config, app.engine, sender, stop)
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        bot = threading.Thread(target=serve, name="bench-telegram", daemon=True)
        try:
            _people_with_reminders(app, n)
            bot.start()
            started = time.monotonic()
            while not sender.running:
                if failure or time.monotonic() - started > STARTUP_TIMEOUT:
                    raise RuntimeError(f"the Telegram adapter did not start: {failure or 'timeout'}")
                time.sleep(0.02)
            dispatcher = Dispatcher(
                app.sessions, {telegram.PLATFORM: sender}, clock, worker="bench", concurrency=CONCURRENCY
            )
            begun = time.perf_counter()
            _drain(dispatcher, app, n)
            elapsed = time.perf_counter() - begun
        finally:
            stop.set()
            bot.join(timeout=30)
            app.db.dispose()
        accepted = collections.Counter(c.params.get("chat_id") for c in fake.calls_of("sendMessage") if c.ok)
        rejected = fake.rejected_429

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
            f"{rejected} answered 429); lost {lost}, duplicated {duplicated}"
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

