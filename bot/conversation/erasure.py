"""Forget-me, beyond the person's own rows: what they wrote and what names them elsewhere.

Deleting the person row takes their identities, memberships, responses and the messages queued
*to* them along (foreign keys). What others may still read is handled here, before and after:
- their progress comments on plan items (shown in `plan report` and digests) are deleted;
- audit entries keep the action and lose the identity (the person's id and the name or platform
  user id recorded beside it); the actor column empties itself (ON DELETE SET NULL);
- messages *about* them in other people's outbox (a principal told "owner Sven ... is not done
  yet", a manager's digest quoting a comment) are made again without them when they have not gone
  out yet, or dropped; the stored copy of one already sent loses its text.
Kinds of message that can speak about someone else are registered by the modules that write them
(`about_others`), with a function that composes the message again (or None: drop it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.messages import Reply, replies_from_json, replies_to_json
from bot.results import publication_store
from storage.models import Outbox, OutboxState, Person, ProgressUpdate

# Composes a queued message of a kind again, from what is stored now: (session, key, now, locale).
Recompose = Callable[[Session, str, datetime, str], Sequence[Reply] | None]

ABOUT_OTHERS: dict[str, Recompose] = {}


def about_others(kind: str, recompose: Recompose) -> None:
    """Messages of `kind` may name people other than their recipient."""
    ABOUT_OTHERS[kind] = recompose


def forget_person(session: Session, person: Person, now: datetime, default_locale: str) -> None:
    """Erase the person and everything they wrote or that names them (see the module doc)."""
    traces = _words_that_name(session, person)
    session.execute(delete(ProgressUpdate).where(ProgressUpdate.person_id == person.id))
    audit.forget_person(session, person.id)
    # The units whose published set holds one of their responses are withdrawn (while the
    # responses are still there to say which).
    publication_store.withdraw_for(session, person.id)
    session.delete(person)
    session.flush()
    _rewrite_messages_about(session, traces, now, default_locale)


def _words_that_name(session: Session, person: Person) -> list[str]:
    """The person's name and everything they wrote that others may have been shown."""
    comments = session.scalars(
        select(ProgressUpdate.comment).where(
            ProgressUpdate.person_id == person.id, ProgressUpdate.comment.is_not(None)
        )
    )
    words = [person.display_name.strip(), *(c.strip() for c in comments if c)]
    return [w for w in words if len(w) >= 2]


def _rewrite_messages_about(session: Session, traces: list[str], now: datetime, locale: str) -> None:
    if not traces or not ABOUT_OTHERS:
        return
    rows = session.execute(
        select(Outbox.id, Outbox.kind, Outbox.idempotency_key, Outbox.state, Outbox.payload).where(
            Outbox.kind.in_(list(ABOUT_OTHERS))
        )
    ).all()
    for row_id, kind, key, state, payload in rows:
        text = "\n".join(reply.text for reply in replies_from_json(payload))
        if not any(trace in text for trace in traces):
            continue
        again = ABOUT_OTHERS[kind](session, key, now, locale) if state is OutboxState.PENDING else None
        values: dict[str, object] = {"payload": replies_to_json(again or [])}
        if state is OutboxState.PENDING and not again:
            values |= {"state": OutboxState.CANCELLED, "last_error": "about a person who was forgotten"}
        session.execute(update(Outbox).where(Outbox.id == row_id).values(**values))
