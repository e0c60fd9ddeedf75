"""Storage limitation, as a data protection officer checks it: a round's individual answers, and
everything that says who took part, are deleted a set time after the round closes (three years
unless ASSESSBOT_RETENTION_DAYS says otherwise); the unit's published result is all that is left,
and it still reads the same."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import Config
from bot.follow_up.scheduler import periodic
from bot.messages import Reply
from bot.outbox import enqueue
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    BackgroundAnswer,
    Identity,
    Membership,
    Outbox,
    Response,
    Role,
    Round,
    RoundParticipant,
)
from tests.harness import Conversation, texts
from tests.report_data import GOLDEN, add_responses, install_mini, make_round, make_unit

THREE_YEARS = timedelta(days=1095)


def _school(runtime: Runtime) -> tuple[int, Conversation]:
    """Ystad school answered "Autumn 2026" (6 of 7); Pia is its principal and took part too."""
    now = runtime.clock.now()
    pia = Conversation(runtime.engine, "pia", display_name="Pia Rektor")
    pia.say("help")
    with transaction(runtime.sessions) as s:
        version = install_mini(s, now)
        unit = make_unit(s, "Ystad school", now)
        round_id = make_round(s, version, unit, now, name="Autumn 2026", threshold=3)
        add_responses(s, round_id, unit, version, GOLDEN, now - timedelta(days=5), invited_extra=1)
        pia_person = s.scalar(select(Identity.person_id).where(Identity.platform_user_id == "pia"))
        assert pia_person is not None
        s.add(Membership(person_id=pia_person, unit_id=unit, role=Role.PRINCIPAL, joined_at=now))
        s.add(RoundParticipant(round_id=round_id, person_id=pia_person, unit_id=unit, invited_at=now))
        enqueue(
            s,
            person_id=pia_person,
            kind="invite",
            replies=[Reply("Autumn 2026 is waiting for you", ())],
            key=f"invite:{round_id}:{pia_person}",
            due_at=now,
        )
    return round_id, pia


def _areas(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• ")]


def _left_of(runtime: Runtime, round_id: int) -> dict[str, int]:
    with runtime.sessions() as s:
        responses = select(Response.id).where(Response.round_id == round_id)
        return {
            "responses": len(s.scalars(responses).all()),
            "answers": int(s.scalar(select(func.count()).where(Answer.response_id.in_(responses))) or 0),
            "background": int(
                s.scalar(select(func.count()).where(BackgroundAnswer.response_id.in_(responses))) or 0
            ),
            "participants": int(
                s.scalar(select(func.count()).where(RoundParticipant.round_id == round_id)) or 0
            ),
            "messages": int(
                s.scalar(
                    select(func.count()).where(
                        Outbox.idempotency_key.startswith(f"invite:{round_id}:")
                        | Outbox.idempotency_key.startswith(f"reminder:{round_id}:")
                    )
                )
                or 0
            ),
        }


def test_three_years_after_the_round_closes_only_the_published_result_is_left(
    runtime: Runtime, clock: ManualClock
) -> None:
    round_id, pia = _school(runtime)
    before = texts(pia.say('unit results "Ystad school" "Autumn 2026"'))
    assert "• Collaboration 2.8 (spread 1.2)" in before
    with runtime.sessions() as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        closes = round_.closes_at

    clock.set(closes + THREE_YEARS - timedelta(hours=1))
    periodic(runtime.sessions, clock.now())
    kept = _left_of(runtime, round_id)
    assert kept["responses"] == 6
    assert kept["answers"] > 0
    assert kept["participants"] == 8

    clock.set(closes + THREE_YEARS + timedelta(hours=1))
    periodic(runtime.sessions, clock.now())
    assert _left_of(runtime, round_id) == dict.fromkeys(kept, 0)
    after = texts(pia.say('unit results "Ystad school" "Autumn 2026"'))
    assert _areas(after) == _areas(before)
    assert "6 answered" in after
    assert "nothing was deleted" not in after


def test_the_retention_period_is_configured_and_mydata_says_it(runtime: Runtime, clock: ManualClock) -> None:
    assert Config.from_env({"ASSESSBOT_RETENTION_DAYS": "30"}).retention_days == 30
    assert Config().retention_days == 1095
    round_id, pia = _school(runtime)
    export = pia.say("mydata")
    assert "kept for 1095 days after the round closes" in texts(export)
    assert export[0].file is not None
    data = json.loads(export[0].file.content)
    assert data["retention"]["days_after_round_closes"] == 1095
    with runtime.sessions() as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        closes = round_.closes_at
    clock.set(closes + timedelta(days=31))
    periodic(runtime.sessions, clock.now(), retention_days=30)
    assert _left_of(runtime, round_id)["responses"] == 0
