"""The principal changes the plan's items by their number in `plan`:
  plan edit N "text"     new wording (an adopted action then reads as written, in every language)
  plan owner N @name     another owner, a member of the unit (picked from a list when named by name)
  plan due N YYYY-MM-DD  a new due date
  plan done N            closed: no more follow-ups
  plan remove N          gone from the plan, with its updates; its queued follow-ups are dropped
Each is recorded in the audit; with several units, "which unit?" comes as numbered buttons.
"""

from __future__ import annotations

from sqlalchemy import delete

from bot import audit
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.dates import parse_date
from bot.directory import person_lookup
from bot.follow_up.plan_items import current_plan, item_text, plan_items
from bot.follow_up.plans import _take_unit, find_member
from bot.follow_up.working_time import zone
from bot.i18n import N_
from bot.messages import Reply
from storage.models import PlanItem, PlanItemStatus, ProgressUpdate, Unit


def _numbered(
    ctx: Context, args: list[str], command: str, usage: str
) -> tuple[Unit, PlanItem, int, list[str]]:
    """The unit, the item numbered in the arguments (as `plan` lists them) and the words after it."""
    unit, rest = _take_unit(ctx, args, command)
    if not rest or not digits(rest[0]):
        raise UsageError(usage)
    plan = current_plan(ctx.session, unit.id)
    items = plan_items(ctx.session, plan.id) if plan else []
    n = int(rest[0])
    if not 1 <= n <= len(items):
        raise UsageError(
            ctx.t._(
                "There is no item %(n)s in the plan of %(unit)s. Type plan to see them.", n=n, unit=unit.name
            )
        )
    return unit, items[n - 1], n, rest[1:]


def plan_edit(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    usage = t._(
        'Write plan edit, the item\'s number and the new text, e.g. plan edit 2 "Share two tools a month".'
    )
    _unit, item, n, words = _numbered(ctx, args, "plan edit", usage)
    text = " ".join(words).strip()[:1000]
    if not text:
        raise UsageError(usage)
    item.text = text
    item.action_version_id = item.action_index = None  # now the principal's own wording
    audit.record(ctx, "plan.edit", {"item": item.id})
    return [Reply(t._("Changed %(n)s: %(action)s", n=n, action=text))]


def plan_owner(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    usage = t._("Write plan owner, the item's number and the new owner, e.g. plan owner 2 @anna.")
    unit, item, _n, words = _numbered(ctx, args, "plan owner", usage)
    if len(words) != 1:
        raise UsageError(usage)
    owner = find_member(ctx, unit, words[0], person_lookup.Asked("plan owner", tuple(args), words[0]))
    item.owner_person_id = owner.id
    audit.record(ctx, "plan.owner", {"item": item.id, "owner": owner.id})
    name = person_lookup.label(ctx.session, owner)
    return [
        Reply(
            t._("%(action)s is now %(name)s's.", action=item_text(ctx.session, item, ctx.locale), name=name)
        )
    ]


def plan_due(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    usage = t._("Write plan due, the item's number and the date, e.g. plan due 2 2027-04-30.")
    _unit, item, n, words = _numbered(ctx, args, "plan due", usage)
    if not words:
        raise UsageError(usage)
    written = " ".join(words)  # `plan due 2 8 January` as the hint below writes it
    today = ctx.now.astimezone(zone(ctx.person.timezone)).date()
    due = parse_date(written, today)
    if due is None:
        raise UsageError(
            t._("%(date)s is not a date: write it as e.g. 2027-01-08, 8/1 or 8 January.", date=written)
        )
    if due < today:
        raise UsageError(t._("%(date)s has already passed: choose a due date in the future.", date=written))
    item.due_date = due
    audit.record(ctx, "plan.due", {"item": item.id, "due": due.isoformat()})
    return [Reply(t._("%(n)s is now due %(date)s.", n=n, date=t.date(due, "d MMMM y")))]


def plan_done(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    usage = t._("Write plan done and the item's number, e.g. plan done 2.")
    _unit, item, n, _words = _numbered(ctx, args, "plan done", usage)
    item.status = PlanItemStatus.DONE
    ctx.session.add(
        ProgressUpdate(plan_item_id=item.id, person_id=ctx.person.id, status=item.status, at=ctx.now)
    )
    audit.record(ctx, "plan.done", {"item": item.id})
    return [Reply(t._("Closed %(n)s: %(action)s", n=n, action=item_text(ctx.session, item, ctx.locale)))]


def plan_remove(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    usage = t._("Write plan remove and the item's number, e.g. plan remove 3.")
    _unit, item, n, _words = _numbered(ctx, args, "plan remove", usage)
    text = item_text(ctx.session, item, ctx.locale)
    audit.record(ctx, "plan.remove", {"item": item.id})
    # Its follow-ups still queued find no item when they are due and are dropped (plan_followups).
    ctx.session.execute(delete(PlanItem).where(PlanItem.id == item.id))
    return [Reply(t._("Removed %(n)s: %(action)s", n=n, action=text))]


def register(registry: Registry) -> None:
    for words, summary, example, alias, run in (
        (
            "plan edit",
            N_("change an item's text"),
            'plan edit 2 "Share two tools a month"',
            "plan ändra",
            plan_edit,
        ),
        ("plan owner", N_("give an item another owner"), "plan owner 2 @anna", "plan ägare", plan_owner),
        ("plan due", N_("change an item's due date"), "plan due 2 2027-04-30", "plan senast", plan_due),
        ("plan done", N_("close an item"), "plan done 2", "plan klar", plan_done),
        ("plan remove", N_("remove an item from the plan"), "plan remove 3", "plan ta bort", plan_remove),
    ):
        registry.command(words, Audience.PRINCIPAL, summary, example, aliases=(alias,))(run)
