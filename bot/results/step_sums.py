"""The sums of a unit's steps of responses in a round, computed in SQL (for bot/results/publication.py).

A step is `threshold` completed responses of the unit's published set, numbered from 1 and given
when the step fills (bot/publication_store.seal, rule 2 in bot/results/reports.py). `step_sums` returns the
sums of a range of steps, each step on its own, from one statement (one snapshot of the data):
- per statement: the value answers' count, sum and sum of squares (skips and "not applicable" are
  not low answers and are left out), the count per scale point, skipped and "not applicable";
- per area: each respondent's mean over the statements they gave a value in the area (as in the
  personal result), then the count, sum and sum of squares of those means; the same per role and
  per background answer;
- the respondents per role and per background answer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    select,
    text,
    union_all,
    values,
)
from sqlalchemy.orm import Session

from bot.results.publication import NO_ANSWER, StepSums
from instruments.schema import Instrument
from storage.models import Answer, AnswerKind, BackgroundAnswer, Response, ResponseStatus


def published_responses(round_id: Any, unit_id: Any, after: Any, through: Any) -> CTE:
    """The completed responses of steps after+1 .. through of the unit's published set, each with
    its step (values or bound parameters). Steps are given at completion (bot/publication_store.seal)
    and never change, so the same steps are always the same responses."""
    return (
        select(Response.id.label("rid"), Response.role.label("role"), Response.step.label("step"))
        .where(
            Response.round_id == round_id,
            Response.unit_id == unit_id,
            Response.status == ResponseStatus.COMPLETED,
            Response.step > after,
            Response.step <= through,
        )
        .cte("pub")
    )


def step_sums(
    session: Session,
    round_id: int,
    unit_id: int,
    instrument: Instrument,
    first_step: int,
    end_step: int,
) -> list[StepSums]:
    """The sums of steps first_step+1 .. end_step (counted from 1), each on its own, in step order."""
    _plan_for_one_big_aggregation(session)
    item_areas = tuple((item.code, area.id) for area in instrument.areas for item in area.items)
    statement = _statement(instrument.scale.points, item_areas)
    values = {"round_id": round_id, "unit_id": unit_id, "after": first_step, "through": end_step}
    sums = [StepSums() for _ in range(first_step, end_step)]
    for kind, k1, k2, k3, step, *figures in session.execute(statement, values):
        _file(sums[int(step) - first_step - 1], str(kind), k1, k2, k3, figures)
    return sums


def _file(step: StepSums, kind: str, k1: Any, k2: Any, k3: Any, figures: Sequence[Any]) -> None:
    """One result row into its step's sums (see `_statement` for the kinds)."""
    if kind == "s":
        step.statements[k1] = [int(f or 0) for f in figures]
    elif kind == "a":
        step.areas[k1] = _area_sums(figures)
    elif kind == "R":
        step.role_sizes[k1] = int(figures[0])
    elif kind == "r":
        step.role_areas[(k1, k2)] = _area_sums(figures)
    elif kind == "O":
        step.option_sizes[(k1, k2)] = int(figures[0])
    else:
        step.option_areas[(k1, k2, k3)] = _area_sums(figures)


def _area_sums(figures: Sequence[Any]) -> list[float]:
    return [int(figures[0]), float(figures[1]), float(figures[2])]


@functools.lru_cache(maxsize=64)
def _statement(points: int, item_areas: tuple[tuple[str, str], ...]) -> CompoundSelect[Any]:
    """One UNION ALL over the steps' responses: (kind, key 1-3, step, figures...), where kind is
    s (statement), a (area), R/r (role size / role and area),
    O/o (background answer size / background answer and area).

    Built once per instrument shape (building it costs more than running it for a small unit);
    the unit, round and steps are bound parameters."""
    pub = published_responses(
        *(bindparam(name, type_=Integer) for name in ("round_id", "unit_id", "after", "through"))
    )
    item_area = _item_area(item_areas)
    is_value = Answer.kind == AnswerKind.VALUE
    statement_figures: list[ColumnElement[Any]] = [
        func.sum(case((is_value, 1), else_=0)),
        func.sum(case((is_value, Answer.value), else_=0)),
        func.sum(case((is_value, Answer.value * Answer.value), else_=0)),
        *(func.sum(case((and_(is_value, Answer.value == v), 1), else_=0)) for v in range(1, points + 1)),
        func.sum(case((Answer.kind == AnswerKind.SKIP, 1), else_=0)),
        func.sum(case((Answer.kind == AnswerKind.NOT_APPLICABLE, 1), else_=0)),
    ]
    width = len(statement_figures)

    def row(kind: str, keys: Sequence[Any], step: Any, *figures: Any) -> list[Any]:
        padded_keys = [*keys, *([cast(literal(None), String)] * (3 - len(keys)))]
        padding = [cast(literal(None), Float)] * (width - len(figures))
        return [literal(kind), *padded_keys, step, *figures, *padding]

    pa = _person_areas(pub, item_area)
    mean_sums = (func.count(), func.sum(pa.c.m), func.sum(pa.c.m * pa.c.m))
    role = func.coalesce(pub.c.role, NO_ANSWER)
    return union_all(
        select(*row("s", (Answer.item_code,), pub.c.step, *statement_figures))
        .join(pub, pub.c.rid == Answer.response_id)
        .group_by(Answer.item_code, pub.c.step),
        select(*row("a", (pa.c.area,), pa.c.step, *mean_sums)).group_by(pa.c.area, pa.c.step),
        select(*row("R", (role,), pub.c.step, func.count())).group_by(role, pub.c.step),
        # Respondents without a role are never shown as a group of their own (only counted in the
        # role sizes), so their area sums are not made.
        select(*row("r", (pa.c.role, pa.c.area), pa.c.step, *mean_sums))
        .where(pa.c.role.is_not(None))
        .group_by(pa.c.role, pa.c.area, pa.c.step),
        select(
            *row("O", (BackgroundAnswer.question_id, BackgroundAnswer.option_id), pub.c.step, func.count())
        )
        .join(pub, pub.c.rid == BackgroundAnswer.response_id)
        .group_by(BackgroundAnswer.question_id, BackgroundAnswer.option_id, pub.c.step),
        select(
            *row(
                "o",
                (BackgroundAnswer.question_id, BackgroundAnswer.option_id, pa.c.area),
                pa.c.step,
                *mean_sums,
            )
        )
        # Background answers are looked up for the published respondents (an index lookup per
        # respondent) before meeting the per-person CTE: joined to the CTE directly, PostgreSQL
        # could not estimate its size and scanned every background answer of every unit.
        .join(pub, pub.c.rid == BackgroundAnswer.response_id)
        .join(pa, pa.c.rid == BackgroundAnswer.response_id)
        .group_by(BackgroundAnswer.question_id, BackgroundAnswer.option_id, pa.c.area, pa.c.step),
    )


def _item_area(item_areas: Sequence[tuple[str, str]]) -> CTE:
    """(code, area) for every statement, as a CTE over one VALUES list.

    A UNION ALL of one SELECT per statement hit SQLite's limit on compound SELECTs (500 terms);
    a VALUES list is not subject to it, and PostgreSQL reads it the same way."""
    rows = values(column("code", String), column("area", String), name="item_area").data(list(item_areas))
    return rows.cte("item_area")


def _person_areas(pub: CTE, item_area: CTE) -> CTE:
    """Each respondent's mean per area (over the statements they gave a value)."""
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


def _plan_for_one_big_aggregation(session: Session) -> None:
    """PostgreSQL settings for this transaction only (SET LOCAL, in one round trip), seen on
    1,000,000 answers.

    EXPLAIN ANALYZE of the area statement showed JIT compilation taking longer than the query itself
    (these statements run once, so compiling never pays off; bench/RESULTS.md), and the per-step aggregates of a big unit
    spilled to disk at the default 4 MB of work memory.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"))
