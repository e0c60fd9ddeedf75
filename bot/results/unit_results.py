"""Unit results in the chat: `unit results`, the workshop pack, `export`, and "You said, we did".

Who may see what is decided here, in the core: a unit's result is for the unit's principal, the
managers above it and admins (bot.permissions.visible_units); exports are for admins; announcing
the result to staff is for whoever runs the unit's plan (bot.permissions.plan_units).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit, outbox
from bot.commands import Audience, Context, Registry, UsageError
from bot.directory.catalogue import round_called, round_title
from bot.directory.people import locale_of
from bot.i18n import N_, Translator, translator
from bot.messages import Choice, FileOut, Image, Reply
from bot.permissions import plan_units, visible_units
from bot.results import charts, pulse_change, report_files, report_text, workshop_pack
from bot.results.reports import (
    UnitReport,
    find_round,
    find_unit,
    latest_round,
    rounds_of_unit,
    unit_report,
)
from bot.results.roll_up import has_subunits_in, roll_up, tree_rounds
from storage.models import ActionPlan, Membership, Person, PlanItem, Round, RoundUnit, Unit

WORKSHOP_WORDS = ("workshop", "verkstad")


@dataclass(frozen=True)
class Target:
    unit: Unit
    round: Round


def _choose(ctx: Context, args: list[str], units: set[int], command: str) -> Target | list[Reply]:
    """The unit and round named in `args` (or the only/latest ones), checked against `units`."""
    t = ctx.t
    unit: Unit | None
    if args:
        unit = find_unit(ctx.session, args[0])
        if unit is None:
            raise UsageError(
                t._("I don't know the unit %(unit)s. Type unit list to see the units.", unit=args[0])
            )
    else:
        visible = sorted(units)
        if len(visible) != 1:
            names = ctx.session.scalars(select(Unit).where(Unit.id.in_(visible)).order_by(Unit.name)).all()
            if not names:
                raise UsageError(t._("You are not responsible for any unit."))
            return [
                Reply(
                    t._("Which unit? For example: %(example)s", example=f'{command} "{names[0].name}"'),
                    tuple((Choice(u.name, f"cmd:{command} #{u.id}"),) for u in names[:8]),
                )
            ]
        unit = ctx.session.get(Unit, visible[0])
        assert unit is not None
    if unit.id not in units:
        raise UsageError(t._("Sorry, you can only see results of units you are responsible for."))
    round_ = (
        find_round(ctx.session, unit.id, args[1])
        if len(args) > 1
        else latest_round(ctx.session, unit.id, ctx.now)
    )
    if round_ is None:
        round_ = _tree_round(ctx, unit, args[1] if len(args) > 1 else None)
    if round_ is None:
        if len(args) > 1:
            raise UsageError(
                t._(
                    "%(unit)s has no round called %(round)s. Type round list to see the rounds.",
                    unit=unit.name,
                    round=args[1],
                )
            )
        raise UsageError(t._("%(unit)s has not taken part in any round yet.", unit=unit.name))
    return Target(unit, round_)


def _tree_round(ctx: Context, unit: Unit, word: str | None) -> Round | None:
    """For a unit that takes part only through its subunits (a region): their round, by name or
    the latest that has opened."""
    rounds = tree_rounds(ctx.session, unit.id)
    if word is not None:
        by_id = next((r for r in rounds if word.lstrip("#") == str(r.id)), None)
        return by_id or next((r for r in rounds if round_called(ctx.session, r, word)), None)
    opened = [r for r in rounds if r.opens_at <= ctx.now] or rounds
    return opened[0] if opened else None


def _slug(text: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in kept.split("-") if part) or "unit"


def file_stem(report: UnitReport) -> str:
    return f"{_slug(report.unit_name)}-{_slug(report.round_name)}"


def result_replies(t: Translator, report: UnitReport) -> list[Reply]:
    """The summary with the area chart, then the distribution chart (only when there is a result)."""
    text = report_text.summary(t, report)
    if not report.shown:
        return [Reply(text)]
    stem = file_stem(report)
    payload = f"cmd:unit results #{report.unit_id} #{report.round_id} workshop"
    buttons = (Choice(t._("Workshop pack (PDF)"), payload),) if len(payload) <= 64 else ()
    return [
        Reply(
            text,
            (buttons,) if buttons else (),
            image=Image(f"{stem}-areas.png", partial(charts.unit_chart, t, report), t._("Mean per area")),
        ),
        Reply(
            t._("How the answers are spread, statement by statement:"),
            image=Image(
                f"{stem}-statements.png",
                partial(charts.distribution_chart, t, report),
                t._("Answers per statement"),
            ),
        ),
    ]


def _other_rounds(ctx: Context, chosen: Target) -> list[Reply]:
    """The latest round has no result yet: offer the unit's earlier rounds instead of a dead end."""
    earlier = [r for r in rounds_of_unit(ctx.session, chosen.unit.id) if r.id != chosen.round.id][:5]
    if not earlier:
        return []
    buttons = tuple(
        (Choice(round_title(ctx.session, r, ctx.locale), f"cmd:unit results #{chosen.unit.id} #{r.id}"),)
        for r in earlier
    )
    return [Reply(ctx.t._("Earlier rounds of %(unit)s:", unit=chosen.unit.name), buttons)]


def unit_results(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit results [UNIT] [ROUND] [workshop [xlsx]]`."""
    words = list(args)
    kind: str | None = None
    if (
        words
        and words[-1].lower() in ("xlsx", "pdf")
        and len(words) >= 2
        and words[-2].lower() in WORKSHOP_WORDS
    ):
        kind = words.pop().lower()
        words.pop()
    elif words and words[-1].lower() in WORKSHOP_WORDS:
        kind = "pdf"
        words.pop()
    visible = visible_units(ctx.session, ctx.person)
    chosen = _choose(ctx, words, visible, "unit results")
    if isinstance(chosen, list):
        return chosen
    t = ctx.t
    if kind is None and has_subunits_in(ctx.session, chosen.unit.id, chosen.round.id):
        rolled = roll_up(ctx.session, chosen.unit.id, chosen.round, visible)
        return [Reply(report_text.roll_up_summary(t, rolled))]
    report = unit_report(ctx.session, chosen.unit.id, chosen.round.id)
    if kind is None:
        replies = result_replies(t, report)
        pulse = pulse_change.pulse_lines(ctx.session, t, report)
        if pulse:  # a pulse round: the change on exactly its statements, next to the result
            replies[0] = replace(replies[0], text=replies[0].text + "\n\n" + "\n".join(pulse))
        if not report.shown and len(words) < 2:
            replies.extend(_other_rounds(ctx, chosen))
        return replies
    if not report.shown:
        return [Reply(report_text.summary(t, report))]
    # Made after the commit (bot/messages.Outgoing): the PDF draws the unit's charts.
    content = partial(workshop_pack.workshop_pdf if kind == "pdf" else workshop_pack.workshop_xlsx, t, report)
    audit.record(ctx, "report.workshop", {"unit": report.unit_id, "round": report.round_id, "format": kind})
    return [
        Reply(
            t._("The workshop pack: the statements weakest first, with room for your notes."),
            file=FileOut(f"{file_stem(report)}-workshop.{kind}", content, t._("Workshop pack")),
        )
    ]


# ---------------------------------------------------------------- export (admin)


def export(ctx: Context, args: list[str]) -> list[Reply]:
    """`export UNIT csv|xlsx [ROUND]`: the unit's result per area and statement, nothing finer.

    Individual answers are never exported, not even pseudonymised: a row is one person's whole answer
    vector, so two exports compared row by row show the row that left (someone who erased) or came,
    and a row shows answers to statements the result hides because too few answered them."""
    t = ctx.t
    if len(args) < 2 or args[1].lower() not in ("csv", "xlsx"):
        raise UsageError(
            t._('Write export, the unit and csv or xlsx, for example: export "Ystad bibliotek" xlsx')
        )
    fmt = args[1].lower()
    chosen = _choose(ctx, [args[0], *args[2:3]], visible_units(ctx.session, ctx.person), "export")
    if isinstance(chosen, list):
        return chosen
    report = unit_report(ctx.session, chosen.unit.id, chosen.round.id)
    if not report.shown:
        return [Reply(report_text.summary(t, report))]
    content = (
        report_files.aggregates_csv(t, report) if fmt == "csv" else report_files.aggregates_xlsx(t, report)
    )
    audit.record(ctx, "report.export", {"unit": report.unit_id, "round": report.round_id, "format": fmt})
    return [
        Reply(
            t._("The unit's result per area and statement."),
            file=FileOut(f"{file_stem(report)}-results.{fmt}", content, t._("Results")),
        )
    ]


# ---------------------------------------------------------------- "You said, we did"


def adopted_actions(session: Session, unit_id: int, round_id: int) -> list[PlanItem]:
    return list(
        session.scalars(
            select(PlanItem)
            .join(ActionPlan, ActionPlan.id == PlanItem.plan_id)
            .where(ActionPlan.unit_id == unit_id, ActionPlan.round_id == round_id)
            .order_by(PlanItem.id)
        )
    )


def announcement(t: Translator, report: UnitReport, actions: list[PlanItem]) -> str:
    lines = [
        t._(
            "You said, we did: %(unit)s, round %(round)s",
            unit=report.unit_name,
            round=report_text.round_label(t, report),
        )
    ]
    lines.append(
        t._("%(done)s of %(invited)s answered. Thank you!", done=report.completed, invited=report.invited)
    )
    if report.shown:
        lines.append(t._("What you said, mean per area:"))
        lines.extend(report_text.area_lines(t, report))
    else:
        lines.append(report_text.anonymity_note(t, report) or "")
    lines.append(t._("What we will do:"))
    for n, item in enumerate(actions, start=1):
        due = (" " + t._("(by %(date)s)", date=t.date(item.due_date, "day_month"))) if item.due_date else ""
        lines.append(f"{n}) {item.text}{due}")
    return "\n".join(lines)


def announce_results(
    session: Session, round_id: int, now: datetime, *, unit_id: int | None = None, default_locale: str = "en"
) -> int:
    """Queue "You said, we did" to every member of each unit of the round whose plan has actions.

    Each person gets it once per round (outbox key `announce:{round}:{person}`), in their language.
    Returns how many messages were newly queued.
    """
    units = list(session.scalars(select(RoundUnit.unit_id).where(RoundUnit.round_id == round_id)))
    if unit_id is not None:
        units = [u for u in units if u == unit_id]
    queued = 0
    for unit in units:
        actions = adopted_actions(session, unit, round_id)
        if not actions:
            continue
        report = unit_report(session, unit, round_id)
        people = session.scalars(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.unit_id == unit)
        ).all()
        for person in people:
            t = translator(locale_of(person, default_locale))
            text = announcement(t, report, actions)
            if outbox.enqueue(
                session,
                person_id=person.id,
                kind="announce",
                replies=[Reply(text)],
                key=f"announce:{round_id}:{person.id}",
                due_at=now,
            ):
                queued += 1
    return queued


def announce(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit announce [UNIT] [ROUND]`: send the result and the adopted actions to the unit's staff."""
    t = ctx.t
    chosen = _choose(ctx, args, plan_units(ctx.session, ctx.person), "unit announce")
    if isinstance(chosen, list):
        return chosen
    if not adopted_actions(ctx.session, chosen.unit.id, chosen.round.id):
        return [
            Reply(t._("No actions have been adopted for this round yet. Adopt some with plan adopt first."))
        ]
    queued = announce_results(
        ctx.session,
        chosen.round.id,
        ctx.now,
        unit_id=chosen.unit.id,
        default_locale=ctx.config.default_locale,
    )
    audit.record(ctx, "report.announce", {"unit": chosen.unit.id, "round": chosen.round.id, "queued": queued})
    if queued == 0:
        return [Reply(t._("Everyone in %(unit)s has already been told.", unit=chosen.unit.name))]
    return [Reply(t.ngettext("Sent to %(n)s person.", "Sent to %(n)s people.", queued))]


def register(registry: Registry) -> None:
    registry.command(
        "unit results",
        Audience.PRINCIPAL,
        N_("your unit's result (add workshop for the workshop pack)"),
        'unit results "Ystad bibliotek" "Autumn 2026"',
        aliases=("enhetens resultat",),
    )(unit_results)
    registry.command(
        "unit announce",
        Audience.PRINCIPAL,
        N_("tell staff the result and the actions adopted"),
        'unit announce "Ystad bibliotek" "Autumn 2026"',
    )(announce)
    registry.command(
        "export",
        Audience.ADMIN,
        N_("a unit's result as a file (csv or xlsx)"),
        'export "Ystad bibliotek" xlsx',
        aliases=("exportera",),
    )(export)
