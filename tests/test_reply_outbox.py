"""What the reply outbox keeps: an event's replies until they are delivered, and then nothing.

The replies to a press are the person's own (their answer, their result), and a kept row would date
what they did; so a delivered reply is deleted, except as the proof that an older reply a dead
process left behind was superseded, and then it holds no text and no time.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.messages import Incoming
from bot.outbox import CANCEL, Due
from bot.reply_outbox import KIND, forget_delivered, superseded
from bot.runtime import Runtime
from storage.models import Outbox, OutboxState


def _said(runtime: Runtime, text: str, event_id: str) -> Incoming:
    incoming = Incoming(
        platform="telegram",
        user_id="4242",
        address="4242",
        text=text,
        event_id=event_id,
        display_name="Anna",
        locale_hint="en",
        reports_delivery=True,
    )
    assert runtime.engine.handle(incoming)
    return incoming


def _reply_rows(runtime: Runtime) -> list[Outbox]:
    with runtime.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == KIND).order_by(Outbox.id))
        return [row for row in rows]


def test_once_annas_replies_are_delivered_nothing_of_them_is_kept(runtime: Runtime) -> None:
    help_asked = _said(runtime, "help", "e1")
    [waiting] = _reply_rows(runtime)
    assert waiting.state is OutboxState.PENDING
    assert waiting.payload

    runtime.engine.replied(help_asked)

    assert _reply_rows(runtime) == []


def test_a_reply_left_by_a_dead_process_is_superseded_and_then_both_are_forgotten(runtime: Runtime) -> None:
    _said(runtime, "help", "e1")  # the process that handled this died before delivering it
    results_asked = _said(runtime, "results", "e2")
    runtime.engine.replied(results_asked)

    left, delivered = _reply_rows(runtime)
    assert left.state is OutboxState.PENDING
    # Kept only as the proof that the older reply is out of date: no text, no time.
    assert delivered.state is OutboxState.SENT
    assert delivered.payload == []
    assert delivered.sent_at is None
    assert forget_delivered(runtime.sessions) == 0  # still needed while the older one waits

    due = Due(left.id, left.person_id, left.kind, left.idempotency_key, left.payload, 0, left.due_at)
    with runtime.sessions() as session:
        assert superseded(session, due, runtime.clock.now()) is CANCEL
        session.get_one(Outbox, left.id).state = OutboxState.CANCELLED
        session.commit()

    assert forget_delivered(runtime.sessions) == 2
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == KIND)) == 0
