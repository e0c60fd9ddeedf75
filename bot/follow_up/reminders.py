"""Round reminders, `remind off`, `away until` and unit holidays.

A round's reminder rule lists when people who have not finished are reminded, e.g. the default
"3wd,-2d,max3": three working days after the invitation, then two days before the round closes, at
most three reminders in all. Tokens (comma or space separated):
  Nwd / Nd    N working days / days after the invitation
  -Nwd / -Nd  N working days / days before the round closes
  maxN        at most N reminders (the earliest N)
Each reminder goes out at 09:30 local time on a working day (see bot.working_time); one that falls on
a weekend, a holiday or while the person is away moves to the first working day after (one before
the close that would thereby miss the close moves to the working day before instead).

`scan_reminders(session, now, ...)` writes what is due into the outbox with the key
`reminder:{round}:{person}:{n}`, so a scan that runs twice (or in two processes) writes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.conversation import assessment, assessment_state
from bot.dates import parse_date
from bot.directory import catalogue
from bot.follow_up.reminder_rules import DEFAULT_RULE, ReminderRule, RuleInvalid, parse_rule
from bot.follow_up.working_time import Calendar, calendar_for, holidays_by_unit, unit_lines, zone
from bot.i18n import N_, Translator, pick_locale, translator
from bot.messages import Choice, Reply
from bot.outbox import CANCEL, Due, Verdict, enqueue, register_check
from instruments.schema import pick
from storage.models import (
    Membership,
    Outbox,
    OutboxState,
    Person,
    Response,
    ResponseStatus,
    Round,
    RoundParticipant,
    RoundStatus,
    Unit,
    UnitHoliday,
)

KIND = "reminder"


def rule_of(round_: Round) -> ReminderRule:
    """The round's rule. `round open` stores only validated rules; an empty one means the default."""
    try:
        return parse_rule(round_.reminder_rule or DEFAULT_RULE)
    except RuleInvalid:
        return parse_rule(DEFAULT_RULE)


def schedule(
    rule: ReminderRule, calendar: Calendar, invited_at: datetime, closes_at: datetime
) -> list[datetime]:
    """When this person is to be reminded (UTC), earliest first, at most `rule.max_reminders`."""
    invited = calendar.local_date(invited_at)
    last_open_day = calendar.local_date(closes_at - timedelta(seconds=1))
    times: set[datetime] = set()
    for point in rule.steps:
        if point.before_close:
            if point.working_days:
                day = calendar.add_working_days(last_open_day, -point.days)
            else:
                day = last_open_day - timedelta(days=point.days)
            moment = calendar.at(calendar.next_free_day(day))
            if moment >= closes_at:
                moment = calendar.at(calendar.previous_free_day(day))
        else:
            if point.working_days:
                day = calendar.add_working_days(invited, point.days)
            else:
                day = invited + timedelta(days=point.days)
            moment = calendar.at(calendar.next_free_day(day))
        if invited_at < moment < closes_at:
            times.add(moment)
    return sorted(times)[: rule.max_reminders]


def key(round_id: int, person_id: int, n: int) -> str:
    return f"{KIND}:{round_id}:{person_id}:{n}"


# ---------------------------------------------------------------- the scan


@dataclass(frozen=True)
class Pending:
    participant: RoundParticipant
    person: Person


def _waiting(session: Session, round_: Round, person_id: int | None = None) -> list[Pending]:
    """Participants who have not completed, still belong to the unit, and want reminders."""
    completed = exists().where(
        Response.round_id == round_.id,
        Response.person_id == RoundParticipant.person_id,
        Response.status == ResponseStatus.COMPLETED,
    )
    member = exists().where(
        Membership.person_id == RoundParticipant.person_id, Membership.unit_id == RoundParticipant.unit_id
    )
    query = (
        select(RoundParticipant, Person)
        .join(Person, Person.id == RoundParticipant.person_id)
        .where(
            RoundParticipant.round_id == round_.id,
            RoundParticipant.completed_at.is_(None),
            RoundParticipant.reminders_off.is_(False),
            ~completed,
            member,
        )
        .order_by(RoundParticipant.id)
    )
    if person_id is not None:
        query = query.where(RoundParticipant.person_id == person_id)
    rows = session.execute(query).all()
    return [Pending(p, person) for p, person in rows]


def scan_reminders(session: Session, now: datetime, default_locale: str = "en") -> int:
    """Write the reminders due by `now`; returns how many new outbox rows were written."""
    written = 0
    rounds = session.scalars(
        select(Round).where(Round.status == RoundStatus.OPEN, Round.opens_at <= now, Round.closes_at > now)
    ).all()
    for round_ in rounds:
        rule = rule_of(round_)
        if not rule.steps or rule.max_reminders <= 0:
            continue
        waiting = _waiting(session, round_)
        holidays = holidays_by_unit(session, {w.participant.unit_id for w in waiting})
        due: list[tuple[Pending, Calendar, int, datetime]] = []
        for entry in waiting:
            calendar = calendar_for(entry.person, holidays.get(entry.participant.unit_id, ()))
            times = schedule(rule, calendar, entry.participant.invited_at, round_.closes_at)
            reached = [(n, moment) for n, moment in enumerate(times, start=1) if moment <= now]
            if reached:
                # Only the latest due reminder: after downtime nobody gets a burst of stale ones.
                due.append((entry, calendar, *reached[-1]))
        if not due:
            continue
        prefix = f"{KIND}:{round_.id}:"
        existing = set(
            session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.startswith(prefix)))
        )
        for entry, calendar, n, moment in due:
            k = key(round_.id, entry.person.id, n)
            if k in existing:
                continue
            send_at = calendar.place(max(moment, now))
            if send_at >= round_.closes_at:
                continue
            replies = compose(session, round_, entry.person, default_locale)
            if enqueue(session, person_id=entry.person.id, kind=KIND, replies=replies, key=k, due_at=send_at):
                written += 1
    return written


def compose(session: Session, round_: Round, person: Person, default_locale: str) -> list[Reply]:
    """The reminder text with a button that continues exactly where the person stopped."""
    t = translator(pick_locale(person.locale, person.locale_hint, default_locale))
    closes = closing_day(round_, person)
    closes_text = t.date(closes, "EEEE d MMMM")
    response = session.scalar(
        select(Response).where(
            Response.round_id == round_.id,
            Response.person_id == person.id,
            Response.status == ResponseStatus.IN_PROGRESS,
        )
    )
    instrument = catalogue.load(session, round_.instrument_version_id)
    if response is not None:
        state = assessment_state.load_state(session, response)
        left = sum(1 for item in instrument.items_for(response.role) if item.code not in state.answers)
        text = t.ngettext(
            "You have %(n)s statement left in the assessment (closes %(date)s).",
            "You have %(n)s statements left in the assessment (closes %(date)s).",
            left,
            date=closes_text,
        )
        payload = f"r:{response.id}"
    else:
        n = len(instrument.items_for(None))
        title = round_.name or pick(instrument.title, t.locale)
        text = t._(
            "%(title)s is waiting for you: %(duration)s (closes %(date)s).",
            title=title,
            duration=assessment.about_minutes(t, n),
            date=closes_text,
        )
        payload = f"o:{round_.id}"
    return [
        Reply(
            text,
            (
                (Choice(t._("Continue"), payload),),
                (Choice(t._("No more reminders"), f"cmd:remind:off:{round_.id}"),),
            ),
        )
    ]


def closing_day(round_: Round, person: Person) -> date:
    """The last day the round is open, in the person's time zone."""
    return (round_.closes_at - timedelta(seconds=1)).astimezone(zone(person.timezone)).date()


# ---------------------------------------------------------------- the check before sending


def parse_key(k: str) -> tuple[int, int] | None:
    parts = k.split(":")
    if len(parts) != 4 or not all(digits(p) for p in parts[1:]):
        return None
    return int(parts[1]), int(parts[2])


def still_wanted(session: Session, row: Due, now: datetime) -> Verdict:
    """A reminder written earlier goes out only if the person still has something to finish."""
    parsed = parse_key(row.idempotency_key)
    if parsed is None:
        return None
    round_id, person_id = parsed
    round_ = session.get(Round, round_id)
    person = session.get(Person, person_id)
    if round_ is None or person is None or round_.status is not RoundStatus.OPEN or round_.closes_at <= now:
        return CANCEL
    pending = _waiting(session, round_, person_id)
    if not pending:
        return CANCEL
    unit_id = pending[0].participant.unit_id
    calendar = calendar_for(person, holidays_by_unit(session, {unit_id})[unit_id])
    placed = calendar.place(now)
    if placed <= now:
        return None
    return placed if placed < round_.closes_at else CANCEL


register_check(KIND, still_wanted)


# ---------------------------------------------------------------- commands


def _rounds_of(ctx: Context, args: list[str]) -> list[RoundParticipant]:
    query = (
        select(RoundParticipant)
        .join(Round, Round.id == RoundParticipant.round_id)
        .where(RoundParticipant.person_id == ctx.person.id, Round.status == RoundStatus.OPEN)
    )
    if args:
        wanted = " ".join(args)
        query = query.where(Round.id == int(wanted)) if digits(wanted) else query.where(Round.name == wanted)
    return list(ctx.session.scalars(query))


def remind(ctx: Context, args: list[str]) -> list[Reply]:
    """`remind off [ROUND]` / `remind on [ROUND]`."""
    t = ctx.t
    if not args or args[0].lower() not in ("off", "on", "av", "på"):
        raise UsageError(t._("Write remind off to stop reminders (or remind on to have them again)."))
    off = args[0].lower() in ("off", "av")
    participants = _rounds_of(ctx, args[1:])
    if not participants:
        return [Reply(t._("You have no open assessment round to be reminded about."))]
    for participant in participants:
        participant.reminders_off = off
        if off:
            ctx.session.execute(
                update(Outbox)
                .where(
                    Outbox.person_id == ctx.person.id,
                    Outbox.state == OutboxState.PENDING,
                    Outbox.idempotency_key.startswith(f"{KIND}:{participant.round_id}:{ctx.person.id}:"),
                )
                .values(state=OutboxState.CANCELLED, last_error="reminders turned off")
            )
    if off:
        return [
            Reply(t._("OK, no more reminders about this assessment. You can still finish it: type assess."))
        ]
    return [Reply(t._("OK, I will remind you again if you have not finished."))]


def parse_day(text: str, t: Translator, today: date) -> date:
    day = parse_date(text, today)
    if day is None:
        raise UsageError(
            t._("%(date)s is not a date: write it as e.g. 2027-01-08, 8/1 or 8 January.", date=text)
        )
    return day


def away(ctx: Context, args: list[str]) -> list[Reply]:
    """`away until DATE` pauses every prompt; `away off` ends it early."""
    t = ctx.t
    if len(args) == 1 and args[0].lower() in ("off", "av"):
        ctx.person.away_until = None
        return [Reply(t._("Welcome back! Reminders and follow-ups are on again."))]
    if len(args) < 2 or args[0].lower() not in ("until", "till", "tills"):
        raise UsageError(t._("Write away until and a date, for example: away until 2027-01-08"))
    today = ctx.now.astimezone(zone(ctx.person.timezone)).date()
    # The rest is the date, so `away until 8 January` works as the hint writes it, quoted or not.
    day = parse_day(" ".join(args[1:]), t, today)
    if day < today:
        raise UsageError(
            t._("That date has already passed: write the last day you are away, e.g. away until 2027-01-08.")
        )
    ctx.person.away_until = day
    return [
        Reply(
            t._(
                "OK, I will not send you reminders or follow-ups until after %(date)s.",
                date=t.date(day, "d MMMM y"),
            )
        )
    ]


def unit_holidays(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit holidays UNIT FROM TO` (admin); `unit holidays UNIT` lists them."""
    t = ctx.t
    if len(args) not in (1, 3):
        raise UsageError(
            t._(
                'Write unit holidays, the unit and two dates, e.g. unit holidays "Ekskolan" 2026-12-21 2027-01-06'
            )
        )
    unit = ctx.session.scalar(select(Unit).where(Unit.name == args[0]))
    if unit is None:
        raise UsageError(
            t._("I don't know the unit %(unit)s. Type unit list to see the units.", unit=args[0])
        )
    if len(args) == 3:
        today = ctx.now.astimezone(zone(ctx.person.timezone)).date()
        first, last = parse_day(args[1], t, today), parse_day(args[2], t, today)
        if last < first:
            raise UsageError(t._("The last day comes before the first day."))
        ctx.session.add(UnitHoliday(unit_id=unit.id, first_day=first, last_day=last))
        ctx.session.flush()
        audit.record(
            ctx, "unit.holidays", {"unit": unit.id, "from": first.isoformat(), "to": last.isoformat()}
        )
    spans = ctx.session.execute(
        select(UnitHoliday.first_day, UnitHoliday.last_day, Unit.id, Unit.name)
        .join(Unit, Unit.id == UnitHoliday.unit_id)
        .where(UnitHoliday.unit_id.in_(unit_lines(ctx.session, {unit.id})[unit.id]))
        .order_by(UnitHoliday.first_day)
    ).all()
    if not spans:
        return [Reply(t._("%(unit)s has no holidays set.", unit=unit.name))]
    lines = [t._("Holidays of %(unit)s (no reminders or follow-ups on these days):", unit=unit.name)]
    for first, last, owner_id, owner in spans:
        days = f"• {t.date(first, 'd MMMM y')} – {t.date(last, 'd MMMM y')}"
        lines.append(
            days if owner_id == unit.id else t._("%(days)s (set for %(unit)s)", days=days, unit=owner)
        )
    lines.append(
        t._("Swedish public holidays, Christmas Eve, Midsummer Eve and New Year's Eve are days off too.")
    )
    return [Reply("\n".join(lines))]


def register(registry: Registry) -> None:
    registry.command(
        "remind",
        Audience.EVERYONE,
        N_("turn reminders about an assessment off (or on)"),
        "remind off",
        aliases=("påminn",),
    )(remind)
    registry.command(
        "away",
        Audience.EVERYONE,
        N_("pause reminders and follow-ups until a date"),
        "away until 2027-01-08",
        aliases=("borta",),
    )(away)
    registry.command(
        "unit holidays",
        Audience.ADMIN,
        N_(
            "mark a unit's holidays, or a municipality's school breaks for all its units (no reminders on those days)"
        ),
        'unit holidays "Ekskolan" 2026-12-21 2027-01-06',
        aliases=("enhet lov",),
    )(unit_holidays)
