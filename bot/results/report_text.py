"""The unit result in words: the summary a principal reads in the chat, the workshop pack prints
and "You said, we did" sends to staff. Everything comes from a `UnitReport`, which holds only what
may be shown."""

from __future__ import annotations

from bot.i18n import Translator
from bot.results.charts import role_title
from bot.results.reports import AreaResult, UnitReport
from bot.results.roll_up import RollUp
from instruments.schema import Instrument, pick


def round_label(t: Translator, report: UnitReport | RollUp) -> str:
    """The round's name, or for a round opened without one the instrument's title (not "2")."""
    if report.round_name == str(report.round_id):
        return pick(report.instrument.title, t.locale)
    return report.round_name


def headline(t: Translator, report: UnitReport) -> str:
    """`Ystad library · Round "Autumn 2026" · 15 of 16 answered (94 %)`."""
    rate = report.completion_rate
    line = t._(
        '%(unit)s · Round "%(round)s" · %(done)s of %(invited)s answered',
        unit=report.unit_name,
        round=round_label(t, report),
        done=report.completed,
        invited=report.invited,
    )
    return f"{line} ({t.percent(rate)})" if rate is not None else line


def anonymity_note(t: Translator, report: UnitReport) -> str | None:
    if report.withdrawn:
        return t._(
            "The unit result is withdrawn for now: someone it was based on has deleted their data. "
            "It comes back when %(n)s more people have answered, so that nobody's answers can be "
            "worked out from the difference.",
            n=report.threshold,
        )
    if not report.shown:
        return t._(
            "There is no unit result yet: to keep answers anonymous it is shown from %(n)s answers on.",
            n=report.threshold,
        )
    if report.published < report.completed:
        return t._(
            "The result is based on the first %(published)s answers. It is updated for every %(n)s new "
            "answers, so that no single answer can be worked out.",
            published=report.published,
            n=report.threshold,
        )
    return None


def area_lines(t: Translator, report: UnitReport) -> list[str]:
    return [_area_line(t, report.instrument, a, report.previous_round_name) for a in report.areas]


def _area_line(t: Translator, instrument: Instrument, result: AreaResult, previous: str | None) -> str:
    area = instrument.area(result.area_id)
    title = pick(area.title if area else None, t.locale)
    stat = result.stat
    if stat.sd is not None:
        line = t._(
            "• %(area)s %(mean)s (spread %(sd)s)",
            area=title,
            mean=t.number(stat.mean),
            sd=t.number(stat.sd),
        )
    else:
        line = t._("• %(area)s %(mean)s", area=title, mean=t.number(stat.mean))
    if result.change is not None and previous:
        line += " " + t._("(%(change)s since %(round)s)", change=t.signed(result.change), round=previous)
    return line


def whose_view_lines(t: Translator, report: UnitReport) -> list[str]:
    if not report.roles:
        return []
    instrument = report.instrument
    titles = {a.id: pick(a.title, t.locale) for a in instrument.areas}
    lines = [t._("Whose view:")]
    for group in report.roles:
        means = ", ".join(f"{titles[a]} {t.number(group.areas[a].mean)}" for a in titles if a in group.areas)
        lines.append(f"• {role_title(instrument, group.key, t.locale)} ({group.n}): {means}")
    if report.role_gaps:
        gap = report.role_gaps[0]
        high = next(g for g in report.roles if g.key == gap.high)
        low = next(g for g in report.roles if g.key == gap.low)
        lines.append(
            t._(
                "The views differ most on %(area)s: %(high)s %(high_mean)s, %(low)s %(low_mean)s.",
                area=titles[gap.area_id],
                high=role_title(instrument, gap.high, t.locale),
                high_mean=t.number(high.areas[gap.area_id].mean),
                low=role_title(instrument, gap.low, t.locale),
                low_mean=t.number(low.areas[gap.area_id].mean),
            )
        )
    return lines


def split_lines(t: Translator, report: UnitReport) -> list[str]:
    instrument = report.instrument
    titles = {a.id: pick(a.title, t.locale) for a in instrument.areas}
    lines = []
    for split in report.splits:
        question = instrument.background_question(split.question_id)
        lines.append(t._("By %(question)s", question=pick(question.text if question else None, t.locale)))
        for group in split.groups:
            option = question.option(group.key) if question else None
            means = ", ".join(
                f"{titles[a]} {t.number(group.areas[a].mean)}" for a in titles if a in group.areas
            )
            lines.append(
                f"• {pick(option.text if option else None, t.locale) or group.key} ({group.n}): {means}"
            )
    return lines


def weakest_lines(t: Translator, report: UnitReport, limit: int = 5) -> list[str]:
    weakest = report.weakest(limit)
    if not weakest:
        return []
    lines = [t._("Weakest statements (for the workshop):")]
    for statement in weakest:
        item = report.instrument.item(statement.code)
        text = pick(item.text if item else None, t.locale)
        lines.append(f"{statement.code} {text} ({t.number(statement.stat.mean)})")
    return lines


def summary(t: Translator, report: UnitReport, *, weakest: int = 5) -> str:
    lines = [headline(t, report)]
    note = anonymity_note(t, report)
    if note:
        lines.append(note)
    if report.shown:
        lines.extend(area_lines(t, report))
        for block in (whose_view_lines(t, report), split_lines(t, report), weakest_lines(t, report, weakest)):
            if block:
                lines.append("")
                lines.extend(block)
    return "\n".join(lines)


def roll_up_summary(t: Translator, rolled: RollUp) -> str:
    """A region's units in a round: the total, then each unit side by side."""
    lines = [t._('%(unit)s · Round "%(round)s"', unit=rolled.unit_name, round=round_label(t, rolled))]
    shown = rolled.shown
    if not shown:
        lines.append(
            t._("No unit of %(unit)s has a result to show in this round yet.", unit=rolled.unit_name)
        )
    else:
        lines.append(
            t._(
                "Total of %(n)s answers in %(shown)s of %(units)s units:",
                n=rolled.respondents,
                shown=len(shown),
                units=len(rolled.members),
            )
        )
        lines.extend(_area_line(t, rolled.instrument, a, rolled.previous_round_name) for a in rolled.areas)
    lines.append("")
    lines.append(t._("Side by side:"))
    titles = {a.id: pick(a.title, t.locale) for a in rolled.instrument.areas}
    for member in rolled.members:
        if member.shown:
            means = ", ".join(f"{titles[a.area_id]} {t.number(a.stat.mean)}" for a in member.areas)
            lines.append(
                t._(
                    "• %(unit)s: %(means)s (%(n)s answers)",
                    unit=member.unit_name,
                    means=means,
                    n=member.published,
                )
            )
        elif member.withdrawn:
            lines.append(t._("• %(unit)s: withdrawn for now", unit=member.unit_name))
        else:
            lines.append(
                t._(
                    "• %(unit)s: no result yet (it is shown from %(n)s answers on)",
                    unit=member.unit_name,
                    n=member.threshold,
                )
            )
    return "\n".join(lines)
