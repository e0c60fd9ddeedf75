"""An anonymous round: the person sees their result once, and afterwards nobody can link the answers
to them, not even someone reading the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    BackgroundAnswer,
    Identity,
    Membership,
    Response,
    ResponseStatus,
    Role,
    Round,
    RoundParticipant,
)
from tests.harness import Conversation, texts
from tests.report_data import install_mini, make_round, make_unit


def test_anonymous_round_detaches_answers_and_keeps_only_completed(
    runtime: Runtime, clock: ManualClock, anna: Conversation
) -> None:
    anna.say("help")
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        person = session.scalar(select(Identity.person_id).where(Identity.platform_user_id == "anna"))
        assert person is not None
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        session.add(Membership(person_id=person, unit_id=unit, role=Role.STAFF, joined_at=now))
        round_id = make_round(session, version, unit, now, anonymous=True)
        session.add(RoundParticipant(round_id=round_id, person_id=person, unit_id=unit, invited_at=now))
    intro = texts(anna.press(f"o:{round_id}"))
    assert "This round is anonymous" in intro
    assert "You see your own result once" in intro
    anna.click("Teacher")
    anna.click("New")
    clock.advance(minutes=3)
    for value in ("2", "3", "4"):
        anna.click(value)
    done = anna.click("5")
    assert "Your result for Mini survey" in texts(done)
    assert any(r.image is not None for r in done)
    finished_at = runtime.clock.now()

    with runtime.sessions() as session:
        (response,) = session.scalars(select(Response).where(Response.round_id == round_id)).all()
        assert response.status is ResponseStatus.COMPLETED
        assert response.person_id is None
        midnight = datetime(finished_at.year, finished_at.month, finished_at.day, tzinfo=UTC)
        assert response.started_at == response.completed_at == midnight
        assert set(session.scalars(select(Answer.answered_at).where(Answer.response_id == response.id))) == {
            midnight
        }
        assert set(
            session.scalars(
                select(BackgroundAnswer.answered_at).where(BackgroundAnswer.response_id == response.id)
            )
        ) == {midnight}
        participant = session.scalar(select(RoundParticipant).where(RoundParticipant.round_id == round_id))
        assert participant is not None
        # That Anna finished is kept (for reminders), never when: the mark is the round's opening.
        round_row = session.get(Round, round_id)
        assert round_row is not None
        assert participant.completed_at == round_row.opens_at != finished_at
        assert session.scalar(select(Response.id).where(Response.person_id == person)) is None

    # Shown once: later the person has no result to look at, and their data export has no answers.
    assert "You have no completed assessment yet" in texts(anna.say("results"))
    export = anna.say("mydata")[0]
    assert export.file is not None
    data = json.loads(export.file.content)
    assert data["responses"] == []
    assert data["round_participation"][0]["anonymous"] is True
    assert data["round_participation"][0]["finished"] is True
    assert "completed_at" not in data["round_participation"][0]
    assert "already completed this round" in texts(anna.press(f"o:{round_id}"))
