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

A delivered reply is not kept. Its text is the person's own (their answers, their result), and
the row's id and times would date what they did: in an anonymous round the reply to the last
press would say when they finished, which is what the anonymous record is built not to say. So
`mark_sent` deletes the row, unless an older reply of the person is still waiting, for which this
row is the proof that it was superseded; then the row keeps only that it was sent, and
`forget_delivered` (the scheduler's housekeeping) deletes it once nothing older waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

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


_older = _outbox.alias("older")
_OLDER_WAITING = exists().where(
    _older.c.person_id == _outbox.c.person_id,
    _older.c.kind == KIND,
    _older.c.state == OutboxState.PENDING,
    _older.c.id < _outbox.c.id,
)
_DROP_SENT = delete(_outbox).where(
    _outbox.c.idempotency_key == bindparam("key"), _outbox.c.state == OutboxState.PENDING, ~_OLDER_WAITING
)
_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.idempotency_key == bindparam("key"), _outbox.c.state == OutboxState.PENDING)
    .values(state=OutboxState.SENT, payload=replies_to_json([]), sent_at=None)
)
_FORGET_DELIVERED = delete(_outbox).where(
    _outbox.c.kind == KIND, _outbox.c.state != OutboxState.PENDING, ~_OLDER_WAITING
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


def mark_sent(session: Session, incoming: Incoming, _now: datetime) -> None:
    """The handling process delivered every reply: nobody else will, and nothing of them is kept."""
    params = {"key": key(incoming)}
    session.execute(_DROP_SENT, params)
    session.execute(_MARK_SENT, params)


def forget_delivered(sessions: sessionmaker[Session]) -> int:
    """Delete the delivered (or dropped) replies no older waiting reply needs any more; the
    scheduler's housekeeping runs it. Returns how many went."""
    with sessions() as session, session.begin():
        return int(session.execute(_FORGET_DELIVERED).rowcount or 0)  # type: ignore[attr-defined]


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
