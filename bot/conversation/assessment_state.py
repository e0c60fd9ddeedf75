"""The state of a response: its questions in order, the answers so far, and where the person is.

Read once per event (`load_state` on the general path, `STATE_QUERY` on the driver for the quick
answer path) and handed to the decision (bot/answer_decision.py) and to the rendering
(bot/assessment.py). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import CompoundSelect, String, bindparam, literal, null, select, type_coerce, union_all
from sqlalchemy.orm import Session

from bot.directory import catalogue
from instruments.schema import BackgroundQuestion, Instrument, Item
from storage.models import Answer, AnswerKind, BackgroundAnswer, InstrumentVersion, Response


@dataclass(frozen=True)
class Step:
    background: BackgroundQuestion | None = None
    item: Item | None = None

    @property
    def key(self) -> str:
        return f"bg:{self.background.id}" if self.background else f"item:{self.item.code}"  # type: ignore[union-attr]


Steps = tuple[Step, ...]

# The steps of each parsed instrument per role, built once: every answer walks them. Keyed by the
# instrument object's id, which the entry's reference keeps from being reused.
_STEPS: dict[tuple[int, str | None], tuple[Instrument, Steps]] = {}


def steps_of(instrument: Instrument, role: str | None) -> Steps:
    """The questions in order: the background questions, then the statements asked of `role`."""
    found = _STEPS.get((id(instrument), role))
    if found is not None and found[0] is instrument:
        return found[1]
    if len(_STEPS) > 1024:
        _STEPS.clear()
    steps = tuple(Step(background=q) for q in instrument.background) + tuple(
        Step(item=item) for item in instrument.items_for(role)
    )
    _STEPS[(id(instrument), role)] = (instrument, steps)
    return steps


class Position(Protocol):
    """What navigating and rendering read and move of a response: the ORM row on the general path,
    a plain record on the quick answer path (bot/quick_answer.py), where building an ORM object
    would cost more than the rest of the rendering."""

    id: int
    role: str | None
    cursor: int


@dataclass
class State:
    """A response with everything needed to decide the next step, loaded once per event."""

    response: Position
    instrument: Instrument
    answers: dict[str, tuple[AnswerKind, int | None]]
    background: dict[str, str]

    @property
    def steps(self) -> Steps:
        """The questions in order (the role question can change them while an event is handled)."""
        return steps_of(self.instrument, self.response.role)

    def index_of(self, code: str) -> int | None:
        """The step of the statement with this item code (from an untrusted payload), if asked."""
        return next((i for i, s in enumerate(self.steps) if s.item and s.item.code == code), None)

    def answered(self, step: Step) -> bool:
        if step.background is not None:
            return step.background.id in self.background
        assert step.item is not None
        return step.item.code in self.answers

    def next_unanswered(self, steps: Steps, after: int) -> int | None:
        for i in range(after + 1, len(steps)):
            if not self.answered(steps[i]):
                return i
        for i in range(len(steps)):
            if not self.answered(steps[i]):
                return i
        return None


# Everything a response's state needs besides the response row, in one round trip: its answers,
# its background answers and its instrument version's checksum (for the parsed-instrument cache).
# Built once: this runs on every answer (the quick answer path runs it on the driver).
STATE_QUERY: CompoundSelect[Any] = union_all(
    select(literal("a", String), Answer.item_code, type_coerce(Answer.kind, String), Answer.value).where(
        Answer.response_id == bindparam("response_id")
    ),
    select(literal("b", String), BackgroundAnswer.question_id, BackgroundAnswer.option_id, null()).where(
        BackgroundAnswer.response_id == bindparam("response_id")
    ),
    select(literal("v", String), InstrumentVersion.checksum, null(), null())
    .join(Response, Response.instrument_version_id == InstrumentVersion.id)
    .where(Response.id == bindparam("response_id")),
)


Answers = dict[str, tuple[AnswerKind, int | None]]


def read_state_rows(rows: Iterable[Any]) -> tuple[Answers, dict[str, str], str | None]:
    """STATE_QUERY's rows as the answers, the background answers and the instrument's checksum."""
    answers: Answers = {}
    background: dict[str, str] = {}
    digest: str | None = None
    for tag, key, kind, value in rows:
        if tag == "a":
            answers[key] = (AnswerKind(kind), value)
        elif tag == "b":
            background[key] = kind
        else:
            digest = key
    return answers, background, digest


def load_state(session: Session, response: Response) -> State:
    rows = session.execute(STATE_QUERY, {"response_id": response.id})
    answers, background, digest = read_state_rows(rows)
    instrument = catalogue.load(session, response.instrument_version_id, checksum=digest)
    return State(response, instrument, answers, background)
