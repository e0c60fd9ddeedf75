"""Scenarios of a person answering an assessment: skip, back, edit, resume, double clicks, roles."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot import runtime as runtime_module
from bot.clock import ManualClock
from bot.config import Config
from bot.runtime import Runtime
from storage.models import Answer, AnswerKind, BackgroundAnswer, Response, ResponseStatus
from tests.harness import Conversation, texts

LIBRARY = "Digital competence for library staff"
SCHOOL = "Your school's digital maturity"


def answers(runtime: Runtime) -> dict[str, tuple[AnswerKind, int | None]]:
    with runtime.sessions() as session:
        rows = session.execute(select(Answer.item_code, Answer.kind, Answer.value)).all()
    return {code: (kind, value) for code, kind, value in rows}


def count_answers(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Answer)) or 0)


def start_library(person: Conversation) -> None:
    person.say("assess")
    person.click(LIBRARY)
    for _ in range(4):  # the four background questions: take the first option
        person.press(person.choices()[0].payload)


def current_code(person: Conversation) -> str:
    """The item code of the question on screen (from its answer buttons)."""
    return person.button("1").split(":")[2]


def test_progress_is_shown_on_every_statement(anna: Conversation) -> None:
    start_library(anna)
    assert "Statement 1/24 · Information and data literacy" in anna.last.text
    anna.click("4")
    assert "Statement 2/24" in anna.last.text
    assert "1 = Very uncertain" in anna.last.text
    assert "7 = Very confident" in anna.last.text


def test_pressing_a_button_edits_the_question_and_sends_the_next(anna: Conversation) -> None:
    start_library(anna)
    replies = anna.click("6")
    assert replies[0].edit
    assert "→ Your answer: 6" in replies[0].text
    assert not replies[1].edit
    assert "Statement 2/24" in replies[1].text


def test_staff_member_skips_item_3_goes_back_and_resumes_next_day(
    anna: Conversation, runtime: Runtime, config: Config, clock: ManualClock
) -> None:
    start_library(anna)
    anna.click("5")
    anna.click("6")
    third = current_code(anna)
    anna.click("Skip")
    assert answers(runtime)[third] == (AnswerKind.SKIP, None)
    anna.click("Back")
    assert "Statement 3/24" in anna.last.text
    assert "Your answer so far: skipped" in anna.last.text
    anna.click("3")  # changes the skip into a 3 and moves on to where she was
    assert answers(runtime)[third] == (AnswerKind.VALUE, 3)
    assert "Statement 4/24" in anna.last.text

    # The next day, in a new process on the same database, she continues where she stopped.
    clock.advance(days=1)
    runtime.db.dispose()
    again = runtime_module.start(config, clock)
    anna2 = Conversation(again.engine, "anna", display_name="Anna Svensson")
    replies = anna2.say("assess")
    assert "Welcome back" in texts(replies)
    assert "Statement 4/24" in texts(replies)
    assert count_answers(again) == 3
    again.db.dispose()


def test_an_earlier_questions_button_changes_that_answer_without_moving_the_flow(
    anna: Conversation, runtime: Runtime
) -> None:
    start_library(anna)
    first_question_five = anna.button("5")
    anna.click("5")
    anna.click("2")
    assert "Statement 3/24" in anna.last.text
    replies = anna.press(first_question_five.replace(":5", ":7"))
    assert len(replies) == 1
    assert replies[0].edit
    assert "Your answer: 7" in replies[0].text
    assert count_answers(runtime) == 2
    assert "Statement 3/24" in texts(anna.say("assess"))


def test_the_same_event_delivered_twice_is_handled_once(anna: Conversation, runtime: Runtime) -> None:
    start_library(anna)
    payload = anna.button("4")
    first = anna.press(payload, event_id="tg-update-77")
    again = anna.press(payload, event_id="tg-update-77")
    assert first
    assert again == []
    assert count_answers(runtime) == 1
    assert "Statement 2/24" in texts(anna.say("assess"))


def test_a_double_click_stores_one_answer_and_two_clicks_keep_the_latest(
    anna: Conversation, runtime: Runtime
) -> None:
    start_library(anna)
    code = current_code(anna)
    four, six = anna.button("4"), anna.button("6")
    anna.press(four)
    assert anna.press(four) == []  # the same click again: nothing changes, nothing to say
    anna.press(six)  # a second, different click on the same question
    assert count_answers(runtime) == 1
    assert answers(runtime)[code] == (AnswerKind.VALUE, 6)
    assert "Statement 2/24" in texts(anna.say("assess"))


@pytest.mark.parametrize("typed", ["5", "fem", "five", " Fem. "])
def test_typed_answers_in_swedish_and_english(anna: Conversation, runtime: Runtime, typed: str) -> None:
    start_library(anna)
    code = current_code(anna)
    replies = anna.say(typed)
    assert answers(runtime)[code] == (AnswerKind.VALUE, 5)
    assert "Statement 2/24" in replies[-1].text


def test_typed_skip_back_and_explain(anna: Conversation, runtime: Runtime) -> None:
    start_library(anna)
    code = current_code(anna)
    anna.say("hoppa över")
    assert answers(runtime)[code] == (AnswerKind.SKIP, None)
    anna.say("tillbaka")
    assert "Statement 1/24" in anna.last.text
    explained = anna.say("?")
    assert explained[0].text.startswith("ℹ️")
    assert "Statement 1/24" in texts(anna.say("assess"))


def test_explain_button_shows_the_explanation_without_moving_on(anna: Conversation, runtime: Runtime) -> None:
    start_library(anna)
    replies = anna.click("What does this mean?")
    assert len(replies) == 1
    assert not replies[0].choices
    assert count_answers(runtime) == 0
    anna.click("2")
    assert "Statement 2/24" in anna.last.text


def test_back_on_the_first_question_says_so(anna: Conversation) -> None:
    anna.say("assess")
    anna.click(LIBRARY)
    replies = anna.say("back")
    assert "This is the first question." in replies[0].text


def test_completing_shows_levels_strengths_development_and_suggestions(
    anna: Conversation, runtime: Runtime
) -> None:
    start_library(anna)
    # Areas in order: information 5, communication 5, content 5, safety 5, problem-solving 4 statements.
    values = [7] * 5 + [6] * 5 + [2] * 5 + [5] * 5 + [3] * 4
    for value in values:
        replies = anna.click(str(value))
    result = texts(replies)
    assert "Information and data literacy 7.0" in result
    assert "Digital content creation 2.0" in result
    assert "Strengths: Information and data literacy, Communication and collaboration." in result
    assert "To develop: Digital content creation, Problem solving." in result
    assert "Suggestions:\n1) " in result
    with runtime.sessions() as session:
        response = session.scalar(select(Response))
        assert response is not None
        assert response.status is ResponseStatus.COMPLETED


def test_taking_it_again_shows_the_change_since_last_time(anna: Conversation, clock: ManualClock) -> None:
    start_library(anna)
    for _ in range(24):
        anna.click("3")
    clock.advance(days=120)
    start_library(anna)
    for _ in range(24):
        replies = anna.click("5")
    assert "+2.0 since 23 November" in texts(replies)
    assert "+2.0" in texts(anna.say("results"))


def test_pressing_an_answer_of_a_finished_assessment_changes_nothing(
    anna: Conversation, runtime: Runtime
) -> None:
    start_library(anna)
    last_three = None
    for _ in range(24):
        last_three = anna.button("3")
        anna.click("4")
    assert last_three is not None
    replies = anna.press(last_three)
    assert "finished" in texts(replies)
    assert answers(runtime)[last_three.split(":")[2]] == (AnswerKind.VALUE, 4)


def test_a_teacher_is_asked_the_role_first_and_gets_only_teacher_statements(
    anna: Conversation, runtime: Runtime
) -> None:
    anna.say("assess")
    anna.click(SCHOOL)
    assert "Background question 1/3" in anna.last.text
    anna.click("Teacher")
    for _ in range(2):
        anna.press(anna.choices()[0].payload)
    heading = anna.last.text.splitlines()[0]
    total = int(heading.split("/")[1].split(" ")[0])
    for _ in range(total):
        anna.click("4")
    with runtime.sessions() as session:
        role = session.scalar(select(Response.role))
        codes = set(session.scalars(select(Answer.item_code)))
        assert session.scalar(
            select(BackgroundAnswer.option_id).where(BackgroundAnswer.question_id == "role")
        ) == ("teacher")
    from bot.directory import catalogue

    with runtime.sessions() as session:
        version_id = session.scalar(select(Response.instrument_version_id))
        assert version_id is not None
        instrument = catalogue.load(session, version_id)
    assert role == "teacher"
    assert codes == {item.code for item in instrument.items_for("teacher")}
    assert any(item.roles == ("principal",) for area in instrument.areas for item in area.items)


def test_not_applicable_is_offered_where_the_scale_allows_it(anna: Conversation, runtime: Runtime) -> None:
    anna.say("assess")
    anna.click(SCHOOL)
    anna.click("Principal")
    for _ in range(2):
        anna.press(anna.choices()[0].payload)
    anna.click("Not applicable")
    assert AnswerKind.NOT_APPLICABLE in {kind for kind, _ in answers(runtime).values()}


def test_language_switch_mid_assessment_repeats_the_question_in_swedish(anna: Conversation) -> None:
    start_library(anna)
    replies = anna.say("language sv")
    assert "svenska" in replies[0].text
    assert "Påstående 1/24 · Informations- och datakompetens" in replies[1].text
    assert "Hoppa över" in [c.label for c in replies[1].flat_choices]


def test_help_works_in_the_middle_and_shows_the_question_again(anna: Conversation) -> None:
    start_library(anna)
    replies = anna.say("help")
    assert "assess" in replies[0].text
    assert "Statement 1/24" in replies[1].text


def test_pause_keeps_the_answers(anna: Conversation, runtime: Runtime, clock: ManualClock) -> None:
    start_library(anna)
    anna.click("2")
    assert "Paused" in texts(anna.say("pause"))
    clock.advance(days=5, hours=3)
    assert "Statement 2/24" in texts(anna.say("assess"))
    assert count_answers(runtime) == 1


def test_a_group_chat_never_collects_answers(runtime: Runtime) -> None:
    from bot.messages import Incoming

    replies = runtime.engine.handle(Incoming(platform="telegram", user_id="5", text="5", is_private=False))
    assert "private chat" in texts(replies)
    assert count_answers(runtime) == 0


def test_self_service_can_be_taken_again_and_again(
    anna: Conversation, clock: ManualClock, runtime: Runtime
) -> None:
    for _ in range(2):
        start_library(anna)
        for _ in range(24):
            anna.click("4")
        clock.advance(days=1)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Response)) == 2
