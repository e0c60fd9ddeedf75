"""A pulse check months after the workshop: a short round of only the statements the unit chose,
with its own invitations and reminders, and the change on exactly those statements in the unit's
result and next to the plan."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.directory import catalogue
from bot.results import publication_store
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Answer, AnswerKind, Response, ResponseStatus, Round, RoundParticipant
from tests.harness import Conversation, texts
from tests.report_data import make_person
from tests.test_unit_results import join
from tests.test_workshop import principal, school, staff


def pulse_answers(runtime: Runtime, round_id: int, unit: int, rows: list[dict[str, int]]) -> None:
    """Completed responses to the pulse round, one per row of {statement: value}."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None
        for i, row in enumerate(rows):
            at = now + timedelta(minutes=i)
            person = make_person(session, f"Pulse {i}", now, unit)
            session.add(
                RoundParticipant(
                    round_id=round_id, person_id=person, unit_id=unit, invited_at=now, completed_at=at
                )
            )
            response = Response(
                person_id=person,
                instrument_version_id=round_.instrument_version_id,
                round_id=round_id,
                unit_id=unit,
                status=ResponseStatus.COMPLETED,
                cursor=len(row),
                started_at=at,
                completed_at=at,
            )
            session.add(response)
            session.flush()
            for code, value in row.items():
                session.add(
                    Answer(
                        response_id=response.id,
                        item_code=code,
                        kind=AnswerKind.VALUE,
                        value=value,
                        answered_at=at,
                    )
                )
        session.flush()
        publication_store.seal(session, round_id, unit)


def test_a_pulse_asks_only_the_chosen_statements_and_shows_their_change(
    runtime: Runtime, clock: ManualClock
) -> None:
    unit, autumn = school(runtime)
    pia = principal(runtime, unit)
    sven = staff(runtime, unit, "sven", "Sven Staff")
    first = pia.say("workshop start pick 2 votes 2")[2]
    pia.press(first.flat_choices[0].payload)
    sven.press(first.flat_choices[0].payload)
    second = pia.say("workshop next")[0]
    sven.press(second.flat_choices[0].payload)
    pia.press(pia.say("workshop end")[0].flat_choices[0].payload)  # the priorities into the plan

    clock.advance(days=180)
    ada = Conversation(runtime.engine, "ada", display_name="Ada Admin")
    join(runtime, ada, None)
    opened = texts(
        ada.say('round open mini "Ystad school" closes 2027-06-30 pulse threshold 3 name "Pulse spring"')
    )
    assert "is open for Ystad school" in opened
    assert "pulse check of A2, A1" in opened
    with runtime.sessions() as session:
        pulse = session.scalar(select(Round).where(Round.name == "Pulse spring"))
        assert pulse is not None
        assert (pulse.pulse_of_round_id, pulse.items) == (autumn, ["A2", "A1"])
        assert pulse.reminder_rule == "3wd,-2d,max3"  # its own reminders, as any round
        asked = catalogue.load(session, pulse.instrument_version_id)
        assert [item.code for item in asked.items_for(None)] == ["A1", "A2"]
        pulse_id = pulse.id
    # Sven takes the short round: the background questions, then only the two statements.
    sven.say("assess")
    sven.click("Pulse spring (closes 30 June)")
    for _ in range(2):
        sven.press(sven.choices()[0].payload)
    assert sven.last.text.startswith("Statement 1/2 · Collaboration\nWe share material.")

    pulse_answers(runtime, pulse_id, unit, [{"A2": 4, "A1": 3}, {"A2": 5, "A1": 3}, {"A2": 3, "A1": 4}])
    result = texts(pia.say('unit results "Ystad school" "Pulse spring"'))
    assert "Since Autumn 2026, on the statements we chose:" in result
    assert "• A2 We plan together. 2.7 → 4.0 (+1.3)" in result
    assert "• A1 We share material. 2.8 → 3.3 (+0.5)" in result
    assert "B1" not in result.split("Since Autumn 2026")[1]
    digest = texts(pia.say("plan report"))
    assert "Priority from the workshop: A2 We plan together." in texts(pia.say("plan"))
    assert "• A2 We plan together. 2.7 → 4.0 (+1.3)" in digest


def test_a_pulse_of_listed_statements_and_what_it_refuses(runtime: Runtime) -> None:
    school(runtime)
    ada = Conversation(runtime.engine, "ada", display_name="Ada Admin")
    join(runtime, ada, None)
    refused = texts(ada.say('round open mini "Ystad school" closes 2027-06-30 pulse'))
    assert "has chosen no priorities in a workshop on Autumn 2026 yet" in refused
    assert "no statement Z9" in texts(
        ada.say('round open mini "Ystad school" closes 2027-06-30 pulse items b1,Z9')
    )
    opened = texts(
        ada.say('round open mini "Ystad school" closes 2027-06-30 pulse of "Autumn 2026" items b1,b2')
    )
    assert "pulse check of B1, B2" in opened
