"""Replies are state: what an event will say is committed with the event, then sent and marked sent.

For an event whose adapter reports delivery (`Incoming.reports_delivery`: Telegram and Slack), the
engine writes the replies as one outbox row in the event's own transaction (kind "reply", the
idempotency key names the event), due a little later (`takeover`). Right after the commit the
process that handled the event sends them, and marks the row sent (`mark_sent`). If that process
dies first (or its send fails in a way that cannot have arrived), the row falls due and the outbox
dispatcher of any process delivers it, edit target included (`Outbox.reply_to`), ahead of bulk
messages. So an acknowledged event is never left without its answer and the next question.

Edits are idempotent (the same text again is "not modified" on Telegram, a no-op on Slack). A send
is repeated only in the window the outbox documents: a process killed after the platform took a
message and before the mark. Charts and files are made after the commit and are not kept in the
row: a reply delivered by another process carries its text and buttons only.

A person's replies never wait behind their own earlier bulk message: the dispatcher claims due
replies before anything else. A reply left behind by a dead process is dropped once the person has
a newer one (`superseded`): the newer event showed them where they are, and the old edit would
turn the message they see back into a question they have answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from bot.messages import Incoming, Reply, replies_to_json
from bot.outbox import CANCEL, REPLY_KIND, Due, Verdict, register_check
from storage.db import upsert_insert
from storage.driver_sql import Call, DriverStatement
from storage.models import Outbox, OutboxState

KIND = REPLY_KIND
TAKEOVER = timedelta(seconds=30)

_outbox = cast(Table, Outbox.__table__)


def key(incoming: Incoming) -> str:
    """The row's idempotency key: one row per event."""
    return f"reply:{incoming.platform}:{incoming.workspace}:{incoming.event_id}"[:200]


def kept(incoming: Incoming, replies: Sequence[Reply]) -> bool:
    """Whether this event's replies go through the outbox: a private event with an id, from an
    adapter that reports delivery, with something to say."""
    return bool(replies) and incoming.reports_delivery and incoming.is_private and bool(incoming.event_id)


def _insert(dialect: str) -> Any:
    return upsert_insert(dialect)(_outbox).on_conflict_do_nothing(index_elements=["idempotency_key"])


_INSERT = DriverStatement(
    _insert,
    column_keys=(
        "person_id",
        "kind",
        "payload",
        "due_at",
        "idempotency_key",
        "state",
        "attempts",
        "reply_to",
    ),
)


def _row(
    incoming: Incoming, person_id: int, replies: Sequence[Reply], now: datetime, takeover: timedelta
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "kind": KIND,
        "payload": replies_to_json([replace(r, image=None, file=None) for r in replies]),
        "due_at": now + takeover,
        "idempotency_key": key(incoming),
        "state": OutboxState.PENDING,
        "attempts": 0,
        "reply_to": incoming.pressed,
    }


def write(
    session: Session,
    incoming: Incoming,
    person_id: int,
    replies: Sequence[Reply],
    now: datetime,
    takeover: timedelta = TAKEOVER,
) -> None:
    """Keep the replies in the event's transaction (the general path)."""
    if kept(incoming, replies):
        dialect = session.get_bind().dialect.name
        session.execute(_insert(dialect), _row(incoming, person_id, replies, now, takeover))


def calls(
    incoming: Incoming,
    person_id: int,
    replies: Sequence[Reply],
    now: datetime,
    takeover: timedelta = TAKEOVER,
) -> list[Call]:
    """The same for the quick answer path: the statement to run with its commit."""
    if not kept(incoming, replies):
        return []
    return [(_INSERT, _row(incoming, person_id, replies, now, takeover))]


_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.idempotency_key == bindparam("key"), _outbox.c.state == OutboxState.PENDING)
    .values(state=OutboxState.SENT, sent_at=bindparam("now", type_=_outbox.c.sent_at.type))
)
_LEFT = (
    update(_outbox)
    .where(_outbox.c.idempotency_key == bindparam("key"), _outbox.c.state == OutboxState.PENDING)
    .values(
        payload=bindparam("payload", type_=_outbox.c.payload.type),
        due_at=bindparam("now", type_=_outbox.c.due_at.type),
        last_error=bindparam("error"),
    )
)


def mark_sent(session: Session, incoming: Incoming, now: datetime) -> None:
    """The handling process delivered every reply: nobody else will."""
    session.execute(_MARK_SENT, {"key": key(incoming), "now": now})


def leave(session: Session, incoming: Incoming, unsent: Sequence[Reply], now: datetime, error: str) -> None:
    """The handling process could not deliver `unsent` (the replies from the first one that failed
    and cannot have arrived): they are due now, for the dispatcher."""
    payload = replies_to_json([replace(r, image=None, file=None) for r in unsent])
    session.execute(_LEFT, {"key": key(incoming), "payload": payload, "now": now, "error": error[:500]})


def superseded(session: Session, due: Due, _now: datetime) -> Verdict:
    """Drop an event's replies once a later event of the person has replies of its own (one
    person's events are handled in order, so a later row is a later event)."""
    newer = session.scalar(
        select(_outbox.c.id)
        .where(_outbox.c.person_id == due.person_id, _outbox.c.kind == KIND, _outbox.c.id > due.id)
        .limit(1)
    )
    return CANCEL if newer is not None else None


register_check(KIND, superseded)
