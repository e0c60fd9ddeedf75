"""Making a completed response of an anonymous round unlinkable to the person who gave it.

A determined reader of the database lines up everything stored with the person's id against the
round's completed responses. So, in the transaction that completes the response:
- the answers move to a new response row, made now: its id follows completion order (not the
  order people started in, which their first contact with the bot could show), it names nobody,
  and every time on it and its answers is the UTC day it was completed;
- the person keeps only that they have finished (for reminders), marked with the round's opening
  time, the same for everyone, never when;
- the person's messages that could tell when (their reminders about the round: one sent says
  "not finished by then") or which (a button naming the old response) are deleted, sent or not.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from bot.messages import replies_from_json
from storage.models import Answer, BackgroundAnswer, Outbox, Response, Round, RoundParticipant

# The buttons that carry a response id (bot/conversation/assessment.py): answer, background, explain, back, resume.
_RESPONSE_BUTTONS = ("a", "g", "x", "b", "r")


def utc_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def unlink(session: Session, response: Response, round_: Round, now: datetime) -> Response:
    """Detach `response` (just completed, still the person's) from its person; returns the row that
    now holds the answers. The old row is deleted."""
    person_id = response.person_id
    detached = _move_answers(session, response, utc_day(now))
    if person_id is not None:
        _mark_finished(session, round_, person_id)
        _drop_traces(session, round_.id, person_id, response.id)
    return detached


def _move_answers(session: Session, response: Response, day: datetime) -> Response:
    detached = Response(
        person_id=None,
        instrument_version_id=response.instrument_version_id,
        round_id=response.round_id,
        unit_id=response.unit_id,
        role=response.role,
        status=response.status,
        cursor=response.cursor,
        started_at=day,
        completed_at=day,
    )
    session.add(detached)
    session.flush()
    # Re-inserted in item order, so not even the answers' own ids keep the order they were given in.
    answers = session.execute(
        select(Answer.item_code, Answer.kind, Answer.value)
        .where(Answer.response_id == response.id)
        .order_by(Answer.item_code)
    ).all()
    background = session.execute(
        select(BackgroundAnswer.question_id, BackgroundAnswer.option_id)
        .where(BackgroundAnswer.response_id == response.id)
        .order_by(BackgroundAnswer.question_id)
    ).all()
    session.execute(delete(Answer).where(Answer.response_id == response.id))
    session.execute(delete(BackgroundAnswer).where(BackgroundAnswer.response_id == response.id))
    if answers:
        session.execute(
            insert(Answer),
            [
                {
                    "response_id": detached.id,
                    "item_code": code,
                    "kind": kind,
                    "value": value,
                    "answered_at": day,
                }
                for code, kind, value in answers
            ],
        )
    if background:
        session.execute(
            insert(BackgroundAnswer),
            [
                {"response_id": detached.id, "question_id": q, "option_id": o, "answered_at": day}
                for q, o in background
            ],
        )
    session.delete(response)
    session.flush()
    return detached


def _mark_finished(session: Session, round_: Round, person_id: int) -> None:
    participant = session.scalar(
        select(RoundParticipant).where(
            RoundParticipant.round_id == round_.id, RoundParticipant.person_id == person_id
        )
    )
    if participant is not None:
        participant.completed_at = round_.opens_at


def _drop_traces(session: Session, round_id: int, person_id: int, response_id: int) -> None:
    rows = session.execute(
        select(Outbox.id, Outbox.idempotency_key, Outbox.payload).where(Outbox.person_id == person_id)
    ).all()
    reminder_keys = f"reminder:{round_id}:{person_id}:"  # bot/follow_up/reminders.py's keys (it imports us)
    doomed = [
        row_id
        for row_id, key, payload in rows
        if key.startswith(reminder_keys) or names_response(payload, response_id)
    ]
    if doomed:
        session.execute(delete(Outbox).where(Outbox.id.in_(doomed)))


def names_response(payload: list[dict[str, object]], response_id: int) -> bool:
    """Whether a stored message has a button that carries this response's id."""
    for reply in replies_from_json(payload):
        for choice in reply.flat_choices:
            prefix, _, rest = choice.payload.partition(":")
            if prefix in _RESPONSE_BUTTONS and rest.split(":")[0] == str(response_id):
                return True
    return False
