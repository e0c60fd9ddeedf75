"""Property: whatever a few people send, in any order (texts, real and forged buttons, back, skip),
the engine never raises, never answers with an internal error, and every stored answer belongs to
the instrument and sits on its scale. SQLite only, a few dozen examples: a guard, not a soak test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import runtime as runtime_module
from bot.clock import ManualClock
from bot.config import Config
from bot.directory import catalogue
from bot.runtime import Runtime
from storage.models import Answer, AnswerKind, Response
from tests.conftest import START
from tests.harness import Conversation

INTERNAL_ERRORS = ("something went wrong on my side", "can't reach my database")
WORDS = [
    "assess",
    "5",
    "1",
    "7",
    "0",
    "8",
    "back",
    "tillbaka",
    "skip",
    "hoppa över",
    "help",
    "pause",
    "?",
    "results",
    "fem",
    "n/a",
    "hello",
    "start",
    "language sv",
    "language en",
    "cancel",
]
_people = itertools.count()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    path: Path = tmp_path_factory.mktemp("properties") / "assessbot.sqlite3"
    runtime = runtime_module.start(Config(database_url=f"sqlite:///{path}"), ManualClock(START))
    yield runtime
    runtime.db.dispose()


forged = st.builds(
    lambda prefix, parts: ":".join([prefix, *parts]),
    st.sampled_from(["a", "g", "x", "b", "r", "i", "o", "cmd", "zz"]),
    st.lists(
        st.one_of(
            st.integers(-3, 60).map(str),
            st.sampled_from(["111", "112", "999", "s", "n", "5", "٥", "²", "", " ", "x" * 70]),
        ),
        max_size=4,
    ),
)
event = st.tuples(
    st.integers(0, 2),  # which person
    st.one_of(
        st.tuples(st.just("say"), st.one_of(st.sampled_from(WORDS), st.text(max_size=30))),
        st.tuples(st.just("button"), st.integers(0, 40)),  # one of the buttons they were shown
        st.tuples(st.just("press"), forged),
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event, min_size=1, max_size=40))
def test_any_sequence_of_events_keeps_the_engine_sound(app: Runtime, events: list[Any]) -> None:
    n = next(_people)
    people = [
        Conversation(app.engine, f"prop-{n}-{i}", platform="telegram", display_name=f"P{i}") for i in range(3)
    ]
    for who, (kind, arg) in events:
        person = people[who]
        if kind == "say":
            replies = person.say(arg)
        elif kind == "button":
            choices = person.choices()
            replies = person.press(choices[arg % len(choices)].payload) if choices else person.say("assess")
        else:
            replies = person.press(arg)
        for reply in replies:
            assert not any(error in reply.text for error in INTERNAL_ERRORS), (kind, arg, reply.text)

    with app.sessions() as session:
        for response in session.scalars(select(Response)):
            instrument = catalogue.load(session, response.instrument_version_id)
            assert (
                0 <= response.cursor <= len(instrument.background) + len(instrument.items_for(response.role))
            )
            for answer in session.scalars(select(Answer).where(Answer.response_id == response.id)):
                assert instrument.item(answer.item_code) is not None, answer.item_code
                if answer.kind is AnswerKind.VALUE:
                    assert answer.value is not None
                    assert 1 <= answer.value <= instrument.scale.points
                else:
                    assert answer.value is None
