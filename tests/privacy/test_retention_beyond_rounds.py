"""Storage limitation beyond a round's answers, as a data protection officer checks it: what people
took on their own, and what they did in the round's workshop, does not outlive the retention period
either. The workshop's outcome (its priorities, now plan items) stays; who voted and what each
person wrote go."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.follow_up.scheduler import periodic
from bot.runtime import Runtime
from storage.models import Answer, PlanItem, Response, Round, WorkshopNote, WorkshopVote
from tests.harness import Conversation, texts
from tests.test_workshop import _ended_workshop

THREE_YEARS = timedelta(days=1095)


def _own_assessment(runtime: Runtime, *, finish: bool = True) -> Conversation:
    """Sven takes the library self-assessment on his own, outside any round."""
    sven = Conversation(runtime.engine, "sven", display_name="Sven Staff")
    sven.say("assess")
    sven.click("Digital competence for library staff")
    if finish:
        for _ in range(4):
            sven.press(sven.choices()[0].payload)
        for _ in range(24):
            sven.click("5")
    return sven


def _deleted_after(sven: Conversation) -> list[str]:
    export = sven.say("mydata")[0].file
    assert export is not None
    own = json.loads(export.content)["retention"]["own_assessments"]
    return [entry["answers_deleted_after"] for entry in own]


def _own_responses(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessions() as s:
        own = select(Response.id).where(Response.round_id.is_(None))
        answers = s.scalar(select(func.count()).where(Answer.response_id.in_(own)))
        return len(s.scalars(own).all()), int(answers or 0)


def test_an_assessment_taken_alone_is_deleted_when_its_period_has_run_out(
    runtime: Runtime, clock: ManualClock
) -> None:
    sven = _own_assessment(runtime)
    responses, answers = _own_responses(runtime)
    assert responses == 1
    assert answers > 0
    assert "after you finished it" in texts(sven.say("mydata"))
    assert _deleted_after(sven) == [(clock.now() + THREE_YEARS).date().isoformat()]

    clock.advance(days=1095 - 1)
    periodic(runtime.sessions, clock.now())
    assert _own_responses(runtime) == (1, answers)

    clock.advance(days=2)
    periodic(runtime.sessions, clock.now())
    assert _own_responses(runtime) == (0, 0)
    assert _deleted_after(sven) == []


def test_an_unfinished_assessment_taken_alone_goes_too(runtime: Runtime, clock: ManualClock) -> None:
    _own_assessment(runtime, finish=False)
    assert _own_responses(runtime)[0] == 1
    clock.advance(days=1095 + 1)
    periodic(runtime.sessions, clock.now())
    assert _own_responses(runtime) == (0, 0)


def test_after_the_period_the_workshop_keeps_its_priorities_but_not_who_voted_or_wrote(
    runtime: Runtime, clock: ManualClock
) -> None:
    pia, _, ended = _ended_workshop(runtime)
    pia.press(ended[0].flat_choices[0].payload)  # the priorities into the plan
    with runtime.sessions() as s:
        closes = s.scalar(select(Round.closes_at))
        items = s.scalar(select(func.count()).select_from(PlanItem))
        assert s.scalar(select(func.count()).where(WorkshopVote.person_id.is_not(None))) == 3
        assert s.scalar(select(func.count()).select_from(WorkshopNote)) == 2
    assert closes is not None
    assert items

    clock.set(closes + THREE_YEARS + timedelta(hours=1))
    periodic(runtime.sessions, clock.now())
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).where(WorkshopVote.person_id.is_not(None))) == 0
        assert s.scalar(select(func.count()).select_from(WorkshopVote)) == 3
        assert s.scalar(select(func.count()).select_from(WorkshopNote)) == 0
        assert s.scalar(select(func.count()).select_from(PlanItem)) == items
