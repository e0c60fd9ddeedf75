"""The outbox: messages the bot sends on its own initiative (invitations, reminders, nudges, digests).

Writers (commands, scheduler jobs) only insert rows; the idempotency key is unique, so writing
the same message twice writes it once. A dispatcher (any number of them, in any process) claims
due rows, sends them through the platform's Sender and marks them sent.

Delivery is at-least-once with a narrow window: a row is claimed (committed) before sending and
marked sent right after; only a crash between the platform accepting a message and that commit
can repeat one message, after the claim's lease has run out. Chat platforms take no idempotency key
for a sent message, so that window cannot be closed from our side: per crashed dispatcher at most
the one message it was sending at the moment of the crash can arrive twice (tests/test_outbox_crash.py).

Before a row is claimed, the check registered for its kind (`register_check`) may cancel it (the
person completed, opted out, left the unit) or hold it back (the person is away), so a message
written days ago is still right when it goes out. Messages to one person are paced: at most one per
`per_person_gap` (Telegram allows about one message a second per chat).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Exists, exists, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.clock import Clock
from bot.i18n import pick_locale
from bot.messages import Address, Reply, RetryLater, Sender, Undeliverable, replies_from_json, replies_to_json
from storage.db import transaction, upsert_insert
from storage.models import Identity, Outbox, OutboxState, Person

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8

CANCEL: Literal["cancel"] = "cancel"
# What a check says about a due row: None = send it now, CANCEL = drop it, a datetime = hold it until then.
Verdict = Literal["cancel"] | datetime | None
Check = Callable[[Session, Outbox, datetime], Verdict]

# Checks by message kind, registered by the modules that write those kinds (reminders, plans).
CHECKS: dict[str, Check] = {}


def register_check(kind: str, check: Check) -> Check:
    """Re-check a row of `kind` just before it is claimed: is it still wanted, and wanted now?"""
    CHECKS[kind] = check
    return check


def enqueue(
    session: Session,
    *,
    person_id: int,
    kind: str,
    replies: Sequence[Reply],
    key: str,
    due_at: datetime,
) -> bool:
    """Queue a message once per key. Returns False when a message with this key already exists."""
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect)
    result = session.execute(
        insert(Outbox)
        .values(
            person_id=person_id,
            kind=kind,
            payload=replies_to_json(replies),
            due_at=due_at,
            idempotency_key=key,
            state=OutboxState.PENDING,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Outbox.id)
    )
    return result.scalar() is not None


def cancel_for_person(session: Session, person_id: int, kinds: Sequence[str] | None = None) -> int:
    """Cancel a person's unsent messages (they left, opted out, or asked to be forgotten)."""
    statement = (
        update(Outbox)
        .where(Outbox.person_id == person_id, Outbox.state == OutboxState.PENDING)
        .values(state=OutboxState.CANCELLED)
    )
    if kinds:
        statement = statement.where(Outbox.kind.in_(kinds))
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _recently_sent(since: datetime) -> Exists:
    """The row's person was sent something after `since` (pacing per chat)."""
    earlier = aliased(Outbox)
    return exists().where(earlier.person_id == Outbox.person_id, earlier.sent_at > since)


@dataclass(frozen=True)
class Claimed:
    id: int
    person_id: int
    payload: list[dict[str, object]]
    attempts: int


class Dispatcher:
    """Claims due outbox rows and sends them. Safe to run in several processes at once."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        senders: Mapping[str, Sender],
        clock: Clock,
        *,
        worker: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        default_locale: str = "en",
        per_person_gap: timedelta = timedelta(seconds=1),
        checks: Mapping[str, Check] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.sessions = sessions
        self.senders = dict(senders)
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = lease
        self.default_locale = default_locale
        self.per_person_gap = per_person_gap
        # None: the module-wide registry, read at claim time (modules may register after we start).
        self._checks = checks
        # Senders block until the platform answered; with several at once a batch goes out at the
        # platform's rate rather than one round trip at a time. Claiming stays one transaction.
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency

    def run_once(self, limit: int = 50) -> int:
        """Send what is due now; returns how many messages were sent."""
        rows = self._claim(limit)
        if not rows:
            return 0
        addresses = self._addresses({row.person_id for row in rows})

        def deliver(row: Claimed) -> bool:
            return self._deliver(row, addresses.get(row.person_id))

        if self.concurrency == 1 or len(rows) == 1:
            return sum(deliver(row) for row in rows)
        with ThreadPoolExecutor(min(self.concurrency, len(rows)), thread_name_prefix="outbox") as pool:
            return sum(pool.map(deliver, rows))

    def drain(self, limit: int = 50) -> int:
        """Send until nothing more is due now (tests and the terminal adapter).

        The clock is not moved: a second message to the same person waits for `per_person_gap`,
        so it goes out on a later call once time has passed.
        """
        total = 0
        while (n := self.run_once(limit)) > 0:
            total += n
        return total

    def _claim(self, limit: int) -> list[Claimed]:
        now = self.clock.now()
        checks = CHECKS if self._checks is None else self._checks
        with transaction(self.sessions) as session:
            stale = now - self.lease
            # Two queries, each walking the (state, due_at) index in order and stopping at `limit`:
            # one query with "pending OR stale sending" would sort every due row to take a few.
            # A claim whose worker died before marking it is taken over once its lease runs out.
            taken_over = self._due(
                session, now, limit, Outbox.state == OutboxState.SENDING, Outbox.claimed_at < stale
            )
            pending = self._due(session, now, limit - len(taken_over), Outbox.state == OutboxState.PENDING)
            rows = sorted([*taken_over, *pending], key=lambda row: (row.due_at, row.id))
            claimed = []
            people: set[int] = set()
            for row in rows:
                if self.per_person_gap > timedelta(0) and row.person_id in people:
                    continue  # one message per person per batch; the next waits for the gap
                check = checks.get(row.kind)
                verdict = check(session, row, now) if check is not None else None
                if verdict == CANCEL:
                    row.state = OutboxState.CANCELLED
                    row.last_error = "no longer wanted"
                    continue
                if isinstance(verdict, datetime):
                    row.state = OutboxState.PENDING
                    row.due_at = verdict
                    continue
                people.add(row.person_id)
                row.state = OutboxState.SENDING
                row.claimed_by = self.worker
                row.claimed_at = now
                row.attempts += 1
                claimed.append(Claimed(row.id, row.person_id, list(row.payload), row.attempts))
            return claimed

    def _due(
        self, session: Session, now: datetime, limit: int, *conditions: ColumnElement[bool]
    ) -> list[Outbox]:
        """Due rows matching `conditions`, oldest first, whose person was not messaged just now."""
        if limit <= 0:
            return []
        query = (
            select(Outbox)
            .where(Outbox.due_at <= now, *conditions)
            .order_by(Outbox.due_at, Outbox.id)
            .limit(limit)
        )
        if self.per_person_gap > timedelta(0):
            query = query.where(~_recently_sent(now - self.per_person_gap))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query).all())

    def _addresses(self, person_ids: set[int]) -> dict[int, Address]:
        """Where to reach each person: their first identity (oldest) on a platform we can send to.

        One query for the whole batch; a person with no such identity is left out.
        """
        addresses: dict[int, Address] = {}
        with self.sessions() as session:
            rows = session.execute(
                select(Identity, Person.locale, Person.locale_hint)
                .join(Person, Person.id == Identity.person_id)
                .where(Identity.person_id.in_(person_ids), Identity.platform.in_(list(self.senders)))
                .order_by(Identity.id)
            ).all()
        for identity, locale, locale_hint in rows:
            if identity.person_id in addresses:
                continue
            addresses[identity.person_id] = Address(
                platform=identity.platform,
                workspace=identity.workspace,
                user_id=identity.platform_user_id,
                chat=identity.address or identity.platform_user_id,
                locale=pick_locale(locale, locale_hint, self.default_locale),
            )
        return addresses

    def _deliver(self, row: Claimed, address: Address | None) -> bool:
        if address is None:
            self._finish(row, OutboxState.FAILED, error="no reachable identity")
            return False
        try:
            self.senders[address.platform].send(address, replies_from_json(row.payload))
        except RetryLater as wait:
            self._reschedule(row, timedelta(seconds=wait.seconds), "rate limited")
            return False
        except Undeliverable as refused:
            self._finish(row, OutboxState.FAILED, error=str(refused)[:500])
            return False
        except Exception as exc:
            log.warning("outbox %s: send failed (%s)", row.id, type(exc).__name__)
            if row.attempts >= MAX_ATTEMPTS:
                self._finish(row, OutboxState.FAILED, error=type(exc).__name__)
            else:
                self._reschedule(row, timedelta(seconds=30 * 2**row.attempts), type(exc).__name__)
            return False
        self._finish(row, OutboxState.SENT)
        return True

    def _finish(self, row: Claimed, state: OutboxState, *, error: str | None = None) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.claimed_by == self.worker)
                .values(
                    state=state,
                    sent_at=self.clock.now() if state is OutboxState.SENT else None,
                    last_error=error,
                )
            )

    def _reschedule(self, row: Claimed, delay: timedelta, error: str) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.claimed_by == self.worker)
                .values(state=OutboxState.PENDING, due_at=self.clock.now() + delay, last_error=error)
            )
