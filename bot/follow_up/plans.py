"""Action plans, as the principal runs them: suggested actions from a unit's published result,
adopted and own items, and changing them by number.

Commands (principals for their own unit, admins for any unit named with `unit "NAME"`):
  plan                         the plan with each item's status, or the suggestions when there is none
  plan adopt N [owner @name] [due YYYY-MM-DD] [every N weeks]
  plan add "text" [owner @name] [due YYYY-MM-DD] [every N weeks]
  plan edit N "text" · plan owner N @name · plan due N YYYY-MM-DD · plan done N · plan remove N
  plan report                  done / in progress / overdue and the latest comments
Owners' own view is bot/follow_up/my_actions.py; what the plan sends on its own,
bot/follow_up/plan_followups.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit, picks
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.dates import parse_date
from bot.directory import person_lookup
from bot.follow_up.plan_items import (
    STATUS_LABELS,
    current_plan,
    is_overdue,
    item_text,
    plan_items,
    report_text,
)
from bot.follow_up.working_time import zone
from bot.i18n import N_, Translator
from bot.messages import Reply
from bot.permissions import descendants, plan_units
from bot.results.reports import UnitReport, latest_shown_report
from instruments.schema import pick
from storage.models import (
    ActionPlan,
    Membership,
    Person,
    PlanItem,
    PlanItemStatus,
    Role,
    Round,
    Unit,
)

DEFAULT_CADENCE_DAYS = 14


@dataclass(frozen=True)
class Suggestion:
    area_id: str
    level_id: str
    text: str
    action_index: int  # its place in the instrument's list of actions, which the plan item keeps


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
            index = instrument.actions.index(action)
            found.append(Suggestion(result.area_id, level.id, pick(action.text, locale), index))
    return found


def _take_unit(ctx: Context, args: list[str], command: str = "plan") -> tuple[Unit, list[str]]:
    """The unit a plan command is about: `unit "NAME"` in the arguments, or the person's only unit;
    with several, the units to pick from by number (`command` runs again with the pick)."""
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
    raise picks.ask(ctx, t._("Which unit?"), names, command, [[*rest, "unit", name] for name in names])


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


def plan_show(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    unit, _rest = _take_unit(ctx, args, "plan")
    plan = current_plan(ctx.session, unit.id)
    items = plan_items(ctx.session, plan.id) if plan else []
    today = ctx.now.astimezone(zone(ctx.person.timezone)).date()
    if items:
        lines = [t._("Action plan for %(unit)s:", unit=unit.name)]
        for n, item in enumerate(items, start=1):
            owner = ctx.session.get(Person, item.owner_person_id) if item.owner_person_id else None
            text = item_text(ctx.session, item, ctx.locale)
            lines.append(f"{n}. {text}\n   {_status_line(t, item, owner, today)}")
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
                    t._("%(date)s is not a date: write it as e.g. 2027-01-08, 8/1 or 8 January.", date=value)
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
        t._("Added to the plan: %(action)s", action=item_text(ctx.session, item, ctx.locale))
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
    unit, rest = _take_unit(ctx, args, "plan adopt")
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
    chosen = found[n - 1]
    round_ = ctx.session.get(Round, results.round_id)
    action = (round_.instrument_version_id, chosen.action_index) if round_ is not None else None
    item = _new_item(ctx, plan, chosen.text, options, area_id=chosen.area_id, action=action)
    return _added(ctx, item, options.owner)


def plan_add(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    unit, rest = _take_unit(ctx, args, "plan add")
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
    ctx: Context,
    plan: ActionPlan,
    text: str,
    options: ItemOptions,
    *,
    area_id: str | None,
    action: tuple[int, int] | None = None,
) -> PlanItem:
    """A new item; `action` is the instrument version and action it was adopted from, if any."""
    item = PlanItem(
        plan_id=plan.id,
        text=text,
        owner_person_id=options.owner.id,
        due_date=options.due,
        cadence_days=options.cadence_days,
        status=PlanItemStatus.NOT_STARTED,
        area_id=area_id,
        action_version_id=action[0] if action else None,
        action_index=action[1] if action else None,
        created_at=ctx.now,
    )
    ctx.session.add(item)
    ctx.session.flush()
    audit.record(ctx, "plan.item", {"plan": plan.id, "item": item.id, "owner": options.owner.id})
    return item


def _report_units(ctx: Context, args: list[str]) -> list[Unit]:
    if args or ctx.person.is_admin:
        unit, _rest = _take_unit(ctx, args, "plan report")
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
