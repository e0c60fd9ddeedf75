"""The schema: migrations create exactly what the models describe, and SQLite is set up for safe writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, select, text

from storage.db import make_engine, make_session_factory, transaction
from storage.driver_sql import DriverStatement, read_in
from storage.models import Base, Unit


def test_the_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []


def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2, "FULL: a commit survives a power cut"
    engine.dispose()


def test_a_read_on_the_driver_gives_what_the_orm_reads_and_is_prepared_once_per_connection(
    db_url: str,
) -> None:
    # The unit report's head is read this way (bot/results/publication_store.py).
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    made = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    with transaction(sessions) as session:
        session.add_all(
            [Unit(name="Ystad library", created_at=made), Unit(name="Åhus skola", created_at=made)]
        )
    units = DriverStatement(select(Unit.name, Unit.created_at).where(Unit.name != bindparam("not")))
    for _ in range(3):  # each read ends in a rollback, which a prepared statement outlives
        with sessions() as session:
            driver = read_in(session.connection(), units, {"not": "Ystad library"})
            orm = session.execute(
                select(Unit.name, Unit.created_at).where(Unit.name != "Ystad library")
            ).all()
            assert driver == [tuple(row) for row in orm] == [("Åhus skola", made)]
            if engine.dialect.name == "postgresql":
                prepared = session.execute(
                    text("SELECT count(*) FROM pg_prepared_statements WHERE name = :name"),
                    {"name": units.name},
                ).scalar()
                assert prepared == 1
    engine.dispose()
