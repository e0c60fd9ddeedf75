"""Each platform event is handled once: its id is recorded in the transaction that handles it.

A re-delivered update (Telegram retries, Slack's retry on a slow ack) or a double click that
carries the same id finds its id already recorded and changes nothing. The insert runs first in
the event's transaction, so two processes given the same event queue on the unique key and the
second one finds the first one's row once that commits.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from bot.messages import Incoming
from storage.db import upsert_insert
from storage.driver_sql import DriverStatement
from storage.models import Base, ProcessedEvent

_TABLE = Base.metadata.tables[ProcessedEvent.__tablename__]


@cache
def _insert(dialect: str) -> ReturningInsert[tuple[int]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: a row back means this is the first delivery."""
    insert: ReturningInsert[tuple[int]] = (
        upsert_insert(dialect)(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
    )
    return insert


# The same insert for the quick answer path, which runs it on the driver.
RECORD = DriverStatement(_insert, column_keys=("platform", "event_id", "at"))


def values(incoming: Incoming, now: datetime) -> dict[str, Any]:
    return {"platform": incoming.platform, "event_id": incoming.event_id, "at": now}


def first_delivery(session: Session, incoming: Incoming, now: datetime) -> bool:
    """Record the event id; False if it was recorded before (a re-delivery)."""
    result = session.execute(_insert(session.get_bind().dialect.name), values(incoming, now))
    return result.scalar() is not None
