"""What an action plan sends on its own (written by `scan_plans`, keys unique in the outbox):
  nudge:{item}:{n}                   the n-th follow-up to the owner, every `cadence_days`
  overdue:{item}                     the item is past due and not done: to its owner
  overdue-note:{item}:{principal}    ... and a note to the unit's principal
  digest:{unit}:{manager}:{YYYY-MM}  monthly digest to the managers of the unit (or a unit above it)
and the check that each is still wanted just before it goes out."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands import digits
from bot.conversation import erasure
from bot.follow_up.plan_items import (
    current_plan,
    item_text,
    managers_of,
    member_of,
    quoted,
    report_text,
    status_buttons,
    translator_for,
)
from bot.follow_up.working_time import Calendar, calendar_for, holidays_by_unit, zone
from bot.i18n import Translator
from bot.messages import Reply
from bot.outbox import CANCEL, Due, Verdict, enqueue, register_check
from bot.permissions import visible_units
from bot.results.report_text import roll_up_summary
from bot.results.roll_up import has_subunits_in, roll_up, tree_rounds
from storage.models import (
    ActionPlan,
    Membership,
    Outbox,
    Person,
    PlanItem,
    PlanItemStatus,
    Role,
    Round,
    Unit,
)


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
        if not member_of(session, owner.id, plan.unit_id):
            continue  # the owner left the unit: nobody is nudged about it any more
        calendar = calendar_for(owner, holidays.get(plan.unit_id, ()))
        t = translator_for(owner, default_locale)
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
            replies=[Reply(_nudge_text(session, t, item), status_buttons(t, item.id))],
            key=f"nudge:{item.id}:{n}",
            due_at=calendar.place(max(moment, now)),
        )
    written += _digests(session, now, default_locale)
    written += _tree_digests(session, now, default_locale)
    return written


def _nudge_text(session: Session, t: Translator, item: PlanItem) -> str:
    action = quoted(t, item_text(session, item, t.locale))
    if item.due_date is not None:
        return t._(
            "How is %(action)s going? (due %(date)s)",
            action=action,
            date=t.date(item.due_date, "d MMMM"),
        )
    return t._("How is %(action)s going?", action=action)


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
    t = translator_for(owner, default_locale)
    when = calendar.place(max(calendar.at(item.due_date + timedelta(days=1)), now))
    text = t._(
        "%(action)s was due %(date)s and is not done yet. How is it going?",
        action=quoted(t, item_text(session, item, t.locale)),
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
        pt = translator_for(principal, default_locale)
        pcal = calendar_for(principal, holidays.get(plan.unit_id, ()))
        note = pt._(
            "For your information: %(action)s (owner %(name)s) was due %(date)s and is not done yet.",
            action=quoted(pt, item_text(session, item, pt.locale)),
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


def _tree_digests(session: Session, now: datetime, default_locale: str) -> int:
    """On the first working day of the month, each manager of a unit with subunits (a region, a
    municipality) gets that tree's results rolled up: the same roll-up as `unit results`, made of
    what each unit itself shows (bot/results/roll_up.py)."""
    written = 0
    managing = session.execute(
        select(Membership.unit_id, Membership.person_id, Membership.joined_at).where(
            Membership.role == Role.MANAGER
        )
    ).all()
    for unit_id, person_id, joined_at in sorted(set(managing)):
        manager = session.get(Person, person_id)
        found = _latest_tree_round(session, unit_id, now)
        if manager is None or found is None:
            continue
        calendar = calendar_for(manager, holidays_by_unit(session, {unit_id})[unit_id])
        first = calendar.local_date(now).replace(day=1)
        moment = calendar.at(calendar.next_free_day(first))
        # Due on the first working day of the month, for managers who were managers by then.
        if moment > now or joined_at >= moment:
            continue
        rolled = roll_up(session, unit_id, found, visible_units(session, manager))
        if not rolled.shown:
            continue
        t = translator_for(manager, default_locale)
        written += enqueue(
            session,
            person_id=manager.id,
            kind="tree-digest",
            replies=[Reply(t._("Monthly digest") + "\n" + roll_up_summary(t, rolled))],
            key=f"tree-digest:{unit_id}:{manager.id}:{first:%Y-%m}",
            due_at=calendar.place(now),
        )
    return written


def _latest_tree_round(session: Session, unit_id: int, now: datetime) -> Round | None:
    for round_ in tree_rounds(session, unit_id):
        if round_.opens_at <= now and has_subunits_in(session, unit_id, round_.id):
            return round_
    return None


def _digest(
    session: Session, unit: Unit, manager: Person, today: date, default_locale: str
) -> list[Reply] | None:
    t = translator_for(manager, default_locale)
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
            if not member_of(session, person.id, unit_id, Role.PRINCIPAL):
                return CANCEL
        elif item.owner_person_id != person.id or not member_of(session, person.id, unit_id):
            return CANCEL
    calendar = calendar_for(person, holidays_by_unit(session, {unit_id})[unit_id])
    placed = calendar.place(now)
    return None if placed <= now else placed


for _kind in ("nudge", "overdue", "overdue-note", "digest"):
    register_check(_kind, still_wanted)
