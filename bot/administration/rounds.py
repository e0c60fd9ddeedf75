"""Assessment rounds: `round open|status|close|list`.

Opening a round records who may answer and queues their invitations (bot.administration.invitations), so
opening the same round again only invites people who were not invited before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.administration.command_options import split_options
from bot.administration.instrument_admin import unknown_instrument
from bot.administration.invitations import invite_members, round_unit_ids
from bot.administration.units import find_unit, person_zone, require_unit_rights
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.conversation.closed_rounds import abandon_unfinished
from bot.dates import parse_date
from bot.directory.catalogue import round_called, round_title
from bot.follow_up.reminder_rules import DEFAULT_RULE, RuleInvalid, parse_rule
from bot.i18n import N_
from bot.messages import Reply
from bot.permissions import descendants, visible_units
from bot.workshop.pulse import read_pulse
from storage.models import (
    Instrument,
    InstrumentVersion,
    Outbox,
    OutboxState,
    Response,
    Round,
    RoundParticipant,
    RoundStatus,
    RoundUnit,
    Unit,
)

MIN_THRESHOLD = 3
MAX_THRESHOLD = 1000
MAX_NAME = 200


# ------------------------------------------------------------------ reading the command


@dataclass(frozen=True)
class RoundRequest:
    """A checked `round open` command: nothing is stored until every part of it is valid."""

    version: InstrumentVersion
    unit: Unit
    unit_ids: frozenset[int]
    closes_at: datetime
    closes_on: date
    reminder_rule: str
    threshold: int
    anonymous: bool
    name: str
    # A pulse check: the round it follows up and the only statements it asks.
    pulse_of: int | None = None
    items: tuple[str, ...] | None = None


def _closing(ctx: Context, raw: str) -> tuple[date, datetime]:
    t = ctx.t
    zone = person_zone(ctx)
    day = parse_date(raw, ctx.now.astimezone(zone).date())
    if day is None:
        raise UsageError(
            t._("%(date)s is not a date: write it as e.g. 2026-12-12, 12/12 or 12 december.", date=raw)
        )
    if day < ctx.now.astimezone(zone).date():
        raise UsageError(t._("%(date)s has already passed: choose a closing date in the future.", date=raw))
    # Open through the whole closing day, in the time zone of whoever opened the round.
    return day, datetime.combine(day, time(23, 59, 59), zone).astimezone(UTC)


def _threshold(ctx: Context, raw: str | None) -> int:
    if raw is None:
        return max(MIN_THRESHOLD, ctx.config.anonymity_threshold)
    if not digits(raw) or not MIN_THRESHOLD <= int(raw) <= MAX_THRESHOLD:
        raise UsageError(
            ctx.t._(
                "The threshold must be a whole number of at least %(min)s, so no one's answers can be singled out.",
                min=MIN_THRESHOLD,
            )
        )
    return int(raw)


def _reminder_rule(ctx: Context, raw: str | None) -> str:
    try:
        return parse_rule(raw or DEFAULT_RULE).text()
    except RuleInvalid as invalid:
        raise UsageError(
            ctx.t._(
                "I can't read the reminder rule at %(part)s. Write it like 3wd,-2d,max3 "
                "(3 working days after the invitation, 2 days before closing, at most 3 reminders) or off.",
                part=invalid.part,
            )
        ) from None


def _active_version(ctx: Context, instrument_id: str) -> InstrumentVersion:
    row = ctx.session.get(Instrument, instrument_id.strip().lower())
    version = (
        ctx.session.get(InstrumentVersion, row.active_version_id) if row and row.active_version_id else None
    )
    if version is None:
        raise unknown_instrument(ctx, instrument_id)
    return version


def read_request(ctx: Context, args: list[str]) -> RoundRequest:
    t = ctx.t
    options = split_options(
        t,
        args,
        valued=("closes", "remind", "threshold", "name", "of", "items"),
        flags=("anonymous", "with-subunits", "pulse"),
    )
    if len(options.positional) < 2 or "closes" not in options.values:
        raise UsageError(
            t._(
                "Write round open, the instrument, the unit and the closing date, for example: "
                'round open digcomp-library "Ystad bibliotek" closes 2026-12-12'
            )
        )
    # A pulse check takes the version of the round it follows up (narrowed), not the active one.
    version = None if "pulse" in options.flags else _active_version(ctx, options.positional[0])
    unit = find_unit(ctx, " ".join(options.positional[1:]))
    require_unit_rights(ctx, unit)
    closes_on, closes_at = _closing(ctx, options.values["closes"])
    name = options.values.get("name", "").strip()
    if len(name) > MAX_NAME:
        raise UsageError(t._("That name is too long (at most %(n)s characters).", n=MAX_NAME))
    unit_ids = descendants(ctx.session, {unit.id}) if "with-subunits" in options.flags else {unit.id}
    pulse_of: int | None = None
    items: tuple[str, ...] | None = None
    if version is None:
        asked = read_pulse(
            ctx, unit, options.positional[0], options.values.get("of"), options.values.get("items")
        )
        version, pulse_of, items = asked.version, asked.of_round_id, asked.items
    return RoundRequest(
        pulse_of=pulse_of,
        items=items,
        version=version,
        unit=unit,
        unit_ids=frozenset(unit_ids),
        closes_at=closes_at,
        closes_on=closes_on,
        reminder_rule=_reminder_rule(ctx, options.values.get("remind")),
        threshold=_threshold(ctx, options.values.get("threshold")),
        anonymous="anonymous" in options.flags,
        name=name,
    )


# ------------------------------------------------------------------ participants and invitations


# ------------------------------------------------------------------ commands


def _same_open_round(session: Session, request: RoundRequest) -> Round | None:
    """An open round of the same instrument version for exactly the same units (a repeated command)."""
    candidates = session.scalars(
        select(Round).where(
            Round.status == RoundStatus.OPEN, Round.instrument_version_id == request.version.id
        )
    ).all()
    for round_ in candidates:
        if round_unit_ids(session, round_.id) == set(request.unit_ids):
            return round_
    return None


def round_open(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    request = read_request(ctx, args)
    existing = _same_open_round(ctx.session, request)
    if existing is not None:
        added = invite_members(ctx.session, ctx.config, existing, ctx.now)
        if added:
            audit.record(ctx, "round.invite", {"round": existing.id, "added": added})
        closes = existing.closes_at.astimezone(person_zone(ctx)).date()
        return [
            Reply(
                t._(
                    "Round #%(id)s (%(title)s) is already open for %(unit)s until %(date)s.",
                    id=existing.id,
                    title=round_title(ctx.session, existing, ctx.locale),
                    unit=request.unit.name,
                    date=t.date(closes, "weekday"),
                )
                + " "
                + (
                    t.ngettext(
                        "I invited %(n)s person who was not invited before.",
                        "I invited %(n)s people who were not invited before.",
                        added,
                    )
                    if added
                    # "I invited 0 people" read like a failure; the round's settings stay as they were.
                    else t._("Everyone there is already invited; the round's settings are unchanged.")
                )
            )
        ]
    round_ = Round(
        name=request.name,
        instrument_version_id=request.version.id,
        opens_at=ctx.now,
        closes_at=request.closes_at,
        reminder_rule=request.reminder_rule,
        threshold=request.threshold,
        anonymous=request.anonymous,
        status=RoundStatus.OPEN,
        created_by=ctx.person.id,
        created_at=ctx.now,
        pulse_of_round_id=request.pulse_of,
        items=list(request.items) if request.items else None,
    )
    ctx.session.add(round_)
    ctx.session.flush()
    for unit_id in sorted(request.unit_ids):
        ctx.session.add(RoundUnit(round_id=round_.id, unit_id=unit_id))
    ctx.session.flush()
    invited = invite_members(ctx.session, ctx.config, round_, ctx.now)
    audit.record(
        ctx,
        "round.open",
        {
            "round": round_.id,
            "instrument": request.version.instrument_id,
            "version": request.version.version,
            "units": sorted(request.unit_ids),
            "closes": request.closes_on.isoformat(),
            "threshold": request.threshold,
            "remind": request.reminder_rule,
            "anonymous": request.anonymous,
            "invited": invited,
        },
    )
    below = len(request.unit_ids) - 1
    where = request.unit.name
    if below:
        where += " " + t.ngettext("and %(n)s unit below it", "and %(n)s units below it", below)
    if invited:
        invitations = t.ngettext(
            "I am sending an invitation to %(n)s person.",
            "I am sending invitations to %(n)s people.",
            invited,
        )
    else:
        invitations = t._(
            "Nobody there can answer yet; people who join the unit with a code are added to the round."
        )
    settings = t._(
        "Reminders: %(rule)s · anonymity threshold: %(threshold)s",
        rule=request.reminder_rule,
        threshold=request.threshold,
    )
    if request.anonymous:
        settings += " · " + t._("anonymous")
    if request.items:
        settings += " · " + t._("pulse check of %(items)s", items=", ".join(request.items))
    opened = t._(
        "Round #%(id)s (%(title)s) is open for %(unit)s until %(date)s.",
        id=round_.id,
        title=round_title(ctx.session, round_, ctx.locale),
        unit=where,
        date=t.date(request.closes_on, "weekday"),
    )
    lines = [opened, invitations, settings]
    return [Reply("\n".join(lines))]


def _visible_rounds(ctx: Context, *, open_only: bool) -> list[Round]:
    query = select(Round).order_by(Round.id.desc())
    if open_only:
        query = query.where(Round.status == RoundStatus.OPEN)
    rounds = ctx.session.scalars(query).all()
    if ctx.person.is_admin:
        return list(rounds)
    allowed = visible_units(ctx.session, ctx.person)
    return [r for r in rounds if round_unit_ids(ctx.session, r.id) & allowed]


def find_round(ctx: Context, text: str) -> Round:
    t = ctx.t
    wanted = text.strip().removeprefix("#")
    rounds = _visible_rounds(ctx, open_only=False)
    if digits(wanted):
        found = [r for r in rounds if r.id == int(wanted)]
    else:
        found = [r for r in rounds if round_called(ctx.session, r, wanted)]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            t._(
                "Several rounds are called %(name)s: %(ids)s. Use the number.",
                name=text,
                ids=", ".join(f"#{r.id}" for r in found),
            )
        )
    raise UsageError(t._("I don't know a round %(name)s. Type round list to see them.", name=text))


@dataclass(frozen=True)
class UnitCounts:
    unit: str
    invited: int
    started: int
    completed: int


def round_counts(session: Session, round_: Round, unit_ids: set[int]) -> list[UnitCounts]:
    """How many were invited, started and completed per unit: counts only, never names."""
    invited = Counter(
        dict(
            session.execute(
                select(RoundParticipant.unit_id, func.count())
                .where(RoundParticipant.round_id == round_.id)
                .group_by(RoundParticipant.unit_id)
            ).all()
        )
    )
    completed = Counter(
        dict(
            session.execute(
                select(RoundParticipant.unit_id, func.count())
                .where(RoundParticipant.round_id == round_.id, RoundParticipant.completed_at.is_not(None))
                .group_by(RoundParticipant.unit_id)
            ).all()
        )
    )
    started = Counter(
        dict(
            session.execute(
                select(Response.unit_id, func.count())
                .where(Response.round_id == round_.id)
                .group_by(Response.unit_id)
            ).all()
        )
    )
    units = session.scalars(select(Unit).where(Unit.id.in_(unit_ids)).order_by(Unit.name)).all()
    return [UnitCounts(u.name, invited[u.id], started[u.id], completed[u.id]) for u in units]


def _round_heading(ctx: Context, round_: Round) -> str:
    t = ctx.t
    version = ctx.session.get(InstrumentVersion, round_.instrument_version_id)
    assert version is not None
    closes = t.date(round_.closes_at.astimezone(person_zone(ctx)).date())
    state = (
        t._("open until %(date)s", date=closes)
        if round_.status is RoundStatus.OPEN
        else t._("closed (planned until %(date)s)", date=closes)
    )
    return f"#{round_.id} {round_title(ctx.session, round_, ctx.locale)} · {version.instrument_id} v{version.version} · {state}"


def round_status(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    rounds = [find_round(ctx, " ".join(args))] if args else _visible_rounds(ctx, open_only=True)
    if not rounds:
        return [Reply(t._("There is no open round. Open one with round open."))]
    allowed = visible_units(ctx.session, ctx.person)
    blocks = []
    for round_ in rounds:
        lines = [_round_heading(ctx, round_)]
        counts = round_counts(ctx.session, round_, round_unit_ids(ctx.session, round_.id) & allowed)
        for c in counts:
            lines.append(
                "  "
                + t._(
                    "%(unit)s: %(invited)s invited · %(started)s started · %(completed)s completed",
                    unit=c.unit,
                    invited=c.invited,
                    started=c.started,
                    completed=c.completed,
                )
            )
        if len(counts) > 1:
            lines.append(
                "  "
                + t._(
                    "Total: %(invited)s invited · %(started)s started · %(completed)s completed",
                    invited=sum(c.invited for c in counts),
                    started=sum(c.started for c in counts),
                    completed=sum(c.completed for c in counts),
                )
            )
        blocks.append("\n".join(lines))
    return [Reply("\n\n".join(blocks))]


def round_list(ctx: Context, _args: list[str]) -> list[Reply]:
    t = ctx.t
    rounds = _visible_rounds(ctx, open_only=False)[:30]
    if not rounds:
        return [Reply(t._("There are no rounds yet. Open one with round open."))]
    lines = [t._("Rounds (newest first):")]
    for round_ in rounds:
        names = ctx.session.scalars(
            select(Unit.name)
            .join(RoundUnit, RoundUnit.unit_id == Unit.id)
            .where(RoundUnit.round_id == round_.id)
            .order_by(Unit.name)
        ).all()
        lines.append(f"• {_round_heading(ctx, round_)} · {', '.join(names)}")
    return [Reply("\n".join(lines))]


def round_close(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    if not args:
        raise UsageError(t._("Write round close and the round's number, for example: round close 3"))
    round_ = find_round(ctx, " ".join(args))
    title = round_title(ctx.session, round_, ctx.locale)
    if round_.status is RoundStatus.CLOSED:
        return [Reply(t._("Round #%(id)s (%(title)s) is already closed.", id=round_.id, title=title))]
    round_.status = RoundStatus.CLOSED
    # Unfinished responses end here: a button pressed later is refused on every path.
    abandon_unfinished(ctx.session, round_.id)
    # Invitations and reminders not sent yet would point at a closed round.
    cancelled = ctx.session.execute(
        update(Outbox)
        .where(
            Outbox.state == OutboxState.PENDING,
            Outbox.idempotency_key.like(f"invite:{round_.id}:%")
            | Outbox.idempotency_key.like(f"reminder:{round_.id}:%"),
        )
        .values(state=OutboxState.CANCELLED)
    ).rowcount  # type: ignore[attr-defined]
    audit.record(ctx, "round.close", {"round": round_.id, "cancelled_messages": int(cancelled)})
    return [
        Reply(
            t._("Round #%(id)s (%(title)s) is closed; no more answers are taken.", id=round_.id, title=title)
        )
    ]


def register(registry: Registry) -> None:
    registry.command(
        "round open",
        Audience.ADMIN,
        N_(
            "open an assessment round and invite the unit "
            "(options: remind RULE, threshold N, anonymous, name NAME, with-subunits, "
            "pulse [of ROUND] [items CODES])"
        ),
        'round open digcomp-library "Ystad bibliotek" closes 2026-12-12 remind 3wd,-2d,max3 threshold 5',
    )(round_open)
    registry.command(
        "round status",
        Audience.PRINCIPAL,
        N_("how many were invited, started and completed, per unit"),
        "round status 3",
    )(round_status)
    registry.command("round list", Audience.PRINCIPAL, N_("all rounds, newest first"), "round list")(
        round_list
    )
    registry.command(
        "round close", Audience.ADMIN, N_("close a round: no more answers are taken"), "round close 3"
    )(round_close)
