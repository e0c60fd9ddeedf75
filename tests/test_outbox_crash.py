"""The dispatcher is killed (SIGKILL) while sending 1,000 messages; after a restart the rest go out.

Delivery is at-least-once with a window of one message: a row is claimed (committed) before it is
sent and marked sent right after. A process killed after the platform took a message but before
that mark commits leaves the row claimed; once the claim's lease runs out the next dispatcher sends
it again. So the precise promise, checked here: every message arrives, and at most one arrives
twice, and only one that the killed process had claimed and not marked sent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bot.clock import ManualClock
from bot.messages import Reply, replies_to_json
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Identity, Outbox, OutboxState, Person
from tests.outbox_worker import FileSender

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 1000


def _queue_messages(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as s:
        s.execute(
            insert(Person),
            [
                {"display_name": f"P{i}", "timezone": "Europe/Stockholm", "created_at": now}
                for i in range(MESSAGES)
            ],
        )
        ids = list(s.scalars(select(Person.id).order_by(Person.id)))
        s.execute(
            insert(Identity),
            [
                {"person_id": pid, "platform": "console", "workspace": "", "platform_user_id": f"u{pid}"}
                for pid in ids
            ],
        )
        s.execute(
            insert(Outbox),
            [
                {
                    "person_id": pid,
                    "kind": "invite",
                    "payload": replies_to_json([Reply(f"msg-{n}")]),
                    "due_at": now - timedelta(hours=1),
                    "idempotency_key": f"msg-{n}",
                    "state": OutboxState.PENDING,
                    "attempts": 0,
                }
                for n, pid in enumerate(ids)
            ],
        )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _kill_a_third_of_the_way(db_url: str, out: Path, *options: str) -> None:
    """Start a dispatcher process and kill it (SIGKILL) once about a third has gone out."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.outbox_worker", db_url, str(out), *options],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # Wait (for the worker's progress, not for time) until about a third has gone out, then kill it.
    deadline = time.monotonic() + 120
    while len(_lines(out)) < MESSAGES // 3:
        assert worker.poll() is None, "the worker finished before it could be killed"
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.005)
    worker.send_signal(signal.SIGKILL)
    worker.wait()


def _in_flight_and_sent(runtime: Runtime) -> tuple[set[str], int]:
    with transaction(runtime.sessions) as s:
        in_flight = set(s.scalars(select(Outbox.idempotency_key).where(Outbox.state == OutboxState.SENDING)))
        sent = s.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == OutboxState.SENT))
    return in_flight, sent or 0


def _restart_after_the_lease(runtime: Runtime, out: Path) -> Counter[str]:
    """A new dispatcher, after the dead one's lease (2 minutes) has run out, sends the rest."""
    restarted = Dispatcher(
        runtime.sessions,
        {"console": FileSender(str(out))},
        ManualClock(datetime.now(UTC) + timedelta(minutes=3)),
        worker="restarted",
    )
    restarted.drain()
    return Counter(_lines(out))


def _every_message_out_and_repeated_at_most_within(
    runtime: Runtime, out: Path, in_flight: set[str], delivered_before: Counter[str], *, window: int
) -> None:
    """After a restart past the lease: every message delivered, each at most twice, and only messages
    that were in flight at the kill (at most `window` of them) twice; every row marked sent."""
    counts = _restart_after_the_lease(runtime, out)
    assert set(counts) == {f"msg-{n}" for n in range(MESSAGES)}
    twice = {key for key, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    assert len(twice) <= window
    assert twice <= in_flight
    assert twice <= set(delivered_before)
    with transaction(runtime.sessions) as s:
        states = Counter(s.scalars(select(Outbox.state)))
    assert states == {OutboxState.SENT: MESSAGES}


def test_killed_dispatcher_loses_nothing_and_repeats_at_most_the_message_in_flight(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    _queue_messages(runtime)
    out = tmp_path / "delivered.txt"
    _kill_a_third_of_the_way(db_url, out, "--latency", "0.002")
    delivered_before = Counter(_lines(out))
    assert 0 < len(delivered_before) < MESSAGES

    in_flight, sent_before = _in_flight_and_sent(runtime)
    assert in_flight, "the killed worker held claimed rows"
    assert sent_before in (len(delivered_before), len(delivered_before) - 1)

    _every_message_out_and_repeated_at_most_within(runtime, out, in_flight, delivered_before, window=1)


def test_killed_dispatcher_with_eight_sends_in_flight_repeats_at_most_those_eight(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    """Outcomes are committed in groups, but a send counts as in flight until its group is committed,
    so the window stays the eight sends in flight."""
    _queue_messages(runtime)
    out = tmp_path / "delivered.txt"
    # Slower sends than above: eight at a time would otherwise finish a claim's rows before the
    # next claim has committed, and a kill in that gap would find nothing in flight.
    _kill_a_third_of_the_way(db_url, out, "--latency", "0.02", "--concurrency", "8")
    delivered_before = Counter(_lines(out))
    assert 0 < len(delivered_before) < MESSAGES
    assert max(delivered_before.values()) == 1

    in_flight, sent_before = _in_flight_and_sent(runtime)
    assert in_flight, "the killed worker held claimed rows"
    assert len(delivered_before) - 8 <= sent_before <= len(delivered_before)

    _every_message_out_and_repeated_at_most_within(runtime, out, in_flight, delivered_before, window=8)
