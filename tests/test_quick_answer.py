"""The quick path of a scale-button answer (bot/conversation/quick_answer.py) says and stores exactly what the
general path does, handles the ordinary answer by itself, and leaves everything else alone."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select, text

from bot.conversation import quick_answer
from bot.engine import Engine
from bot.messages import Incoming, Reply
from bot.runtime import Runtime
from storage.models import Answer, Identity, Response
from tests.harness import Conversation, texts
from tests.test_answering import LIBRARY, count_answers, current_code, start_library

POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _engine(runtime: Runtime, *, quick: bool) -> Engine:
    return Engine(runtime.sessions, config=runtime.config, clock=runtime.clock, quick_answers=quick)


def _transcript(replies: list[Reply]) -> list[tuple[str, list[str], bool]]:
    """What a person sees, with the response id in button payloads written as R (it differs)."""
    return [
        (r.text, [re.sub(r"^(\w):\d+", r"\1:R", c.payload) for c in r.flat_choices], r.edit) for r in replies
    ]


def _stored(runtime: Runtime, user_id: str) -> list[tuple[str, str, int | None]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Answer.item_code, Answer.kind, Answer.value)
            .join(Response, Response.id == Answer.response_id)
            .join(Identity, Identity.person_id == Response.person_id)
            .where(Identity.platform_user_id == user_id)
            .order_by(Answer.item_code)
        ).all()
    return [(code, kind.value, value) for code, kind, value in rows]


def _take_with_detours(person: Conversation) -> None:
    """Answer everything by buttons: skip statement 3, go back to it, double-click one, finish."""
    start_library(person)
    for n in range(24):
        if n == 2:
            person.click("Skip")
            person.click("Back")
        payload = person.button(str(1 + n % 7))
        person.press(payload)
        if n == 5:
            person.press(payload)  # a double click


def test_anna_is_told_and_stored_the_same_whichever_path_takes_her_answers(runtime: Runtime) -> None:
    quick = Conversation(_engine(runtime, quick=True), "quick", display_name="Anna")
    general = Conversation(_engine(runtime, quick=False), "general", display_name="Anna")
    _take_with_detours(quick)
    _take_with_detours(general)
    assert "Done! Thank you" in texts(quick.history)
    assert _transcript(quick.history) == _transcript(general.history)
    assert _stored(runtime, "quick") == _stored(runtime, "general")
    assert len(_stored(runtime, "quick")) == 24


def _answer_event(person: Conversation, value: str, event_id: str, **changes: object) -> Incoming:
    fields: dict[str, object] = {
        "platform": person.platform,
        "user_id": person.user_id,
        "action": person.button(value),
        "event_id": event_id,
        "display_name": person.display_name,
        "locale_hint": person.locale_hint,
    }
    return Incoming(**{**fields, **changes})  # type: ignore[arg-type]


def test_an_ordinary_answer_is_stored_by_the_quick_path_alone_and_a_redelivery_changes_nothing(
    runtime: Runtime,
) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna")
    start_library(anna)
    code = current_code(anna)
    event = _answer_event(anna, "6", "the-one")
    replies = quick_answer.QuickAnswers(runtime.db).handle(event, runtime.clock.now(), "en")
    assert replies is not None
    assert "→ Your answer: 6" in replies[0].text
    assert replies[0].edit
    assert "Statement 2/24" in replies[1].text
    assert count_answers(runtime) == 1
    assert quick_answer.QuickAnswers(runtime.db).handle(event, runtime.clock.now(), "en") == []
    assert runtime.engine.handle(event) == []
    assert count_answers(runtime) == 1
    with runtime.sessions() as session:
        assert session.scalar(select(Response.cursor)) == 5
        assert session.scalar(select(Answer.item_code)) == code


def test_the_quick_path_declines_what_it_does_not_handle_and_writes_nothing(runtime: Runtime) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna")
    start_library(anna)
    now = runtime.clock.now()

    def declined(event: Incoming) -> bool:
        return quick_answer.QuickAnswers(runtime.db).handle(event, now, "en") is None

    assert declined(_answer_event(anna, "3", "group", is_private=False))
    assert declined(_answer_event(anna, "3", "stranger", user_id="bo"))  # first contact: identify
    assert declined(_answer_event(anna, "3", "renamed", locale_hint="sv"))  # identify updates her
    forged = _answer_event(anna, "3", "forged")
    assert declined(Incoming(**{**forged.__dict__, "action": forged.action.replace(":3", ":9")}))  # type: ignore[union-attr]
    anna.click("4")
    earlier = anna.history[-3].flat_choices  # statement 1's buttons, still on screen
    assert declined(_answer_event(anna, "2", "earlier", action=earlier[1].payload))
    assert count_answers(runtime) == 1, "only the answer through the engine was stored"
    # And through the engine, each declined case is handled as before: the earlier question changes.
    replies = anna.press(earlier[1].payload)
    assert "→ Your answer: 2" in texts(replies)


def test_the_last_answer_goes_the_general_way_and_completes_the_response(runtime: Runtime) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna")
    anna.say("assess")
    anna.click(LIBRARY)
    for _ in range(4):
        anna.press(anna.choices()[0].payload)
    for _ in range(23):
        anna.click("5")
    last = _answer_event(anna, "5", "last")
    assert quick_answer.QuickAnswers(runtime.db).handle(last, runtime.clock.now(), "en") is None
    assert "Done! Thank you, Anna." in texts(runtime.engine.handle(last))
    assert count_answers(runtime) == 24


def _taken(engine: Engine) -> Counter[str]:
    """Which way the engine's quick path took its answers."""
    assert engine.quick_answers is not None
    return engine.quick_answers.taken


def _two_processes(runtime: Runtime, *, quick: bool) -> tuple[Engine, Engine]:
    return _engine(runtime, quick=quick), _engine(runtime, quick=quick)


def _between_two_processes(person: Conversation, first: Engine, second: Engine) -> None:
    """Anna's events reach two bot processes in turn; each remembers her as it last answered her.
    Between her presses in one process, the other changes what that one remembers: an earlier
    answer, the cursor, her language, a waiting prompt."""

    def on(engine: Engine) -> Conversation:
        person.engine = engine
        return person

    start_library(on(first))
    on(first).click("3")
    on(first).click("4")
    on(second).click("Back")  # to statement 2, where her 4 is shown
    on(second).click("6")  # the same count of answers and the same cursor as `first` remembers
    on(first).click("5")  # statement 3: `first` remembers her right, but for the 4
    on(second).click("2")  # `second` remembers her at statement 3, the database at 4
    on(first).say("language sv")
    on(second).click("7")  # `second` remembers her in English
    on(first).click("1")
    on_screen = person.button("2")
    on(second).say("forget-me")  # a question waits for her answer now
    on(first).press(on_screen)  # a button instead: the general path drops the question
    double = person.button("3")
    on(first).press(double)
    on(first).press(double)  # a double click, the second one with a cursor moved on
    seen = f"{person.user_id}-seen"
    on(second).say("status", event_id=seen)
    on(first).press(person.button("4"), event_id=seen)  # an id already seen: nothing changes


def test_what_one_process_remembers_is_checked_against_what_another_changed(runtime: Runtime) -> None:
    first, second = _two_processes(runtime, quick=True)
    quick = Conversation(first, "quick", display_name="Anna")
    _between_two_processes(quick, first, second)
    reference = Conversation(runtime.engine, "general", display_name="Anna")
    general_first, general_second = _two_processes(runtime, quick=False)
    _between_two_processes(reference, general_first, general_second)

    assert _transcript(quick.history) == _transcript(reference.history)
    assert _stored(runtime, "quick") == _stored(runtime, "general")
    assert "→ Ditt svar: 3" in quick.history[-3].text, "answered in Swedish, once for two clicks"
    assert "Påstående 9/24" in quick.last.text, "the id seen before changed nothing"
    assert [value for _code, _kind, value in _stored(runtime, "quick")] == [3, 6, 5, 2, 7, 1, 2, 3]
    # Which way each press went: `first` answered two from memory (statement 3 despite the changed
    # 4) and found the waiting question by its guard; `second` found the new language by its guard.
    assert _taken(first) == {"read": 3, "remembered": 2, "stale": 1}
    assert _taken(second) == {"read": 3, "stale": 1}


def test_a_remembered_answer_with_an_event_id_already_recorded_writes_nothing(runtime: Runtime) -> None:
    engine = _engine(runtime, quick=True)
    anna = Conversation(engine, "anna", display_name="Anna")
    start_library(anna)
    anna.click("3")  # read, and remembered
    anna.click("4")  # remembered
    assert _taken(engine)["remembered"] == 1
    runtime.engine.handle(_answer_event(anna, "5", "seen-before", action="nothing-of-mine"))
    assert engine.handle(_answer_event(anna, "5", "seen-before")) == []
    assert count_answers(runtime) == 2
    assert _taken(engine)["stale"] == 1
    anna.click("5")  # read again, then remembered again
    anna.click("6")
    assert count_answers(runtime) == 4
    assert _taken(engine) == {"read": 2, "remembered": 2, "stale": 1}


@POSTGRESQL_ONLY
def test_a_click_racing_another_process_on_the_same_statement_waits_for_it_and_is_read_afresh(
    runtime: Runtime,
) -> None:
    """Anna clicks 4 and then 5 on statement 2, and the clicks reach two processes at once. While the
    first one's transaction holds her response, the second one's guard waits; once the first
    commits, the guard sees the cursor moved, and her 5 changes the answer as an earlier
    question's button does. Without the wait the 5 would be recorded as handled and lost."""
    engine = _engine(runtime, quick=True)
    anna = Conversation(engine, "anna", display_name="Anna")
    start_library(anna)
    anna.click("3")  # read, and remembered: she is at statement 2
    five = anna.button("5")
    response_id, code = int(five.split(":")[1]), five.split(":")[2]
    replies: list[Reply] = []
    with runtime.db.connect() as first_click:  # the other process, half way through the 4
        first_click.execute(
            text("UPDATE response SET cursor = cursor + 1 WHERE id = :id"), {"id": response_id}
        )
        first_click.execute(
            text(
                "INSERT INTO answer (response_id, item_code, kind, value, answered_at)"
                " VALUES (:id, :code, 'value', 4, now())"
            ),
            {"id": response_id, "code": code},
        )
        second = threading.Thread(target=lambda: replies.extend(anna.press(five)))
        second.start()
        _until_a_lock_is_awaited(runtime)
        first_click.commit()
        second.join(timeout=30)
    assert "→ Your answer: 5" in texts(replies)
    assert (code, "value", 5) in _stored(runtime, "anna")
    assert _taken(engine)["stale"] == 1


def _until_a_lock_is_awaited(runtime: Runtime) -> None:
    deadline = time.monotonic() + 10
    with runtime.db.connect() as watcher:
        while not watcher.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
            assert time.monotonic() < deadline, "the second click never waited for the first"
            time.sleep(0.01)
