"""A load balancer asks `/healthz` whether this `assessbot run` process should get traffic.

200 while the process is up, the database answers and its schema is the one this code expects;
503 otherwise (migrations not yet run, or the database gone), and 200 again once that is over.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import make_engine
from tests.fakes.slack_api import FakeSlackAPI
from tests.reliability.tcp_proxy import Proxy
from tests.served import BotProcess, free_port, http_get, running

POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def slack_settings(db_url: str, fake: FakeSlackAPI, port: int, tmp_path: Path) -> dict[str, str]:
    return {
        "ASSESSBOT_DATABASE_URL": db_url,
        "ASSESSBOT_OUTPUT_DIR": str(tmp_path / "out"),
        "ASSESSBOT_SLACK_BOT_TOKEN": fake.token,
        "ASSESSBOT_SLACK_SIGNING_SECRET": "healthz-signing-secret-0123456789",
        "ASSESSBOT_SLACK_API_URL": fake.base_url,
        "ASSESSBOT_SLACK_PORT": str(port),
    }


@contextlib.contextmanager
def slack_bot(db_url: str, tmp_path: Path) -> Iterator[tuple[BotProcess, int]]:
    port = free_port()
    with FakeSlackAPI() as fake, running(slack_settings(db_url, fake, port, tmp_path), port) as bot:
        yield bot, port


def eventually(port: int, status: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    seen = None
    while time.monotonic() < deadline:
        seen = http_get(port, "/healthz").status
        if seen == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"/healthz answered {seen}, not {status}")


def test_healthz_is_503_while_the_schema_is_behind_and_200_once_it_is_migrated(
    db_url: str, tmp_path: Path
) -> None:
    with slack_bot(db_url, tmp_path) as (_bot, port):
        assert http_get(port, "/healthz").status == 200
        engine = make_engine(db_url)
        with engine.begin() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        try:
            eventually(port, 503)
        finally:
            with engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
            engine.dispose()
        eventually(port, 200)


@POSTGRESQL_ONLY
def test_healthz_is_503_while_the_database_does_not_answer(db_url: str, tmp_path: Path) -> None:
    url = make_url(db_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with slack_bot(through_proxy, tmp_path) as (_bot, port):
            assert http_get(port, "/healthz").status == 200
            proxy.down()
            eventually(port, 503)
            proxy.up()
            eventually(port, 200, within=20)
    finally:
        proxy.close()


def test_healthz_still_answers_200_promptly_while_another_process_holds_a_write_open(
    db_url: str, tmp_path: Path
) -> None:
    with slack_bot(db_url, tmp_path) as (_bot, port):
        assert http_get(port, "/healthz").status == 200
        engine = make_engine(db_url)
        try:
            with engine.begin() as conn:  # a write in progress: on SQLite, the write lock is held
                conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
                started = time.monotonic()
                status = http_get(port, "/healthz").status
                took = time.monotonic() - started
        finally:
            engine.dispose()
        assert status == 200
        assert took < 1.0, f"/healthz took {took:.1f} s behind a write"
