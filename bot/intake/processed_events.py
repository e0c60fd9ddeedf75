"""Each platform event is handled once: its id is recorded in the transaction that handles it.

A re-delivered update (Telegram retries, Slack's retry on a slow ack) or a double click that
carries the same id finds its id already recorded and changes nothing. The insert runs first in
the event's transaction, so two processes given the same event queue on the unique key and the
second one finds the first one's row once that commits.

The ids are kept for a week (`forget_old`, run by the scheduler's periodic job): platforms deliver
an event again within a day at most (Telegram keeps an update 24 hours, Slack retries within
minutes), so older ids only make the table grow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import ReturningInsert

from bot.messages import Incoming
from storage.db import transaction, upsert_insert
from storage.driver_sql import DriverStatement
from storage.models import Base, ProcessedEvent

_TABLE = Base.metadata.tables[ProcessedEvent.__tablename__]


@cache
def _insert(dialect: str) -> ReturningInsert[tuple[int]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: a row back means this is the first time."""
    insert: ReturningInsert[tuple[int]] = (
        upsert_insert(dialect)(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
    )
    return insert


# The same insert for the quick answer path, which runs it on the driver.
RECORD = DriverStatement(_insert, column_keys=("platform", "event_id", "at"))


def values(incoming: Incoming, now: datetime) -> dict[str, Any]:
    return {"platform": incoming.platform, "event_id": incoming.event_id, "at": now}


def first_time(session: Session, incoming: Incoming, now: datetime) -> bool:
    """Record the event id; False if it was recorded before (a repeat)."""
    result = session.execute(_insert(session.get_bind().dialect.name), values(incoming, now))
    return result.scalar() is not None


KEEP = timedelta(days=7)
FORGET_BATCH = 1_000


def forget_old(
    sessions: sessionmaker[Session], now: datetime, keep: timedelta = KEEP, batch: int = FORGET_BATCH
) -> int:
    """Delete the recorded event ids older than `keep`; returns how many.

    A batch per transaction, so events being handled meanwhile wait on none of it. Ids grow with
    time (nothing else indexes `at`), so the walk goes along the primary key from the oldest row
    and stops at the first batch that reaches a newer one.
    """
    cutoff = now - keep
    forgotten = 0
    while True:
        with transaction(sessions) as session:
            rows = session.execute(select(_TABLE.c.id, _TABLE.c.at).order_by(_TABLE.c.id).limit(batch)).all()
            old = [row.id for row in rows if row.at < cutoff]
            if old:
                session.execute(delete(_TABLE).where(_TABLE.c.id.in_(old)))
        forgotten += len(old)
        if len(old) < batch:
            return forgotten
