"""What a workshop says in the chat: the statement with its distribution, votes and timer, the
time-up notice, the ranking at the end. Everything is made from the unit's published `UnitReport`
(the figures `unit results` shows), a workshop's stored state and the clock."""

from __future__ import annotations

from datetime import datetime

from bot.follow_up.working_time import zone
from bot.i18n import Translator
from bot.messages import Choice, Reply
from bot.results.reports import StatementResult, UnitReport
from bot.workshop import agenda
from instruments.schema import pick
from storage.models import Workshop


def statement_of(report: UnitReport, code: str) -> StatementResult | None:
    return next((s for s in report.statements if s.code == code), None)


def statement_title(t: Translator, report: UnitReport, code: str) -> str:
    item = report.instrument.item(code)
    return f"{code} {pick(item.text if item else None, t.locale)}"


def distribution_line(t: Translator, report: UnitReport, statement: StatementResult) -> str:
    points = " · ".join(f"{p}: {n}" for p, n in enumerate(statement.distribution, start=1))
    rest = t._(
        "skipped: %(skipped)s · not applicable: %(na)s",
        skipped=statement.skipped,
        na=statement.not_applicable,
    )
    return t._("Answers: %(points)s · %(rest)s", points=points, rest=rest)


def clock_time(moment: datetime, tz: str) -> str:
    return moment.astimezone(zone(tz)).strftime("%H:%M")


def timer_line(t: Translator, timing: agenda.Timing, now: datetime, tz: str) -> str:
    if timing.paused:
        left = round(agenda.time_left(timing, now) / 60, 1)
        return t._("⏸ Paused, %(left)s min left.", left=t.number(left))
    end = agenda.ends_at(timing, now)
    assert end is not None
    if end <= now:
        return t._("⏰ Time is up.")
    if agenda.settle(timing, now).elapsed >= 1:  # resumed, or shown again part way
        left = round(agenda.time_left(timing, now) / 60, 1)
        return t._("⏱ %(left)s min left, until %(time)s.", left=t.number(left), time=clock_time(end, tz))
    return t.ngettext(
        "⏱ %(n)s minute, until %(time)s.",
        "⏱ %(n)s minutes, until %(time)s.",
        timing.minutes,
        time=clock_time(end, tz),
    )


def statement_reply(
    t: Translator,
    report: UnitReport,
    workshop: Workshop,
    position: int,
    *,
    votes: int,
    timing: agenda.Timing | None,
    now: datetime,
    tz: str,
    edit: bool = False,
) -> Reply:
    """Statement `position` of the agenda: its area, text, published distribution, the timer when
    it is the one being discussed, and the buttons (a priority vote, and back, pause, next)."""
    code = workshop.agenda[position]
    statement = statement_of(report, code)
    area = report.instrument.area(statement.area_id) if statement else None
    lines = [
        t._(
            "Statement %(n)s/%(total)s · %(area)s",
            n=position + 1,
            total=len(workshop.agenda),
            area=pick(area.title if area else None, t.locale),
        ),
        statement_title(t, report, code),
    ]
    if statement is not None:
        lines.append(
            t.ngettext(
                "Mean %(mean)s · %(n)s answer",
                "Mean %(mean)s · %(n)s answers",
                statement.stat.n,
                mean=t.number(statement.stat.mean),
            )
        )
        lines.append(distribution_line(t, report, statement))
    if timing is not None:
        lines.append(timer_line(t, timing, now, tz))
    lines.append(t._("Reply to this message to add a note."))
    return Reply(
        "\n".join(lines),
        statement_buttons(t, workshop, code, votes),
        edit=edit,
        anchor=f"ws:{workshop.id}:{code}",
    )


def statement_buttons(
    t: Translator, workshop: Workshop, code: str, votes: int
) -> tuple[tuple[Choice, ...], ...]:
    seq = workshop.seq
    return (
        (Choice(t._("⭐ A priority for us (%(n)s)", n=votes), f"wv:{workshop.id}:{code}"),),
        (
            Choice(t._("◀ Back"), f"wm:{workshop.id}:{seq}:back"),
            Choice(t._("⏸ Pause"), f"wm:{workshop.id}:{seq}:pause"),
            Choice(t._("Next ▶"), f"wm:{workshop.id}:{seq}:next"),
        ),
    )


def time_up(t: Translator, report: UnitReport, workshop: Workshop, position: int, moves_on: bool) -> Reply:
    title = statement_title(t, report, workshop.agenda[position])
    if moves_on:
        return Reply(t._("⏰ Time is up: %(statement)s On to the next statement.", statement=title))
    if position + 1 >= len(workshop.agenda):
        return Reply(
            t._(
                "⏰ Time is up: %(statement)s That was the last statement. Write workshop end to see the priorities.",
                statement=title,
            ),
            ((Choice(t._("End the workshop"), f"wm:{workshop.id}:{workshop.seq}:end"),),),
        )
    return Reply(
        t._("⏰ Time is up: %(statement)s", statement=title),
        ((Choice(t._("Next ▶"), f"wm:{workshop.id}:{workshop.seq}:next"),),),
    )


def ranking_lines(t: Translator, report: UnitReport, ranked: list[tuple[str, int]]) -> list[str]:
    return [
        t.ngettext(
            "%(rank)s) %(statement)s (%(n)s vote)",
            "%(rank)s) %(statement)s (%(n)s votes)",
            n,
            rank=rank,
            statement=statement_title(t, report, code),
        )
        for rank, (code, n) in enumerate(ranked, start=1)
    ]
