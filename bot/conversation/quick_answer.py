"""The quick path of a scale-button answer, the event the bot handles most.

Nearly every event is someone pressing a point on the scale of the statement they are at. The
general path (routing, the ORM, feature modules) spends most of its Python on it; this path makes
the same checks and the same writes with statements run on the driver (storage/driver_sql.py), in
one transaction of its own, in one of two ways:

- **Remembered: one round trip.** After answering someone, `QuickAnswers` remembers what deciding
  their next answer needs (the person and the response as stored, and which questions are
  answered). The next press is decided from that and written by one guarded statement: it records
  the event, stores the answer and moves the cursor only while the database still holds what was
  remembered. On PostgreSQL that is one statement and one round trip, whose guard locks the
  response row (a click of the same person racing in another process is waited for, and the guard
  checked on what it left); on SQLite, in process, the guard is a read just before the writes,
  under the write lock.
- **Read: two round trips.** Otherwise, and whenever the guard finds that something changed (the
  general path or another process handled the person meanwhile): one batch records the event id
  and reads the person, the response and its answers; after deciding, a second batch stores the
  answer and commits.

The guard compares counts of answers rather than the answers themselves. That is enough because
answers are only ever added or replaced, never removed one by one, so the same count means the
same questions answered; and the replies show nothing of earlier answers but whether they are
answered (the echo shows the answer just given, and the next question is an unanswered one). The
remembered path always writes the answer, so a value changed elsewhere is never taken as unchanged.

Anything else declines (None) before a write, and the engine takes the general path in a new
transaction: a person seen for the first time or whose platform details changed, a waiting
prompt, a response that is not the person's current one or not in progress, an earlier question's
button, the last answer (completing renders feedback), forged payloads, a group chat, an
instrument not yet parsed in this process. tests/test_quick_answer.py holds both paths to the
same replies and the same stored state.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy import Text, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.elements import BindParameter

from bot.conversation import assessment
from bot.conversation.assessment import STATE_QUERY, Answers, State
from bot.directory import catalogue
from bot.directory.people import identify_changes_nothing
from bot.i18n import pick_locale, translator
from bot.intake import processed_events
from bot.messages import Incoming, Reply
from storage.driver_sql import Call, DriverStatement, DriverTransaction
from storage.models import Answer as AnswerRow
from storage.models import (
    AnswerKind,
    BackgroundAnswer,
    Identity,
    Person,
    ProcessedEvent,
    Response,
    ResponseStatus,
    Round,
)

PREFIX = "a:"

# The person behind the identity, and the response the button names (if it exists at all).
_PERSON_AND_RESPONSE = DriverStatement(
    select(
        Person.id,
        Person.locale,
        Person.locale_hint,
        Person.display_name,
        Person.pending,
        Person.current_response_id,
        Identity.address,
        Response.person_id,
        Response.status,
        Response.cursor,
        Response.role,
        Response.instrument_version_id,
        Round.closes_at,
    )
    .select_from(Identity)
    .join(Person, Person.id == Identity.person_id)
    .outerjoin(Response, Response.id == bindparam("response_id"))
    .outerjoin(Round, Round.id == Response.round_id)
    .where(
        Identity.platform == bindparam("platform"),
        Identity.workspace == bindparam("workspace"),
        Identity.platform_user_id == bindparam("user_id"),
    )
)
_STATE = DriverStatement(STATE_QUERY)
_UPSERT_ANSWER = DriverStatement(
    lambda dialect: assessment.upsert_statement("answer", dialect),
    column_keys=("response_id", "item_code", "kind", "value", "answered_at"),
)
_MOVE_CURSOR = DriverStatement(
    update(Response).where(Response.id == bindparam("response_id")).values(cursor=bindparam("cursor"))
)


def _unchanged_since_remembered() -> list[ColumnElement[bool]]:
    """The remembered path's guard: everything its decision read is still as remembered."""
    response_id: BindParameter[int] = bindparam("response_id")
    return [
        Identity.platform == bindparam("platform"),
        Identity.workspace == bindparam("workspace"),
        Identity.platform_user_id == bindparam("user_id"),
        Identity.address.is_not_distinct_from(bindparam("address")),
        Person.id == bindparam("person_id"),
        Person.display_name == bindparam("display_name"),
        Person.locale.is_not_distinct_from(bindparam("locale")),
        Person.locale_hint.is_not_distinct_from(bindparam("locale_hint")),
        # No waiting prompt: SQL NULL, or JSON null where the ORM cleared one.
        func.coalesce(cast(Person.pending, Text), "null") == "null",
        Person.current_response_id == response_id,
        Response.person_id == bindparam("person_id"),
        Response.status == ResponseStatus.IN_PROGRESS,
        Response.cursor == bindparam("cursor_was"),
        Response.role.is_not_distinct_from(bindparam("role")),
        select(func.count()).where(AnswerRow.response_id == response_id).scalar_subquery()
        == bindparam("answers"),
        select(func.count()).where(BackgroundAnswer.response_id == response_id).scalar_subquery()
        == bindparam("background"),
    ]


def _guard() -> Any:
    """The response's id while the guard holds. On PostgreSQL it locks the response row: a
    transaction changing it meanwhile (the same person's other click, in another process) is waited
    for, and the guard is checked again on the row it left (SQLite has taken its write lock)."""
    return (
        select(Response.id)
        .select_from(Identity)
        .join(Person, Person.id == Identity.person_id)
        .join(Response, Response.id == bindparam("response_id"))
        .where(*_unchanged_since_remembered())
        .with_for_update(of=Response)
    )


# SQLite: the guard, read under the write lock just before the writes.
_GUARD = DriverStatement(_guard())


def _guarded_write(dialect: str) -> ClauseElement:
    """PostgreSQL: the whole remembered answer in one statement. Each step feeds the next through
    RETURNING, so nothing is written unless the guard holds and the event is new: the event row
    (from the guard's row), the cursor moved (from the event row, and only from the cursor it was
    at, checked again on the latest row), the answer upserted (from the moved response)."""
    if dialect != "postgresql":
        raise ValueError("the one-statement answer is PostgreSQL's; SQLite runs _GUARD and the writes")
    ok = _guard().cte("ok")
    event = (
        pg_insert(ProcessedEvent)
        .from_select(
            ["platform", "event_id", "at"],
            select(
                bindparam("platform", type_=ProcessedEvent.platform.type),
                bindparam("event_id", type_=ProcessedEvent.event_id.type),
                bindparam("at", type_=ProcessedEvent.at.type),
            ).where(select(ok.c.id).exists()),
        )
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.id)
        .cte("event")
    )
    moved = (
        update(Response)
        .where(
            Response.id == bindparam("response_id"),
            Response.cursor == bindparam("cursor_was"),
            select(event.c.id).exists(),
        )
        .values(cursor=bindparam("cursor"))
        .returning(Response.id)
        .cte("moved")
    )
    upsert = pg_insert(AnswerRow)
    stored = (
        upsert.from_select(
            ["response_id", "item_code", "kind", "value", "answered_at"],
            select(
                moved.c.id,
                bindparam("item_code", type_=AnswerRow.item_code.type),
                bindparam("kind", type_=AnswerRow.kind.type),
                bindparam("value", type_=AnswerRow.value.type),
                bindparam("answered_at", type_=AnswerRow.answered_at.type),
            ),
        )
        .on_conflict_do_update(
            index_elements=["response_id", "item_code"],
            set_={column: upsert.excluded[column] for column in ("kind", "value", "answered_at")},
        )
        .returning(AnswerRow.id)
        .cte("stored")
    )
    # `stored` is selected so that it is rendered at all: SQLAlchemy renders only the CTEs a
    # statement refers to (PostgreSQL then runs every data-modifying one, read or not).
    return select(
        select(func.count()).select_from(moved).scalar_subquery(),
        select(func.count()).select_from(stored).scalar_subquery(),
    )


_GUARDED_WRITE = DriverStatement(_guarded_write)

Key = tuple[str, str, str]  # platform, workspace, platform user id


def _key(incoming: Incoming) -> Key:
    return (incoming.platform, incoming.workspace, incoming.user_id)


def _identity(incoming: Incoming) -> dict[str, object]:
    """The parameters that find the person's identity, in the guard and in the read path."""
    return {"platform": incoming.platform, "workspace": incoming.workspace, "user_id": incoming.user_id}


REMEMBER = 4096  # people remembered per process, at most about 5 KB each (measured): 20 MB


class QuickAnswers:
    """The quick path of one engine, with the people it remembers (most recently answered first
    to stay). Thread-safe: entries are replaced whole, never changed in place."""

    def __init__(self, db: Database, *, remember: int = REMEMBER) -> None:
        self._db = db
        self._remember = remember
        self._known: OrderedDict[Key, _Known] = OrderedDict()
        self._lock = threading.Lock()
        # Which way answers went: "remembered", "read", or "stale" when the guard found a change
        # (the answer then went the read way or the general way). For tests and the benchmark.
        self.taken: Counter[str] = Counter()

    def handle(self, incoming: Incoming, now: datetime, default_locale: str) -> list[Reply] | None:
        """The replies to a scale-button answer at the cursor, stored and committed; None when the
        event is anything else (nothing has been written then)."""
        button = _button(incoming)
        if button is None:
            return None
        press = _Press(incoming, *button, now, default_locale)
        known = self._recall(press.key)
        if known is not None:
            replies = self._remembered(known, press) if known.response_id == press.response_id else None
            if replies is not None:
                return replies
            self.forget(incoming)
        return self._read(press)

    def forget(self, incoming: Incoming) -> None:
        """Drop what is remembered of the person (the general path is about to handle them)."""
        with self._lock:
            self._known.pop(_key(incoming), None)

    def _recall(self, key: Key) -> _Known | None:
        with self._lock:
            return self._known.get(key)

    def _count(self, way: str) -> None:
        with self._lock:
            self.taken[way] += 1

    def _keep(self, key: Key, known: _Known, way: str) -> None:
        with self._lock:
            self.taken[way] += 1
            self._known[key] = known
            self._known.move_to_end(key)
            while len(self._known) > self._remember:
                self._known.popitem(last=False)

    def _remembered(self, known: _Known, press: _Press) -> list[Reply] | None:
        seen = known.seen
        state = known.state()
        if state is None or not _admits(press.incoming, seen, known.response_id):
            return None
        decision = _decide(seen, state, press)
        if decision is None:
            return None
        params = {
            **processed_events.values(press.incoming, press.now),
            **known.guard(press.incoming),
            **decision.row,
            "answered_at": press.now,
            "cursor": decision.cursor,
        }
        with DriverTransaction(self._db) as transaction:
            if not _write_if_unchanged(transaction, params):
                self._count("stale")
                return None  # changed meanwhile, or a re-delivery: the read path sees which
        self._keep(press.key, known.after(decision), "remembered")
        return decision.replies

    def _read(self, press: _Press) -> list[Reply] | None:
        incoming, response_id, now = press.incoming, press.response_id, press.now
        with DriverTransaction(self._db) as transaction:
            event, person, rows = transaction.run(
                (processed_events.RECORD, processed_events.values(incoming, now)),
                (_PERSON_AND_RESPONSE, {"response_id": response_id, **_identity(incoming)}),
                (_STATE, {"response_id": response_id}),
            )
            if not event:
                return []  # a re-delivery: the first one was handled
            seen = _Seen(*person[0]) if person else None  # None: first contact, identify creates them
            if seen is None or not _admits(incoming, seen, response_id):
                return None
            answers, background, digest = assessment.read_state_rows(rows)
            if digest is None:
                return None
            known = _Known(seen, response_id, digest, answers, background)
            state = known.state()
            decision = _decide(seen, state, press) if state is not None else None
            if decision is None:
                return None
            writes: list[Call] = [(_MOVE_CURSOR, {"response_id": response_id, "cursor": decision.cursor})]
            if decision.changed:
                writes.insert(0, (_UPSERT_ANSWER, {**decision.row, "answered_at": now}))
            transaction.commit(*writes)
        self._keep(press.key, known.after(decision), "read")
        return decision.replies


def _write_if_unchanged(transaction: DriverTransaction, params: Mapping[str, Any]) -> bool:
    """Record the event, store the answer and move the cursor, all or nothing: nothing when the
    guard fails or the event was recorded before."""
    if transaction.dialect.name == "postgresql":
        [[(moved, _stored)]] = transaction.commit((_GUARDED_WRITE, params))
        return bool(moved)
    guard, event = transaction.run((_GUARD, params), (processed_events.RECORD, params))
    if not guard or not event:
        return False  # leaving the transaction rolls the event row back
    transaction.commit((_UPSERT_ANSWER, params), (_MOVE_CURSOR, params))
    return True


def _button(incoming: Incoming) -> tuple[int, str, str] | None:
    """`a:<response>:<code>:<value>` from a private chat, with an event id to deduplicate on."""
    action = incoming.action
    if action is None or not action.startswith(PREFIX) or len(action) > 200:
        return None
    if not incoming.is_private or not incoming.event_id:
        return None
    parts = action[len(PREFIX) :].split(":")
    if len(parts) != 3:
        return None
    response_id = assessment.parse_id(parts[0])
    return None if response_id is None else (response_id, parts[1], parts[2])


@dataclass(frozen=True)
class _Press:
    """A scale button pressed: the event, what its payload names, and when and how to answer."""

    incoming: Incoming
    response_id: int
    code: str
    raw_value: str
    now: datetime
    default_locale: str

    @property
    def key(self) -> Key:
        """Whom it is remembered under."""
        return _key(self.incoming)


@dataclass(frozen=True)
class _Seen:
    """The person and the response the button names, as the read path read them (and as the
    remembered path then left them)."""

    person_id: int
    locale: str | None
    locale_hint: str | None
    display_name: str
    pending: object
    current_response_id: int | None
    address: str | None
    owner_id: int | None
    status: ResponseStatus | None
    cursor: int
    role: str | None
    version_id: int
    # When the response's round closes (None outside a round). A round closed by command marks
    # its unfinished responses, which the guard sees; a closing date passes without any write.
    closes_at: datetime | None


@dataclass
class _Position:
    """The response as navigation sees it (`assessment.Position`); the writes store its cursor."""

    id: int
    role: str | None
    cursor: int


@dataclass(frozen=True)
class _Decision:
    replies: list[Reply]
    response_id: int
    code: str
    answer: tuple[AnswerKind, int | None]
    changed: bool  # whether the stored answer differs (as far as the state read says)
    cursor: int

    @property
    def row(self) -> dict[str, object]:
        """The answer's row (without its time)."""
        kind, value = self.answer
        return {"response_id": self.response_id, "item_code": self.code, "kind": kind, "value": value}


@dataclass(frozen=True)
class _Known:
    """What deciding a person's next answer needs, as this process last wrote or read it."""

    seen: _Seen
    response_id: int
    digest: str
    answers: Answers  # never changed in place: `after` makes a new one
    background: dict[str, str]

    def state(self) -> State | None:
        """The response's state, if its instrument is parsed in memory."""
        instrument = catalogue.parsed(self.seen.version_id, self.digest)
        if instrument is None:
            return None
        position = _Position(self.response_id, self.seen.role, self.seen.cursor)
        return State(position, instrument, dict(self.answers), self.background)

    def after(self, decision: _Decision) -> _Known:
        """As it is once the decision is stored."""
        return _Known(
            replace(self.seen, cursor=decision.cursor),
            self.response_id,
            self.digest,
            {**self.answers, decision.code: decision.answer},
            self.background,
        )

    def guard(self, incoming: Incoming) -> dict[str, object]:
        """The guard's parameters: the database must still hold this."""
        seen = self.seen
        return {
            **_identity(incoming),
            "address": seen.address,
            "person_id": seen.person_id,
            "display_name": seen.display_name,
            "locale": seen.locale,
            "locale_hint": seen.locale_hint,
            "response_id": self.response_id,
            "cursor_was": seen.cursor,
            "role": seen.role,
            "answers": len(self.answers),
            "background": len(self.background),
        }


def _decide(seen: _Seen, state: State, press: _Press) -> _Decision | None:
    """What `assessment.record` would do for an answer at the cursor that does not complete the
    response; None for anything else."""
    if seen.closes_at is not None and seen.closes_at <= press.now:
        return None  # the round has closed: the general path says so
    steps = state.steps
    code = press.code
    index = state.index_of(code)
    answer = assessment.parse_value(state.instrument, press.raw_value)
    if index is None or answer is None or index != seen.cursor:
        return None
    changed = state.answers.get(code) != answer
    state.answers[code] = answer
    next_index = state.next_unanswered(steps, index)
    if next_index is None:
        return None  # the last answer completes the response: feedback is the general path's
    t = translator(pick_locale(seen.locale, seen.locale_hint, press.default_locale))
    echo = assessment.answered_echo(t, state, steps, index)
    state.response.cursor = next_index
    replies = [echo, assessment.question(t, state)]
    return _Decision(replies, state.response.id, code, answer, changed, next_index)


def _admits(incoming: Incoming, seen: _Seen, response_id: int) -> bool:
    """The person is known and unchanged, has no waiting prompt, and the button's response is their
    current one, theirs, and in progress."""
    return (
        identify_changes_nothing(
            incoming, locale_hint=seen.locale_hint, address=seen.address, display_name=seen.display_name
        )
        and seen.pending is None
        and seen.owner_id == seen.person_id
        and seen.current_response_id == response_id
        and seen.status is ResponseStatus.IN_PROGRESS
    )
