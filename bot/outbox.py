"""The outbox: messages the bot sends on its own initiative (invitations, reminders, nudges, digests).

Writers (commands, scheduler jobs) only insert rows; the idempotency key is unique, so writing
the same message twice writes it once. A dispatcher (any number of them, in any process) claims
due rows, sends them through the platform's Sender and marks them sent.

Delivery is at-least-once with a narrow window: a row is claimed (committed) before sending and
marked sent right after; only a crash between the platform accepting a message and that commit
can repeat one message, after the claim's lease has run out. Chat platforms take no idempotency key
for a sent message, so that window cannot be closed from our side: per crashed dispatcher at most
the messages it had in flight can arrive twice, one with the default `concurrency=1`, N with N
(a message counts as in flight until it is marked sent; tests/test_outbox_crash.py).

Before a row is claimed, the check registered for its kind (`register_check`) may cancel it (the
person completed, opted out, left the unit) or hold it back (the person is away), so a message
written days ago is still right when it goes out. Messages to one person are paced: at most one per
`per_person_gap` (Telegram allows about one message a second per chat).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Exists,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.i18n import pick_locale
from bot.messages import (
    Address,
    ConcurrentSender,
    Reply,
    RetryLater,
    Sender,
    Sending,
    Undeliverable,
    replies_from_json,
    replies_to_json,
)
from storage.db import transaction, upsert_insert
from storage.models import Identity, Outbox, OutboxState, Person

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8

_outbox = cast(Table, Outbox.__table__)  # the claim and the marks are Core statements (see _claim)

CANCEL: Literal["cancel"] = "cancel"
# What a check says about a due row: None = send it now, CANCEL = drop it, a datetime = hold it until then.
Verdict = Literal["cancel"] | datetime | None
Check = Callable[[Session, "Due", datetime], Verdict]

# Checks by message kind, registered by the modules that write those kinds (reminders, plans).
CHECKS: dict[str, Check] = {}


def register_check(kind: str, check: Check) -> Check:
    """Re-check a row of `kind` just before it is claimed: is it still wanted, and wanted now?"""
    CHECKS[kind] = check
    return check


def recipients_on(platform: str, user_id: str | None = None) -> Select[int]:
    """The people with an identity on `platform` (one of them, given `user_id`): a Dispatcher's
    `recipients`."""
    query = select(Identity.person_id).where(Identity.platform == platform)
    return query.where(Identity.platform_user_id == user_id) if user_id is not None else query


def enqueue(
    session: Session,
    *,
    person_id: int,
    kind: str,
    replies: Sequence[Reply],
    key: str,
    due_at: datetime,
    chat: Address | None = None,
) -> bool:
    """Queue a message once per key. Returns False when a message with this key already exists.

    `chat` sends it to a group chat (a workshop's) instead of the person's own; the person paces it.
    """
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
            chat=group_chat(chat) if chat is not None else None,
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
    earlier = _outbox.alias("earlier")
    return exists().where(earlier.c.person_id == _outbox.c.person_id, earlier.c.sent_at > since)


@dataclass(frozen=True)
class Due:
    """A due outbox row as the claim reads it, and as a check sees it."""

    id: int
    person_id: int
    kind: str
    idempotency_key: str
    payload: list[dict[str, object]]
    attempts: int
    due_at: datetime
    chat: str | None = None


def group_chat(address: Address) -> str:
    """How `Outbox.chat` keeps a group chat's address."""
    return "|".join((address.platform, address.workspace, address.chat))


def _group_address(chat: str, platforms: Set[str]) -> Address | None:
    platform, _, rest = chat.partition("|")
    workspace, _, room = rest.partition("|")
    return Address(platform, workspace, "", room) if platform in platforms and room else None


@dataclass(frozen=True)
class Claimed:
    id: int
    person_id: int
    payload: list[dict[str, object]]
    attempts: int
    address: Address | None  # None: the person has no identity on a platform we can send to


# Built once: the statement every group of sent messages runs (SQLAlchemy's ORM-enabled UPDATE costs
# about three times as much CPU per call, and this runs hundreds of times a second).
_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)), _outbox.c.claimed_by == bindparam("worker"))
    .values(state=OutboxState.SENT, sent_at=bindparam("now", type_=_outbox.c.sent_at.type), last_error=None)
)


# The outcome of a send: the row, and None (sent) or what went wrong.
Outcome = tuple[Claimed, BaseException | None]


class _Outcomes:
    """Outcomes of sends as they finish, put from any thread, taken by the dispatcher in groups.

    `put` wakes the dispatcher only while it waits for a first outcome. Waking a thread is dear
    on a busy machine: the waker, holding the interpreter lock, may be preempted by the woken
    thread, which then waits for that lock. So the wait for the others is a plain sleep.
    """

    def __init__(self) -> None:
        self._items: list[Outcome] = []
        self._ready = threading.Condition(threading.Lock())
        self._waiting = False

    def put(self, row: Claimed, error: BaseException | None) -> None:
        with self._ready:
            self._items.append((row, error))
            if self._waiting:
                self._waiting = False
                self._ready.notify()

    def take(self, enough: int, linger: float, timeout: float) -> list[Outcome]:
        """Wait up to `timeout` for an outcome; unless `enough` are in, sleep `linger` more; take all."""
        with self._ready:
            if not self._items:
                self._waiting = True
                self._ready.wait_for(lambda: self._items, timeout)
                self._waiting = False
            if not self._items:
                return []
            if len(self._items) >= enough:
                taken, self._items = self._items, []
                return taken
        time.sleep(linger)
        with self._ready:
            taken, self._items = self._items, []
            return taken


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
        group_wait: timedelta = timedelta(milliseconds=3),
        recipients: Select[int] | None = None,
    ) -> None:
        self.sessions = sessions
        with sessions() as session:  # outcomes are written on a connection of the same engine
            engine = session.get_bind()
        assert isinstance(engine, Engine)
        self._engine = engine
        self.senders = dict(senders)
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = lease
        self.default_locale = default_locale
        self.per_person_gap = per_person_gap
        # None: the module-wide registry, read at claim time (modules may register after we start).
        self._checks = checks
        # Sends in flight at once: with several, a batch goes out at the platform's rate rather
        # than one round trip at a time. Claiming stays one transaction.
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        # How long outcomes of other sends may take to join a commit (see _send).
        self.group_wait = group_wait.total_seconds()
        # Only these people's rows, when given: a terminal delivers to the one person it runs as,
        # and leaves everyone else's messages for their own terminal or platform.
        self.recipients = recipients

    def run_once(self, limit: int = 50) -> int:
        """Send what is due now, one claim of at most `limit` rows; returns how many were sent."""
        rows = self._claim(limit)
        return self._send(rows) if rows else 0

    def drain(self, limit: int = 50) -> int:
        """Send until nothing more is due now (the background loop, tests, the terminal adapter).

        Claims of `limit` rows follow one another without a pause: the next is claimed (in a thread
        of its own) while the last sends of the one before are still on their way. The clock is not
        moved: a second message to the same person waits for `per_person_gap`, so it goes out on a
        later call.
        """
        rows = self._claim(limit)
        return self._send(rows, more=lambda busy: self._claim(limit, busy)) if rows else 0

    def _claim(self, limit: int, busy: Set[int] = frozenset()) -> list[Claimed]:
        """Claim due rows; none of a person in `busy` (a message to them is on its way)."""
        now = self.clock.now()
        checks = CHECKS if self._checks is None else self._checks
        with transaction(self.sessions) as session:
            stale = now - self.lease
            # Two queries, each walking the (state, due_at) index in order and stopping at `limit`:
            # one query with "pending OR stale sending" would sort every due row to take a few.
            # A claim whose worker died before marking it is taken over once its lease runs out.
            taken_over = self._due(
                session, now, limit, _outbox.c.state == OutboxState.SENDING, _outbox.c.claimed_at < stale
            )
            pending = self._due(session, now, limit - len(taken_over), _outbox.c.state == OutboxState.PENDING)
            claimed: list[Due] = []
            cancelled: list[int] = []
            people: set[int] = set()
            for row in sorted([*taken_over, *pending], key=lambda row: (row.due_at, row.id)):
                if row.person_id in busy:
                    continue  # their next message waits until this one is out: order is kept
                if self.per_person_gap > timedelta(0) and row.person_id in people:
                    continue  # one message per person per batch; the next waits for the gap
                check = checks.get(row.kind)
                verdict = check(session, row, now) if check is not None else None
                if verdict == CANCEL:
                    cancelled.append(row.id)
                elif isinstance(verdict, datetime):
                    session.execute(
                        update(_outbox)
                        .where(_outbox.c.id == row.id)
                        .values(state=OutboxState.PENDING, due_at=verdict)
                    )
                else:
                    people.add(row.person_id)
                    claimed.append(row)
            # Core statements, one per kind of change rather than one per row: the ORM's unit of
            # work costs about as much CPU per claimed row as sending it does.
            if cancelled:
                session.execute(
                    update(_outbox)
                    .where(_outbox.c.id.in_(cancelled))
                    .values(state=OutboxState.CANCELLED, last_error="no longer wanted")
                )
            if claimed:
                session.execute(
                    update(_outbox)
                    .where(_outbox.c.id.in_([row.id for row in claimed]))
                    .values(
                        state=OutboxState.SENDING,
                        claimed_by=self.worker,
                        claimed_at=now,
                        attempts=_outbox.c.attempts + 1,
                    )
                )
            addresses = self._addresses(session, people) if people else {}
            return [
                Claimed(
                    row.id,
                    row.person_id,
                    row.payload,
                    row.attempts + 1,
                    _group_address(row.chat, set(self.senders)) if row.chat else addresses.get(row.person_id),
                )
                for row in claimed
            ]

    def _due(
        self, session: Session, now: datetime, limit: int, *conditions: ColumnElement[bool]
    ) -> list[Due]:
        """Due rows matching `conditions`, oldest first, whose person was not messaged just now."""
        if limit <= 0:
            return []
        c = _outbox.c
        query = (
            select(c.id, c.person_id, c.kind, c.idempotency_key, c.payload, c.attempts, c.due_at, c.chat)
            .where(c.due_at <= now, *conditions)
            .order_by(c.due_at, c.id)
            .limit(limit)
        )
        if self.per_person_gap > timedelta(0):
            query = query.where(~_recently_sent(now - self.per_person_gap))
        if self.recipients is not None:
            query = query.where(c.person_id.in_(self.recipients))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [Due(*row) for row in session.execute(query)]

    def _addresses(self, session: Session, person_ids: set[int]) -> dict[int, Address]:
        """Where to reach each person: their first identity (oldest) on a platform we can send to.

        One query for the whole batch; a person with no such identity is left out.
        """
        addresses: dict[int, Address] = {}
        rows = session.execute(
            select(
                Identity.person_id,
                Identity.platform,
                Identity.workspace,
                Identity.platform_user_id,
                Identity.address,
                Person.locale,
                Person.locale_hint,
            )
            .join(Person, Person.id == Identity.person_id)
            .where(Identity.person_id.in_(person_ids), Identity.platform.in_(list(self.senders)))
            .order_by(Identity.id)
        )
        for person_id, platform, workspace, user_id, address, locale, locale_hint in rows:
            if person_id in addresses:
                continue
            addresses[person_id] = Address(
                platform=platform,
                workspace=workspace,
                user_id=user_id,
                chat=address or user_id,
                locale=pick_locale(locale, locale_hint, self.default_locale),
            )
        return addresses

    def _send(self, rows: Sequence[Claimed], more: Callable[[Set[int]], list[Claimed]] | None = None) -> int:
        """Send claimed rows, at most `concurrency` at a time, and record each outcome.

        A row counts against `concurrency` from the moment its send starts until its outcome is
        committed, so a crash can leave at most `concurrency` messages sent but not marked sent
        (the at-least-once window). Outcomes that arrive together are committed together.

        `more` claims further rows, in a thread of its own while the last of these go out (a claim's
        round trips take longer than the sends in flight do), skipping people with a message out or
        waiting here. It is asked again only after something was sent since the last claim, so a
        pass in which every send is put off (rate limits) ends.
        """
        outcomes = _Outcomes()
        waiting = collections.deque(rows)
        busy: set[int] = set()  # people with a message out
        outstanding = sent = sent_since_claim = 0
        claiming: Future[list[Claimed]] | None = None
        with (
            _Starter(self.senders, self.concurrency) as starter,
            ThreadPoolExecutor(1, thread_name_prefix="outbox-claim") as claimer,
            self._outcome_connection() as connection,
        ):
            while True:
                if (
                    more is not None
                    and claiming is None
                    and sent_since_claim
                    and len(waiting) <= self.concurrency
                ):
                    sent_since_claim = 0
                    claiming = claimer.submit(more, busy | {row.person_id for row in waiting})
                if claiming is not None and (claiming.done() or not (waiting or outstanding)):
                    claimed = claiming.result()
                    claiming = None
                    waiting.extend(claimed)
                    if not claimed:
                        more = None
                batch = [waiting.popleft() for _ in range(min(self.concurrency - outstanding, len(waiting)))]
                busy.update(row.person_id for row in batch)
                outstanding += len(batch)
                starter.start(batch, outcomes)
                if not outstanding:  # nothing out, nothing waiting, no claim under way
                    return sent
                # Wake for the first outcome, then give the others in flight a moment to join the
                # commit: each wake-up of this thread and each commit cost more CPU than that wait.
                finished = outcomes.take(
                    max(1, outstanding // 4), self.group_wait, self.lease.total_seconds()
                )
                if not finished:
                    # The sender never answered (its event loop stopped): the claims run out and
                    # another pass (here or in another process) takes the rows over.
                    log.warning("outbox: %d sends did not finish; leaving them to the lease", outstanding)
                    return sent
                n = self._record(connection, finished)
                sent, sent_since_claim = sent + n, sent_since_claim + n
                outstanding -= len(finished)
                busy.difference_update(row.person_id for row, _error in finished)

    @contextlib.contextmanager
    def _outcome_connection(self) -> Iterator[Connection]:
        """One connection for every outcome of a pass: a checkout per commit would cost PostgreSQL
        its pre-ping round trip each time. There it is in autocommit: marking a group sent is one
        statement, one round trip, where BEGIN and COMMIT would add two (each a wait for the
        interpreter lock on the way back, while the event loop thread holds it)."""
        with self._engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    def _record(self, connection: Connection, outcomes: Sequence[Outcome]) -> int:
        """Commit the outcomes of finished sends together; returns how many were sent.

        The sent ones are one statement; each other outcome is a statement of its own.
        """
        now = self.clock.now()
        sent = [row.id for row, error in outcomes if error is None]
        with connection.begin():
            if sent:
                connection.execute(_MARK_SENT, {"ids": sent, "worker": self.worker, "now": now})
            for row, error in outcomes:
                if error is not None:
                    connection.execute(self._failure(row, error, now))
        return len(sent)

    def _failure(self, row: Claimed, error: BaseException, now: datetime) -> Update:
        """The update for a send that did not go through: later again, or given up."""
        mine = update(_outbox).where(_outbox.c.id == row.id, _outbox.c.claimed_by == self.worker)
        if isinstance(error, RetryLater):
            due, reason = now + timedelta(seconds=error.seconds), "rate limited"
        elif isinstance(error, Undeliverable):
            return mine.values(state=OutboxState.FAILED, sent_at=None, last_error=str(error)[:500])
        else:
            log.warning("outbox %s: send failed (%s)", row.id, type(error).__name__)
            if row.attempts >= MAX_ATTEMPTS:
                return mine.values(state=OutboxState.FAILED, sent_at=None, last_error=type(error).__name__)
            due, reason = now + timedelta(seconds=30 * 2**row.attempts), type(error).__name__
        return mine.values(state=OutboxState.PENDING, due_at=due, last_error=reason)


class _Starter:
    """Starts sends without waiting for them: a `ConcurrentSender` runs them itself, a blocking
    `Sender` runs in a pool of `concurrency` threads (or in this thread, one at a time). Every
    outcome is put in the pass's `_Outcomes`."""

    def __init__(self, senders: Mapping[str, Sender], concurrency: int) -> None:
        self.senders = senders
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> _Starter:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def start(self, batch: Sequence[Claimed], outcomes: _Outcomes) -> None:
        by_platform: dict[str, list[Sending]] = {}
        for row in batch:
            done = functools.partial(outcomes.put, row)
            if row.address is None:
                done(Undeliverable("no reachable identity"))
                continue
            sending = Sending(row.address, replies_from_json(row.payload), done)
            by_platform.setdefault(row.address.platform, []).append(sending)
        for platform, sendings in by_platform.items():
            sender = self.senders[platform]
            if isinstance(sender, ConcurrentSender):
                sender.start(sendings)
            else:
                for sending in sendings:
                    self._blocking(sender, sending)

    def _blocking(self, sender: Sender, sending: Sending) -> None:
        if self.concurrency == 1:
            _send_blocking(sender, sending)  # in this thread, as before threads were needed
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="outbox")
        self._pool.submit(_send_blocking, sender, sending)


def _send_blocking(sender: Sender, sending: Sending) -> None:
    try:
        sender.send(sending.address, sending.replies)
    except Exception as error:
        sending.done(error)
    else:
        sending.done(None)
