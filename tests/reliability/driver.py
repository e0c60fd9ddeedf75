"""A bot process for the kill test: the real engine on a database, fed by lines on a pipe.

Each line is `event_id user press|say argument`; after the engine has handled it (and so committed
it), the bot prints `ack event_id`. An internal error prints `error event_id ...` instead.

Starting Python and importing the bot takes about a second, twenty times over. So the test starts
one pre-loaded parent (`python -m tests.reliability.driver URL ISO_TIME`) that forks a fresh bot
for every `spawn IN_FIFO OUT_FIFO` line and prints its pid; each bot is a full process with its own
database connections (made after the fork), and the test SIGKILLs it by that pid.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from typing import TextIO

from bot.clock import ManualClock
from bot.config import Config
from bot.engine import Engine
from bot.messages import Incoming
from storage.db import make_engine, make_session_factory

INTERNAL_ERRORS = ("something went wrong on my side", "can't reach my database")


def serve(url: str, now: str, lines: TextIO, out: TextIO) -> None:
    db = make_engine(url)
    engine = Engine(
        make_session_factory(db),
        config=Config(database_url=url),
        clock=ManualClock(datetime.fromisoformat(now)),
    )
    for line in lines:
        event_id, user, kind, arg = line.rstrip("\n").split(" ", 3)
        incoming = Incoming(
            platform="telegram",
            user_id=user,
            event_id=event_id,
            display_name=user,
            locale_hint="en",
            text=arg if kind == "say" else None,
            action=arg if kind == "press" else None,
        )
        replies = engine.handle(incoming)
        said = " | ".join(r.text for r in replies)
        if any(error in said for error in INTERNAL_ERRORS):
            out.write(f"error {event_id} {said!r}\n")
        else:
            out.write(f"ack {event_id}\n")
        out.flush()
    db.dispose()


def main(url: str, now: str) -> int:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed bots are reaped by the system
    for command in sys.stdin:
        _, in_path, out_path = command.split()
        pid = os.fork()
        if pid == 0:
            try:
                with open(in_path) as lines, open(out_path, "w") as out:
                    serve(url, now, lines, out)
            finally:
                os._exit(0)
        print(pid, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
