"""Action plan items as everyone reads them: a unit's current plan and its items, an item's text
in the reader's language, its status, the buttons that report on it, and the plan's report (for
`plan report` and the managers' digests)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory import catalogue
from bot.follow_up.working_time import zone
from bot.i18n import N_, Translator, pick_locale, translator
from bot.messages import Choice
from bot.results import pulse_change
from bot.results.reports import unit_report
from storage.models import (
    ActionPlan,
    Membership,
    Person,
    PlanItem,
    PlanItemStatus,
    ProgressUpdate,
    Role,
    Unit,
)

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


def item_text(session: Session, item: PlanItem, locale: str) -> str:
    """The item's action in `locale`: an adopted one from its instrument (every person reads it in
    their own language), one written by the principal as written."""
    return catalogue.action_text(session, item.action_version_id, item.action_index, item.text, locale)


def current_plan(session: Session, unit_id: int) -> ActionPlan | None:
    return session.scalar(
        select(ActionPlan).where(ActionPlan.unit_id == unit_id).order_by(ActionPlan.id.desc()).limit(1)
    )


def plan_items(session: Session, plan_id: int) -> list[PlanItem]:
    return list(session.scalars(select(PlanItem).where(PlanItem.plan_id == plan_id).order_by(PlanItem.id)))


def is_overdue(item: PlanItem, today: date) -> bool:
    return item.due_date is not None and item.due_date < today and item.status is not PlanItemStatus.DONE


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


def quoted(t: Translator, text: str) -> str:
    """Text in the language's quotation marks: “English”, ”svenska”."""
    return t._("“%(text)s”", text=text)


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
                + t._(
                    "%(action)s (due %(date)s)",
                    action=item_text(session, item, t.locale),
                    date=t.date(item.due_date, "d MMMM"),
                )
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
            lines.append(
                f"• {quoted(t, update.comment or '')} ({who}, {when}; {item_text(session, item, t.locale)})"
            )
    return "\n".join(lines)


def member_of(session: Session, person_id: int, unit_id: int, role: Role | None = None) -> bool:
    query = select(Membership.id).where(Membership.person_id == person_id, Membership.unit_id == unit_id)
    if role is not None:
        query = query.where(Membership.role == role)
    return session.scalar(query.limit(1)) is not None


def translator_for(person: Person, default_locale: str) -> Translator:
    return translator(pick_locale(person.locale, person.locale_hint, default_locale))


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
