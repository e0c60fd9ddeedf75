"""The personal result a person sees on completing an assessment, and again with `results`."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands import Context
from bot.directory import catalogue
from bot.directory.people import first_name
from bot.messages import Image, Reply
from bot.results import charts
from bot.results.scoring import AreaScore, Result, area_scores, summarise
from instruments.schema import Instrument, pick
from storage.models import Answer, AnswerKind, Response, ResponseStatus


def answer_values(session: Session, response_id: int) -> dict[str, int | None]:
    rows = session.execute(
        select(Answer.item_code, Answer.kind, Answer.value).where(Answer.response_id == response_id)
    ).all()
    return {code: value if kind is AnswerKind.VALUE else None for code, kind, value in rows}


def previous_response(session: Session, response: Response, instrument_id: str) -> Response | None:
    """The person's latest completed response to the same instrument before this one."""
    if response.person_id is None:
        return None
    from storage.models import InstrumentVersion

    return session.scalar(
        select(Response)
        .join(InstrumentVersion, InstrumentVersion.id == Response.instrument_version_id)
        .where(
            Response.person_id == response.person_id,
            Response.status == ResponseStatus.COMPLETED,
            Response.id != response.id,
            InstrumentVersion.instrument_id == instrument_id,
            Response.completed_at <= (response.completed_at or response.started_at),
        )
        .order_by(Response.completed_at.desc())
        .limit(1)
    )


def result_of(session: Session, response: Response) -> tuple[Instrument, Result, Response | None]:
    instrument = catalogue.load(session, response.instrument_version_id)
    previous = previous_response(session, response, instrument.id)
    before: tuple[AreaScore, ...] | None = None
    if previous is not None:
        before_instrument = catalogue.load(session, previous.instrument_version_id)
        before = area_scores(before_instrument, previous.role, answer_values(session, previous.id))
    result = summarise(instrument, response.role, answer_values(session, response.id), before)
    return instrument, result, previous


def render(ctx: Context, response: Response, *, just_completed: bool) -> list[Reply]:
    t = ctx.t
    instrument, result, previous = result_of(ctx.session, response)
    lines: list[str] = []
    name = first_name(ctx.person)
    if just_completed:
        lines.append(t._("Done! Thank you, %(name)s.", name=name) if name else t._("Done! Thank you."))
    lines.append(t._("Your result for %(title)s:", title=pick(instrument.title, t.locale)))
    since = t.date(previous.completed_at.date(), "day_month") if previous and previous.completed_at else ""
    for score in result.areas:
        area = instrument.area(score.area_id)
        title = pick(area.title if area else None, t.locale)
        if score.mean is None or score.level is None:
            lines.append(t._("• %(area)s: no answers", area=title))
            continue
        line = t._(
            "• %(area)s %(mean)s – %(level)s",
            area=title,
            mean=t.number(score.mean),
            level=pick(score.level.title, t.locale).lower(),
        )
        if score.area_id in result.change:
            line += " " + t._(
                "(%(change)s since %(date)s)", change=t.signed(result.change[score.area_id]), date=since
            )
        lines.append(line)
    titles = {a.id: pick(a.title, t.locale) for a in instrument.areas}
    if result.strengths:
        lines.append(t._("Strengths: %(areas)s.", areas=", ".join(titles[a] for a in result.strengths)))
    if result.development:
        lines.append(t._("To develop: %(areas)s.", areas=", ".join(titles[a] for a in result.development)))
    if result.all_the_same:
        lines.append(
            t._("All your areas came out the same, so none stands out as a strength or as one to develop.")
        )
    if result.actions:
        lines.append(t._("Suggestions:"))
        lines.extend(f"{i}) {pick(a.text, t.locale)}" for i, a in enumerate(result.actions, start=1))
    # The change is only given for areas scored both times, so "now minus change" is last time's mean.
    now_means = {a.area_id: a.mean for a in result.areas if a.mean is not None}
    previous_means = {a: now_means[a] - delta for a, delta in result.change.items() if a in now_means}
    chart = partial(charts.personal_chart, t, instrument, result, previous_means or None)
    day = (response.completed_at or ctx.now).date().isoformat()
    return [Reply("\n".join(lines), image=Image(f"result-{day}.png", chart, t._("Your result")))]
