"""Unit results: aggregates of one unit's answers in one round, safe to share.

`unit_report(session, unit_id, round_id)` returns a frozen `UnitReport` that the text summary,
the charts and every export are made from, so all of them show exactly the same (safe) numbers.

How the numbers are made:
- Per statement: count, sum and sum of squares of the answered values (skips and "not applicable"
  are not low answers and are left out) and the count per scale point, skip and "not applicable".
- Per area: each respondent's mean over the statements they answered in the area (as in the
  personal result), then the mean and spread of those per-person means across respondents.
- Spread is the sample standard deviation (n - 1), computed from the sum and the sum of squares,
  which SQLite can do too (it has no STDDEV).
- The sums are made in SQL one step of rule 2 at a time (bot/results/step_sums.py) and the rules below are
  applied step after step (bot/results/publication.py). Since the result moves only when a step fills, it
  is worked out then and kept (bot/results/publication_store.py): a report reads the kept result in one
  round trip, after checking that it was made from exactly the unit's first responses, and
  otherwise makes it from the answers. Either way the figures are the same (floats to the last
  bits: sums added in another order).

Anonymity (every rule below has a test in tests/test_reports.py):
1. Threshold: no mean, spread, distribution or chart of fewer than `Round.threshold` respondents
   is ever produced; below it the report only says how many have answered.
2. Differencing: a result that changes with every new response would let anyone who sees it
   before and after one more response compute that response. So results are published in
   steps: when `threshold` completed responses wait, they become the unit's next step together
   (bot/results/publication_store.seal), and a step never changes; the result is made of the
   steps, so it only grows, by whole steps, in completion order, and a response that completes
   later can never push a published one out. The same check is applied to each statement, area
   and group: a cell is shown at a step only if its count grew by 0 or by at least `threshold`
   since the last step at which it was shown (skips make a statement's count grow by less than
   the unit's). A figure that may not move keeps showing its last safe value, so nothing
   flickers in and out, and nothing new can be derived from it. Responses waiting for their
   step are counted as answered but never enter a result; that is the price of rule 2.
3. Complementary groups: a split (by a background question, or by role for "whose view") is
   shown only when every group in it, including "did not answer", is empty or at or above the
   threshold at this step and the step rule holds for every group. Per area, the groups'
   figures are shown only when none of them is hidden, the unit's figure for the area is
   current, and the rest ("total minus the shown groups") is none or at least `threshold`.
4. Earlier views: a group's figure minus the unit's figure seen at an earlier step leaves that
   group's newcomers since then and the other groups' members before. So an area's group figures
   are shown only while every group grew by 0 or by at least `threshold` between any two moments
   the area was seen; once not, they stay hidden in that round.
5. Erasure: when someone in the published set erases their data, the unit's figures are
   withdrawn, and each comes back only once at least `threshold` new respondents count in it
   (bot/results/publication.py, `may_move`): a recomputed result less one person would be
   exactly their answers.
6. Free text: responses carry no free-text comments today; should they come, they must go
   through `may_show_comments`, which applies the same threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.commands import digits
from bot.directory import catalogue
from bot.results import publication_store
from bot.results.publication import Partition, Publication, Sums
from instruments.schema import Instrument
from storage.models import Round, RoundUnit, Unit

# ---------------------------------------------------------------- the result


@dataclass(frozen=True)
class Stat:
    """Mean and spread of `n` values (spread None for a single value)."""

    n: int
    mean: float
    sd: float | None


@dataclass(frozen=True)
class StatementResult:
    code: str
    area_id: str
    stat: Stat
    # Respondents per scale point, 1..points, then those who skipped or said "not applicable".
    distribution: tuple[int, ...]
    skipped: int
    not_applicable: int


@dataclass(frozen=True)
class AreaResult:
    area_id: str
    stat: Stat
    # Change in mean since the unit's previous round of the same instrument (None if not comparable).
    change: float | None = None


@dataclass(frozen=True)
class GroupResult:
    """One group of a split (a background option or an instrument role) and its area means."""

    key: str
    n: int
    areas: Mapping[str, Stat] = field(default_factory=dict)


@dataclass(frozen=True)
class Split:
    question_id: str
    groups: tuple[GroupResult, ...]


@dataclass(frozen=True)
class RoleGap:
    """Where two roles see an area most differently (`high` rates it higher than `low`)."""

    area_id: str
    high: str
    low: str
    difference: float


@dataclass(frozen=True)
class UnitReport:
    unit_id: int
    unit_name: str
    round_id: int
    round_name: str
    instrument: Instrument
    threshold: int
    invited: int
    completed: int
    # How many responses the published result is based on (whole steps, see rule 2).
    published: int
    steps: int = 0
    # The figures were withdrawn: someone in the published set erased their data, and no whole new
    # step has completed since.
    withdrawn: bool = False
    areas: tuple[AreaResult, ...] = ()
    statements: tuple[StatementResult, ...] = ()
    splits: tuple[Split, ...] = ()
    roles: tuple[GroupResult, ...] = ()
    role_gaps: tuple[RoleGap, ...] = ()
    previous_round_name: str | None = None

    @property
    def shown(self) -> bool:
        """Whether there is any result to show (enough respondents, not withdrawn)."""
        return bool(self.areas or self.statements)

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.invited if self.invited else None

    def weakest(self, limit: int | None = None) -> tuple[StatementResult, ...]:
        """Statements by mean, lowest first (ties in the instrument's order): the workshop's agenda."""
        order = {s.code: i for i, s in enumerate(self.statements)}
        ranked = sorted(self.statements, key=lambda s: (s.stat.mean, order[s.code]))
        return tuple(ranked if limit is None else ranked[:limit])

    def area(self, area_id: str) -> AreaResult | None:
        return next((a for a in self.areas if a.area_id == area_id), None)


def may_show_comments(n: int, threshold: int) -> bool:
    """Free-text comments of a group are shown only for groups at or above the threshold."""
    return n >= threshold


class ReportNotFound(LookupError):
    """The unit or round does not exist, or the unit was not part of the round."""


# ---------------------------------------------------------------- statistics from sums


def stat_from_sums(n: int, total: float, squares: float) -> Stat:
    mean = total / n
    if n < 2:
        return Stat(n, mean, None)
    variance = max(0.0, (squares - total * total / n) / (n - 1))
    return Stat(n, mean, math.sqrt(variance))


def _stat(sums: Sums) -> Stat:
    return stat_from_sums(int(sums[0]), float(sums[1]), float(sums[2]))


# ---------------------------------------------------------------- the report


def unit_report(session: Session, unit_id: int, round_id: int) -> UnitReport:
    """The unit's result in the round; everything in it is safe to show to those allowed to see it."""
    found = publication_store.head(session, round_id, unit_id)
    if found is None:
        raise ReportNotFound(f"no unit {unit_id} or round {round_id}")
    instrument = catalogue.load(session, found.version_id, checksum=found.checksum)
    base = UnitReport(
        unit_id=unit_id,
        unit_name=found.unit_name,
        round_id=round_id,
        round_name=found.round_name,
        instrument=instrument,
        threshold=found.threshold,
        invited=max(found.invited, found.completed),
        completed=found.completed,
        published=found.published,
        steps=found.steps,
    )
    if found.steps == 0:
        return base
    publication = publication_store.current(session, found, instrument)
    if publication.withdrawn:
        return replace(base, withdrawn=True)
    area_stats = _areas(instrument, publication)
    before, previous_name = _previous_areas(session, found)
    change = {a: area_stats[a].mean - before[a].mean for a in area_stats if a in before}
    roles = _groups(instrument, publication.roles, instrument.roles)
    return replace(
        base,
        areas=tuple(
            AreaResult(a.id, area_stats[a.id], change.get(a.id))
            for a in instrument.areas
            if a.id in area_stats
        ),
        statements=_statements(instrument, publication),
        splits=_splits(instrument, publication),
        roles=roles,
        role_gaps=role_gaps(roles),
        previous_round_name=previous_name if change else None,
    )


def _statements(instrument: Instrument, publication: Publication) -> tuple[StatementResult, ...]:
    points = instrument.scale.points
    results = []
    for area in instrument.areas:
        for item in area.items:
            figure = publication.statements.get(item.code)
            if figure is None or figure.shown is None:
                continue
            # n, sum, sum of squares, then the count per scale point, skipped, "not applicable".
            shown = figure.shown
            results.append(
                StatementResult(
                    code=item.code,
                    area_id=area.id,
                    stat=_stat(figure.shown),
                    distribution=tuple(map(int, shown[3 : 3 + points])),
                    skipped=int(shown[3 + points]),
                    not_applicable=int(shown[4 + points]),
                )
            )
    return tuple(results)


def _areas(instrument: Instrument, publication: Publication) -> dict[str, Stat]:
    out: dict[str, Stat] = {}
    for area in instrument.areas:
        figure = publication.areas.get(area.id)
        if figure is not None and figure.shown is not None:
            out[area.id] = _stat(figure.shown)
    return out


def _previous_areas(session: Session, found: publication_store.Head) -> tuple[dict[str, Stat], str | None]:
    """The area means of the unit's previous round of the same instrument, as they were published
    there (its own threshold and steps), and that round's name."""
    if found.previous_round_id is None:
        return {}, None
    previous = publication_store.head(session, found.previous_round_id, found.unit_id)
    if previous is None or previous.steps == 0:
        return {}, None
    instrument = catalogue.load(session, previous.version_id, checksum=previous.checksum)
    return _areas(instrument, publication_store.current(session, previous, instrument)), previous.round_name


def _groups(instrument: Instrument, partition: Partition, order: Sequence[str]) -> tuple[GroupResult, ...]:
    """A split's groups as last shown, in the instrument's order; a split needs two groups."""
    rank = {key: i for i, key in enumerate(order)}
    results = []
    for key, n, sums in partition.shown_groups():
        areas = {a.id: _stat(sums[a.id]) for a in instrument.areas if a.id in sums}
        if areas:
            results.append(GroupResult(key, n, areas))
    results.sort(key=lambda g: (rank.get(g.key, len(rank)), g.key))
    return tuple(results) if len(results) >= 2 else ()


def _splits(instrument: Instrument, publication: Publication) -> tuple[Split, ...]:
    """Area means by background question, for the questions whose split may be shown."""
    splits = []
    for question in instrument.background:
        partition = publication.splits.get(question.id)
        if question.id == instrument.role_question or partition is None:
            continue
        groups = _groups(instrument, partition, [o.id for o in question.options])
        if groups:
            splits.append(Split(question.id, groups))
    return tuple(splits)


def role_gaps(roles: Iterable[GroupResult]) -> tuple[RoleGap, ...]:
    """Per area, the highest and the lowest role mean, largest difference first."""
    groups = list(roles)
    gaps = []
    area_ids = {a for g in groups for a in g.areas}
    for area_id in area_ids:
        means = [(g.areas[area_id].mean, g.key) for g in groups if area_id in g.areas]
        if len(means) < 2:
            continue
        high, low = max(means), min(means)
        gaps.append(RoleGap(area_id, high[1], low[1], high[0] - low[0]))
    return tuple(sorted(gaps, key=lambda g: (-g.difference, g.area_id)))


# ---------------------------------------------------------------- finding units and rounds


def rounds_of_unit(session: Session, unit_id: int) -> list[Round]:
    """The unit's rounds, latest first."""
    return list(
        session.scalars(
            select(Round)
            .join(RoundUnit, RoundUnit.round_id == Round.id)
            .where(RoundUnit.unit_id == unit_id)
            .order_by(Round.opens_at.desc(), Round.id.desc())
        )
    )


def find_unit(session: Session, word: str) -> Unit | None:
    """A unit by exact name (case-insensitive) or by id."""
    unit = session.scalar(select(Unit).where(func.lower(Unit.name) == word.lower()))
    if unit is None and digits(word.lstrip("#")):
        unit = session.get(Unit, int(word.lstrip("#")))
    return unit


def find_round(session: Session, unit_id: int, word: str) -> Round | None:
    """One of the unit's rounds by id or by what it is called (case-insensitive); the latest of
    several called the same."""
    rounds = rounds_of_unit(session, unit_id)
    by_id = next((r for r in rounds if word.lstrip("#") == str(r.id)), None)
    return by_id or next((r for r in rounds if catalogue.round_called(session, r, word)), None)


def latest_round(session: Session, unit_id: int, now: datetime | None = None) -> Round | None:
    rounds = rounds_of_unit(session, unit_id)
    if now is not None:
        rounds = [r for r in rounds if r.opens_at <= now] or rounds
    return rounds[0] if rounds else None


def latest_shown_report(session: Session, unit_id: int) -> UnitReport | None:
    """The unit's result in its latest round that has one to show (what `plan` suggests from)."""
    for round_ in rounds_of_unit(session, unit_id):
        report = unit_report(session, unit_id, round_.id)
        if report.shown:
            return report
    return None
