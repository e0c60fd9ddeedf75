"""The published set and kept publications: which responses a unit's result is made of, and what
it shows, stored as each step of responses fills.

The published set (rule 2, bot/results/reports.py) is the sequence of steps of a unit's completed responses
in a round. When a response completes it waits for its step; when `threshold` responses are
waiting they become the next step together (`seal`), and a step never changes after that. So the
set a result is made of only ever grows, by whole steps, in the order people finished, and a
response that completes later can never take the place of one already published (whatever its id
or its rounded time in an anonymous round). Within a step nothing orders its responses: in an
anonymous round the database holds the step and the day, not who of the step finished first.

When someone in the published set erases their data (`withdraw_for`, before their answers go), the
unit's figures are withdrawn from the next view on, and each comes back only once at least
`threshold` new respondents count in it (bot/results/publication.py, `may_move`).

A kept publication (`publish`) is a shortcut, never the truth: a report uses it only while the
steps it was made from still hold as many responses (a response deleted past the bot makes it give
way) and its threshold is the round's; otherwise the report adds the steps from the answers.
Steps that filled after the kept publication are added on top of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, String, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from bot.directory import catalogue
from bot.results.publication import Publication
from bot.results.step_sums import step_sums
from instruments.schema import Instrument
from storage.driver_sql import DriverStatement, read_in
from storage.models import (
    InstrumentVersion,
    PublicationWithdrawal,
    Response,
    ResponseStatus,
    Round,
    RoundParticipant,
    RoundStatus,
    RoundUnit,
    Unit,
    UnitPublication,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Head:
    """A unit in a round as its report begins: names, counts, and the kept publication if it still
    matches the answers."""

    round_id: int
    unit_id: int
    round_name: str
    unit_name: str
    version_id: int
    checksum: str
    threshold: int
    invited: int
    completed: int
    published: int  # responses in the unit's steps
    steps: int
    withdrawals: tuple[int, ...]  # after how many steps the figures were withdrawn
    previous_round_id: int | None
    kept: Publication | None


def _head_statement() -> Select[Any]:
    """Everything a report needs before any answer, in one round trip: names, counts, the unit's
    previous round of the same instrument, the kept publication (of the round's instrument
    version) and how many of its positions still hold the same response.

    Planning, not running, is most of what this statement costs on PostgreSQL (EXPLAIN ANALYZE
    over a million answers, bench/RESULTS.md), so it is prepared once per connection (`head`).
    Scalar subqueries rather than joins: a join of the same tables took longer to plan.
    """
    round_id: BindParameter[int] = bindparam("round_id")
    unit_id: BindParameter[int] = bindparam("unit_id")
    mine = (
        Response.round_id == round_id,
        Response.unit_id == unit_id,
        Response.status == ResponseStatus.COMPLETED,
    )
    invited = select(func.count()).where(
        RoundParticipant.round_id == round_id, RoundParticipant.unit_id == unit_id
    )
    completed = select(func.count()).where(*mine)
    in_steps = (*mine, Response.step.is_not(None))
    published = select(func.count()).where(*in_steps)
    steps = select(func.coalesce(func.max(Response.step), 0)).where(*in_steps)
    matching = select(func.count()).where(
        *in_steps,
        Response.step
        <= select(UnitPublication.steps)
        .where(UnitPublication.round_id == round_id, UnitPublication.unit_id == unit_id)
        .scalar_subquery(),
    )
    withdrawals = select(func.count()).where(
        PublicationWithdrawal.round_id == round_id, PublicationWithdrawal.unit_id == unit_id
    )
    kept = select(UnitPublication.state).where(
        UnitPublication.round_id == round_id,
        UnitPublication.unit_id == unit_id,
        UnitPublication.instrument_version_id == Round.instrument_version_id,
    )
    earlier, earlier_version = aliased(Round), aliased(InstrumentVersion)
    previous = (
        select(earlier.id)
        .join(earlier_version, earlier_version.id == earlier.instrument_version_id)
        .join(RoundUnit, and_(RoundUnit.round_id == earlier.id, RoundUnit.unit_id == unit_id))
        .where(
            earlier_version.instrument_id == InstrumentVersion.instrument_id,
            earlier.id != Round.id,
            earlier.opens_at < Round.opens_at,
        )
        .order_by(earlier.opens_at.desc(), earlier.id.desc())
        .limit(1)
    )
    return (
        select(
            Round.name.label("round_name"),
            Round.threshold,
            Round.status,
            Round.instrument_version_id.label("version_id"),
            InstrumentVersion.checksum,
            Unit.name.label("unit_name"),
            invited.scalar_subquery().label("invited"),
            completed.scalar_subquery().label("completed"),
            published.scalar_subquery().label("published"),
            steps.scalar_subquery().label("steps"),
            withdrawals.scalar_subquery().label("withdrawals"),
            matching.scalar_subquery().label("matching"),
            kept.scalar_subquery().label("kept"),
            previous.scalar_subquery().label("previous_round_id"),
        )
        .select_from(Round)
        .join(Unit, Unit.id == unit_id)
        .join(InstrumentVersion, InstrumentVersion.id == Round.instrument_version_id)
        .where(Round.id == round_id)
    )


_HEAD = DriverStatement(_head_statement())


def head(session: Session, round_id: int, unit_id: int) -> Head | None:
    """The unit in the round, or None when either does not exist."""
    rows = read_in(session.connection(), _HEAD, {"round_id": round_id, "unit_id": unit_id})
    if not rows:
        return None
    (
        round_name,
        threshold,
        status,
        version_id,
        checksum,
        unit_name,
        invited,
        completed,
        published,
        steps,
        withdrawals,
        matching,
        state,
        previous,
    ) = rows[0]
    threshold = max(1, threshold)
    kept = Publication.from_json(state) if state is not None else None
    if status == RoundStatus.ARCHIVED.value or status is RoundStatus.ARCHIVED:
        # Past its retention period the answers are gone and the kept result is all there is.
        completed = published = kept.published if kept is not None else 0
        steps = kept.steps if kept is not None else 0
    elif kept is not None and (kept.threshold != threshold or kept.published != matching):
        kept = None  # made with another threshold, or from responses that are no longer there
    after: tuple[int, ...] = ()
    if withdrawals:
        after = tuple(
            session.scalars(
                select(PublicationWithdrawal.after_steps).where(
                    PublicationWithdrawal.round_id == round_id, PublicationWithdrawal.unit_id == unit_id
                )
            )
        )
    return Head(
        round_id=round_id,
        unit_id=unit_id,
        round_name=round_name or str(round_id),
        unit_name=unit_name,
        version_id=version_id,
        checksum=checksum,
        threshold=threshold,
        invited=int(invited),
        completed=int(completed),
        published=int(published),
        steps=int(steps),
        withdrawals=after,
        previous_round_id=previous,
        kept=kept,
    )


def current(session: Session, head: Head, instrument: Instrument) -> Publication:
    """What the unit's report shows now: the kept publication with any newer steps added, or, when
    nothing matching is kept, every step added from the answers."""
    return _brought_up_to_date(session, head, instrument)[0]


def _brought_up_to_date(session: Session, head: Head, instrument: Instrument) -> tuple[Publication, bool]:
    """The current publication, and whether steps were added to it (to `head.kept` itself)."""
    questions = [q.id for q in instrument.background if q.id != instrument.role_question]
    publication = head.kept or Publication.empty(head.threshold, questions)
    if publication.steps >= head.steps:
        return publication, False
    first = publication.steps
    for number, step in enumerate(
        step_sums(session, head.round_id, head.unit_id, instrument, first, head.steps), start=first + 1
    ):
        publication.add_step(step)
        if number in head.withdrawals:
            publication.withdraw()
    return publication, True


# Starting over adds up every answer of the unit again, which grows with the unit (measured on
# PostgreSQL, bench/RESULTS.md). Past this, it is not done while someone waits for their answer.
REBUILD_LIMIT = 1_000


# Completions of one unit at once (several processes) take turns: a transaction-level advisory lock
# on the unit's result in the round. Taken after the person's lock (bot/intake/event_order.py),
# never before, so the lock order is the same for every event and no two wait for each other.
_TURN = select(
    func.pg_advisory_xact_lock(
        func.hashtextextended(
            func.concat_ws(
                "\x1f",
                func.current_schema(),
                "unit-result",
                bindparam("round_id", type_=String),
                bindparam("unit_id", type_=String),
            ),
            0,
        )
    )
)


def _take_turn(session: Session, round_id: int, unit_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_TURN, {"round_id": str(round_id), "unit_id": str(unit_id)})


def publish(
    session: Session, round_id: int, unit_id: int, now: datetime, *, rebuild_limit: int = REBUILD_LIMIT
) -> None:
    """Bring the unit's kept publication up to date (when a response of the unit has completed).

    Usually that adds the one step that just filled. When nothing matching is kept it starts over,
    unless the unit has more than `rebuild_limit` published responses: then its report goes on
    being made from the answers, as before anything was kept.

    Runs inside the completing person's transaction, in a savepoint: a publication is only a
    shortcut, so if keeping it fails (two completions of one unit at once on PostgreSQL may both
    try to write the same step) the completion still stands and the next one tries again.
    """
    _take_turn(session, round_id, unit_id)
    try:
        with session.begin_nested():
            _publish(session, round_id, unit_id, now, rebuild_limit)
    except Exception:
        log.warning("could not keep the publication of unit %s in round %s", unit_id, round_id, exc_info=True)


def _publish(session: Session, round_id: int, unit_id: int, now: datetime, rebuild_limit: int) -> None:
    found = head(session, round_id, unit_id)
    if found is None or found.steps == 0:
        return
    if found.kept is not None and found.kept.steps == found.steps:
        return
    if found.kept is None and found.published > rebuild_limit:
        return
    instrument = catalogue.load(session, found.version_id, checksum=found.checksum)
    publication, _added = _brought_up_to_date(session, found, instrument)
    key = {"round_id": round_id, "unit_id": unit_id}
    row = {
        "instrument_version_id": found.version_id,
        "state": publication.to_json(),
        "steps": publication.steps,
        "updated_at": now,
    }
    if found.kept is None:
        # Started over from the first step: whatever was kept before goes.
        session.execute(_delete_kept(round_id, unit_id))
        session.execute(insert(UnitPublication).values(**key, **row))
    else:
        session.execute(
            update(UnitPublication)
            .where(UnitPublication.round_id == round_id, UnitPublication.unit_id == unit_id)
            .values(**row)
            .execution_options(synchronize_session=False)
        )


def _delete_kept(round_id: int, unit_id: int) -> Any:
    return (
        delete(UnitPublication)
        .where(UnitPublication.round_id == round_id, UnitPublication.unit_id == unit_id)
        .execution_options(synchronize_session=False)
    )


def steps_to_seal(waiting: Sequence[int], threshold: int, last_step: int) -> list[tuple[int, Sequence[int]]]:
    """(step, response ids) for the whole steps the waiting responses make, in the order they
    completed (more than one step only after a threshold was lowered, or rows written past the bot;
    then by id)."""
    size = max(1, threshold)
    whole = len(waiting) // size
    return [(last_step + k + 1, waiting[k * size : (k + 1) * size]) for k in range(whole)]


def seal(session: Session, round_id: int, unit_id: int) -> int:
    """Give the unit's waiting completed responses their step once a whole step waits (when a
    response completes, in its transaction); returns how many steps were sealed.

    The unit's row in the round is locked first (on PostgreSQL; SQLite has one writer anyway), so
    two people finishing at once seal one step, not two overlapping ones."""
    session.execute(
        select(RoundUnit.round_id)
        .where(RoundUnit.round_id == round_id, RoundUnit.unit_id == unit_id)
        .with_for_update()
    )
    threshold = session.scalar(select(Round.threshold).where(Round.id == round_id)) or 1
    mine = (
        Response.round_id == round_id,
        Response.unit_id == unit_id,
        Response.status == ResponseStatus.COMPLETED,
    )
    waiting = list(
        session.scalars(select(Response.id).where(*mine, Response.step.is_(None)).order_by(Response.id))
    )
    last = session.scalar(select(func.coalesce(func.max(Response.step), 0)).where(*mine)) or 0
    sealed = steps_to_seal(waiting, threshold, last)
    for step, ids in sealed:
        session.execute(
            update(Response)
            .where(Response.id.in_(ids))
            .values(step=step)
            .execution_options(synchronize_session=False)
        )
    return len(sealed)


def withdraw_for(session: Session, person_id: int) -> None:
    """Before a person is erased (in the same transaction, while their responses are still there):
    every unit whose published set holds one of their responses is withdrawn after its current
    steps, and the kept publications made from their answers are dropped.

    Without this, the next view would be made from the same steps less one person, and its
    difference from the last view would be that person's answers. Who erased is not kept: only
    the unit, the round and after how many steps."""
    theirs = (
        select(Response.round_id, Response.unit_id)
        .where(Response.person_id == person_id, Response.step.is_not(None), Response.unit_id.is_not(None))
        .distinct()
    )
    for round_id, unit_id in session.execute(theirs).all():
        # A step is only ever given within a round and a unit.
        assert round_id is not None
        assert unit_id is not None
        steps = session.scalar(
            select(func.max(Response.step)).where(Response.round_id == round_id, Response.unit_id == unit_id)
        )
        exists = session.scalar(
            select(func.count()).where(
                PublicationWithdrawal.round_id == round_id,
                PublicationWithdrawal.unit_id == unit_id,
                PublicationWithdrawal.after_steps == steps,
            )
        )
        if not exists:
            session.execute(
                insert(PublicationWithdrawal).values(round_id=round_id, unit_id=unit_id, after_steps=steps)
            )
        session.execute(_delete_kept(round_id, unit_id))


forget = withdraw_for  # the name forget-me called before the erasure hook was named
