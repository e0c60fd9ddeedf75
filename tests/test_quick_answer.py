"""The quick path of a scale-button answer (bot/conversation/quick_answer.py) says and stores exactly what the
general path does (both ask bot/conversation/answer_decision.py), handles the ordinary answer by itself, leaves
everything else alone, and waits for the same person's event in another process."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import func, select, text

from bot.conversation import quick_answer
from bot.engine import Engine
from bot.intake import event_order
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
    assert count_answers(runtime) == 0, "nothing declined was stored"
    # An earlier question's button is the quick path's too: that answer changes, the flow stays.
    anna.click("4")
    earlier = anna.history[-3].flat_choices  # statement 1's buttons, still on screen
    replies = quick_answer.QuickAnswers(runtime.db).handle(
        _answer_event(anna, "2", "earlier", action=earlier[1].payload), now, "en"
    )
    assert replies is not None
    assert [r.text.splitlines()[-1] for r in replies] == ["→ Your answer: 2"]


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


@POSTGRESQL_ONLY
def test_a_click_racing_another_process_for_the_same_person_waits_for_it_and_sees_its_effect(
    runtime: Runtime,
) -> None:
    """Anna clicks 4 and then 5 on statement 2, and the clicks reach two processes at once. While the
    first one's transaction holds her lock, the second one waits; once the first commits, the
    second reads the cursor it moved, and her 5 changes the answer as an earlier question's button
    does. Without the wait both would take statement 2 for the one at the cursor."""
    anna = Conversation(runtime.engine, "anna", display_name="Anna")
    start_library(anna)
    anna.click("3")  # she is at statement 2
    five = anna.button("5")
    response_id, code = int(five.split(":")[1]), five.split(":")[2]
    replies: list[Reply] = []
    incoming = _answer_event(anna, "5", "second-click")
    with runtime.db.connect() as first_click:  # the other process, half way through the 4
        first_click.execute(
            select(func.pg_advisory_xact_lock(event_order._KEY)), event_order.values(incoming)
        )
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
        second = threading.Thread(target=lambda: replies.extend(runtime.engine.handle(incoming)))
        second.start()
        _until_a_lock_is_awaited(runtime)
        first_click.commit()
        second.join(timeout=30)
    assert _transcript(replies)[0][0].endswith("→ Your answer: 5")
    assert len(replies) == 1, "the next question was already sent for the 4: not again"
    assert (code, "value", 5) in _stored(runtime, "anna")


def test_the_same_press_twice_changes_nothing_and_says_nothing_the_second_time(runtime: Runtime) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna")
    start_library(anna)
    payload = anna.button("6")
    assert len(anna.press(payload)) == 2  # the answer, and the next statement
    assert anna.press(payload) == []  # the other half of a double click
    assert count_answers(runtime) == 1


def _until_a_lock_is_awaited(runtime: Runtime) -> None:
    deadline = time.monotonic() + 10
    with runtime.db.connect() as watcher:
        while not watcher.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
            assert time.monotonic() < deadline, "the second click never waited for the first"
            time.sleep(0.01)
