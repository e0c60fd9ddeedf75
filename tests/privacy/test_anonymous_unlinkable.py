"""An anonymous round, read as a determined reader of the database would: everything stored about a
person who took part is lined up against the completed responses, looking for one that fits only them.

Anna starts on Monday, is reminded on Thursday (the reminder's button resumes her response) and
finishes that morning; Bo finished on Monday; Cilla never finishes and keeps being reminded.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import ManualClock
from bot.messages import replies_from_json
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    AuditLog,
    Outbox,
    Person,
    Response,
    ResponseStatus,
    Role,
    Round,
    RoundParticipant,
    RoundUnit,
)
from tests.harness import Conversation, texts
from tests.report_data import install_mini
from tests.timed import RecordingSender, add_member, add_person, add_unit, run_until, stockholm

# The buttons that carry a response id: answer, background, explain, back, resume.
RESPONSE_BUTTON = re.compile(r"^[agxbr]:(\d+)")


def _anonymous_round(runtime: Runtime, clock: ManualClock) -> tuple[int, dict[str, int]]:
    start = clock.now()
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        people = {user: add_person(s, user, name, start) for user, name in USERS}
        for person in people.values():
            add_member(s, person, school, Role.STAFF, start)
        round_ = Round(
            name="Anonymous autumn",
            instrument_version_id=install_mini(s, start),
            opens_at=start,
            closes_at=stockholm(2026, 12, 19),
            threshold=2,
            anonymous=True,
            created_at=start,
        )
        s.add(round_)
        s.flush()
        s.add(RoundUnit(round_id=round_.id, unit_id=school.id))
        for person in people.values():
            s.add(
                RoundParticipant(round_id=round_.id, person_id=person.id, unit_id=school.id, invited_at=start)
            )
        return round_.id, {user: person.id for user, person in people.items()}


USERS = (("anna", "Anna Svensson"), ("bo", "Bo Ek"), ("cilla", "Cilla Lind"))


def _answer_all(person: Conversation, values: tuple[str, ...]) -> str:
    said = ""
    for value in values:
        said = texts(person.click(value))
    return said


def _play_the_round(runtime: Runtime, clock: ManualClock) -> tuple[int, dict[str, int]]:
    round_id, people = _anonymous_round(runtime, clock)
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    anna, bo = (Conversation(runtime.engine, user, display_name=name) for user, name in USERS[:2])

    anna.press(f"o:{round_id}")
    anna.click("Teacher")
    anna.click("New")
    anna.click("1")  # and then she is called away
    clock.advance(hours=2)
    bo.press(f"o:{round_id}")
    bo.click("Teacher")
    bo.click("New")
    assert "Your result" in _answer_all(bo, ("5", "5", "5", "5"))

    run_until(runtime, clock, dispatcher, stockholm(2026, 11, 26, 10))
    (reminder,) = sender.to("anna")
    resume = reminder.replies[0].flat_choices[0].payload
    assert resume.startswith("r:")
    anna.press(resume)
    assert "Your result" in _answer_all(anna, ("1", "2", "1"))
    run_until(runtime, clock, dispatcher, stockholm(2026, 12, 17, 12), timedelta(hours=3))
    assert len(sender.to("cilla")) == 2  # Cilla has not finished: she is still reminded
    assert len(sender.to("anna")) == 1
    assert sender.to("bo") == []
    return round_id, people


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _traces_of(session: Session, person_id: int) -> tuple[set[int], list[datetime]]:
    """What is stored with the person's id on it: ids in the buttons of their messages, and the
    times their reminders went out (a reminder goes only to someone who has not finished)."""
    ids: set[int] = set()
    unfinished_at: list[datetime] = []
    for row in session.scalars(select(Outbox).where(Outbox.person_id == person_id)):
        for reply in replies_from_json(row.payload):
            for choice in reply.flat_choices:
                found = RESPONSE_BUTTON.match(choice.payload)
                ids.update({int(found.group(1))} if found else set())
        if row.sent_at is not None and row.kind == "reminder":
            unfinished_at.append(row.sent_at)
    return ids, unfinished_at


def test_nothing_stored_about_anna_singles_out_her_anonymous_answers(
    runtime: Runtime, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    round_id, people = _play_the_round(runtime, clock)

    with runtime.sessions() as s:
        completed = {
            r.id: r
            for r in s.scalars(
                select(Response).where(
                    Response.round_id == round_id, Response.status == ResponseStatus.COMPLETED
                )
            )
        }
        assert len(completed) == 2
        assert all(r.person_id is None for r in completed.values())
        anna_answers = {
            rid
            for rid in completed
            if sorted(v or 0 for v in s.scalars(select(Answer.value).where(Answer.response_id == rid)))
            == [1, 1, 1, 2]
        }
        assert len(anna_answers) == 1

        ids, unfinished_at = _traces_of(s, people["anna"])
        # A button that names a response leads straight to its answers.
        assert not ids & set(completed), "a stored message of Anna's names her response"
        # The reader keeps the responses whose completion fits every time stored about Anna.
        fitting = [
            r
            for r in completed.values()
            if r.completed_at is not None and all(_day(r.completed_at) >= _day(at) for at in unfinished_at)
        ]
        assert len(fitting) == len(completed), "Anna's reminders say she finished late: only one fits"
        # Who finished is kept for the reminders; a time that differs between them would say when.
        marks = {
            p.completed_at
            for p in s.scalars(select(RoundParticipant).where(RoundParticipant.round_id == round_id))
            if p.completed_at is not None
        }
        assert len(marks) == 1, "the round remembers when each person finished"
        audit = s.scalars(select(AuditLog).where(AuditLog.actor_person_id == people["anna"])).all()
        assert audit == []

        anna = s.get(Person, people["anna"])
        assert anna is not None
        assert anna.current_response_id is None
    for record in caplog.records:
        message = record.getMessage()
        assert not ("anna" in message.lower() and any(str(rid) in message for rid in completed))


def test_the_response_ids_do_not_tell_who_started_first(runtime: Runtime, clock: ManualClock) -> None:
    """Anna started before Bo, which anyone may have seen; the ids must not follow the start order."""
    round_id, _people = _play_the_round(runtime, clock)
    with runtime.sessions() as s:
        rows = s.execute(
            select(Response.id, Answer.value)
            .join(Answer, Answer.response_id == Response.id)
            .where(Response.round_id == round_id)
            .order_by(Response.id)
        ).all()
    first_id = rows[0].id
    first_values = sorted(value or 0 for rid, value in rows if rid == first_id)
    assert first_values != [1, 1, 1, 2], "the oldest response id is the first to start: Anna's"
    with runtime.sessions() as s:
        for response in s.scalars(select(Response).where(Response.round_id == round_id)):
            times = set(s.scalars(select(Answer.answered_at).where(Answer.response_id == response.id)))
            assert response.completed_at is not None
            assert response.started_at == response.completed_at
            assert times == {response.completed_at} == {_day(response.completed_at)}
