"""The quick path of a scale-button answer, the event the bot handles most, in two round trips.

Nearly every event is someone pressing a point on the scale of the statement they are at. The
general path (routing, the ORM, feature modules) spends about 2 ms of Python on it; this path makes
the same checks and the same writes with statements run on the driver (storage/driver_sql.py), in
one transaction of its own:

1. in one batch: record the event id, read the person (through the identity) with the response,
   and read the response's answers;
2. decide as `assessment.record` does for an answer at the cursor, and render the same replies;
3. in one batch: upsert the answer, move the cursor, commit.

Anything else declines (None) before a write, and the engine takes the general path in a new
transaction: a person seen for the first time or whose platform details changed, a waiting
prompt, a response that is not the person's current one or not in progress, an earlier question's
button, the last answer (completing renders feedback), forged payloads, a group chat, an
instrument not yet parsed in this process. tests/test_quick_answer.py holds both paths to the
same replies and the same stored state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy import bindparam, select, update

from bot import assessment, catalogue, deliveries
from bot.assessment import STATE_QUERY, State
from bot.i18n import pick_locale, translator
from bot.messages import Incoming, Reply
from bot.people import identify_changes_nothing
from storage.driver_sql import Call, DriverStatement, DriverTransaction
from storage.models import Identity, Person, Response, ResponseStatus

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
    )
    .select_from(Identity)
    .join(Person, Person.id == Identity.person_id)
    .outerjoin(Response, Response.id == bindparam("response_id"))
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


def handle(db: Database, incoming: Incoming, now: datetime, default_locale: str) -> list[Reply] | None:
    """The replies to a scale-button answer at the cursor, stored and committed; None when the event
    is anything else (nothing has been written then)."""
    button = _button(incoming)
    if button is None:
        return None
    response_id, code, raw_value = button
    with DriverTransaction(db) as transaction:
        event, person, answers = transaction.run(
            (deliveries.RECORD, deliveries.values(incoming, now)),
            (
                _PERSON_AND_RESPONSE,
                {
                    "response_id": response_id,
                    "platform": incoming.platform,
                    "workspace": incoming.workspace,
                    "user_id": incoming.user_id,
                },
            ),
            (_STATE, {"response_id": response_id}),
        )
        if not event:
            return []  # a re-delivery: the first one was handled
        seen = _Seen(*person[0]) if person else None  # None: first contact, identify creates them
        if seen is None or not _admits(incoming, seen, response_id):
            return None
        state = _state(response_id, seen, answers)
        decision = _decide(seen, state, code, raw_value, default_locale) if state else None
        if decision is None:
            return None
        writes: list[Call] = [(_MOVE_CURSOR, {"response_id": response_id, "cursor": decision.cursor})]
        if decision.stored is not None:
            writes.insert(0, (_UPSERT_ANSWER, {**decision.stored, "answered_at": now}))
        transaction.commit(*writes)
        return decision.replies


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
class _Seen:
    """The person and the response the button names, as read in the first batch."""

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


@dataclass
class _Position:
    """The response as navigation sees it (`assessment.Position`); the cursor is written by _MOVE_CURSOR."""

    id: int
    role: str | None
    cursor: int


@dataclass(frozen=True)
class _Decision:
    replies: list[Reply]
    stored: dict[str, object] | None  # the answer's row, None when it is unchanged
    cursor: int


def _decide(seen: _Seen, state: State, code: str, raw_value: str, default_locale: str) -> _Decision | None:
    """What `assessment.record` would do for an answer at the cursor that does not complete the
    response; None for anything else."""
    response_id = state.response.id
    steps = state.steps
    index = state.index_of(code)
    answer = assessment.parse_value(state.instrument, raw_value)
    if index is None or answer is None or index != seen.cursor:
        return None
    unchanged = state.answers.get(code) == answer
    state.answers[code] = answer
    next_index = state.next_unanswered(steps, index)
    if next_index is None:
        return None  # the last answer completes the response: feedback is the general path's
    t = translator(pick_locale(seen.locale, seen.locale_hint, default_locale))
    echo = assessment.answered_echo(t, state, steps, index)
    state.response.cursor = next_index
    stored = (
        None
        if unchanged
        else {"response_id": response_id, "item_code": code, "kind": answer[0], "value": answer[1]}
    )
    return _Decision([echo, assessment.question(t, state)], stored, next_index)


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


def _state(response_id: int, seen: _Seen, rows: list[tuple[Any, ...]]) -> State | None:
    """The response's state from the state query's rows, if its instrument is parsed in memory."""
    answers, background, digest = assessment.read_state_rows(rows)
    instrument = catalogue.parsed(seen.version_id, digest) if digest else None
    if instrument is None:
        return None
    return State(_Position(response_id, seen.role, seen.cursor), instrument, answers, background)
