"""A unit's subunits rolled up: a region or a municipality sees its units side by side and in total.

The total is made of what each unit shows (its published result, bot/results/reports.py), never of
their answers: per area, the respondents, sum and sum of squares of the units' shown figures are
added. So anything a reader can work out from the total, or from the total minus some units, they
could already work out from the units' own results, which the anonymity rules keep safe; a unit
below its threshold (or withdrawn) adds nothing, and "the region minus its other units" is never a
small unit. Only the units the reader may see are rolled up (the others would be the difference).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.permissions import descendants
from bot.results.reports import AreaResult, Stat, UnitReport, stat_from_sums, unit_report
from instruments.schema import Instrument
from storage.models import InstrumentVersion, Round, RoundUnit, Unit


@dataclass(frozen=True)
class RollUp:
    unit_id: int
    unit_name: str
    round_id: int
    round_name: str
    instrument: Instrument
    members: tuple[UnitReport, ...]  # every unit of the tree in the round the reader may see
    areas: tuple[AreaResult, ...]  # the total, with the change since the tree's previous round
    previous_round_name: str | None = None

    @property
    def shown(self) -> tuple[UnitReport, ...]:
        return tuple(m for m in self.members if m.shown)

    @property
    def respondents(self) -> int:
        return sum(m.published for m in self.shown)


def _sums(stat: Stat) -> tuple[float, float, float]:
    """A shown figure back as (n, sum, sum of squares), which add across units."""
    total = stat.n * stat.mean
    spread = stat.sd or 0.0
    return float(stat.n), total, spread * spread * (stat.n - 1) + total * total / stat.n


def total_areas(instrument: Instrument, members: Iterable[UnitReport]) -> dict[str, Stat]:
    """Per area, the units' shown figures added up."""
    added: dict[str, tuple[float, float, float]] = {}
    for member in members:
        for area in member.areas:
            n, total, squares = _sums(area.stat)
            before = added.get(area.area_id, (0.0, 0.0, 0.0))
            added[area.area_id] = (before[0] + n, before[1] + total, before[2] + squares)
    return {
        a.id: stat_from_sums(int(added[a.id][0]), added[a.id][1], added[a.id][2])
        for a in instrument.areas
        if a.id in added
    }


def tree_rounds(session: Session, unit_id: int) -> list[Round]:
    """The rounds any unit below `unit_id` (or the unit itself) took part in, latest first."""
    tree = descendants(session, {unit_id})
    return list(
        session.scalars(
            select(Round)
            .where(Round.id.in_(select(RoundUnit.round_id).where(RoundUnit.unit_id.in_(tree))))
            .order_by(Round.opens_at.desc(), Round.id.desc())
        )
    )


def has_subunits_in(session: Session, unit_id: int, round_id: int) -> bool:
    below = descendants(session, {unit_id}) - {unit_id}
    return bool(
        below
        and session.scalar(
            select(RoundUnit.unit_id)
            .where(RoundUnit.round_id == round_id, RoundUnit.unit_id.in_(below))
            .limit(1)
        )
    )


def _members(session: Session, unit_id: int, round_id: int, visible: set[int]) -> list[UnitReport]:
    tree = descendants(session, {unit_id}) & visible
    in_round = session.scalars(
        select(RoundUnit.unit_id)
        .join(Unit, Unit.id == RoundUnit.unit_id)
        .where(RoundUnit.round_id == round_id, RoundUnit.unit_id.in_(tree))
        .order_by(Unit.name)
    )
    return [unit_report(session, member, round_id) for member in in_round]


def _previous(session: Session, unit_id: int, round_: Round) -> Round | None:
    """The tree's latest earlier round of the same instrument."""
    instrument_of = select(InstrumentVersion.instrument_id).where(
        InstrumentVersion.id == round_.instrument_version_id
    )
    same = set(
        session.scalars(
            select(InstrumentVersion.id).where(
                InstrumentVersion.instrument_id == instrument_of.scalar_subquery()
            )
        )
    )
    earlier = [
        r
        for r in tree_rounds(session, unit_id)
        if r.id != round_.id and r.instrument_version_id in same and r.opens_at < round_.opens_at
    ]
    return earlier[0] if earlier else None


def roll_up(session: Session, unit_id: int, round_: Round, visible: set[int]) -> RollUp:
    """The tree below `unit_id` in the round, as far as the reader may see it."""
    unit = session.get(Unit, unit_id)
    assert unit is not None
    members = _members(session, unit_id, round_.id, visible)
    instrument = members[0].instrument
    now = total_areas(instrument, (m for m in members if m.shown))
    previous = _previous(session, unit_id, round_)
    before: dict[str, Stat] = {}
    if previous is not None:
        earlier = _members(session, unit_id, previous.id, visible)
        before = total_areas(instrument, (m for m in earlier if m.shown))
    areas = tuple(
        AreaResult(area, stat, stat.mean - before[area].mean if area in before else None)
        for area, stat in now.items()
    )
    return RollUp(
        unit_id=unit_id,
        unit_name=unit.name,
        round_id=round_.id,
        round_name=round_.name or str(round_.id),
        instrument=instrument,
        members=tuple(members),
        areas=areas,
        previous_round_name=(previous.name or str(previous.id)) if previous and before else None,
    )
