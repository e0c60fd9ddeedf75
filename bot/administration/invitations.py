"""Invitations to a round, and joining a unit while one of its rounds is open.

Everyone who may answer (staff and principals of the round's units) becomes a RoundParticipant
and gets one invitation in the outbox under the key `invite:{round}:{person}`, due at the first
working hour in their own time zone (bot.working_time): an admin opening a round at night does not
wake anyone. Someone who joins a unit while a round of it is open is added when they join, and the
reply to `join` is their invitation.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.administration.units import person_zone
from bot.commands import Context, digits
from bot.config import Config
from bot.conversation.assessment import about_minutes
from bot.directory import catalogue
from bot.directory.catalogue import round_title
from bot.directory.people import first_name, locale_of
from bot.follow_up.working_time import calendar_for, holidays_by_unit
from bot.i18n import Translator, translator
from bot.messages import Choice, Reply
from bot.outbox import CANCEL, Due, Verdict, enqueue, register_check
from storage.db import upsert_insert
from storage.models import (
    Membership,
    Person,
    Role,
    Round,
    RoundParticipant,
    RoundStatus,
    RoundUnit,
    Unit,
)

KIND = "invite"
# Roles whose members answer a round; managers look at the results instead.
ANSWERING_ROLES = (Role.STAFF, Role.PRINCIPAL)


def round_unit_ids(session: Session, round_id: int) -> set[int]:
    return set(session.scalars(select(RoundUnit.unit_id).where(RoundUnit.round_id == round_id)))


def _answering_members(session: Session, unit_ids: set[int]) -> list[Membership]:
    """One membership per person who may answer (a person in two of the units answers once)."""
    rows = session.scalars(
        select(Membership)
        .where(Membership.unit_id.in_(unit_ids), Membership.role.in_(ANSWERING_ROLES))
        .order_by(Membership.person_id, Membership.unit_id)
    ).all()
    first: dict[int, Membership] = {}
    for membership in rows:
        first.setdefault(membership.person_id, membership)
    return list(first.values())


def _add_participant(session: Session, round_: Round, membership: Membership, now: datetime) -> bool:
    """Insert-or-ignore on the unique (round, person): two admins repeating `round open` at once,
    or a join racing an opening, still leave one row. True when this call added it."""
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect)
    result = session.execute(
        insert(RoundParticipant)
        .values(
            round_id=round_.id,
            person_id=membership.person_id,
            unit_id=membership.unit_id,
            invited_at=now,
            reminders_off=False,
        )
        .on_conflict_do_nothing(index_elements=["round_id", "person_id"])
        .returning(RoundParticipant.id)
    )
    return result.scalar() is not None


def invitation(session: Session, config: Config, round_: Round, person: Person, unit: Unit) -> Reply:
    """The invitation, in the person's own language, with the button that starts the round."""
    t = translator(locale_of(person, config.default_locale))
    instrument = catalogue.load(session, round_.instrument_version_id)
    n = len(instrument.items_for(None))
    closes = round_.closes_at.astimezone(ZoneInfo(person.timezone or config.default_timezone)).date()
    name = first_name(person)
    lines = [
        t._("Hi %(name)s!", name=name) if name else t._("Hi!"),
        t._(
            "You are invited to the assessment %(title)s for %(unit)s. "
            "It takes %(duration)s and is open until %(date)s.",
            title=round_title(session, round_, t.locale),
            unit=unit.name,
            duration=about_minutes(t, n),
            date=t.date(closes, "weekday"),
        ),
        _privacy_line(t, round_),
    ]
    return Reply("\n".join(lines), ((Choice(t._("Start the assessment"), f"o:{round_.id}"),),))


def _privacy_line(t: Translator, round_: Round) -> str:
    if round_.anonymous:
        return t._("It is anonymous: when you finish, your answers are separated from your name.")
    return t._(
        "Only you see your answers; your unit sees only summaries of at least %(n)s people.",
        n=round_.threshold,
    )


def invite_members(session: Session, config: Config, round_: Round, now: datetime) -> int:
    """Add everyone who may answer and is not in the round yet; queue their invitation for their
    first working hour. Returns how many were added. Safe to repeat: the participant row and the
    outbox key are both unique."""
    added = 0
    members = _answering_members(session, round_unit_ids(session, round_.id))
    days_off = holidays_by_unit(session, {m.unit_id for m in members})
    for membership in members:
        if not _add_participant(session, round_, membership, now):
            continue
        added += 1
        calendar = calendar_for(membership.person, days_off.get(membership.unit_id, ()))
        enqueue(
            session,
            person_id=membership.person_id,
            kind=KIND,
            replies=[invitation(session, config, round_, membership.person, membership.unit)],
            key=f"{KIND}:{round_.id}:{membership.person_id}",
            due_at=calendar.place(now),
        )
    return added


def still_wanted(session: Session, row: Due, now: datetime) -> Verdict:
    """Just before sending: an invitation to a round that has closed is dropped, and one whose
    person has since gone away or moved time zone waits for their next working hour."""
    parts = row.idempotency_key.split(":")
    if len(parts) != 3 or not all(digits(p) for p in parts[1:]):
        return None
    round_ = session.get(Round, int(parts[1]))
    participant = session.scalar(
        select(RoundParticipant).where(
            RoundParticipant.round_id == int(parts[1]), RoundParticipant.person_id == int(parts[2])
        )
    )
    if (
        round_ is None
        or participant is None
        or round_.status is not RoundStatus.OPEN
        or round_.closes_at <= now
    ):
        return CANCEL
    person = session.get(Person, participant.person_id)
    if person is None:
        return CANCEL
    calendar = calendar_for(person, holidays_by_unit(session, {participant.unit_id})[participant.unit_id])
    placed = calendar.place(now)
    if placed <= now:
        return None
    return placed if placed < round_.closes_at else CANCEL


register_check(KIND, still_wanted)


def enroll_after_join(ctx: Context, unit_name: str) -> list[Reply]:
    """Someone just joined a unit: add them to its open rounds and offer to start right away.

    Called by `join`; the invitation is this reply, so nothing is queued for them.
    """
    unit = ctx.session.scalar(select(Unit).where(Unit.name == unit_name))
    if unit is None:
        return []
    membership = ctx.session.scalar(
        select(Membership).where(Membership.person_id == ctx.person.id, Membership.unit_id == unit.id)
    )
    if membership is None or membership.role not in ANSWERING_ROLES:
        return []
    rounds = ctx.session.scalars(
        select(Round)
        .join(RoundUnit, RoundUnit.round_id == Round.id)
        .where(RoundUnit.unit_id == unit.id, Round.status == RoundStatus.OPEN, Round.closes_at > ctx.now)
        .order_by(Round.closes_at)
    ).all()
    buttons = []
    for round_ in rounds:
        _add_participant(ctx.session, round_, membership, ctx.now)
        closes = round_.closes_at.astimezone(person_zone(ctx)).date()
        label = ctx.t._(
            "%(title)s (closes %(date)s)",
            title=round_title(ctx.session, round_, ctx.locale),
            date=ctx.t.date(closes, "day_month"),
        )
        buttons.append((Choice(label, f"o:{round_.id}"),))
    if not buttons:
        return []
    text = ctx.t.ngettext(
        "%(unit)s has an assessment open for you. Start whenever you like:",
        "%(unit)s has %(n)s assessments open for you. Choose one to start:",
        len(buttons),
        unit=unit.name,
    )
    return [Reply(text, tuple(buttons))]
