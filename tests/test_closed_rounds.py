"""A closed round takes no answers: a person part-way through is told so, may see the result of what
they answered, and nothing they do afterwards enters the results or the round's counts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage.models import Answer, Response, ResponseStatus
from tests.harness import Conversation, texts
from tests.org_setup import Organisation, build_organisation
from tests.timed import stockholm


@pytest.fixture
def org(runtime: Runtime) -> Organisation:
    organisation = build_organisation(runtime)
    opened = texts(
        organisation.admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-12 threshold 3')
    )
    assert "Round #1" in opened, opened
    return organisation


def answers(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Answer)) or 0)


def completed(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        query = select(func.count()).where(Response.status == ResponseStatus.COMPLETED)
        return int(session.scalar(query.select_from(Response)) or 0)


def part_way(person: Conversation, statements: int) -> None:
    """Start the round's assessment, answer the background questions and a few statements."""
    person.say("assess")
    if any(c.payload == "o:1" for c in person.choices()):
        person.press("o:1")
    while "Background question" in person.last.text:
        person.press(person.choices()[0].payload)
    for _ in range(statements):
        person.click("5")


def test_a_person_part_way_through_a_round_closed_by_command_is_told_and_can_see_their_result(
    runtime: Runtime, org: Organisation
) -> None:
    sven = org.staff
    part_way(sven, 5)
    stored = answers(runtime)
    next_button = sven.button("4")
    assert "no more answers are taken" in texts(org.admin.say("round close 1"))

    reply = texts(sven.say("assess"))
    assert "closed" in reply, reply
    assert "no more answers" in reply, reply
    assert "Welcome back" not in reply
    see_result = sven.button("See the result of what you answered")

    # The button of the question he was at, and a typed answer: neither is taken.
    assert "closed" in texts(sven.press(next_button))
    sven.say("4")
    assert answers(runtime) == stored

    # The result of the five statements he answered is offered, as his own.
    result = texts(sven.press(see_result))
    assert "5 of 24 statements" in result, result
    assert "Your result for Digital competence for library staff" in result, result
    assert completed(runtime) == 0
    status = texts(org.admin.say("round status 1"))
    assert "0 completed" in status, status


def test_a_round_past_its_closing_date_takes_no_late_answers_even_from_a_quick_button(
    runtime: Runtime, org: Organisation, clock: ManualClock
) -> None:
    sven = org.staff
    part_way(sven, 23)  # one statement left
    pia = org.principal
    part_way(pia, 3)
    stored = answers(runtime)
    last_button = sven.button("5")
    pia_button = pia.button("5")

    clock.set(stockholm(2026, 12, 22, 10))  # ten days after the closing date

    assert "closed" in texts(sven.press(last_button))
    assert "closed" in texts(pia.say("5"))
    assert "closed" in texts(pia.press(pia_button))
    assert answers(runtime) == stored
    assert completed(runtime) == 0
    status = texts(org.admin.say("round status 1"))
    assert "0 completed" in status, status
    results = texts(pia.say('unit results "Ystad bibliotek"'))
    assert "0 of 2 answered" in results, results


def test_an_anonymous_round_closed_offers_no_result_of_a_partial_answer(
    runtime: Runtime, org: Organisation
) -> None:
    admin = org.admin
    opened = texts(
        admin.say('round open school-digital-maturity "Lunds bibliotek" closes 2026-12-12 anonymous')
    )
    assert "Round #2" in opened, opened
    lars = org.lund_staff
    lars.say("assess")
    lars.press("o:2")
    while "Background question" in lars.last.text:
        lars.press(lars.choices()[0].payload)
    lars.click("3")
    admin.say("round close 2")

    reply = texts(lars.say("assess"))
    assert "closed" in reply, reply
    assert all("result" not in c.label.lower() for c in lars.choices()), lars.choices()
