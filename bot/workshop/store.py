"""A workshop's rows: the one going on in a chat, its timing, votes, notes and who may run it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.commands import Context, UsageError
from bot.i18n import Translator, translator
from bot.permissions import plan_units
from bot.results.reports import UnitReport, unit_report
from bot.workshop.agenda import Timing
from storage.models import Membership, Person, Workshop, WorkshopFacilitator, WorkshopNote, WorkshopVote

RUNNING, PAUSED, ENDED = "running", "paused", "ended"


def going_on(session: Session, platform: str, workspace: str, chat: str) -> Workshop | None:
    """The chat's workshop that has not ended (running or paused), if any; locked on PostgreSQL so
    that two presses on it at once are taken one after the other."""
    return session.scalar(
        select(Workshop)
        .where(
            Workshop.platform == platform,
            Workshop.workspace == workspace,
            Workshop.chat == chat,
            Workshop.status.in_((RUNNING, PAUSED)),
        )
        .order_by(Workshop.id.desc())
        .limit(1)
        .with_for_update()
    )


def locked(session: Session, workshop_id: int) -> Workshop | None:
    return session.scalar(select(Workshop).where(Workshop.id == workshop_id).with_for_update())


def timing_of(workshop: Workshop) -> Timing:
    return Timing(
        position=workshop.position,
        size=len(workshop.agenda),
        started_at=workshop.step_started_at,
        elapsed=float(workshop.step_elapsed),
        minutes=workshop.minutes,
        auto_next=workshop.auto_next,
    )


def keep(workshop: Workshop, timing: Timing) -> None:
    """Store a new timing; every change of it is a new `seq` (timer messages of the old one lapse)."""
    workshop.position = timing.position
    workshop.step_started_at = timing.started_at
    workshop.step_elapsed = round(timing.elapsed)
    workshop.status = PAUSED if timing.paused else RUNNING
    workshop.seq += 1


def votes_by_code(session: Session, workshop_id: int) -> dict[str, int]:
    rows = session.execute(
        select(WorkshopVote.item_code, func.count())
        .where(WorkshopVote.workshop_id == workshop_id)
        .group_by(WorkshopVote.item_code)
    )
    return {str(code): int(n) for code, n in rows}


def votes_of(session: Session, workshop_id: int, person_id: int) -> set[str]:
    return set(
        session.scalars(
            select(WorkshopVote.item_code).where(
                WorkshopVote.workshop_id == workshop_id, WorkshopVote.person_id == person_id
            )
        )
    )


def voters(session: Session, workshop_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(func.distinct(WorkshopVote.person_id))).where(
                WorkshopVote.workshop_id == workshop_id
            )
        )
        or 0
    )


def notes_by_code(session: Session, workshop_id: int) -> dict[str, list[str]]:
    """The notes on each statement, in the order they were made (never who made them)."""
    notes: dict[str, list[str]] = defaultdict(list)
    for code, text in session.execute(
        select(WorkshopNote.item_code, WorkshopNote.text)
        .where(WorkshopNote.workshop_id == workshop_id)
        .order_by(WorkshopNote.id)
    ):
        notes[str(code)].append(str(text))
    return dict(notes)


def add_note(
    session: Session, workshop: Workshop, code: str, person: Person, text: str, now: datetime
) -> int:
    """Keep a note; returns how many notes the statement has now."""
    session.add(WorkshopNote(workshop_id=workshop.id, item_code=code, person_id=person.id, text=text, at=now))
    session.flush()
    return int(
        session.scalar(
            select(func.count()).where(
                WorkshopNote.workshop_id == workshop.id, WorkshopNote.item_code == code
            )
        )
        or 0
    )


def is_member(session: Session, unit_id: int, person_id: int) -> bool:
    found = session.scalar(
        select(Membership.id).where(Membership.unit_id == unit_id, Membership.person_id == person_id).limit(1)
    )
    return found is not None


def facilitated_units(session: Session, person: Person) -> set[int]:
    """Units whose workshops the person may start: those whose plan they run, and those whose
    principal named them facilitator."""
    named = set(
        session.scalars(select(WorkshopFacilitator.unit_id).where(WorkshopFacilitator.person_id == person.id))
    )
    return plan_units(session, person) | named


def runs(session: Session, person: Person, workshop: Workshop) -> bool:
    """Whether the person may move the workshop on: its facilitator, or whoever runs the unit's plan."""
    return workshop.facilitator_id == person.id or workshop.unit_id in plan_units(session, person)


def check_runs(ctx: Context, workshop: Workshop) -> None:
    if not runs(ctx.session, ctx.person, workshop):
        raise UsageError(ctx.t._("Only the workshop's facilitator or the unit's principal can do that."))


def workshop_t(workshop: Workshop) -> Translator:
    """What the workshop says to the whole chat is in the language it was started in."""
    return translator(workshop.locale)


def report_of(session: Session, workshop: Workshop) -> UnitReport:
    """The unit's published result, the one definition `unit results` shows."""
    return unit_report(session, workshop.unit_id, workshop.round_id)
