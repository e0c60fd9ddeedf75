"""The change a pulse check shows: on exactly the statements the pulse round asked, the published
mean in the round it follows up and in the pulse, each from `unit_report` (the one definition), so
the change shows nothing that either published result does not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import Translator
from bot.results.reports import ReportNotFound, UnitReport, unit_report
from instruments.schema import pick
from storage.models import Round, RoundUnit


@dataclass(frozen=True)
class Change:
    """One prioritised statement: its published mean in the round followed up and in the pulse."""

    code: str
    before: float
    now: float

    @property
    def difference(self) -> float:
        return self.now - self.before


def changes(session: Session, report: UnitReport) -> list[Change]:
    """For a pulse round's report: the change on exactly its statements, where both rounds show one."""
    pulse = session.get(Round, report.round_id)
    if pulse is None or pulse.pulse_of_round_id is None or not pulse.items or not report.shown:
        return []
    try:
        before = unit_report(session, report.unit_id, pulse.pulse_of_round_id)
    except ReportNotFound:
        return []
    earlier = {s.code: s.stat.mean for s in before.statements}
    current = {s.code: s.stat.mean for s in report.statements}
    return [
        Change(code, earlier[code], current[code])
        for code in pulse.items
        if code in earlier and code in current
    ]


def change_lines(t: Translator, report: UnitReport, found: Sequence[Change], since: str) -> list[str]:
    if not found:
        return []
    lines = [t._("Since %(round)s, on the statements we chose:", round=since)]
    for change in found:
        item = report.instrument.item(change.code)
        text = pick(item.text if item else None, t.locale)
        lines.append(
            t._(
                "• %(code)s %(text)s %(before)s → %(now)s (%(change)s)",
                code=change.code,
                text=text,
                before=t.number(change.before),
                now=t.number(change.now),
                change=t.signed(change.difference),
            )
        )
    return lines


def latest_pulse(session: Session, unit_id: int) -> Round | None:
    """The unit's latest pulse round."""
    return session.scalar(
        select(Round)
        .join(RoundUnit, RoundUnit.round_id == Round.id)
        .where(RoundUnit.unit_id == unit_id, Round.pulse_of_round_id.is_not(None))
        .order_by(Round.opens_at.desc(), Round.id.desc())
        .limit(1)
    )


def pulse_lines(session: Session, t: Translator, report: UnitReport) -> list[str]:
    """The change lines for a pulse round's report (none for any other round)."""
    pulse = session.get(Round, report.round_id)
    if pulse is None or pulse.pulse_of_round_id is None:
        return []
    followed = session.get(Round, pulse.pulse_of_round_id)
    since = (followed.name or str(followed.id)) if followed is not None else "?"
    return change_lines(t, report, changes(session, report), since)
