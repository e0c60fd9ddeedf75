"""A dispatcher process for the crash test: sends every due outbox row through a Sender that appends
the message text (the test's idempotency key) to a file, one line per delivery.

    python -m tests.outbox_worker DATABASE_URL OUT_FILE [--latency SECONDS] [--concurrency N]

The latency stands in for a platform's HTTP round trip, so the test can kill the process mid-way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta

from bot.clock import SystemClock
from bot.messages import Address, Reply
from bot.outbox import Dispatcher
from storage.db import make_engine, make_session_factory


class FileSender:
    """Appends one line per delivered message; O_APPEND keeps lines whole across processes."""

    platform = "console"

    def __init__(self, path: str, latency: float = 0.0) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.latency = latency

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        if self.latency:
            time.sleep(self.latency)
        for reply in replies:
            os.write(self.fd, (reply.text + "\n").encode())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("out")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    sessions = make_session_factory(make_engine(args.db))
    dispatcher = Dispatcher(
        sessions,
        {"console": FileSender(args.out, args.latency)},
        SystemClock(),
        lease=timedelta(minutes=2),
        concurrency=args.concurrency,
    )
    dispatcher.drain(limit=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
