"""Properties of the one answer decision (bot/answer_decision.py), and of the two ways an answer
arrives that both ask it: whatever a person presses, in whatever order, the quick path and the
general path tell and store the same."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import runtime as runtime_module
from bot.clock import ManualClock
from bot.config import Config
from bot.conversation.answer_decision import Effect, answered, decide
from bot.conversation.assessment_state import State
from bot.directory import catalogue
from bot.engine import Engine
from bot.runtime import Runtime
from storage.models import AnswerKind
from tests.conftest import START
from tests.harness import Conversation
from tests.test_answering import LIBRARY
from tests.test_quick_answer import _stored, _transcript


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    path: Path = tmp_path_factory.mktemp("decision") / "assessbot.sqlite3"
    runtime = runtime_module.start(Config(database_url=f"sqlite:///{path}"), ManualClock(START))
    yield runtime
    runtime.db.dispose()


@pytest.fixture(scope="module")
def library(app: Runtime) -> State:
    """The bundled library instrument at its first statement, with nothing answered."""
    with app.sessions() as session:
        version = next(
            v for v, _ in catalogue.active_versions(session) if v.instrument_id == "digcomp-library"
        )
        instrument = catalogue.load(session, version.id)
    return State(_At(1, None, 0), instrument, {}, {})


class _At:
    def __init__(self, id: int, role: str | None, cursor: int) -> None:
        self.id, self.role, self.cursor = id, role, cursor


def _value(v: int | None) -> tuple[AnswerKind, int | None]:
    return (AnswerKind.VALUE, v) if v is not None else (AnswerKind.SKIP, None)


values = st.one_of(st.integers(1, 7), st.none()).map(_value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_answer_is_refused_ignored_changed_or_moves_on_exactly_as_the_rules_say(
    library: State, data: st.DataObject
) -> None:
    items = [i for i, step in enumerate(library.steps) if step.item is not None]
    done = data.draw(st.sets(st.sampled_from(items)))
    stored = {library.steps[i].item.code: data.draw(values) for i in done}  # type: ignore[union-attr]
    cursor = data.draw(st.sampled_from(items))
    state = State(_At(1, "librarian", cursor), library.instrument, stored, {"role": "librarian"})
    index = data.draw(st.sampled_from(items))
    answer = data.draw(values)
    code = library.steps[index].item.code  # type: ignore[union-attr]

    decision = decide(state, index, answer)

    if index != cursor and code not in stored:  # a question not reached: only a forged payload
        assert (decision.effect, decision.store) == (Effect.REFUSED, False)
        return
    assert decision.store == (stored.get(code) != answer)
    if index != cursor:
        assert decision.effect is (Effect.CHANGED if decision.store else Effect.NOTHING)
        assert decision.cursor is None
        return
    after = answered(state, state.steps[index], answer)
    unanswered = [i for i, step in enumerate(after.steps) if not after.answered(step)]
    if not unanswered:
        assert decision.effect is Effect.COMPLETE
        return
    assert decision.effect is Effect.NEXT
    later = [i for i in unanswered if i > index]
    assert decision.cursor == (later[0] if later else unanswered[0])
    assert state.answers == stored, "deciding changes nothing"


# ---------------------------------------------------------------- the two paths, one decision

_people = itertools.count()


# A press: which keyboard (0 the latest, 1 the one before it, ...) and which of its buttons.
presses = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10)), min_size=1, max_size=30)


def _take(person: Conversation, plan: list[tuple[int, int]]) -> None:
    person.say("assess")
    person.click(LIBRARY)
    for _ in range(4):  # the background questions
        person.press(person.choices()[0].payload)
    for back, which in plan:
        keyboards = [r.flat_choices for r in reversed(person.history) if r.choices]
        buttons = keyboards[min(back, len(keyboards) - 1)]
        person.press(buttons[which % len(buttons)].payload)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=presses)
def test_whatever_anna_presses_both_paths_tell_and_store_the_same(
    app: Runtime, plan: list[tuple[int, int]]
) -> None:
    n = next(_people)
    quick = Conversation(Engine(app.sessions, config=app.config, clock=app.clock), f"quick-{n}")
    general = Conversation(
        Engine(app.sessions, config=app.config, clock=app.clock, quick_answers=False), f"general-{n}"
    )
    _take(quick, plan)
    _take(general, plan)
    assert _transcript(quick.history) == _transcript(general.history)
    assert _stored(app, quick.user_id) == _stored(app, general.user_id)
