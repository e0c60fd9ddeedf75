"""What an answer does: the one decision, pure, for every way an answer arrives.

An answer to a question (a scale point, a skip, a background option) is decided here from the
response's state as read in the event's transaction, before anything is written. The general path
(bot/assessment.py `record`) and the quick answer path (bot/quick_answer.py) both call `decide`,
then store what it says with their own I/O (the ORM, or statements on the driver) and render the
replies with `assessment.told`. Nothing else decides what an answer does.

The rules (DESIGN.md, "The conversation engine"):
- the question at the cursor: the answer is stored and the cursor moves to the first unanswered
  question after it (or the response completes, when none is left);
- an earlier, answered question: its answer changes and the flow does not move twice; the same
  answer again (the second half of a double click) changes nothing and says nothing;
- a question not reached yet: only a forged payload points there, so it is refused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from bot.conversation.assessment_state import State, Step
from storage.models import AnswerKind

# A statement's answer (kind and value), or a background question's option id.
StepAnswer = tuple[AnswerKind, int | None] | str


class Effect(enum.Enum):
    REFUSED = "refused"  # a question not reached yet
    NOTHING = "nothing"  # an earlier question answered the same again
    CHANGED = "changed"  # an earlier question answered differently; the cursor stays
    NEXT = "next"  # the question at the cursor; the next one follows
    COMPLETE = "complete"  # the question at the cursor was the last unanswered one


@dataclass(frozen=True)
class Decision:
    effect: Effect
    store: bool  # the answer differs from the stored one, so it is written
    cursor: int | None = None  # where the cursor moves (NEXT only)


def decide(state: State, index: int, answer: StepAnswer) -> Decision:
    """What answering question `index` with `answer` does, from the state before it."""
    step = state.steps[index]
    at_cursor = index == state.response.cursor
    if not at_cursor and not state.answered(step):
        return Decision(Effect.REFUSED, store=False)
    store = _stored(state, step) != answer
    if not at_cursor:
        return Decision(Effect.CHANGED if store else Effect.NOTHING, store)
    after = answered(state, step, answer)
    # The role question may change which statements follow, so the next one is found after it.
    following = after.next_unanswered(after.steps, index)
    if following is None:
        return Decision(Effect.COMPLETE, store)
    return Decision(Effect.NEXT, store, following)


def answered(state: State, step: Step, answer: StepAnswer) -> State:
    """The state as it is once `answer` is stored (a copy; `state` is left as it was)."""
    if step.background is not None:
        assert isinstance(answer, str)
        role = answer if step.background.id == state.instrument.role_question else state.response.role
        return State(
            _Where(state.response.id, role, state.response.cursor),
            state.instrument,
            state.answers,
            {**state.background, step.background.id: answer},
        )
    assert step.item is not None
    assert isinstance(answer, tuple)
    return replace(state, answers={**state.answers, step.item.code: answer})


def _stored(state: State, step: Step) -> StepAnswer | None:
    if step.background is not None:
        return state.background.get(step.background.id)
    assert step.item is not None
    return state.answers.get(step.item.code)


@dataclass
class _Where:
    """Where a response stands, for a state that is only looked at (see `answered`)."""

    id: int
    role: str | None
    cursor: int
