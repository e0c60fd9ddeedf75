"""A round that has closed takes no answers, whether an admin closed it (`round close`) or its
closing date passed.

Every way into answering (assess, resume, a button, a typed answer) asks `closed_reply` first. A
response left unfinished in a closed round becomes ABANDONED: it never enters a unit's results or
the round's completed count, and the person is told once, with the result of what they answered
when the round is not anonymous (an anonymous round shows a result only on completion).
`round close` marks the round's unfinished responses at once, so a button pressed afterwards is
refused even on the quick answer path, which admits only responses in progress.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.commands import Context, Registry, digits
from bot.directory import catalogue
from bot.directory.catalogue import round_title
from bot.messages import Choice, Reply
from bot.results import feedback
from storage.models import Answer, Response, ResponseStatus, Round, RoundStatus

RESULT_ACTION = "pr"


def is_closed(round_: Round, now: datetime) -> bool:
    return round_.status is not RoundStatus.OPEN or round_.closes_at <= now


def abandon_unfinished(session: Session, round_id: int) -> None:
    """`round close`: every response still in progress in the round is left unfinished for good."""
    session.execute(
        update(Response)
        .where(Response.round_id == round_id, Response.status == ResponseStatus.IN_PROGRESS)
        .values(status=ResponseStatus.ABANDONED)
    )


def closed_current(ctx: Context) -> list[Reply] | None:
    """`assess`: the person's current response, if its round has closed since (even when `round
    close` has already marked it unfinished)."""
    rid = ctx.person.current_response_id
    response = ctx.session.get(Response, rid) if rid is not None else None
    return closed_reply(ctx, response) if response is not None else None


def closed_reply(ctx: Context, response: Response) -> list[Reply] | None:
    """What to say instead of taking an answer to `response`, when its round has closed."""
    if response.round_id is None or response.status is ResponseStatus.COMPLETED:
        return None
    round_ = ctx.session.get(Round, response.round_id)
    if round_ is None or not is_closed(round_, ctx.now):
        return None
    response.status = ResponseStatus.ABANDONED
    if ctx.person.current_response_id == response.id:
        ctx.person.current_response_id = None
    t = ctx.t
    zone = ZoneInfo(ctx.person.timezone or ctx.config.default_timezone)
    closed_on = min(round_.closes_at, ctx.now).astimezone(zone).date()
    text = t._(
        "The round %(title)s closed on %(date)s, so no more answers are taken. "
        "The answers you gave are kept for you only; they are not part of the results.",
        title=round_title(ctx.session, round_, ctx.locale),
        date=t.date(closed_on, "weekday"),
    )
    if round_.anonymous or not _has_values(ctx.session, response.id):
        return [Reply(text)]
    button = Choice(t._("See the result of what you answered"), f"{RESULT_ACTION}:{response.id}")
    return [Reply(text, ((button,),))]


def _has_values(session: Session, response_id: int) -> bool:
    return any(value is not None for value in feedback.answer_values(session, response_id).values())


def partial_result(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `pr:<response>`: the result of an unfinished response in a closed, named round."""
    response = ctx.session.get(Response, int(args[0])) if len(args) == 1 and digits(args[0]) else None
    round_ = ctx.session.get(Round, response.round_id) if response and response.round_id else None
    if (
        response is None
        or round_ is None
        or response.person_id != ctx.person.id
        or response.status is not ResponseStatus.ABANDONED
        or round_.anonymous
    ):
        return [Reply(ctx.t._("That button is not valid any more. Type assess to continue where you were."))]
    answered = ctx.session.scalar(select(func.count()).where(Answer.response_id == response.id))
    total = len(catalogue.load(ctx.session, response.instrument_version_id).items_for(response.role))
    heading = ctx.t._(
        "From the %(n)s of %(total)s statements you answered before the round closed:",
        n=answered,
        total=total,
    )
    return [Reply(heading), *feedback.render(ctx, response, just_completed=False)]


def register(registry: Registry) -> None:
    registry.action(RESULT_ACTION)(partial_result)
