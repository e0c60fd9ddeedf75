"""The end of a workshop: the statements ranked by votes and a summary for the group; the top ones
as plan items with one press, with the suggested actions for their area and level next to each
(owners and dates as in `plan adopt`); the pack with the notes and the priorities."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from bot import audit
from bot.commands import Audience, Context, Registry, UsageError
from bot.follow_up import plans
from bot.i18n import N_, Translator
from bot.messages import Choice, FileOut, Reply
from bot.permissions import plan_units
from bot.results.reports import UnitReport
from bot.results.unit_results import file_stem
from bot.results.workshop_pack import WorkshopOutcome, workshop_pdf, workshop_xlsx
from bot.workshop import agenda, store, views
from bot.workshop.elsewhere import adopted_elsewhere
from instruments.schema import pick
from storage.models import Unit, Workshop

MAX_LABEL = 60  # a button's label (Slack cuts at 75)


def end(ctx: Context, workshop: Workshop) -> list[Reply]:
    """Close the workshop (its timer messages lapse) and post the ranking in the chat."""
    timing = agenda.settle(store.timing_of(workshop), ctx.now)
    store.keep(workshop, agenda.pause(timing, ctx.now))
    workshop.status = store.ENDED
    workshop.ended_at = ctx.now
    audit.record(ctx, "workshop.end", {"workshop": workshop.id})
    return [summary(ctx, workshop)]


def outcome(ctx: Context, workshop: Workshop) -> WorkshopOutcome:
    votes = store.votes_by_code(ctx.session, workshop.id)
    return WorkshopOutcome(
        agenda=tuple(workshop.agenda),
        votes=votes,
        notes=store.notes_by_code(ctx.session, workshop.id),
        priorities=tuple(code for code, _n in agenda.chosen(workshop.agenda, votes, workshop.pick)),
    )


def summary(ctx: Context, workshop: Workshop) -> Reply:
    t = store.workshop_t(workshop)
    report = store.report_of(ctx.session, workshop)
    result = outcome(ctx, workshop)
    lines = [
        t._("The workshop on %(unit)s is done.", unit=report.unit_name),
        " · ".join(
            (
                t.ngettext("%(n)s statement", "%(n)s statements", len(workshop.agenda)),
                t.ngettext("%(n)s vote", "%(n)s votes", sum(result.votes.values())),
                t.ngettext("%(n)s note", "%(n)s notes", sum(len(n) for n in result.notes.values())),
            )
        ),
    ]
    ranked = [(code, result.votes.get(code, 0)) for code in result.priorities]
    if ranked:
        lines.append(t._("Our priorities, by votes:"))
        lines.extend(views.ranking_lines(t, report, ranked))
    else:
        lines.append(t._("No statement got a vote, so there are no priorities yet."))
    buttons: list[tuple[Choice, ...]] = []
    if ranked:
        buttons.append((Choice(t._("Add the priorities to the plan"), f"wp:{workshop.id}"),))
    buttons.append(
        (
            Choice(t._("Workshop pack (PDF)"), f"wf:{workshop.id}:pdf"),
            Choice(t._("Spreadsheet"), f"wf:{workshop.id}:xlsx"),
        )
    )
    return Reply("\n".join(lines), tuple(buttons))


def _ended(ctx: Context, workshop_id: str) -> Workshop:
    workshop = store.locked(ctx.session, int(workshop_id)) if workshop_id.isdigit() else None
    if workshop is None:
        raise UsageError(ctx.t._("That button is not valid any more."))
    if workshop.status != store.ENDED:
        raise UsageError(ctx.t._("End the workshop first: workshop end."))
    return workshop


def _last_ended(ctx: Context) -> Workshop:
    """The chat's latest workshop, for `workshop plan` and `workshop pack` typed after the end."""
    platform, workspace, chat = ctx.incoming.platform, ctx.incoming.workspace, ctx.incoming.address
    workshop = ctx.session.scalar(
        select(Workshop)
        .where(
            Workshop.platform == platform,
            Workshop.workspace == workspace,
            Workshop.chat == (chat or ctx.incoming.user_id),
        )
        .order_by(Workshop.id.desc())
        .limit(1)
    )
    if workshop is None:
        raise UsageError(ctx.t._("There is no workshop in this chat yet. Start one with workshop start."))
    return _ended(ctx, str(workshop.id))


# ---------------------------------------------------------------- priorities into the plan


def _suggested(report: UnitReport, area_id: str, locale: str) -> list[str]:
    """The instrument's actions for the area at the level of its published mean (as `plan` offers)."""
    area = report.area(area_id)
    if area is None:
        return []
    instrument = report.instrument
    role = "principal" if "principal" in instrument.roles else None
    level = instrument.level_for(area.stat.mean)
    return [pick(action.text, locale) for action in instrument.actions_for(area_id, level.id, role)]


def adopt_priorities(ctx: Context, workshop: Workshop, words: list[str]) -> list[Reply]:
    """Each chosen priority becomes a plan item (owner and dates as in `plan adopt`), with buttons
    to adopt the suggested actions for its area and level too."""
    t = ctx.t
    if workshop.unit_id not in plan_units(ctx.session, ctx.person):
        raise UsageError(t._("Only the unit's principal can add to its plan."))
    unit = ctx.session.get(Unit, workshop.unit_id)
    assert unit is not None
    options = plans._options(ctx, unit, words, ("workshop plan", words))
    plan = plans._ensure_plan(ctx, unit, workshop.round_id)
    report = store.report_of(ctx.session, workshop)
    chosen = outcome(ctx, workshop).priorities
    if not chosen:
        return [Reply(t._("No statement got a vote, so there are no priorities yet."))]
    replies: list[Reply] = []
    added = 0
    for code in chosen:
        text = t._(
            "Priority from the workshop: %(statement)s", statement=views.statement_title(t, report, code)
        )
        statement = views.statement_of(report, code)
        if plans._already_planned(ctx, plan, text) is None:
            plans._new_item(ctx, plan, text, options, area_id=statement.area_id if statement else None)
            added += 1
        actions = _suggested(report, statement.area_id, ctx.locale) if statement else []
        buttons = tuple(
            (Choice(_label(t, action), f"wa:{workshop.id}:{code}:{k}"),)
            for k, action in enumerate(actions[:3])
        )
        if actions:
            lines = [t._("Suggested actions for %(code)s:", code=code), *(f"• {a}" for a in actions[:3])]
            assert statement is not None
            lines.extend(_elsewhere_lines(ctx, report, statement.area_id))
            replies.append(Reply("\n".join(lines), buttons))
    owner = options.owner.display_name or "?"
    head = t.ngettext(
        "Added %(n)s priority to the plan of %(unit)s (owner: %(owner)s).",
        "Added %(n)s priorities to the plan of %(unit)s (owner: %(owner)s).",
        added,
        unit=unit.name,
        owner=owner,
    )
    audit.record(ctx, "workshop.plan", {"workshop": workshop.id, "items": added})
    return [Reply(head + " " + t._("Type plan to see it.")), *replies]


def _elsewhere_lines(ctx: Context, report: UnitReport, area_id: str) -> list[str]:
    """What other units at the same level adopted most often (counts of at least the threshold)."""
    area = report.area(area_id)
    if area is None:
        return []
    level = report.instrument.level_for(area.stat.mean)
    found = adopted_elsewhere(
        ctx.session, report.instrument, report.unit_id, area_id, level.id, ctx.locale, report.threshold
    )
    if not found:
        return []
    t = ctx.t
    return [
        t._("Other units at this level adopted most often:"),
        *(
            t.ngettext("• %(action)s (%(n)s unit)", "• %(action)s (%(n)s units)", n, action=a)
            for a, n in found[:3]
        ),
    ]


def _label(t: Translator, action: str) -> str:
    text = t._("Adopt: %(action)s", action=action)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def on_plan(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `wp:<workshop>`: the priorities into the plan, the presser as owner."""
    return adopt_priorities(ctx, _ended(ctx, args[0] if args else ""), [])


def plan_command(ctx: Context, args: list[str]) -> list[Reply]:
    """`workshop plan [owner @NAME] [due YYYY-MM-DD] [every N weeks]`."""
    return adopt_priorities(ctx, _last_ended(ctx), args)


def on_adopt(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `wa:<workshop>:<code>:<n>`: one suggested action for a priority's area into the plan."""
    t = ctx.t
    if len(args) != 3 or not args[2].isdigit():
        return [Reply(t._("That button is not valid any more."))]
    workshop = _ended(ctx, args[0])
    if workshop.unit_id not in plan_units(ctx.session, ctx.person):
        raise UsageError(t._("Only the unit's principal can add to its plan."))
    report = store.report_of(ctx.session, workshop)
    statement = views.statement_of(report, args[1])
    actions = _suggested(report, statement.area_id, ctx.locale) if statement else []
    if args[1] not in workshop.agenda or int(args[2]) >= len(actions):
        return [Reply(t._("That button is not valid any more."))]
    unit = ctx.session.get(Unit, workshop.unit_id)
    assert unit is not None
    assert statement is not None
    plan = plans._ensure_plan(ctx, unit, workshop.round_id)
    text = actions[int(args[2])]
    already = plans._already_planned(ctx, plan, text)
    if already is not None:
        return already
    options = plans._options(ctx, unit, [], ("workshop plan", []))
    item = plans._new_item(ctx, plan, text, options, area_id=statement.area_id)
    return plans._added(ctx, item, options.owner)


# ---------------------------------------------------------------- the pack


def pack(ctx: Context, workshop: Workshop, kind: str) -> list[Reply]:
    """The workshop pack with its notes and priorities, for whoever runs the workshop."""
    store.check_runs(ctx, workshop)
    t = store.workshop_t(workshop)
    report = store.report_of(ctx.session, workshop)
    made = partial(workshop_pdf if kind == "pdf" else workshop_xlsx, t, report, outcome(ctx, workshop))
    audit.record(ctx, "workshop.pack", {"workshop": workshop.id, "format": kind})
    return [
        Reply(
            t._(
                "The workshop pack: the result, each statement with its votes and notes, and our priorities."
            ),
            file=FileOut(f"{file_stem(report)}-workshop-notes.{kind}", made, t._("Workshop pack")),
        )
    ]


def on_pack(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `wf:<workshop>:<pdf|xlsx>`."""
    if len(args) != 2 or args[1] not in ("pdf", "xlsx"):
        return [Reply(ctx.t._("That button is not valid any more."))]
    return pack(ctx, _ended(ctx, args[0]), args[1])


def pack_command(ctx: Context, args: list[str]) -> list[Reply]:
    """`workshop pack [xlsx]`."""
    kind = "xlsx" if args and args[0].lower() == "xlsx" else "pdf"
    return pack(ctx, _last_ended(ctx), kind)


def register(registry: Registry) -> None:
    registry.command(
        "workshop plan",
        Audience.PRINCIPAL,
        N_("the workshop's priorities into the plan"),
        "workshop plan owner @anna due 2027-03-31",
        listed=False,
        in_groups=True,
    )(plan_command)
    registry.command(
        "workshop pack",
        Audience.EVERYONE,
        N_("the workshop pack with its notes and priorities (PDF, or xlsx)"),
        "workshop pack xlsx",
        aliases=("workshop underlag",),
        listed=False,
        in_groups=True,
    )(pack_command)
    registry.action("wp", in_groups=True)(on_plan)
    registry.action("wa", in_groups=True)(on_adopt)
    registry.action("wf", in_groups=True)(on_pack)
