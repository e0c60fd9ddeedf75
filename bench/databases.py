"""Throw-away databases for a benchmark run: an SQLite file in a temporary directory, or a fresh
PostgreSQL schema (like tests/conftest.py) dropped afterwards, so a run never touches real data."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get(
    "ASSESSBOT_BENCH_POSTGRES_URL",
    os.environ.get("ASSESSBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" | "postgresql"
    url: str


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="assessbot-bench-") as directory:
        yield Database("sqlite", f"sqlite:///{Path(directory) / 'bench.sqlite3'}")


def postgres_reachable(url: str = POSTGRES_URL) -> str | None:
    """None when PostgreSQL answers; otherwise why not (one line)."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        engine.dispose()
    return None


@contextmanager
def postgres_database(url: str = POSTGRES_URL) -> Iterator[Database]:
    schema = f"assessbot_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in url else "?"
        yield Database("postgresql", f"{url}{separator}options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh(kind: str) -> Iterator[Database]:
    factory = sqlite_database if kind == "sqlite" else postgres_database
    with factory() as database:
        yield database
