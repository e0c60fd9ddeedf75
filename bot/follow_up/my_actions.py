"""Owners and their actions: `my actions` (`mina åtgärder`) lists what a person owns, with buttons
to report its status and to comment at any time, not only when nudged.

Buttons: `pu:<item>:<ns|ip|dn|bl>` records a progress update (only the item's owner may press it)
and the person's next free text becomes its comment; `pn:<item>` asks for a comment alone.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import Audience, Context, Registry, digits
from bot.follow_up.plan_items import STATUS_CODES, STATUS_LABELS, item_text, status_buttons
from bot.i18n import N_
from bot.messages import Choice, Reply
from storage.models import ActionPlan, PlanItem, PlanItemStatus, ProgressUpdate, Unit

NO_COMMENT = ("skip", "no", "nej", "-", "hoppa över", "ingen", "none")

MAX_COMMENT = 2000


MAX_LISTED = 20


def my_actions(ctx: Context, _args: list[str]) -> list[Reply]:
    """`my actions`: the open items the person owns, each with its status buttons and Comment."""
    t = ctx.t
    rows = ctx.session.execute(
        select(PlanItem, Unit.name)
        .join(ActionPlan, ActionPlan.id == PlanItem.plan_id)
        .join(Unit, Unit.id == ActionPlan.unit_id)
        .where(PlanItem.owner_person_id == ctx.person.id, PlanItem.status != PlanItemStatus.DONE)
        .order_by(PlanItem.id)
        .limit(MAX_LISTED)
    ).all()
    if not rows:
        return [Reply(t._("You don't own any action in an action plan just now."))]
    replies = [Reply(t.ngettext("Your action:", "Your actions:", len(rows)))]
    for n, (item, unit_name) in enumerate(rows, start=1):
        line = f"{n}. {item_text(ctx.session, item, ctx.locale)}\n   {unit_name} · {t._(STATUS_LABELS[item.status])}"
        if item.due_date is not None:
            line += " · " + t._("due %(date)s", date=t.date(item.due_date, "d MMMM"))
        buttons = status_buttons(t, item.id)
        replies.append(Reply(line, (*buttons, (Choice(t._("Comment"), f"pn:{item.id}"),))))
    return replies


def _owned(ctx: Context, raw_id: str) -> PlanItem | None:
    item = ctx.session.get(PlanItem, int(raw_id)) if digits(raw_id) else None
    return item if item is not None and item.owner_person_id == ctx.person.id else None


def on_note(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `pn:<item>`: the owner's next message becomes a comment on the item."""
    t = ctx.t
    item = _owned(ctx, args[0]) if len(args) == 1 else None
    if item is None:
        return [Reply(t._("That button is not valid any more. Type plan to see the plan."))]
    ctx.person.pending = {"kind": "plan-note", "item": item.id}
    return [
        Reply(
            t._(
                "Write your comment on %(action)s (one message).",
                action=item_text(ctx.session, item, ctx.locale),
            )
        )
    ]


def on_note_text(ctx: Context, pending: dict[str, object], text: str) -> list[Reply]:
    t = ctx.t
    raw_id = pending.get("item")
    item = _owned(ctx, str(raw_id)) if isinstance(raw_id, int) else None
    comment = text.strip()[:MAX_COMMENT]
    if item is None or not comment or comment.lower() in NO_COMMENT:
        return [Reply(t._("Thanks for the update!"))]
    ctx.session.add(
        ProgressUpdate(
            plan_item_id=item.id, person_id=ctx.person.id, status=item.status, comment=comment, at=ctx.now
        )
    )
    return [Reply(t._("Thanks! Your comment is saved with the update."))]


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
            t._(
                "Noted: %(action)s is %(status)s.",
                action=item_text(ctx.session, item, ctx.locale),
                status=t._(STATUS_LABELS[status]),
            )
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


def register(registry: Registry) -> None:
    registry.command(
        "my actions",
        Audience.EVERYONE,
        N_("the actions you own in an action plan, to report on"),
        "my actions",
        aliases=("mina åtgärder",),
    )(my_actions)
    registry.action("pu")(on_progress)
    registry.action("pc")(on_no_comment)
    registry.action("pn")(on_note)
    registry.pending_prompt("plan-comment")(on_comment)
    registry.pending_prompt("plan-note")(on_note_text)
