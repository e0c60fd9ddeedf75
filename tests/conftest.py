"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is required: at 127.0.0.1:5432, database `test` (override with ASSESSBOT_TEST_POSTGRES_URL).
If it is unreachable the run fails. Each test session works in its own schema, so parallel runs
(several checkouts, CI) never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot import runtime as runtime_module
from bot.clock import ManualClock
from bot.config import Config
from bot.runtime import Runtime
from storage.db import make_engine, upgrade
from storage.models import Base
from tests.harness import Conversation

POSTGRES_URL = os.environ.get(
    "ASSESSBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA = f"assessbot_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
# A Monday morning in Stockholm, so tests about working hours start from a known point.
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def postgres_url(schema: str = SCHEMA) -> str:
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {POSTGRES_URL}: {exc}")
    upgrade(make_engine(postgres_url()))
    yield SCHEMA
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "assessbot.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    schema = request.getfixturevalue("postgres_schema")
    url = postgres_url(schema)
    yield url
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # APScheduler's job store lives beside our tables when a test runs the real scheduler.
        conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Config:
    return Config(database_url=db_url, output_dir=str(tmp_path / "out"))


@pytest.fixture
def runtime(config: Config, clock: ManualClock) -> Iterator[Runtime]:
    app = runtime_module.start(config, clock)
    yield app
    app.db.dispose()


@pytest.fixture
def anna(runtime: Runtime) -> Conversation:
    """A staff member talking to the bot in the terminal, in English."""
    return Conversation(runtime.engine, "anna", display_name="Anna Svensson", locale_hint="en")
