"""Bad input never corrupts state: a hint and the same question, nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from storage.models import Answer, BackgroundAnswer
from tests.harness import Conversation, texts
from tests.test_answering import count_answers, start_library


@pytest.mark.parametrize(
    "typed",
    [
        "9",
        "0",
        "-3",
        "5.5",
        "banana",
        "",
        "   ",
        "x" * 10_000,
        "5\u0000\u0007",
        "\u202e5",
        "'; DROP TABLE answer; --",
    ],
    ids=[
        "too-high",
        "zero",
        "negative",
        "decimal",
        "word",
        "empty",
        "blank",
        "10kB",
        "control",
        "bidi",
        "sql",
    ],
)
def test_unusable_typed_answers_get_a_hint_and_the_same_question(
    anna: Conversation, runtime: Runtime, typed: str
) -> None:
    start_library(anna)
    replies = anna.say(typed)
    said = texts(replies)
    if typed in ("5\u0000\u0007", "\u202e5"):
        # Control and bidi characters are removed before reading: what is left is a plain "5".
        assert "Statement 2/24" in said
        return
    assert "Statement 1/24" in said or "didn't catch" in said
    assert "Traceback" not in said
    assert "went wrong" not in said
    assert count_answers(runtime) == 0


def test_a_message_over_64_kb_is_refused_politely(anna: Conversation, runtime: Runtime) -> None:
    start_library(anna)
    assert "too long" in texts(anna.say("5" * 70_000))
    assert count_answers(runtime) == 0


def test_a_wrong_background_answer_gets_a_hint(anna: Conversation, runtime: Runtime) -> None:
    anna.say("assess")
    anna.click("Digital competence for library staff")
    assert "choose one of the options" in texts(anna.say("99"))
    anna.say("librarian")  # the option's text works as well as its number
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(BackgroundAnswer)) == 1


@pytest.fixture
def bertil(runtime: Runtime) -> Conversation:
    return Conversation(runtime.engine, "bertil", display_name="Bertil")


def test_forged_payloads_are_rejected_and_store_nothing(
    anna: Conversation, bertil: Conversation, runtime: Runtime
) -> None:
    start_library(anna)
    own = anna.button("5")  # a:<response>:<code>:5
    _, response_id, code, _ = own.split(":")
    forged = [
        f"a:{response_id}:{code}:9",  # off the scale
        f"a:{response_id}:{code}:0",
        f"a:{response_id}:{code}:05",
        f"a:{response_id}:999:5",  # no such item
        f"a:{response_id}:{code}",  # too short
        f"a:{int(response_id) + 100}:{code}:5",  # no such response
        f"a:{response_id}:513:5",  # an item she has not reached yet
        f"g:{response_id}:0:99",  # no such option
        f"g:{response_id}:9:0",  # no such question
        "zz:1:2",  # unknown kind of button
        "a:" + "9" * 300,
    ]
    for payload in forged:
        said = texts(anna.press(payload))
        assert "not valid" in said, payload
    # Another person pressing Anna's buttons: refused, and Anna's answers untouched.
    assert "not valid" in texts(bertil.press(own))
    assert "not valid" in texts(bertil.press(f"b:{response_id}"))
    assert "not valid" in texts(bertil.press(f"x:{response_id}:{code}"))
    assert count_answers(runtime) == 0
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 0
    assert "Statement 1/24" in texts(anna.say("assess"))
