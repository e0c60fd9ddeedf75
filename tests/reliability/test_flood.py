"""A flood of events from one person is refused politely, without slowing anyone else down."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select

from bot.engine import Engine
from bot.intake.flood import BURST, PER_SECOND, FloodGuard
from bot.messages import Reply
from bot.runtime import Runtime
from storage.models import Answer, Identity, Response
from tests.harness import Conversation, texts

POLITE = "faster than I can take them"


class Stopwatch:
    """Seconds that move only when the test says so (the flood guard's time source)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _engine(runtime: Runtime, stopwatch: Stopwatch) -> Engine:
    return Engine(
        runtime.sessions, config=runtime.config, clock=runtime.clock, flood=FloodGuard(seconds=stopwatch)
    )


def _answers_of(runtime: Runtime, user: str) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Answer)
                .join(Response, Response.id == Answer.response_id)
                .join(Identity, Identity.person_id == Response.person_id)
                .where(Identity.platform_user_id == user)
            )
            or 0
        )


def _start(person: Conversation) -> None:
    person.say("assess")
    person.click("Digital competence for library staff")
    for _ in range(4):
        person.press(person.choices()[0].payload)


def test_a_thousand_events_in_a_second_are_refused_politely_while_anna_finishes(runtime: Runtime) -> None:
    stopwatch = Stopwatch()
    engine = _engine(runtime, stopwatch)
    mallory = Conversation(engine, "mallory", platform="telegram", display_name="Mallory")
    anna = Conversation(engine, "anna", platform="telegram", display_name="Anna Svensson")
    _start(mallory)
    _start(anna)
    stopwatch.now += 60  # the set-up above is long forgotten

    admitted = notices = quiet = 0
    anna_replies: list[list[Reply]] = []
    for i in range(1000):
        stopwatch.now += 0.001  # 1,000 events within one second
        replies = mallory.say("5")
        if not replies:
            quiet += 1
        elif POLITE in texts(replies):
            notices += 1
        else:
            admitted += 1
        if i % 40 == 0 and len(anna_replies) < 24:
            anna_replies.append(anna.click("5"))

    assert notices == 1, "the polite message goes out once, not once per refused event"
    assert admitted <= BURST + PER_SECOND * 1.0 + 1
    assert admitted + notices + quiet == 1000
    assert _answers_of(runtime, "mallory") == min(admitted, 24)
    # Anna was never refused and finished her assessment during the flood.
    assert len(anna_replies) == 24
    assert not any(POLITE in texts(r) for r in anna_replies)
    assert "Done! Thank you, Anna." in texts(anna_replies[-1])
    assert _answers_of(runtime, "anna") == 24


def test_the_flood_guard_lets_mallory_back_in_and_tells_her_again_only_in_a_new_window(
    runtime: Runtime,
) -> None:
    stopwatch = Stopwatch()
    engine = _engine(runtime, stopwatch)
    mallory = Conversation(engine, "mallory", platform="telegram", display_name="Mallory")
    mallory.say("assess")
    for _ in range(200):
        mallory.say("hello")
    stopwatch.now += 5  # tokens refill: she is heard again, and not told off again yet
    replies = mallory.say("help")
    assert replies
    assert POLITE not in texts(replies)
    for _ in range(200):
        mallory.say("hello")
    assert sum(POLITE in r.text for r in mallory.history) == 1
    stopwatch.now += 60  # a new window: a new flood is told once more
    for _ in range(200):
        mallory.say("hello")
    assert sum(POLITE in r.text for r in mallory.history) == 2


def test_answering_fast_and_double_clicking_are_never_limited(runtime: Runtime) -> None:
    stopwatch = Stopwatch()
    engine = _engine(runtime, stopwatch)
    anna = Conversation(engine, "anna", platform="telegram", display_name="Anna Svensson")
    _start(anna)
    for _ in range(24):
        stopwatch.now += 0.3  # a very fast reader
        payload = anna.button("5")
        anna.press(payload)
        stopwatch.now += 0.05
        anna.press(payload)  # the double click: a second press of the same button
    assert not any(POLITE in r.text for r in anna.history)
    assert "Done! Thank you, Anna." in texts(anna.history)
    assert _answers_of(runtime, "anna") == 24


def test_the_terminal_is_never_limited(runtime: Runtime, anna: Conversation) -> None:
    for _ in range(BURST * 3):
        anna.say("help")
    assert not any(POLITE in r.text for r in anna.history)


def test_the_limits_come_from_the_configuration(runtime: Runtime) -> None:
    config = dataclasses.replace(runtime.config, flood_burst=5, flood_per_minute=1)
    engine = Engine(runtime.sessions, config=config, clock=runtime.clock)
    mallory = Conversation(engine, "mallory", platform="slack", display_name="Mallory")
    answered = [bool(r) and POLITE not in texts(r) for r in (mallory.say("help") for _ in range(20))]
    assert 5 <= sum(answered) <= 6  # the burst, plus at most one token refilled meanwhile
