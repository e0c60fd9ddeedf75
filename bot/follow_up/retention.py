"""Storage limitation: a round's individual answers are kept for a period after it closes, then
deleted, and only its published unit results remain.

The period (`ASSESSBOT_RETENTION_DAYS`, three years by default) runs from the round's closing
date: long enough to compare a unit with its previous rounds and follow an action plan through,
no longer. Then, in one transaction per round, run by the scheduler's periodic job:
- each unit's published result is kept (bot/results/publication_store.py), made from the answers
  first if it was not kept yet; a round whose results cannot be kept is left for the next run
  rather than losing its results;
- the responses with their answers and background answers, who was invited and who finished, and
  the round's invitations and reminders in the outbox are deleted;
- the round's workshops keep their votes (their counts are the workshop's outcome) but not who
  cast them, and lose their notes (what each person wrote);
- the round is marked archived: its reports read the kept results alone from then on.
An assessment someone took on their own, outside any round, is theirs alone and has no published
result: it is deleted with its answers the same period after it was finished (or, unfinished,
started).
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.results import publication_store
from storage.db import transaction
from storage.models import (
    Answer,
    BackgroundAnswer,
    Outbox,
    Response,
    Round,
    RoundParticipant,
    RoundStatus,
    RoundUnit,
    Workshop,
    WorkshopNote,
    WorkshopVote,
)

log = logging.getLogger(__name__)

DEFAULT_DAYS = Config.retention_days
# The outbox keys that name a round and a person (bot/administration/rounds.py, bot/follow_up/reminders.py).
ROUND_MESSAGES = ("invite", "reminder")


def due(session: Session, now: datetime, days: int) -> list[int]:
    """Rounds whose retention period has run out and that still hold answers."""
    cutoff = now - timedelta(days=days)
    return list(
        session.scalars(
            select(Round.id)
            .where(Round.closes_at <= cutoff, Round.status != RoundStatus.ARCHIVED)
            .order_by(Round.id)
        )
    )


def expire(sessions: sessionmaker[Session], now: datetime, days: int = DEFAULT_DAYS) -> int:
    """Archive every round past its period; returns how many were archived."""
    if days <= 0:
        return 0  # a mistyped setting must not delete this year's answers
    with transaction(sessions) as session:
        expire_own(session, now, days)
    with sessions() as session:
        rounds = due(session, now, days)
    archived = 0
    for round_id in rounds:
        with transaction(sessions) as session:
            archived += archive(session, round_id, now)
    return archived


def archive(session: Session, round_id: int, now: datetime) -> int:
    """Keep the round's published results, then delete what identifies its respondents (1 if done)."""
    round_ = session.get(Round, round_id)
    if round_ is None or round_.status is RoundStatus.ARCHIVED:
        return 0
    for unit_id in _units(session, round_id):
        publication_store.publish(session, round_id, unit_id, now, rebuild_limit=sys.maxsize)
        found = publication_store.head(session, round_id, unit_id)
        if (
            found is not None
            and found.published
            and (found.kept is None or found.kept.published < found.published)
        ):
            log.warning(
                "round %s: the result of unit %s could not be kept; answers kept for now", round_id, unit_id
            )
            return 0
    responses = select(Response.id).where(Response.round_id == round_id)
    session.execute(delete(Answer).where(Answer.response_id.in_(responses)))
    session.execute(delete(BackgroundAnswer).where(BackgroundAnswer.response_id.in_(responses)))
    session.execute(delete(Response).where(Response.round_id == round_id))
    session.execute(delete(RoundParticipant).where(RoundParticipant.round_id == round_id))
    workshops = select(Workshop.id).where(Workshop.round_id == round_id)
    session.execute(
        update(WorkshopVote).where(WorkshopVote.workshop_id.in_(workshops)).values(person_id=None)
    )
    session.execute(delete(WorkshopNote).where(WorkshopNote.workshop_id.in_(workshops)))
    for kind in ROUND_MESSAGES:
        session.execute(delete(Outbox).where(Outbox.idempotency_key.startswith(f"{kind}:{round_id}:")))
    round_.status = RoundStatus.ARCHIVED
    log.info("round %s archived: its answers are deleted, its published results kept", round_id)
    return 1


def expire_own(session: Session, now: datetime, days: int) -> int:
    """Delete the assessments taken alone whose period has run out; returns how many."""
    cutoff = now - timedelta(days=days)
    expired = select(Response.id).where(
        Response.round_id.is_(None), func.coalesce(Response.completed_at, Response.started_at) <= cutoff
    )
    ids = list(session.scalars(expired))
    if ids:
        session.execute(delete(Answer).where(Answer.response_id.in_(ids)))
        session.execute(delete(BackgroundAnswer).where(BackgroundAnswer.response_id.in_(ids)))
        session.execute(delete(Response).where(Response.id.in_(ids)))
        log.info("%s assessment(s) taken alone deleted at the end of their retention period", len(ids))
    return len(ids)


def _units(session: Session, round_id: int) -> set[int]:
    named = set(session.scalars(select(RoundUnit.unit_id).where(RoundUnit.round_id == round_id)))
    answered = session.scalars(
        select(Response.unit_id)
        .where(Response.round_id == round_id, Response.unit_id.is_not(None))
        .distinct()
    )
    return named | {u for u in answered if u is not None}
