"""The quick path of a scale-button answer, the event the bot handles most.

Nearly every event is someone pressing a point on the scale of a statement. The general path
(routing, the ORM, feature modules) spends about 2 ms of Python on it; this path reads and writes
the same rows with statements run on the driver (storage/driver_sql.py), in one transaction of
its own and two round trips:

1. one batch takes the person's lock (bot/event_order.py), records the event id, and reads the
   person, the response the button names and its answers;
2. `answer_decision.decide` says what the answer does, exactly as for the general path, and a
   second batch stores the answer and the cursor (and the replies, bot/reply_outbox.py) and commits.

It keeps nothing between events: everything it decides from is read under the person's lock.
Anything it does not handle declines (None) before a write, and the engine takes the general path
in a new transaction: a person seen for the first time or whose platform details changed, a
waiting prompt, a response that is not the person's current one or not in progress, the last
answer (completing renders feedback), a forged payload, a group chat, an instrument not yet parsed
in this process. tests/test_quick_answer.py holds both paths to the same replies and stored state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine as Database
from sqlalchemy import bindparam, select, update

from bot import reply_outbox
from bot.conversation import assessment
from bot.conversation.answer_decision import Effect, decide
from bot.conversation.assessment_state import STATE_QUERY, State, read_state_rows
from bot.directory import catalogue
from bot.directory.people import identify_changes_nothing
from bot.i18n import pick_locale, translator
from bot.intake import event_order, processed_events
from bot.messages import Incoming, Reply
from storage.driver_sql import Call, DriverStatement, DriverTransaction
from storage.models import Identity, Person, Response, ResponseStatus, Round

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


class QuickAnswers:
    """The quick path of one engine. Keeps no state between events (thread-safe)."""

    def __init__(self, db: Database, *, takeover: timedelta = reply_outbox.TAKEOVER) -> None:
        self._db = db
        self._takeover = takeover

    def handle(self, incoming: Incoming, now: datetime, default_locale: str) -> list[Reply] | None:
        """The replies to a scale-button answer, stored and committed; None when the event is
        anything else (nothing has been written then)."""
        press = _press(incoming, now, default_locale)
        if press is None:
            return None
        with DriverTransaction(self._db) as transaction:
            lock: list[Call] = []
            if event_order.needed(transaction.dialect.name):
                lock.append((event_order.LOCK, event_order.values(incoming)))
            *_, event, person, rows = transaction.run(
                *lock,
                (processed_events.RECORD, processed_events.values(incoming, now)),
                (_PERSON_AND_RESPONSE, {"response_id": press.response_id, **_identity(incoming)}),
                (_STATE, {"response_id": press.response_id}),
            )
            if not event:
                return []  # a re-delivery: the first one was handled
            seen = _Seen(*person[0]) if person else None  # None: first contact, identify creates them
            if seen is None or not _admits(incoming, seen, press.response_id):
                return None
            answered = _answer(seen, press, rows)
            if answered is None:
                return None
            writes, replies = answered
            transaction.commit(
                *writes, *reply_outbox.calls(incoming, seen.person_id, replies, now, self._takeover)
            )
        return replies


def _answer(
    seen: _Seen, press: _Press, rows: list[tuple[object, ...]]
) -> tuple[list[Call], list[Reply]] | None:
    """The writes and the replies of the answer, as `decide` says; None for what the general path
    does (completing the response, a closed round, a forged payload, an instrument not parsed here)."""
    if seen.closes_at is not None and seen.closes_at <= press.now:
        return None  # the round has closed: the general path says so
    answers, background, digest = read_state_rows(rows)
    instrument = catalogue.parsed(seen.version_id, digest) if digest is not None else None
    if instrument is None:
        return None
    state = State(_Position(press.response_id, seen.role, seen.cursor), instrument, answers, background)
    index = state.index_of(press.code)
    answer = assessment.parse_value(instrument, press.raw_value)
    if index is None or answer is None:
        return None
    decision = decide(state, index, answer)
    if decision.effect in (Effect.REFUSED, Effect.COMPLETE):
        return None
    writes: list[Call] = []
    if decision.store:
        kind, value = answer
        row = {"response_id": press.response_id, "item_code": press.code, "kind": kind, "value": value}
        writes.append((_UPSERT_ANSWER, {**row, "answered_at": press.now}))
        state.answers[press.code] = answer
    t = translator(pick_locale(seen.locale, seen.locale_hint, press.default_locale))
    replies = assessment.told(t, state, index, decision)
    if decision.cursor is not None:
        writes.append((_MOVE_CURSOR, {"response_id": press.response_id, "cursor": decision.cursor}))
    return writes, replies


def _identity(incoming: Incoming) -> dict[str, object]:
    return {"platform": incoming.platform, "workspace": incoming.workspace, "user_id": incoming.user_id}


@dataclass(frozen=True)
class _Press:
    """A scale button pressed: what its payload names, and when and how to answer."""

    response_id: int
    code: str
    raw_value: str
    now: datetime
    default_locale: str


def _press(incoming: Incoming, now: datetime, default_locale: str) -> _Press | None:
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
    if response_id is None:
        return None
    return _Press(response_id, parts[1], parts[2], now, default_locale)


@dataclass(frozen=True)
class _Seen:
    """The person and the response the button names, as read."""

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
    # When the response's round closes (None outside a round): a closing date passes without any
    # write, so it is checked here.
    closes_at: datetime | None


@dataclass
class _Position:
    """The response as navigation sees it (`assessment_state.Position`)."""

    id: int
    role: str | None
    cursor: int


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
