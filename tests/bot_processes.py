"""Real `assessbot run` processes for the scale-out scenarios: a fresh PostgreSQL schema, Telegram
webhook mode against the fake Bot API (or Slack HTTP mode against the fake Web API), started,
stopped and killed like a supervisor would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from bot.directory import catalogue
from storage.db import make_engine
from storage.models import (
    Answer,
    BackgroundAnswer,
    Identity,
    Membership,
    Person,
    Response,
    ResponseStatus,
    Role,
    Round,
    RoundParticipant,
    RoundUnit,
    Unit,
)
from tests.assessbot_process import free_port, launch, terminate
from tests.conftest import POSTGRES_URL, postgres_url
from tests.reliability.scripted_round import SMALL_INSTRUMENT

__all__ = [
    "SECRET",
    "BotProcess",
    "empty_postgres_schema",
    "free_port",
    "listening",
    "open_round_for",
    "stored",
    "wait_for",
]

SECRET = "scale-out-secret"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def empty_postgres_schema() -> Iterator[str]:
    """A schema with nothing in it (not even alembic_version): the URL of a database never started."""
    schema = f"assessbot_empty_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class BotProcess:
    """One `assessbot run` with the given ASSESSBOT_ settings; its log is kept in a file."""

    def __init__(self, settings: Mapping[str, str], log: Path) -> None:
        self.settings = dict(settings)
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BotProcess:
        settings = {f"ASSESSBOT_{k.upper()}": v for k, v in self.settings.items()}
        with self.log_path.open("ab") as log:
            # Scenarios start several at once from threads of their own and stop them themselves.
            self.process = launch(settings, log, die_with_parent=False)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine or container dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.process is not None
        return terminate(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def telegram_webhook_settings(
    database_url: str, api_url: str, token: str, port: int, out: Path
) -> dict[str, str]:
    return {
        "database_url": database_url,
        "output_dir": str(out),
        "telegram_token": token,
        "telegram_api_url": api_url,
        "telegram_webhook_url": f"http://127.0.0.1:{port}/telegram",
        "telegram_webhook_listen": "127.0.0.1",
        "telegram_webhook_port": str(port),
        "telegram_webhook_secret": SECRET,
        # The fake allows any rate; the bot's own pacing is not what these scenarios look at.
        "telegram_max_per_second": "1000",
    }


def open_round_for(session: Session, platform: str, users: Sequence[str], workspace: str = "") -> int:
    """The small instrument of the reliability tests, one unit, and a round open to `users` (their
    ids on `platform`), as rows; returns the round id."""
    now = datetime.now(UTC)
    installed = catalogue.install(session, SMALL_INSTRUMENT, "pulse.yaml", now, activate=True)
    unit = Unit(name="Ekbacken school", created_at=now)
    session.add(unit)
    session.flush()
    round_ = Round(
        name="Autumn pulse",
        instrument_version_id=installed.version_id,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        threshold=5,
        created_at=now,
    )
    session.add(round_)
    session.flush()
    session.add(RoundUnit(round_id=round_.id, unit_id=unit.id))
    for n, user in enumerate(users):
        person = Person(display_name=f"Person {n}", locale_hint="en", created_at=now)
        session.add(person)
        session.flush()
        session.add_all(
            [
                Identity(person_id=person.id, platform=platform, workspace=workspace, platform_user_id=user),
                Membership(person_id=person.id, unit_id=unit.id, role=Role.STAFF, joined_at=now),
                RoundParticipant(round_id=round_.id, person_id=person.id, unit_id=unit.id, invited_at=now),
            ]
        )
    return round_.id


@dataclass(frozen=True)
class Stored:
    """What the database holds at the end of a scale-out scenario, per user id."""

    responses: dict[str, list[ResponseStatus]]
    answers: dict[str, int]
    background: dict[str, int]


def stored(database_url: str, round_id: int) -> Stored:
    db = make_engine(database_url)
    try:
        with db.connect() as conn:
            responses: dict[str, list[ResponseStatus]] = {}
            for user, status in conn.execute(
                select(Identity.platform_user_id, Response.status)
                .join(Response, Response.person_id == Identity.person_id)
                .where(Response.round_id == round_id)
            ):
                responses.setdefault(user, []).append(status)
            answers = dict(
                conn.execute(
                    select(Identity.platform_user_id, func.count(Answer.id))
                    .join(Response, Response.person_id == Identity.person_id)
                    .join(Answer, Answer.response_id == Response.id)
                    .where(Response.round_id == round_id)
                    .group_by(Identity.platform_user_id)
                ).all()
            )
            background = dict(
                conn.execute(
                    select(Identity.platform_user_id, func.count(BackgroundAnswer.id))
                    .join(Response, Response.person_id == Identity.person_id)
                    .join(BackgroundAnswer, BackgroundAnswer.response_id == Response.id)
                    .where(Response.round_id == round_id)
                    .group_by(Identity.platform_user_id)
                ).all()
            )
    finally:
        db.dispose()
    return Stored(responses, answers, background)
