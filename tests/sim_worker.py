"""One bot process in the two-process simulation: scheduler leader election, scans and dispatch,
on a simulated clock that runs `speed` times faster than the wall clock from a shared epoch, so
every process agrees on the simulated time.

    python -m tests.sim_worker DATABASE_URL OUT_FILE --epoch E --start ISO --end ISO --speed S
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.clock import ManualClock
from bot.follow_up.scheduler import Leadership, scan
from bot.messages import Address, Reply
from bot.outbox import Dispatcher
from storage.db import make_engine, make_session_factory


class ScaledClock:
    def __init__(self, start: datetime, epoch: float, speed: float) -> None:
        self.start, self.epoch, self.speed = start, epoch, speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)


class LineSender:
    """One line per delivered message: who, what, and at which simulated time."""

    platform = "console"

    def __init__(self, path: str, clock: ScaledClock | ManualClock, name: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.clock = clock
        self.name = name

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        text = " | ".join(r.text for r in replies).replace("\n", " ")
        line = f"{address.user_id}\t{self.clock.now().isoformat()}\t{self.name}\t{text}\n"
        os.write(self.fd, line.encode())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("out")
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    engine = make_engine(args.db)
    sessions = make_session_factory(engine)
    end = datetime.fromisoformat(args.end)
    clock = ScaledClock(datetime.fromisoformat(args.start), args.epoch, args.speed)
    # A simulated day of lease is about two real seconds: a claim is never taken over while alive.
    dispatcher = Dispatcher(
        sessions,
        {"console": LineSender(args.out, clock, args.name)},
        clock,
        worker=args.name,
        lease=timedelta(days=1),
    )
    leadership = Leadership(engine)
    led = scans = 0
    while True:
        now = clock.now()
        final = now >= end
        if final:
            now = end
            dispatcher.clock = ManualClock(end)
        if leadership.try_acquire():
            led = 1
            scan(sessions, now)
            scans += 1
        # Small batches, so both processes take part and a claim is sent soon after it is made.
        dispatcher.drain(limit=5)
        if final:
            break
    leadership.release()
    print(f"{args.name} led={led} scans={scans}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
