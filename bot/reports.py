"""Unit results: aggregates of one unit's answers in one round, computed in SQL, safe to share.

`unit_report(session, unit_id, round_id)` returns a frozen `UnitReport` that the text summary,
the charts and every export are made from, so all of them show exactly the same (safe) numbers.

How the numbers are made (a fixed, small number of queries, whatever the number of respondents):
- Per statement: COUNT/SUM/SUM of squares of the answered values (skips and "not applicable" are
  not low answers and are left out) and the count per scale point, skip and "not applicable", all
  per step of rule 2 below in one GROUP BY; only the steps rule 2 needs are sent back (see
  `_kept_steps`), so a unit of 40,000 respondents returns a few rows per statement, not 8,000.
- Per area: each respondent's mean over the statements they answered in the area (as in the
  personal result), then the mean and spread of those per-person means across respondents.
- Spread is the sample standard deviation (n - 1), computed from the sum and the sum of squares,
  which SQLite can do too (it has no STDDEV).

Anonymity (every rule below has a test in tests/test_reports.py):
1. Threshold: no mean, spread, distribution or chart of fewer than `Round.threshold` respondents
   is ever produced; below it the report only says how many have answered.
2. Differencing: a result that changes with every new response would let anyone who sees it
   before and after one more response compute that response. So results are published in
   steps: only the first K = floor(n / threshold) * threshold completed responses (in completion
   order) count, and the result moves only when `threshold` new responses have come in. The
   published set is a deterministic prefix, so every published state can be recomputed, and the
   same check is applied to each statement, area and group: a cell is shown at a step only if
   its count grew by 0 or by at least `threshold` since the last step at which it was shown
   (skips make a statement's count grow by less than the unit's). A figure that may not move
   keeps showing its last safe value (the one published at the last step where it was shown,
   with that step's n), so nothing flickers in and out, and nothing new can be derived from it.
   The responses after the last full step are counted as answered but never enter a result;
   that is the price of rule 2.
3. Complementary groups: a split (by a background question, or by role for "whose view") is
   shown only when every group in it, including "did not answer", is empty or at or above the
   threshold at this step and the step rule holds for every group; otherwise "total minus the
   shown groups" would expose a small group.
4. Free text: responses carry no free-text comments today; should they come, they must go
   through `may_show_comments`, which applies the same threshold.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Float,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.selectable import CTE, Select, Subquery

from bot import catalogue
from instruments.schema import Instrument
from storage.models import (
    Answer,
    AnswerKind,
    BackgroundAnswer,
    InstrumentVersion,
    Response,
    ResponseStatus,
    Round,
    RoundParticipant,
    RoundUnit,
    Unit,
)

NO_ANSWER = "-"  # the group of respondents who did not answer a background question (or have no role)


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
    # How many responses the published result is based on (a multiple of the threshold, see rule 2).
    published: int
    areas: tuple[AreaResult, ...] = ()
    statements: tuple[StatementResult, ...] = ()
    splits: tuple[Split, ...] = ()
    roles: tuple[GroupResult, ...] = ()
    role_gaps: tuple[RoleGap, ...] = ()
    previous_round_name: str | None = None

    @property
    def shown(self) -> bool:
        """Whether there is any result to show (enough respondents)."""
        return self.published >= self.threshold and bool(self.areas or self.statements)

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


@dataclass
class _Cell:
    """Per-step counts and running sums of one published figure (a statement, an area, a group)."""

    counts: list[int]
    totals: list[float]
    squares: list[float]

    @classmethod
    def empty(cls, steps: int) -> _Cell:
        return cls([0] * steps, [0.0] * steps, [0.0] * steps)

    def add(self, step: int, count: int, total: Any = None, squares: Any = None) -> None:
        self.counts[step] += count
        self.totals[step] += float(total or 0)
        self.squares[step] += float(squares or 0)

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for c in self.counts:
            running += c
            out.append(running)
        return out

    def stat_through(self, step: int) -> Stat:
        """Mean and spread of everything up to and including `step`."""
        return stat_from_sums(
            sum(self.counts[: step + 1]), sum(self.totals[: step + 1]), sum(self.squares[: step + 1])
        )


def _last(shown: Sequence[bool]) -> int | None:
    """The last step at which a figure was shown: what it shows now (rule 2, "last safe value")."""
    return next((s for s in range(len(shown) - 1, -1, -1) if shown[s]), None)


def _shown_steps(
    cumulative: Sequence[int], threshold: int, allowed: Sequence[bool] | None = None
) -> list[bool]:
    """At which steps one figure may be shown (rules 1 and 2).

    Shown at step s when its count is at least the threshold and it grew by 0 or by at least the
    threshold since the last step at which it was shown. Checking against that last shown step is
    enough: counts never shrink, so anything earlier differs by at least as much.
    """
    shown: list[bool] = []
    last: int | None = None
    for s, count in enumerate(cumulative):
        ok = count >= threshold and (allowed is None or allowed[s])
        if ok and last is not None:
            grown = count - cumulative[last]
            ok = grown == 0 or grown >= threshold
        shown.append(ok)
        if ok:
            last = s
    return shown


def _partition_shown(groups: Mapping[str, Sequence[int]], threshold: int, steps: int) -> list[bool]:
    """At which steps a split may be shown (rules 1-3): every group, "no answer" included, is empty
    or at least the threshold, and every group grew by 0 or at least the threshold since the last
    shown step. Since the groups add up to the total, the complement of any shown group is then a
    union of groups that are each safe, and so is any difference between two shown steps."""
    shown: list[bool] = []
    last: int | None = None
    for s in range(steps):
        counts = [g[s] for g in groups.values()]
        ok = sum(1 for c in counts if c > 0) >= 2 and all(c == 0 or c >= threshold for c in counts)
        if ok and last is not None:
            for g in groups.values():
                grown = g[s] - g[last]
                if 0 < grown < threshold:
                    ok = False
                    break
        shown.append(ok)
        if ok:
            last = s
    return shown


# ---------------------------------------------------------------- SQL


def _item_area_cte(instrument: Instrument, name: str) -> CTE:
    """(code, area) for every statement, as a tiny CTE built from UNION ALL (portable to SQLite)."""
    rows = [
        select(literal(item.code).label("code"), literal(area.id).label("area"))
        for area in instrument.areas
        for item in area.items
    ]
    return union_all(*rows).cte(name)


def _published_cte(round_id: int, unit_id: int, threshold: int, published: int) -> CTE:
    """The first `published` completed responses in completion order, each with its step number."""
    rank = func.row_number().over(order_by=(Response.completed_at, Response.id))
    ranked = (
        select(Response.id.label("rid"), Response.role.label("role"), rank.label("rn"))
        .where(
            Response.round_id == round_id,
            Response.unit_id == unit_id,
            Response.status == ResponseStatus.COMPLETED,
        )
        .subquery("ranked")
    )
    return (
        # Integer division with the bare operator (integer / integer truncates on both databases):
        # SQLAlchemy's `//` becomes FLOOR(...) on PostgreSQL, a double that every per-step
        # GROUP BY then hashes and compares.
        select(
            ranked.c.rid,
            ranked.c.role,
            (ranked.c.rn - 1).self_group().op("/", return_type=Integer)(threshold).label("step"),
        )
        .where(ranked.c.rn <= published)
        .cte("pub")
    )


def _person_area_cte(pub: CTE, item_area: CTE) -> CTE:
    """Each published respondent's mean per area (over the statements they answered)."""
    # The step and role are carried along so that no later query joins `pub` again: PostgreSQL
    # can misjudge a join between two CTEs badly (a nested loop over CTE scans).
    return (
        select(
            Answer.response_id.label("rid"),
            func.min(pub.c.step).label("step"),
            func.min(pub.c.role).label("role"),
            item_area.c.area.label("area"),
            func.avg(cast(Answer.value, Float)).label("m"),
        )
        .join(pub, pub.c.rid == Answer.response_id)
        .join(item_area, item_area.c.code == Answer.item_code)
        .where(Answer.kind == AnswerKind.VALUE)
        # Grouped by respondent and area only (step and role are the same on all of a respondent's
        # rows, hence MIN): the narrow key lets PostgreSQL hash instead of sorting a million rows.
        .group_by(Answer.response_id, item_area.c.area)
        .cte("pa")
    )


def _cells(session: Session, query: Executable, keys: int, steps: int) -> dict[Hashable, _Cell]:
    """Run a query returning (*key, step, count[, sum, sum of squares]) into cells."""
    cells: dict[Hashable, _Cell] = {}
    for result_row in session.execute(query):
        row: tuple[Any, ...] = tuple(result_row)
        key = row[0] if keys == 1 else tuple(row[:keys])
        step, count = int(row[keys]), int(row[keys + 1])
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _Cell.empty(steps)
        if len(row) > keys + 2:
            cell.add(step, count, row[keys + 2], row[keys + 3])
        else:
            cell.add(step, count)
    return cells


def _sums(
    value: ColumnElement[Any] | InstrumentedAttribute[Any],
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    return func.sum(value), func.sum(value * value)


def _count_completed(session: Session, round_id: int, unit_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(Response.id)).where(
                Response.round_id == round_id,
                Response.unit_id == unit_id,
                Response.status == ResponseStatus.COMPLETED,
            )
        )
        or 0
    )


def published_count(completed: int, threshold: int) -> int:
    """Rule 2: results move only in whole steps of `threshold` responses."""
    return (completed // threshold) * threshold


def _area_cells(
    session: Session, round_id: int, unit_id: int, instrument: Instrument, threshold: int, published: int
) -> dict[Hashable, _Cell]:
    steps = published // threshold
    pub = _published_cte(round_id, unit_id, threshold, published)
    pa = _person_area_cte(pub, _item_area_cte(instrument, "item_area"))
    total, squares = _sums(pa.c.m)
    query = select(pa.c.area, pa.c.step, func.count(), total, squares).group_by(pa.c.area, pa.c.step)
    return _cells(session, query, 1, steps)


def _area_aggregates(
    session: Session, pub: CTE, pa: CTE, steps: int, threshold: int
) -> tuple[dict[Hashable, _SteppedFigures], dict[Hashable, _Cell], dict[Hashable, _Cell]]:
    """Per-step area figures for the unit, per role and per background answer, in one statement.

    One UNION ALL over the per-person CTE, which both databases then compute once (a CTE used
    more than once is materialised), instead of one pass over all answers for each breakdown.
    The unit's own area figures come back compressed (`_kept_steps`). Returns the unit's figures
    keyed by area, and per-step cells keyed by (role, area) and by (question, option, area).
    """
    total, squares = _sums(pa.c.m)
    blank = literal("")
    nothing = cast(literal(None), Float)
    per_step = (
        select(
            pa.c.area.label("code"),
            pa.c.step,
            func.count().label("n"),
            total.label("total"),
            squares.label("squares"),
        )
        .group_by(pa.c.area, pa.c.step)
        .subquery("area_steps")
    )
    kept = _kept_steps(per_step, ("n", "total", "squares"), threshold).subquery("kept")
    overall = select(
        literal("a"),
        blank,
        blank,
        kept.c.code,
        kept.c.step,
        kept.c.n,
        kept.c.total,
        kept.c.squares,
        kept.c.prev,
        kept.c.all_n,
        kept.c.all_total,
        kept.c.all_squares,
    )
    # Respondents without a role are never shown as a group of their own (only counted in
    # `_role_groups`' sizes), so their per-step cells are not fetched.
    by_role = (
        select(
            literal("r"),
            pa.c.role,
            blank,
            pa.c.area,
            pa.c.step,
            func.count(),
            total,
            squares,
            nothing,
            nothing,
            nothing,
            nothing,
        )
        .where(pa.c.role.is_not(None))
        .group_by(pa.c.role, pa.c.area, pa.c.step)
    )
    by_background = (
        select(
            literal("b"),
            BackgroundAnswer.question_id,
            BackgroundAnswer.option_id,
            pa.c.area,
            pa.c.step,
            func.count(),
            total,
            squares,
            nothing,
            nothing,
            nothing,
            nothing,
        )
        # Background answers are looked up for the published respondents (an index lookup per
        # respondent) before meeting the per-person CTE: joined to the CTE directly, PostgreSQL
        # could not estimate its size and scanned every background answer of every unit.
        .join(pub, pub.c.rid == BackgroundAnswer.response_id)
        .join(pa, pa.c.rid == BackgroundAnswer.response_id)
        .group_by(BackgroundAnswer.question_id, BackgroundAnswer.option_id, pa.c.area, pa.c.step)
    )
    unit: dict[Hashable, _SteppedFigures] = {}
    out: dict[str, dict[Hashable, _Cell]] = {"r": {}, "b": {}}
    for result_row in session.execute(union_all(overall, by_role, by_background)):
        kind, k1, k2, area, step, count, subtotal, subsquares, prev, all_n, all_total, all_squares = tuple(
            result_row
        )
        if kind == "a":
            figures = unit.get(area)
            if figures is None:
                figures = unit[area] = _SteppedFigures([all_n, all_total, all_squares])
            figures.rows.append((int(step), prev, [count, subtotal, subsquares]))
            continue
        key: Hashable = (k1, area) if kind == "r" else (k1, k2, area)
        cells = out[str(kind)]
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _Cell.empty(steps)
        cell.add(int(step), int(count), subtotal, subsquares)
    return unit, out["r"], out["b"]


def _final_areas(instrument: Instrument, cells: Mapping[Hashable, _Cell], threshold: int) -> dict[str, Stat]:
    out: dict[str, Stat] = {}
    for area in instrument.areas:
        cell = cells.get(area.id)
        if cell is None or not cell.counts:
            continue
        last = _last(_shown_steps(cell.cumulative(), threshold))
        if last is not None:
            out[area.id] = cell.stat_through(last)
    return out


def _published_areas(
    instrument: Instrument, figures: Mapping[Hashable, _SteppedFigures], threshold: int, steps: int
) -> dict[str, Stat]:
    out: dict[str, Stat] = {}
    for area in instrument.areas:
        cell = figures.get(area.id)
        published = cell.published(threshold, steps) if cell is not None else None
        if published is not None:
            out[area.id] = published[0]
    return out


def previous_round(session: Session, round_: Round, unit_id: int, instrument_id: str) -> Round | None:
    """The unit's latest earlier round of the same instrument (any version)."""
    return session.scalar(
        select(Round)
        .join(InstrumentVersion, InstrumentVersion.id == Round.instrument_version_id)
        .join(RoundUnit, and_(RoundUnit.round_id == Round.id, RoundUnit.unit_id == unit_id))
        .where(
            InstrumentVersion.instrument_id == instrument_id,
            Round.id != round_.id,
            Round.opens_at < round_.opens_at,
        )
        .order_by(Round.opens_at.desc(), Round.id.desc())
        .limit(1)
    )


def _plan_for_one_big_aggregation(session: Session) -> None:
    """PostgreSQL settings for this transaction only (SET LOCAL), seen on 1,000,000 answers.

    EXPLAIN ANALYZE of the area statement showed JIT compilation taking up to 1.3 s (these
    statements run once, so compiling never pays off), and the per-step aggregates of a big unit
    spilled to disk at the default 4 MB of work memory.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))


def unit_report(session: Session, unit_id: int, round_id: int) -> UnitReport:
    """The unit's result in the round; everything in it is safe to show to those allowed to see it."""
    round_ = session.get(Round, round_id)
    unit = session.get(Unit, unit_id)
    if round_ is None or unit is None:
        raise ReportNotFound(f"no unit {unit_id} or round {round_id}")
    instrument = catalogue.load(session, round_.instrument_version_id)
    threshold = max(1, round_.threshold)
    invited = int(
        session.scalar(
            select(func.count(RoundParticipant.id)).where(
                RoundParticipant.round_id == round_id, RoundParticipant.unit_id == unit_id
            )
        )
        or 0
    )
    completed = _count_completed(session, round_id, unit_id)
    invited = max(invited, completed)
    published = published_count(completed, threshold)
    base = UnitReport(
        unit_id=unit.id,
        unit_name=unit.name,
        round_id=round_.id,
        round_name=round_.name or str(round_.id),
        instrument=instrument,
        threshold=threshold,
        invited=invited,
        completed=completed,
        published=published,
    )
    if published < threshold:
        return base
    _plan_for_one_big_aggregation(session)
    steps = published // threshold
    pub = _published_cte(round_id, unit_id, threshold, published)
    item_area = _item_area_cte(instrument, "item_area")
    pa = _person_area_cte(pub, item_area)

    statements = _statements(session, instrument, pub, threshold, steps)
    overall, by_role, by_background = _area_aggregates(session, pub, pa, steps, threshold)
    area_stats = _published_areas(instrument, overall, threshold, steps)

    change: dict[str, float] = {}
    previous = previous_round(session, round_, unit_id, instrument.id)
    if previous is not None:
        before = _previous_areas(session, previous, unit_id)
        change = {a: area_stats[a].mean - before[a].mean for a in area_stats if a in before}
    areas = tuple(
        AreaResult(a.id, area_stats[a.id], change.get(a.id)) for a in instrument.areas if a.id in area_stats
    )

    roles = _role_groups(session, instrument, pub, by_role, threshold, steps)
    splits = _splits(session, instrument, pub, by_background, threshold, steps)
    return replace(
        base,
        areas=areas,
        statements=statements,
        splits=splits,
        roles=roles,
        role_gaps=role_gaps(roles),
        previous_round_name=(previous.name or str(previous.id)) if previous is not None and change else None,
    )


def _statements(
    session: Session, instrument: Instrument, pub: CTE, threshold: int, steps: int
) -> tuple[StatementResult, ...]:
    """Every statement's figures and distribution in one pass over the published answers.

    The per-step counts rule 2 needs are sent back compressed (`_kept_steps`); the distribution
    is counted per step along with them, so it needs no second pass.
    """
    points = instrument.scale.points
    is_value = Answer.kind == AnswerKind.VALUE
    per_value = [
        func.sum(case((and_(is_value, Answer.value == v), 1), else_=0)) for v in range(1, points + 1)
    ]
    per_step = (
        select(
            Answer.item_code.label("code"),
            pub.c.step.label("step"),
            func.sum(case((is_value, 1), else_=0)).label("n"),
            func.sum(case((is_value, Answer.value), else_=0)).label("total"),
            func.sum(case((is_value, Answer.value * Answer.value), else_=0)).label("squares"),
            *(c.label(f"v{v}") for v, c in enumerate(per_value, start=1)),
            func.sum(case((Answer.kind == AnswerKind.SKIP, 1), else_=0)).label("skip"),
            func.sum(case((Answer.kind == AnswerKind.NOT_APPLICABLE, 1), else_=0)).label("na"),
        )
        .join(pub, pub.c.rid == Answer.response_id)
        .group_by(Answer.item_code, pub.c.step)
        .subquery("per_step")
    )
    figures = ["n", "total", "squares", *(f"v{v}" for v in range(1, points + 1)), "skip", "na"]
    cells: dict[str, _SteppedFigures] = {}
    for row in session.execute(_kept_steps(per_step, figures, threshold)).mappings():
        code = str(row["code"])
        cell = cells.get(code)
        if cell is None:
            cell = cells[code] = _SteppedFigures([row[f"all_{f}"] or 0 for f in figures])
        cell.rows.append((int(row["step"]), row["prev"], [row[f] or 0 for f in figures]))
    shown: dict[str, Stat] = {}
    counts: dict[str, list[int]] = {}
    for code, cell in cells.items():
        published = cell.published(threshold, steps)
        if published is None or instrument.item(code) is None:
            continue
        shown[code] = published[0]
        counts[code] = [int(c) for c in published[1][3:]]
    return tuple(
        StatementResult(
            code=item.code,
            area_id=area.id,
            stat=shown[item.code],
            distribution=tuple(counts[item.code][:points]),
            skipped=counts[item.code][points],
            not_applicable=counts[item.code][points + 1],
        )
        for area in instrument.areas
        for item in area.items
        if item.code in shown
    )


def _kept_steps(per_step: Subquery, figures: Sequence[str], threshold: int) -> Select[Any]:
    """The rows of a per-step aggregate (code, step, n, other figures...) that rule 2 needs.

    A step in which the figure's count `n` grew by the full `threshold` (everyone of the step
    counts) is left out unless it follows a gap, so a big unit sends back a few rows per figure
    instead of one per step; `_SteppedFigures` rebuilds what was left out exactly. The totals over
    all steps ride along on every row as window sums.
    """
    marked = select(
        per_step,
        func.lag(per_step.c.step).over(partition_by=per_step.c.code, order_by=per_step.c.step).label("prev"),
        func.lead(per_step.c.step).over(partition_by=per_step.c.code, order_by=per_step.c.step).label("next"),
        *(func.sum(per_step.c[f]).over(partition_by=per_step.c.code).label(f"all_{f}") for f in figures),
    ).subquery("marked")
    return select(marked).where(
        (marked.c.n < threshold)
        | marked.c.prev.is_(None)
        | marked.c.next.is_(None)
        | (marked.c.prev != marked.c.step - 1)
    )


@dataclass
class _SteppedFigures:
    """One figure's compressed per-step sums (count first, e.g. count, sum, sum of squares, count
    per scale point...), as totals over all published steps plus the rows `_kept_steps` kept."""

    totals: list[Any]
    rows: list[tuple[int, Any, list[Any]]] = field(default_factory=list)

    def published(self, threshold: int, steps: int) -> tuple[Stat, list[Any]] | None:
        """Mean and spread at the last step the figure may show (rule 2), and all sums through it."""
        cumulative = self.cumulative(threshold, steps)
        last = _last(_shown_steps(cumulative, threshold))
        if last is None:
            return None
        through = self.through(last)
        return stat_from_sums(cumulative[last], float(through[1]), float(through[2])), through

    def cumulative(self, threshold: int, steps: int) -> list[int]:
        """The figure's count through each step, the left-out steps filled back in.

        A row's `prev` is the previous step with any row for the figure: the steps after the
        previous kept row up to `prev` were left out because they were full (`threshold` each),
        the steps between `prev` and the row had no row at all. Before the first kept
        row and after the last there is nothing (both are always kept).
        """
        counts = [0] * steps
        after = 0
        for step, prev, figures in sorted(self.rows, key=lambda r: r[0]):
            if prev is not None:
                full_until = int(prev) + 1
                counts[after:full_until] = [threshold] * (full_until - after)
            counts[step] = figures[0]
            after = step + 1
        out, running = [], 0
        for c in counts:
            running += c
            out.append(running)
        return out

    def through(self, last: int) -> list[Any]:
        """The sums up to and including step `last`, the figure's last shown step.

        Every step after a figure's last shown step grew it by fewer than `threshold` (a full
        step would have been shown, rule 2), so each of them is a kept row and the figures through
        `last` are the totals minus those rows.
        """
        out = list(self.totals)
        for step, _prev, figures in self.rows:
            if step > last:
                out = [a - b for a, b in zip(out, figures, strict=True)]
        return out


def _previous_areas(session: Session, previous: Round, unit_id: int) -> dict[str, Stat]:
    """The previous round's area means exactly as they were published (the same step rule)."""
    instrument = catalogue.load(session, previous.instrument_version_id)
    threshold = max(1, previous.threshold)
    published = published_count(_count_completed(session, previous.id, unit_id), threshold)
    if published < threshold:
        return {}
    cells = _area_cells(session, previous.id, unit_id, instrument, threshold, published)
    return _final_areas(instrument, cells, threshold)


def _group_areas(
    instrument: Instrument,
    cells: Mapping[Hashable, _Cell],
    group_key: Hashable,
    allowed: Sequence[bool],
    threshold: int,
    at: int,
) -> dict[str, Stat]:
    """A group's area figures as of step `at` (the split's last safe step)."""
    out: dict[str, Stat] = {}
    for area in instrument.areas:
        key = (*group_key, area.id) if isinstance(group_key, tuple) else (group_key, area.id)
        cell = cells.get(key)
        if cell is None:
            continue
        if _shown_steps(cell.cumulative(), threshold, allowed)[at]:
            out[area.id] = cell.stat_through(at)
    return out


def _role_groups(
    session: Session,
    instrument: Instrument,
    pub: CTE,
    cells: Mapping[Hashable, _Cell],
    threshold: int,
    steps: int,
) -> tuple[GroupResult, ...]:
    """ "Whose view": each instrument role's area means, only when every role group is safe."""
    role = func.coalesce(pub.c.role, NO_ANSWER)
    sizes = _cells(session, select(role, pub.c.step, func.count()).group_by(role, pub.c.step), 1, steps)
    groups = {str(k): c.cumulative() for k, c in sizes.items()}
    allowed = _partition_shown(groups, threshold, steps)
    at = _last(allowed)
    if at is None:
        return ()
    order = {r: i for i, r in enumerate(instrument.roles)}
    results = []
    for key in sorted(groups, key=lambda r: (order.get(r, len(order)), r)):
        if key == NO_ANSWER or groups[key][at] == 0:
            continue
        areas = _group_areas(instrument, cells, key, allowed, threshold, at)
        if areas:
            results.append(GroupResult(key, groups[key][at], areas))
    return tuple(results) if len(results) >= 2 else ()


def _splits(
    session: Session,
    instrument: Instrument,
    pub: CTE,
    area_cells: Mapping[Hashable, _Cell],
    threshold: int,
    steps: int,
) -> tuple[Split, ...]:
    """Area means by background question, only for questions where every group is safe."""
    questions = [q for q in instrument.background if q.id != instrument.role_question]
    if not questions:
        return ()
    sizes = _cells(
        session,
        select(BackgroundAnswer.question_id, BackgroundAnswer.option_id, pub.c.step, func.count())
        .join(pub, pub.c.rid == BackgroundAnswer.response_id)
        .group_by(BackgroundAnswer.question_id, BackgroundAnswer.option_id, pub.c.step),
        2,
        steps,
    )
    splits = []
    for question in questions:
        groups: dict[str, list[int]] = {}
        for key, cell in sizes.items():
            assert isinstance(key, tuple)
            if key[0] == question.id:
                groups[str(key[1])] = cell.cumulative()
        # Respondents without an answer to this question are a group of their own (rule 3).
        answered = [sum(g[s] for g in groups.values()) for s in range(steps)]
        groups[NO_ANSWER] = [(s + 1) * threshold - answered[s] for s in range(steps)]
        allowed = _partition_shown(groups, threshold, steps)
        at = _last(allowed)
        if at is None:
            continue
        order = {o.id: i for i, o in enumerate(question.options)}
        results = []
        for option_id in sorted(groups, key=lambda o: (order.get(o, len(order)), o)):
            if option_id == NO_ANSWER or groups[option_id][at] == 0:
                continue
            areas = _group_areas(instrument, area_cells, (question.id, option_id), allowed, threshold, at)
            if areas:
                results.append(GroupResult(option_id, groups[option_id][at], areas))
        if len(results) >= 2:
            splits.append(Split(question.id, tuple(results)))
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
    if unit is None and word.lstrip("#").isdigit():
        unit = session.get(Unit, int(word.lstrip("#")))
    return unit


def find_round(session: Session, unit_id: int, word: str) -> Round | None:
    """One of the unit's rounds by name (case-insensitive) or by id."""
    for round_ in rounds_of_unit(session, unit_id):
        if round_.name.lower() == word.lower() or word.lstrip("#") == str(round_.id):
            return round_
    return None


def latest_round(session: Session, unit_id: int, now: datetime | None = None) -> Round | None:
    rounds = rounds_of_unit(session, unit_id)
    if now is not None:
        rounds = [r for r in rounds if r.opens_at <= now] or rounds
    return rounds[0] if rounds else None


def published_answers(session: Session, report: UnitReport) -> list[tuple[int, str, AnswerKind, int | None]]:
    """(response id, statement, kind, value) of the responses the published result is based on.

    Only for the pseudonymised raw export, which an admin confirms first; nothing below the
    threshold and nothing after the last published step is ever returned.
    """
    if not report.shown:
        return []
    pub = _published_cte(report.round_id, report.unit_id, report.threshold, report.published)
    rows = session.execute(
        select(Answer.response_id, Answer.item_code, Answer.kind, Answer.value).join(
            pub, pub.c.rid == Answer.response_id
        )
    )
    return [(int(rid), str(code), kind, value) for rid, code, kind, value in rows]
