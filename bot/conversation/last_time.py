"""Background answers from last time: someone taking an instrument again is offered their previous
answers to its background questions ("Same as last time") instead of choosing each one again.

Only answers that still fit are offered: the question and the option must exist in the version now
being taken. An anonymous round's response has no person, so it is never offered.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import Translator
from bot.messages import Choice
from instruments.schema import Instrument, pick
from storage.models import BackgroundAnswer, InstrumentVersion, Response, ResponseStatus

ACTION = "sb"
MAX_LABEL = 60  # Telegram and Slack show long button labels cut off anyway


def previous_background(
    session: Session, person_id: int, instrument: Instrument, response_id: int
) -> dict[str, str]:
    """The person's answers to `instrument`'s background questions in their latest completed
    response to it (any version), other than `response_id`; only those that still fit."""
    previous = session.scalar(
        select(Response.id)
        .join(InstrumentVersion, InstrumentVersion.id == Response.instrument_version_id)
        .where(
            Response.person_id == person_id,
            Response.status == ResponseStatus.COMPLETED,
            Response.id != response_id,
            InstrumentVersion.instrument_id == instrument.id,
        )
        .order_by(Response.completed_at.desc())
        .limit(1)
    )
    if previous is None:
        return {}
    rows = session.execute(
        select(BackgroundAnswer.question_id, BackgroundAnswer.option_id).where(
            BackgroundAnswer.response_id == previous
        )
    ).all()
    fitting = {}
    for question_id, option_id in rows:
        question = instrument.background_question(question_id)
        if question is not None and question.option(option_id) is not None:
            fitting[question_id] = option_id
    return fitting


def offer(t: Translator, instrument: Instrument, answers: dict[str, str], response_id: int) -> Choice:
    """The button that fills in `answers`, naming them in the reader's language."""
    named = []
    for question in instrument.background:
        option = question.option(answers[question.id]) if question.id in answers else None
        if option is not None:
            named.append(pick(option.text, t.locale))
    label = t._("Same as last time: %(answers)s", answers=", ".join(named))
    if len(label) > MAX_LABEL:
        label = label[: MAX_LABEL - 1].rstrip(" ,") + "…"
    return Choice(label, f"{ACTION}:{response_id}")
