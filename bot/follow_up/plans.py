"""Action plans: suggested actions from a unit's results, adopted items, follow-up nudges, digests.

Commands (principals for their own unit, admins for any unit named with `unit "NAME"`):
  plan                         the plan with each item's status, or the suggestions when there is none
  plan adopt N [owner @name] [due YYYY-MM-DD] [every N weeks]
  plan add "text" [owner @name] [due YYYY-MM-DD] [every N weeks]
  plan report                  done / in progress / overdue and the latest comments

Timed messages (written by `scan_plans`, keys unique in the outbox):
  nudge:{item}:{n}                   the n-th follow-up to the owner, every `cadence_days`
  overdue:{item}                     the item is past due and not done: to its owner
  overdue-note:{item}:{principal}    ... and a note to the unit's principal
  digest:{unit}:{manager}:{YYYY-MM}  monthly digest to the managers of the unit (or a unit above it)

Button `pu:<item>:<ns|ip|dn|bl>` records a progress update (only the item's owner may press it);
the person's next free text becomes its comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.conversation import erasure
from bot.dates import parse_date
from bot.directory import person_lookup
from bot.follow_up.working_time import Calendar, calendar_for, holidays_by_unit, zone
from bot.i18n import N_, Translator, pick_locale, translator
from bot.messages import Choice, Reply
from bot.outbox import CANCEL, Due, Verdict, enqueue, register_check
from bot.permissions import descendants, plan_units
from bot.results import pulse_change
from bot.results.reports import UnitReport, latest_shown_report, unit_report
from instruments.schema import pick
from storage.models import (
    ActionPlan,
    Membership,
    Outbox,
    Person,
    PlanItem,
    PlanItemStatus,
    ProgressUpdate,
    Role,
    Unit,
)

DEFAULT_CADENCE_DAYS = 14
STATUS_CODES = {
    "ns": PlanItemStatus.NOT_STARTED,
    "ip": PlanItemStatus.IN_PROGRESS,
    "dn": PlanItemStatus.DONE,
    "bl": PlanItemStatus.BLOCKED,
}
CODE_OF = {status: code for code, status in STATUS_CODES.items()}
STATUS_LABELS = {
    PlanItemStatus.NOT_STARTED: N_("not started"),
    PlanItemStatus.IN_PROGRESS: N_("in progress"),
    PlanItemStatus.DONE: N_("done"),
    PlanItemStatus.BLOCKED: N_("blocked"),
}
NO_COMMENT = ("skip", "no", "nej", "-", "hoppa över", "ingen", "none")
MAX_COMMENT = 2000


# ---------------------------------------------------------------- results and suggestions


@dataclass(frozen=True)
class Suggestion:
    area_id: str
    level_id: str
    text: str


def suggestions(report: UnitReport, locale: str) -> list[Suggestion]:
    """The suggested actions for the unit's level in each area of its published result (the one
    every view shows: a suggestion never moves while the result does not), in the instrument's
    order."""
    instrument = report.instrument
    role = "principal" if "principal" in instrument.roles else None
    found = []
    for result in report.areas:
        level = instrument.level_for(result.stat.mean)
        for action in instrument.actions_for(result.area_id, level.id, role):
            found.append(Suggestion(result.area_id, level.id, pick(action.text, locale)))
    return found


# ---------------------------------------------------------------- which unit, whose plan


def _take_unit(ctx: Context, args: list[str]) -> tuple[Unit, list[str]]:
    """The unit a plan command is about: `unit "NAME"` in the arguments, or the person's only unit."""
    t = ctx.t
    allowed = plan_units(ctx.session, ctx.person)
    rest = list(args)
    named: str | None = None
    for i, word in enumerate(rest):
        if word.lower() in ("unit", "enhet") and i + 1 < len(rest):
            named = rest[i + 1]
            del rest[i : i + 2]
            break
    if named is not None:
        unit = ctx.session.scalar(select(Unit).where(Unit.name == named))
        if unit is None or unit.id not in allowed:
            raise UsageError(t._("You don't run an action plan for %(unit)s.", unit=named))
        return unit, rest
    if len(allowed) == 1:
        unit = ctx.session.get(Unit, next(iter(allowed)))
        assert unit is not None
        return unit, rest
    if not allowed:
        raise UsageError(t._("You are not the principal of any unit, so there is no plan to run."))
    names = sorted(ctx.session.scalars(select(Unit.name).where(Unit.id.in_(allowed))))
    raise UsageError(
        t._('Which unit? Add unit and its name, e.g. plan unit "%(unit)s".', unit=names[0])
        + "\n"
        + ", ".join(names)
    )


def current_plan(session: Session, unit_id: int) -> ActionPlan | None:
    return session.scalar(
        select(ActionPlan).where(ActionPlan.unit_id == unit_id).order_by(ActionPlan.id.desc()).limit(1)
    )


def plan_items(session: Session, plan_id: int) -> list[PlanItem]:
    return list(session.scalars(select(PlanItem).where(PlanItem.plan_id == plan_id).order_by(PlanItem.id)))


# ---------------------------------------------------------------- showing the plan


def _status_line(t: Translator, item: PlanItem, owner: Person | None, today: date) -> str:
    parts = [t._(STATUS_LABELS[item.status])]
    if owner is not None:
        parts.append(t._("owner %(name)s", name=owner.display_name or "?"))
    if item.due_date is not None:
        parts.append(t._("due %(date)s", date=t.date(item.due_date, "d MMMM")))
        if is_overdue(item, today):
            parts.append(t._("overdue"))
    weeks = max(1, item.cadence_days // 7)
    parts.append(t.ngettext("follow-up every week", "follow-up every %(n)s weeks", weeks))
    return " · ".join(parts)


def is_overdue(item: PlanItem, today: date) -> bool:
    return item.due_date is not None and item.due_date < today and item.status is not PlanItemStatus.DONE


def plan_show(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    unit, _rest = _take_unit(ctx, args)
    plan = current_plan(ctx.session, unit.id)
    items = plan_items(ctx.session, plan.id) if plan else []
    today = ctx.now.astimezone(zone(ctx.person.timezone)).date()
    if items:
        lines = [t._("Action plan for %(unit)s:", unit=unit.name)]
        for n, item in enumerate(items, start=1):
            owner = ctx.session.get(Person, item.owner_person_id) if item.owner_person_id else None
            lines.append(f"{n}. {item.text}\n   {_status_line(t, item, owner, today)}")
        lines.append(t._('Add more with plan adopt N (a suggestion) or plan add "your own action".'))
        return [Reply("\n".join(lines))]
    results = latest_shown_report(ctx.session, unit.id)
    if results is None:
        return [
            Reply(
                t._(
                    "%(unit)s has no results yet (a round needs enough completed responses). "
                    'You can still write your own actions: plan add "text" owner @name due 2027-03-31',
                    unit=unit.name,
                )
            )
        ]
    found = suggestions(results, ctx.locale)
    lines = [t._("Suggested actions for %(unit)s, based on its results:", unit=unit.name)]
    for n, s in enumerate(found, start=1):
        area = results.instrument.area(s.area_id)
        level = results.instrument.level(s.level_id)
        title = pick(area.title if area else None, ctx.locale)
        lines.append(f"{n}. {s.text}  ({title}: {pick(level.title if level else None, ctx.locale)})")
    lines.append(
        t._("Adopt one with plan adopt N, e.g. plan adopt 1 owner @anna due 2027-03-31 every 2 weeks.")
    )
    return [Reply("\n".join(lines))]


# ---------------------------------------------------------------- adopting and adding


@dataclass(frozen=True)
class ItemOptions:
    owner: Person
    due: date | None
    cadence_days: int


def _members(session: Session, unit_id: int) -> list[Person]:
    return list(
        session.scalars(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.unit_id == unit_id)
            .order_by(Person.id)
        )
    )


def find_member(ctx: Context, unit: Unit, query: str, asked: person_lookup.Asked) -> Person:
    """The member of the unit `query` names: by mention or user id, or picked from a list."""
    return person_lookup.resolve(ctx, query, _members(ctx.session, unit.id), unit.name, asked)


def _options(ctx: Context, unit: Unit, words: list[str], asked: tuple[str, list[str]]) -> ItemOptions:
    """owner, due and every from a plan command's words; `asked` is the command and all its
    arguments, to run it again once an owner named by name is picked from a list."""
    t = ctx.t
    owner: Person = ctx.person
    due: date | None = None
    cadence = DEFAULT_CADENCE_DAYS
    i = 0
    while i < len(words):
        word = words[i].lower()
        value = words[i + 1] if i + 1 < len(words) else None
        if word in ("owner", "ägare") and value:
            owner = find_member(ctx, unit, value, person_lookup.Asked(asked[0], tuple(asked[1]), value))
            i += 2
        elif word in ("due", "senast") and value:
            parsed = parse_date(value, ctx.now.astimezone(zone(ctx.person.timezone)).date())
            if parsed is None:
                raise UsageError(
                    t._("%(date)s is not a date: write it as e.g. 2027-01-08, 8/1 or 8 januari.", date=value)
                )
            due = parsed
            if due < ctx.now.astimezone(zone(ctx.person.timezone)).date():
                # A due date in the past would start the item overdue: almost always a typo.
                raise UsageError(
                    t._("%(date)s has already passed: choose a due date in the future.", date=value)
                )
            i += 2
        elif word in ("every", "var", "varje") and value and digits(value):
            weeks = int(value)
            if not 1 <= weeks <= 26:
                raise UsageError(t._("Follow-ups can be every 1 to 26 weeks."))
            cadence = weeks * 7
            i += 3 if i + 2 < len(words) and re.match(r"^(weeks?|veckor|vecka)$", words[i + 2].lower()) else 2
        else:
            raise UsageError(
                t._(
                    "I didn't understand %(word)s. Use owner @name, due YYYY-MM-DD and every N weeks.",
                    word=words[i],
                )
            )
    return ItemOptions(owner, due, cadence)


def _ensure_plan(ctx: Context, unit: Unit, round_id: int | None) -> ActionPlan:
    plan = current_plan(ctx.session, unit.id)
    if plan is None:
        plan = ActionPlan(unit_id=unit.id, round_id=round_id, created_by=ctx.person.id, created_at=ctx.now)
        ctx.session.add(plan)
        ctx.session.flush()
    return plan


def _added(ctx: Context, item: PlanItem, owner: Person) -> list[Reply]:
    t = ctx.t
    weeks = item.cadence_days // 7
    text = (
        t._("Added to the plan: %(action)s", action=item.text)
        + "\n"
        + t._("Owner: %(name)s.", name=owner.display_name or "?")
    )
    if item.due_date:
        text += " " + t._("Due %(date)s.", date=t.date(item.due_date, "d MMMM y"))
    text += " " + t.ngettext(
        "I will ask how it is going every week.", "I will ask how it is going every %(n)s weeks.", weeks
    )
    return [Reply(text)]


def plan_adopt(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    unit, rest = _take_unit(ctx, args)
    if not rest or not digits(rest[0]):
        raise UsageError(t._("Write plan adopt and the number of a suggestion, e.g. plan adopt 2."))
    results = latest_shown_report(ctx.session, unit.id)
    found = suggestions(results, ctx.locale) if results else []
    n = int(rest[0])
    if not 1 <= n <= len(found):
        raise UsageError(t._("There is no suggestion number %(n)s. Type plan to see them.", n=n))
    options = _options(ctx, unit, rest[1:], ("plan adopt", args))
    assert results is not None
    plan = _ensure_plan(ctx, unit, results.round_id)
    already = _already_planned(ctx, plan, found[n - 1].text)
    if already is not None:
        return already
    item = _new_item(ctx, plan, found[n - 1].text, options, area_id=found[n - 1].area_id)
    return _added(ctx, item, options.owner)


def plan_add(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    unit, rest = _take_unit(ctx, args)
    if not rest or not rest[0].strip():
        raise UsageError(
            t._('Write plan add and the action in quotes, e.g. plan add "Share one tool a month".')
        )
    options = _options(ctx, unit, rest[1:], ("plan add", args))
    plan = _ensure_plan(ctx, unit, None)
    text = rest[0].strip()[:1000]
    already = _already_planned(ctx, plan, text)
    if already is not None:
        return already
    item = _new_item(ctx, plan, text, options, area_id=None)
    return _added(ctx, item, options.owner)


def _already_planned(ctx: Context, plan: ActionPlan, text: str) -> list[Reply] | None:
    """The same action twice (a command sent again, or adopted by two people) is one item."""
    existing = ctx.session.scalar(select(PlanItem).where(PlanItem.plan_id == plan.id, PlanItem.text == text))
    if existing is None:
        return None
    return [Reply(ctx.t._("That action is already in the plan: %(action)s", action=text))]


def _new_item(
    ctx: Context, plan: ActionPlan, text: str, options: ItemOptions, *, area_id: str | None
) -> PlanItem:
    item = PlanItem(
        plan_id=plan.id,
        text=text,
        owner_person_id=options.owner.id,
        due_date=options.due,
        cadence_days=options.cadence_days,
        status=PlanItemStatus.NOT_STARTED,
        area_id=area_id,
        created_at=ctx.now,
    )
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, "plan.item", {"plan": plan.id, "item": item.id, "owner": options.owner.id})
    return item


# ---------------------------------------------------------------- progress updates


def status_buttons(t: Translator, item_id: int) -> tuple[tuple[Choice, ...], ...]:
    return (
        (
            Choice(t._("Not started"), f"pu:{item_id}:ns"),
            Choice(t._("In progress"), f"pu:{item_id}:ip"),
        ),
        (
            Choice(t._("Done"), f"pu:{item_id}:dn"),
            Choice(t._("Blocked"), f"pu:{item_id}:bl"),
        ),
    )


def on_progress(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `pu:<item>:<status>`: only the item's owner may report on it."""
    t = ctx.t
    invalid = [Reply(t._("That button is not valid any more. Type plan to see the plan."))]
    if len(args) != 2 or not digits(args[0]) or args[1] not in STATUS_CODES:
        return invalid
    item = ctx.session.get(PlanItem, int(args[0]))
    if item is None or item.owner_person_id != ctx.person.id:
        return invalid
    status = STATUS_CODES[args[1]]
    update = ProgressUpdate(plan_item_id=item.id, person_id=ctx.person.id, status=status, at=ctx.now)
    item.status = status
    ctx.session.add(update)
    ctx.session.flush()
    ctx.person.pending = {"kind": "plan-comment", "update": update.id}
    return [
        Reply(
            t._("Noted: %(action)s is %(status)s.", action=item.text, status=t._(STATUS_LABELS[status]))
            + "\n"
            + t._("Add a comment if you like (one message), or press No comment."),
            ((Choice(t._("No comment"), f"pc:{update.id}"),),),
        )
    ]


def on_no_comment(ctx: Context, _args: list[str]) -> list[Reply]:
    # The engine has already cleared the waiting prompt before calling an action.
    return [Reply(ctx.t._("Thanks for the update!"))]


def on_comment(ctx: Context, pending: dict[str, object], text: str) -> list[Reply]:
    t = ctx.t
    raw_id = pending.get("update")
    update = ctx.session.get(ProgressUpdate, raw_id) if isinstance(raw_id, int) else None
    if update is None or update.person_id != ctx.person.id:
        return [Reply(t._("Thanks for the update!"))]
    if text.strip().lower() in NO_COMMENT:
        return [Reply(t._("Thanks for the update!"))]
    update.comment = text.strip()[:MAX_COMMENT]
    return [Reply(t._("Thanks! Your comment is saved with the update."))]


# ---------------------------------------------------------------- reports and digests


@dataclass(frozen=True)
class Counts:
    total: int
    done: int
    in_progress: int
    not_started: int
    blocked: int
    overdue: int


def count_items(items: Iterable[PlanItem], today: date) -> Counts:
    """Each item counted once: overdue (not done, past due) wins over its status."""
    listed = list(items)
    overdue = [i for i in listed if is_overdue(i, today)]
    rest = [i for i in listed if not is_overdue(i, today)]

    def n(status: PlanItemStatus) -> int:
        return sum(1 for i in rest if i.status is status)

    return Counts(
        len(listed),
        n(PlanItemStatus.DONE),
        n(PlanItemStatus.IN_PROGRESS),
        n(PlanItemStatus.NOT_STARTED),
        n(PlanItemStatus.BLOCKED),
        len(overdue),
    )


def report_text(session: Session, unit: Unit, t: Translator, today: date, tz: str) -> str | None:
    """The state of a unit's plan: counts, overdue items and the latest comments."""
    plan = current_plan(session, unit.id)
    items = plan_items(session, plan.id) if plan else []
    if plan is None or not items:
        return None
    c = count_items(items, today)
    lines = [
        t._("Action plan for %(unit)s:", unit=unit.name),
        t.ngettext("%(n)s action", "%(n)s actions", c.total)
        + ": "
        + ", ".join(
            [
                t._("%(n)s done", n=c.done),
                t._("%(n)s in progress", n=c.in_progress),
                t._("%(n)s not started", n=c.not_started),
                t._("%(n)s blocked", n=c.blocked),
                t._("%(n)s overdue", n=c.overdue),
            ]
        ),
    ]
    pulse = pulse_change.latest_pulse(session, unit.id)
    if pulse is not None:  # how the statements the unit chose have moved, next to the plan
        lines.extend(pulse_change.pulse_lines(session, t, unit_report(session, unit.id, pulse.id)))
    for item in items:
        if is_overdue(item, today):
            assert item.due_date is not None
            lines.append(
                "⚠ "
                + t._("%(action)s (due %(date)s)", action=item.text, date=t.date(item.due_date, "d MMMM"))
            )
    comments = session.execute(
        select(ProgressUpdate, PlanItem, Person)
        .join(PlanItem, PlanItem.id == ProgressUpdate.plan_item_id)
        .outerjoin(Person, Person.id == ProgressUpdate.person_id)
        .where(PlanItem.plan_id == plan.id, ProgressUpdate.comment.is_not(None))
        .order_by(ProgressUpdate.at.desc(), ProgressUpdate.id.desc())
        .limit(3)
    ).all()
    if comments:
        lines.append(t._("Latest comments:"))
        for update, item, person in comments:
            who = person.display_name if person is not None else "?"
            when = t.date(update.at.astimezone(zone(tz)).date(), "d MMMM")
            lines.append(f"• {quoted(t, update.comment or '')} ({who}, {when}; {item.text})")
    return "\n".join(lines)


def _report_units(ctx: Context, args: list[str]) -> list[Unit]:
    if args or ctx.person.is_admin:
        unit, _rest = _take_unit(ctx, args)
        return [unit]
    managed = set(
        ctx.session.scalars(
            select(Membership.unit_id).where(
                Membership.person_id == ctx.person.id, Membership.role == Role.MANAGER
            )
        )
    )
    ids = plan_units(ctx.session, ctx.person) | descendants(ctx.session, managed)
    return list(ctx.session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.name)))


def plan_report(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    today = ctx.now.astimezone(zone(ctx.person.timezone)).date()
    texts = [
        text
        for unit in _report_units(ctx, args)
        if (text := report_text(ctx.session, unit, t, today, ctx.person.timezone)) is not None
    ]
    if not texts:
        return [Reply(t._("There is no action plan to report on yet."))]
    return [Reply(text) for text in texts]


# ---------------------------------------------------------------- the scan


def _member_of(session: Session, person_id: int, unit_id: int, role: Role | None = None) -> bool:
    query = select(Membership.id).where(Membership.person_id == person_id, Membership.unit_id == unit_id)
    if role is not None:
        query = query.where(Membership.role == role)
    return session.scalar(query.limit(1)) is not None


def _t(person: Person, default_locale: str) -> Translator:
    return translator(pick_locale(person.locale, person.locale_hint, default_locale))


def _latest_due(
    calendar: Calendar, start: datetime, every: timedelta, now: datetime
) -> tuple[int, datetime] | None:
    """The latest follow-up n >= 1 (at start + n*every, placed on a free day) that is due by now."""
    if every <= timedelta(0):
        return None
    n = int((now - start) / every) + 1
    while n >= 1:
        nominal = calendar.local_date(start + n * every)
        moment = calendar.at(calendar.next_free_day(nominal))
        if moment <= now:
            return n, moment
        n -= 1
    return None


def scan_plans(session: Session, now: datetime, default_locale: str = "en") -> int:
    """Write the follow-ups, overdue prompts and digests due by `now`; returns rows written."""
    written = 0
    rows = session.execute(
        select(PlanItem, ActionPlan, Person)
        .join(ActionPlan, ActionPlan.id == PlanItem.plan_id)
        .join(Person, Person.id == PlanItem.owner_person_id)
        .where(PlanItem.status != PlanItemStatus.DONE)
        .order_by(PlanItem.id)
    ).all()
    holidays = holidays_by_unit(session, {plan.unit_id for _i, plan, _p in rows})
    for item, plan, owner in rows:
        if not _member_of(session, owner.id, plan.unit_id):
            continue  # the owner left the unit: nobody is nudged about it any more
        calendar = calendar_for(owner, holidays.get(plan.unit_id, ()))
        t = _t(owner, default_locale)
        overdue_at: datetime | None = None
        if item.due_date is not None and calendar.local_date(now) > item.due_date:
            written += _overdue(session, item, plan, owner, calendar, now, default_locale, holidays)
            overdue_at = session.scalar(
                select(Outbox.due_at).where(Outbox.idempotency_key == f"overdue:{item.id}")
            )
        due = _latest_due(calendar, item.created_at, timedelta(days=item.cadence_days), now)
        if due is None:
            continue
        n, moment = due
        if overdue_at is not None and calendar.local_date(moment) == calendar.local_date(overdue_at):
            continue  # the overdue prompt asks the same question that day; one message is enough
        written += enqueue(
            session,
            person_id=owner.id,
            kind="nudge",
            replies=[Reply(_nudge_text(t, item), status_buttons(t, item.id))],
            key=f"nudge:{item.id}:{n}",
            due_at=calendar.place(max(moment, now)),
        )
    written += _digests(session, now, default_locale)
    return written


def quoted(t: Translator, text: str) -> str:
    """Text in the language's quotation marks: “English”, ”svenska”."""
    return t._("“%(text)s”", text=text)


def _nudge_text(t: Translator, item: PlanItem) -> str:
    if item.due_date is not None:
        return t._(
            "How is %(action)s going? (due %(date)s)",
            action=quoted(t, item.text),
            date=t.date(item.due_date, "d MMMM"),
        )
    return t._("How is %(action)s going?", action=quoted(t, item.text))


def _overdue(
    session: Session,
    item: PlanItem,
    plan: ActionPlan,
    owner: Person,
    calendar: Calendar,
    now: datetime,
    default_locale: str,
    holidays: dict[int, tuple[tuple[date, date], ...]],
) -> int:
    assert item.due_date is not None
    written = 0
    t = _t(owner, default_locale)
    when = calendar.place(max(calendar.at(item.due_date + timedelta(days=1)), now))
    text = t._(
        "%(action)s was due %(date)s and is not done yet. How is it going?",
        action=quoted(t, item.text),
        date=t.date(item.due_date, "d MMMM"),
    )
    written += enqueue(
        session,
        person_id=owner.id,
        kind="overdue",
        replies=[Reply(text, status_buttons(t, item.id))],
        key=f"overdue:{item.id}",
        due_at=when,
    )
    principals = session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.unit_id == plan.unit_id, Membership.role == Role.PRINCIPAL, Person.id != owner.id)
        .order_by(Person.id)
    ).all()
    for principal in principals:
        pt = _t(principal, default_locale)
        pcal = calendar_for(principal, holidays.get(plan.unit_id, ()))
        note = pt._(
            "For your information: %(action)s (owner %(name)s) was due %(date)s and is not done yet.",
            action=quoted(pt, item.text),
            name=owner.display_name or "?",
            date=pt.date(item.due_date, "d MMMM"),
        )
        written += enqueue(
            session,
            person_id=principal.id,
            kind="overdue-note",
            replies=[Reply(note)],
            key=f"overdue-note:{item.id}:{principal.id}",
            due_at=pcal.place(max(pcal.at(item.due_date + timedelta(days=1)), now)),
        )
    return written


def managers_of(session: Session, unit: Unit) -> list[Person]:
    """Managers of the unit or of any unit above it."""
    chain: list[int] = []
    current: Unit | None = unit
    while current is not None and current.id not in chain:
        chain.append(current.id)
        current = current.parent
    return list(
        session.scalars(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.unit_id.in_(chain), Membership.role == Role.MANAGER)
            .order_by(Person.id)
        ).unique()
    )


def _digests(session: Session, now: datetime, default_locale: str) -> int:
    written = 0
    for unit_id in sorted(set(session.scalars(select(ActionPlan.unit_id)))):
        unit = session.get(Unit, unit_id)
        plan = current_plan(session, unit_id)
        if unit is None or plan is None:
            continue
        holidays = holidays_by_unit(session, {unit.id})[unit.id]
        for manager in managers_of(session, unit):
            calendar = calendar_for(manager, holidays)
            today = calendar.local_date(now)
            first = today.replace(day=1)
            # Due on the first working day of the month, for plans that existed by then.
            moment = calendar.at(calendar.next_free_day(first))
            if moment > now or plan.created_at >= moment:
                continue
            digest = _digest(session, unit, manager, today, default_locale)
            if digest is None:
                continue
            written += enqueue(
                session,
                person_id=manager.id,
                kind="digest",
                replies=digest,
                key=f"digest:{unit.id}:{manager.id}:{first:%Y-%m}",
                due_at=calendar.place(now),
            )
    return written


def _digest(
    session: Session, unit: Unit, manager: Person, today: date, default_locale: str
) -> list[Reply] | None:
    t = _t(manager, default_locale)
    text = report_text(session, unit, t, today, manager.timezone)
    return None if text is None else [Reply(t._("Monthly digest") + "\n" + text)]


def _digest_again(session: Session, key: str, now: datetime, default_locale: str) -> list[Reply] | None:
    """A queued digest made again from the plan as it is now (after someone was forgotten)."""
    parts = key.split(":")
    if len(parts) != 4 or not (digits(parts[1]) and digits(parts[2])):
        return None
    unit, manager = session.get(Unit, int(parts[1])), session.get(Person, int(parts[2]))
    if unit is None or manager is None:
        return None
    return _digest(session, unit, manager, now.astimezone(zone(manager.timezone)).date(), default_locale)


# An overdue note names the owner; once they are forgotten it has nothing left to say.
erasure.about_others("overdue-note", lambda _session, _key, _now, _locale: None)
erasure.about_others("digest", _digest_again)


# ---------------------------------------------------------------- the check before sending


def still_wanted(session: Session, row: Due, now: datetime) -> Verdict:
    """Nudges and notes go out only while the item is open and the people still hold their roles."""
    parts = row.idempotency_key.split(":")
    if len(parts) < 2 or not digits(parts[1]):
        return None
    person = session.get(Person, row.person_id)
    if person is None:
        return CANCEL
    if row.kind == "digest":
        unit = session.get(Unit, int(parts[1]))
        if unit is None or person.id not in {m.id for m in managers_of(session, unit)}:
            return CANCEL
        unit_id = unit.id
    else:
        item = session.get(PlanItem, int(parts[1]))
        plan = session.get(ActionPlan, item.plan_id) if item else None
        if item is None or plan is None or item.status is PlanItemStatus.DONE:
            return CANCEL
        unit_id = plan.unit_id
        if row.kind == "overdue-note":
            if not _member_of(session, person.id, unit_id, Role.PRINCIPAL):
                return CANCEL
        elif item.owner_person_id != person.id or not _member_of(session, person.id, unit_id):
            return CANCEL
    calendar = calendar_for(person, holidays_by_unit(session, {unit_id})[unit_id])
    placed = calendar.place(now)
    return None if placed <= now else placed


for _kind in ("nudge", "overdue", "overdue-note", "digest"):
    register_check(_kind, still_wanted)


def register(registry: Registry) -> None:
    registry.command(
        "plan", Audience.PRINCIPAL, N_("your unit's action plan (or suggested actions)"), "plan"
    )(plan_show)
    registry.command(
        "plan adopt",
        Audience.PRINCIPAL,
        N_("adopt a suggested action"),
        "plan adopt 2 owner @anna due 2027-03-31 every 2 weeks",
        aliases=("plan anta",),
    )(plan_adopt)
    registry.command(
        "plan add",
        Audience.PRINCIPAL,
        N_("add your own action to the plan"),
        'plan add "Share one tool a month" owner @erik due 2027-05-31',
        aliases=("plan lägg till",),
    )(plan_add)
    registry.command(
        "plan report",
        Audience.PRINCIPAL,
        N_("how the action plan is going"),
        "plan report",
        aliases=("plan rapport",),
    )(plan_report)
    registry.action("pu")(on_progress)
    registry.action("pc")(on_no_comment)
    registry.pending_prompt("plan-comment")(on_comment)
