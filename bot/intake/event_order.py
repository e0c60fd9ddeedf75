"""One person's events one at a time, in every process: a lock per person, taken first.

A double click whose halves reach two processes, or a typed answer racing a button press, would
otherwise both read the same cursor and both move it (two next questions, two responses). So the
first statement of every event's transaction takes the person's lock, keyed on the identity that
sent it (platform, workspace, user id): the second event waits for the first one's commit and then
reads what it left, so it sees the first one's effect.

PostgreSQL: a transaction-level advisory lock (released by the commit or rollback, or when a killed
process's connection closes). An event takes exactly one such lock, before any row lock, so two
events can never wait for each other in a circle: no deadlocks, by construction. The one other lock an event may take is a unit's result
(bot/results/publication_store.py, when a completion moves it), always after the person's: one
order, so still no circle. SQLite has one writer at a time and every transaction takes the write lock first (BEGIN IMMEDIATE), which already
serialises everything.
"""

from __future__ import annotations

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.orm import Session

from bot.messages import Incoming
from storage.driver_sql import DriverStatement

# The key includes the schema, so installations sharing one server do not wait for each other.
_KEY = func.hashtextextended(
    func.concat_ws(
        "\x1f",
        func.current_schema(),
        bindparam("lock_platform", type_=String),
        bindparam("lock_workspace", type_=String),
        bindparam("lock_user_id", type_=String),
    ),
    0,
)
_LOCK = select(func.pg_advisory_xact_lock(_KEY))

# The same statement for the quick answer path, which runs it on the driver (PostgreSQL only).
LOCK = DriverStatement(_LOCK)


def values(incoming: Incoming) -> dict[str, str]:
    return {
        "lock_platform": incoming.platform,
        "lock_workspace": incoming.workspace,
        "lock_user_id": incoming.user_id,
    }


def needed(dialect: str) -> bool:
    """Whether the database needs the lock taken (SQLite's write lock already serialises)."""
    return dialect == "postgresql"


def take(session: Session, incoming: Incoming) -> None:
    """Wait for the person's earlier events to commit; hold their lock until this one does."""
    if needed(session.get_bind().dialect.name):
        session.execute(_LOCK, values(incoming))
