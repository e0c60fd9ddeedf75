"""A person's state at a glance (Slack's App Home tab, and any platform with a similar place).

Lines of text in the person's language: what they are answering and how far they are, the rounds
open to them, their last result and, for principals, their unit's action plan. Adapters render the
lines; nothing here knows about a platform.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.commands import Context
from bot.conversation import assessment
from bot.directory import catalogue
from bot.messages import Choice, Reply
from bot.results import feedback
from instruments.schema import pick
from storage.models import ActionPlan, Membership, PlanItem, PlanItemStatus, Role

START_PAYLOAD = "cmd:assess"
MAX_ACTIONS = 10


def home_summary(ctx: Context) -> list[str]:
    return [
        *_in_progress(ctx),
        *_open_rounds(ctx),
        *_last_result(ctx),
        *_my_actions(ctx),
        *_plans(ctx),
    ]


def home_reply(ctx: Context) -> Reply:
    """The summary with one button that starts or resumes the assessment."""
    label = ctx.t._("Continue the assessment") if _current(ctx) else ctx.t._("Start an assessment")
    return Reply("\n".join(home_summary(ctx)), ((Choice(label, START_PAYLOAD),),))


def _current(ctx: Context) -> bool:
    return ctx.person.current_response_id is not None


def _in_progress(ctx: Context) -> list[str]:
    response = assessment.current_response(ctx)
    if response is None:
        return [ctx.t._("You have no assessment in progress.")]
    state = assessment.load_state(ctx.session, response)
    steps = state.steps
    done = sum(1 for step in steps if state.answered(step))
    return [
        ctx.t._(
            "In progress: %(title)s, %(done)s of %(total)s answered.",
            title=pick(state.instrument.title, ctx.locale),
            done=done,
            total=len(steps),
        )
    ]


def _open_rounds(ctx: Context) -> list[str]:
    offers = assessment.open_round_offers(ctx)
    if not offers:
        return [ctx.t._("No rounds are open for you right now.")]
    return [ctx.t._("Open rounds:"), *(f"• {offer.label}" for offer in offers)]


def _last_result(ctx: Context) -> list[str]:
    t = ctx.t
    response = assessment.latest_completed(ctx.session, ctx.person.id)
    if response is None or response.completed_at is None:
        return [t._("You have no completed assessment yet.")]
    instrument, result, _previous = feedback.result_of(ctx.session, response)
    lines = [
        t._(
            "Your last result, %(title)s (%(date)s):",
            title=pick(instrument.title, t.locale),
            date=t.date(response.completed_at.date(), "day_month"),
        )
    ]
    for score in result.areas:
        area = instrument.area(score.area_id)
        title = pick(area.title if area else None, t.locale)
        if score.mean is None or score.level is None:
            lines.append(t._("• %(area)s: no answers", area=title))
        else:
            lines.append(
                t._(
                    "• %(area)s %(mean)s – %(level)s",
                    area=title,
                    mean=t.number(score.mean),
                    level=pick(score.level.title, t.locale).lower(),
                )
            )
    return lines


def _my_actions(ctx: Context) -> list[str]:
    """The open plan items the person owns, in their language (to report on: `my actions`)."""
    t = ctx.t
    items = ctx.session.scalars(
        select(PlanItem)
        .where(PlanItem.owner_person_id == ctx.person.id, PlanItem.status != PlanItemStatus.DONE)
        .order_by(PlanItem.id)
        .limit(MAX_ACTIONS)
    ).all()
    if not items:
        return []
    lines = [t._("Your actions (type my actions to report on them):")]
    for item in items:
        text = catalogue.action_text(
            ctx.session, item.action_version_id, item.action_index, item.text, ctx.locale
        )
        lines.append(f"• {text}")
    return lines


def _plans(ctx: Context) -> list[str]:
    """For principals: each of their units' latest action plan, counted by status."""
    t = ctx.t
    memberships = ctx.session.scalars(
        select(Membership).where(Membership.person_id == ctx.person.id, Membership.role == Role.PRINCIPAL)
    ).all()
    lines = []
    for membership in sorted(memberships, key=lambda m: m.unit.name):
        plan_id = ctx.session.scalar(
            select(ActionPlan.id)
            .where(ActionPlan.unit_id == membership.unit_id)
            .order_by(ActionPlan.created_at.desc(), ActionPlan.id.desc())
            .limit(1)
        )
        if plan_id is None:
            lines.append(t._("%(unit)s: no action plan yet.", unit=membership.unit.name))
            continue
        counts = dict(
            ctx.session.execute(
                select(PlanItem.status, func.count())
                .where(PlanItem.plan_id == plan_id)
                .group_by(PlanItem.status)
            ).all()
        )
        total = sum(counts.values())
        lines.append(
            t.ngettext(
                "%(unit)s action plan: %(n)s action, %(done)s done, %(active)s in progress.",
                "%(unit)s action plan: %(n)s actions, %(done)s done, %(active)s in progress.",
                total,
                unit=membership.unit.name,
                done=counts.get(PlanItemStatus.DONE, 0),
                active=counts.get(PlanItemStatus.IN_PROGRESS, 0),
            )
        )
    return lines
