"""SIGKILL the bot at 20 random points during a 200-person round: nothing acknowledged is lost,
nothing is stored twice, and everyone carries on where they were.

The bot runs as a separate process (tests/reliability/driver.py, the real engine on the real
database) fed "person action" lines; it prints an ack once the engine has handled an event. Like a
chat platform re-delivering unacknowledged updates, every line after the last ack is sent again to
the next process, with the same event ids.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import func, select

from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    BackgroundAnswer,
    Identity,
    Response,
    ResponseStatus,
    RoundParticipant,
)
from tests.conftest import START
from tests.reliability.scripted_round import CODES, Event, open_round, script

PEOPLE = 200
KILLS = 20
ROOT = Path(__file__).resolve().parents[2]


class Bots:
    """The pre-loaded parent that forks a fresh bot process on demand."""

    def __init__(self, url: str, directory: Path) -> None:
        self.directory = directory
        self.log = (directory / "bots.log").open("w")
        self.parent = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.driver", url, START.isoformat()],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
        )
        self.spawned = 0

    def spawn(self, events: Sequence[Event]) -> Bot:
        self.spawned += 1
        to_bot, from_bot = (self.directory / f"in-{self.spawned}", self.directory / f"out-{self.spawned}")
        os.mkfifo(to_bot)
        os.mkfifo(from_bot)
        assert self.parent.stdin is not None
        assert self.parent.stdout is not None
        self.parent.stdin.write(f"spawn {to_bot} {from_bot}\n")
        self.parent.stdin.flush()
        pid = int(self.parent.stdout.readline())
        # The same order as the bot opens them, so neither waits for the other forever.
        lines = to_bot.open("w")
        out = from_bot.open()
        bot = Bot(pid, out)
        threading.Thread(target=_write, args=(lines, events), daemon=True).start()
        return bot

    def close(self) -> None:
        assert self.parent.stdin is not None
        self.parent.stdin.close()
        self.parent.wait(timeout=30)
        self.log.close()


def _write(pipe: IO[str], events: Sequence[Event]) -> None:
    try:
        for event in events:
            pipe.write(event.line())
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the bot was killed while we were writing: expected


class Bot:
    def __init__(self, pid: int, out: IO[str]) -> None:
        self.pid = pid
        self.out = out

    def read_ack(self) -> str | None:
        while line := self.out.readline():
            if _ack(line):
                return line.split()[1]
        return None

    def acks(self) -> list[str]:
        """Read until the bot stops printing (it finished or died); the acknowledged event ids."""
        return [line.split()[1] for line in self.out if _ack(line)]

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


def _ack(line: str) -> bool:
    assert not line.startswith("error"), f"the bot answered with an internal error: {line}"
    return line.startswith("ack ")


def _stored(runtime: Runtime) -> tuple[dict[tuple[str, str], int | None], dict[str, int]]:
    """Answers by (user, item code), and how many responses each user has."""
    with runtime.sessions() as session:
        answers = {
            (user, code): value
            for user, code, value in session.execute(
                select(Identity.platform_user_id, Answer.item_code, Answer.value)
                .join(Response, Response.person_id == Identity.person_id)
                .join(Answer, Answer.response_id == Response.id)
            )
        }
        responses = dict(
            session.execute(
                select(Identity.platform_user_id, func.count(Response.id))
                .join(Response, Response.person_id == Identity.person_id)
                .group_by(Identity.platform_user_id)
            ).all()
        )
    return answers, responses


def _assert_acknowledged_are_stored(runtime: Runtime, acked: list[Event]) -> None:
    answers, responses = _stored(runtime)
    for event in acked:
        if event.code is not None:
            assert answers.get((event.user, event.code)) == event.value, f"lost: {event}"
    assert all(n == 1 for n in responses.values()), "a person has two responses to one round"


def test_killing_the_bot_at_random_points_loses_and_doubles_nothing(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    with transaction(runtime.sessions) as session:
        round_id = open_round(session, PEOPLE, START)
    events = script(round_id, PEOPLE, seed=20)
    rng = random.Random(8)
    kill_after = sorted(rng.sample(range(1, len(events)), KILLS))
    by_id = {e.event_id: e for e in events}

    acked: list[Event] = []
    bots = Bots(db_url, tmp_path)
    try:
        for target in kill_after:
            bot = bots.spawn(events[len(acked) :])
            while len(acked) < target:
                event_id = bot.read_ack()
                assert event_id is not None, "the bot stopped early; see bots.log"
                acked.append(by_id[event_id])
            bot.kill()
            # Whatever it printed before dying was acknowledged too.
            acked.extend(by_id[event_id] for event_id in bot.acks())
            assert [e.event_id for e in acked] == [e.event_id for e in events[: len(acked)]]
            _assert_acknowledged_are_stored(runtime, acked)
        bot = bots.spawn(events[len(acked) :])
        acked.extend(by_id[event_id] for event_id in bot.acks())
    finally:
        bots.close()
    assert len(acked) == len(events)

    _assert_acknowledged_are_stored(runtime, acked)
    answers, responses = _stored(runtime)
    assert len(answers) == PEOPLE * len(CODES)
    assert len(responses) == PEOPLE
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == PEOPLE * len(CODES)
        assert session.scalar(select(func.count()).select_from(BackgroundAnswer)) == PEOPLE
        statuses = session.scalars(select(Response.status)).all()
        assert statuses == [ResponseStatus.COMPLETED] * PEOPLE
        finished = session.scalar(
            select(func.count())
            .select_from(RoundParticipant)
            .where(RoundParticipant.completed_at.is_not(None))
        )
        assert finished == PEOPLE
