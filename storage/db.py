"""Database engine and session setup for SQLite and PostgreSQL.

SQLite gets WAL (readers do not block the writer), enforced foreign keys and a busy timeout,
so several threads or a second process wait for the write lock instead of failing; and
synchronous=FULL, because in WAL mode NORMAL lets a power cut or an OS crash take back transactions
that had committed, and an answer is acknowledged only once it is durable (PostgreSQL runs with
synchronous_commit=on for the same reason).
"""

from __future__ import annotations

import re
import select
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept the usual `postgresql://` spelling and use the psycopg 3 driver for it."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, echo: bool = False, show_values: bool = False) -> Engine:
    """The engine for `url`. A failed statement's error (and so a logged traceback) names the
    statement but not its values, which are what people wrote, unless `show_values`."""
    url = normalise_url(url)
    parsed: URL = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": not show_values}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # We manage transactions ourselves (BEGIN IMMEDIATE below), see _sqlite_begin.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        # psycopg's own automatic preparing is off: whenever a connection that holds statements it
        # prepared rolls back, it deallocates *all* prepared statements, including the ones the
        # quick answer path and the unit report prepare themselves (storage/driver_sql.py), which
        # then vanish under them. Its preparing would not last anyway: every read-only session ends
        # in a rollback.
        kwargs["connect_args"] = {"prepare_threshold": None}
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    else:
        _discard_closed_connections(engine)
    return engine


def _discard_closed_connections(engine: Engine) -> None:
    """Hand out no connection the server has closed, without pool_pre_ping's round trip.

    An idle connection has nothing to read unless the server closed it: a killed backend
    (pg_terminate_backend) or a restarting server sends a FATAL message, then EOF. So a readable
    socket at checkout means a dead connection, and the pool replaces it (raising
    DisconnectionError there is SQLAlchemy's documented way to ask for a fresh one). This costs a
    poll of the socket instead of a `SELECT 1` round trip on every transaction; like the ping, it
    cannot see a peer that vanished without closing (that only a TCP timeout reveals).
    """

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if dbapi_connection.closed or select.select([dbapi_connection.fileno()], [], [], 0)[0]:
            raise DisconnectionError("the database closed this connection")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy emit BEGIN itself: pysqlite's implicit transactions defer the write lock
        # and then fail with "database is locked" on upgrade instead of waiting.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # Take the write lock up front: every engine transaction may write, and an upgrade from a
        # read lock to a write lock is where SQLite gives up with SQLITE_BUSY without waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, future=True)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


_REVISION_LINE = re.compile(r"^(down_)?revision\b[^=\n]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


@cache
def newest_revisions(versions: Path = MIGRATIONS / "versions") -> frozenset[str]:
    """The heads of the migration scripts, read from their `revision` and `down_revision` lines."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        for down, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            (parents if down else revisions).update(_QUOTED.findall(value))
    return frozenset(revisions - parents)


_STAMPED = "SELECT version_num FROM alembic_version"


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration (False for an empty one)."""
    try:
        with engine.connect() as connection:
            stamped = set(connection.execute(text(_STAMPED)).scalars())
    except SQLAlchemyError:  # no alembic_version table: a new database
        return False
    return _at_newest(stamped)


def _at_newest(stamped: set[str]) -> bool:
    heads = newest_revisions()
    return bool(heads) and stamped == heads


def _stamped_without_write_lock(engine: Engine) -> set[str] | None:
    """The stamped versions of a SQLite database, read outside an engine transaction.

    Every engine transaction on SQLite begins with BEGIN IMMEDIATE, so it waits behind whoever
    holds the write lock; the pool's raw connection is in autocommit (isolation_level None), and a
    plain read in WAL mode waits for no writer. None when there is no alembic_version table."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(_STAMPED)
            return {row[0] for row in cursor.fetchall()}
        except sqlite3.OperationalError:  # no alembic_version table: a new database
            return None
        finally:
            cursor.close()
    finally:
        connection.close()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database).

    Alembic is imported only when there is something to do: most starts find the schema current,
    and loading alembic and its scripts is a noticeable part of a start (bench/RESULTS.md)."""
    if is_current(engine):
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


# The key of the lock first-start set-up runs under: per database and schema, like the scheduler's,
# so installations (or test runs in separate schemas) on one server do not wait for each other.
_SETUP_KEY = (
    "hashtextextended(current_database() || '.' || coalesce(current_schema(), '') || '.assessbot-setup', 0)"
)


@contextmanager
def setup_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's set-up lock: migrations and first-start set-up (bundled instruments, the
    claim code) run in one process at a time, so any number may start at once on an empty database.

    PostgreSQL: an advisory lock on a connection of its own, held until the block ends (closing
    the connection, as a killed process does, releases it too). SQLite has one writer at a time and
    every transaction takes the write lock first (BEGIN IMMEDIATE), so it needs nothing more.
    """
    if not is_postgres(engine):
        yield
        return
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_advisory_lock({_SETUP_KEY})"))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock({_SETUP_KEY})"))
            conn.commit()


def schema_ready(engine: Engine) -> bool:
    """The database answers and its schema is at the newest migration (what a readiness check asks).

    False while another process is still migrating, before the first start, and when the database
    cannot be reached. Never raises, and on SQLite never waits behind a write in progress.
    """
    try:
        if is_postgres(engine):
            return is_current(engine)
        stamped = _stamped_without_write_lock(engine)
        return stamped is not None and _at_newest(stamped)
    except Exception:  # unreachable: not ready
        return False


def upsert_insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT with ON CONFLICT support (both SQLite and PostgreSQL have it).

    Upserts and insert-or-ignore on unique keys are how "nothing doubled" holds across processes.
    Only the database's own dialect is imported: the other one is memory a running bot never uses.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
