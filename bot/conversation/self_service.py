"""Commands everyone has: start, help, language, join, timezone, mydata, forget-me."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.administration import invitations
from bot.commands import Audience, Context, Registry
from bot.conversation import assessment, assessment_state, erasure
from bot.directory.people import JoinRefused, first_name, redeem
from bot.i18n import N_, parse_locale_word, translator
from bot.messages import Choice, FileOut, Reply
from bot.permissions import may_use
from storage.models import (
    Answer,
    AuditLog,
    BackgroundAnswer,
    Identity,
    Membership,
    PlanItem,
    ProgressUpdate,
    Response,
    Round,
    RoundParticipant,
)

# The Swedish of an example's English keywords, where the command takes both, so that a Swedish
# reader's example is Swedish throughout (`borta till 2027-01-08`, not `borta until ...`).
SWEDISH_WORDS = {"off": "av", "until": "till"}

JOIN_REFUSALS = {
    "unknown": N_("I don't know the code %(code)s. Check it with whoever gave it to you."),
    "expired": N_("The code %(code)s has expired. Ask for a new one."),
    "used": N_("The code %(code)s has already been used. Ask for a new one."),
}


def start(ctx: Context, args: list[str]) -> list[Reply]:
    """`start [CODE]`: the first message on Telegram (deep links carry a join code) and Slack."""
    t = ctx.t
    name = first_name(ctx.person)
    replies: list[Reply] = []
    if args:
        replies.extend(join(ctx, args))
    else:
        hello = t._("Hi %(name)s!", name=name) if name else t._("Hi!")
        replies.append(
            Reply(
                hello
                + " "
                + t._(
                    "I help you assess your digital competence, a statement at a time. "
                    "You can pause whenever you like and continue later."
                )
            )
        )
    if any(reply.choices for reply in replies):
        # Joining offered the unit's rounds: a second keyboard would push those buttons away.
        return replies
    replies.append(
        Reply(
            t._("Ready when you are."),
            ((Choice(t._("Start"), "cmd:assess"), Choice(t._("Help"), "cmd:help")),),
        )
    )
    return replies


def join(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    if len(args) != 1:
        return [Reply(t._("Write join and the code you were given, for example: join K7QX2A"))]
    code = args[0]
    try:
        joined = redeem(ctx.session, ctx.person, code, ctx.now)
    except JoinRefused as refusal:
        return [Reply(t._(JOIN_REFUSALS[str(refusal)], code=code))]
    if joined.admin:
        audit.record(ctx, "admin.claim", {})
        return [Reply(t._("You are now an administrator. Type help to see what you can do."))]
    if joined.already:
        return [Reply(t._("You are already a member of %(unit)s.", unit=joined.unit_name))]
    name = first_name(ctx.person)
    text = (
        t._("Welcome, %(name)s! You are now a member of %(unit)s.", name=name, unit=joined.unit_name)
        if name
        else t._("Welcome! You are now a member of %(unit)s.", unit=joined.unit_name)
    )
    return [Reply(text), *invitations.enroll_after_join(ctx, joined.unit_name)]


def _named_for(
    locale: str, words: tuple[str, ...], aliases: tuple[tuple[str, ...], ...], example: str
) -> tuple[str, str]:
    """A command's name and example as the reader says it: a command's first alias is its Swedish
    name, shown first to a Swedish reader (the English one, which works too, in brackets)."""
    english = " ".join(words)
    if locale != "sv" or not aliases:
        return english, example
    swedish = " ".join(aliases[0])
    if example.startswith(english):
        rest = example[len(english) :].split()
        example = " ".join([swedish, *(SWEDISH_WORDS.get(word, word) for word in rest)])
    return f"{swedish} ({english})", example


def help_command(registry: Registry, ctx: Context, _args: list[str]) -> list[Reply]:
    """Only the commands this person may use, each with an example (of those in `registry`)."""
    t = ctx.t
    lines = [t._("Here is what you can do:")]
    # Outside the f-string so that extraction finds it (it was shown untranslated in Swedish).
    for_example = t._("e.g.")
    for command in registry.commands:
        if command.listed and may_use(ctx.session, ctx.person, command.audience):
            name, example = _named_for(t.locale, command.words, command.aliases, command.example)
            lines.append(f"• {name}: {t._(command.summary)}  ({for_example} {example})")
    lines.append(
        t._(
            "While answering: press a button or type a number; skip, back and ? (what does it mean) work too."
        )
    )
    replies = [Reply("\n".join(lines))]
    response = assessment.current_response(ctx)
    if response is not None:
        replies.append(assessment.question(ctx.t, assessment_state.load_state(ctx.session, response)))
    return replies


def language(ctx: Context, args: list[str]) -> list[Reply]:
    chosen = parse_locale_word(args[0]) if len(args) == 1 else None
    if chosen is None:
        return [
            Reply(
                ctx.t._(
                    "I can write in Swedish and English. Write language sv for Swedish or language en for English."
                )
            )
        ]
    ctx.person.locale = chosen
    ctx.t = translator(chosen)
    replies = [Reply(ctx.t._("OK, I will write in English from now on."))]
    response = assessment.current_response(ctx)
    if response is not None:
        replies.append(assessment.question(ctx.t, assessment_state.load_state(ctx.session, response)))
    return replies


def timezone(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    if not args:
        return [
            Reply(
                t._(
                    "Your time zone is %(tz)s. Change it with e.g. timezone Europe/Helsinki.",
                    tz=ctx.person.timezone,
                )
            )
        ]
    # People type europe/stockholm as often as Europe/Stockholm.
    known = {zone.lower(): zone for zone in available_timezones()}
    name = known.get(args[0].lower(), args[0])
    if name not in known.values():
        return [Reply(t._("I don't know the time zone %(tz)s. Use a name like Europe/Stockholm.", tz=name))]
    ZoneInfo(name)
    ctx.person.timezone = name
    return [Reply(t._("Your time zone is now %(tz)s.", tz=name))]


def mydata(ctx: Context, _args: list[str]) -> list[Reply]:
    """Everything stored about the person, as a JSON file."""
    session, person = ctx.session, ctx.person
    responses = session.scalars(select(Response).where(Response.person_id == person.id)).all()
    data = {
        "person": {
            "display_name": person.display_name,
            "locale": person.locale,
            "timezone": person.timezone,
            "created_at": person.created_at.isoformat(),
            "locale_hint": person.locale_hint,
            "is_admin": person.is_admin,
            "away_until": person.away_until.isoformat() if person.away_until else None,
        },
        "identities": [
            {
                "platform": i.platform,
                "workspace": i.workspace,
                "user_id": i.platform_user_id,
                "address": i.address,
            }
            for i in session.scalars(select(Identity).where(Identity.person_id == person.id))
        ],
        "memberships": [
            {"unit": m.unit.name, "role": m.role.value}
            for m in session.scalars(select(Membership).where(Membership.person_id == person.id))
        ],
        "responses": [
            {
                "instrument_version_id": r.instrument_version_id,
                "round_id": r.round_id,
                "status": r.status.value,
                "started_at": r.started_at.isoformat(),
                "completed_at": r.completed_at.isoformat() if r.completed_at else None,
                "background": {
                    b.question_id: b.option_id
                    for b in session.scalars(
                        select(BackgroundAnswer).where(BackgroundAnswer.response_id == r.id)
                    )
                },
                "answers": [
                    {
                        "item": a.item_code,
                        "kind": a.kind.value,
                        "value": a.value,
                        "at": a.answered_at.isoformat(),
                    }
                    for a in session.scalars(
                        select(Answer).where(Answer.response_id == r.id).order_by(Answer.id)
                    )
                ],
            }
            for r in responses
        ],
        # Rounds the person was invited to. For anonymous rounds this is all there is: their
        # answers were detached from them on completion and cannot be found any more.
        "round_participation": [
            _participation(p, round_name, anonymous)
            for p, round_name, anonymous in session.execute(
                select(RoundParticipant, Round.name, Round.anonymous)
                .join(Round, Round.id == RoundParticipant.round_id)
                .where(RoundParticipant.person_id == person.id)
                .order_by(RoundParticipant.id)
            )
        ],
        "actions_taken": [
            {"action": a.action, "at": a.at.isoformat()}
            for a in session.scalars(
                select(AuditLog).where(AuditLog.actor_person_id == person.id).order_by(AuditLog.id)
            )
        ],
        "plan_items_owned": [
            {"text": p.text, "status": p.status.value, "due": p.due_date.isoformat() if p.due_date else None}
            for p in session.scalars(select(PlanItem).where(PlanItem.owner_person_id == person.id))
        ],
        "progress_updates": [
            {"status": u.status.value, "comment": u.comment, "at": u.at.isoformat()}
            for u in session.scalars(select(ProgressUpdate).where(ProgressUpdate.person_id == person.id))
        ],
        "retention": _retention(session, person.id, ctx.config.retention_days),
    }
    content = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return [
        Reply(
            ctx.t._("Here is everything I have stored about you.")
            + "\n"
            + ctx.t._(
                "Your answers to a round are kept for %(days)s days after the round closes (to compare "
                "with the next rounds and follow up the action plan), then deleted; only the unit's "
                "published results remain. An assessment you took on your own is kept for %(days)s "
                "days after you finished it, then deleted.",
                days=ctx.config.retention_days,
            ),
            file=FileOut("assessbot-mydata.json", content, ctx.t._("Your data")),
        )
    ]


def _retention(session: Session, person_id: int, days: int) -> dict[str, object]:
    """How long the person's answers are kept, and until when for each round they answered."""
    closing = session.execute(
        select(Round.name, Round.closes_at)
        .join(Response, Response.round_id == Round.id)
        .where(Response.person_id == person_id)
        .distinct()
    ).all()
    own = session.scalars(
        select(Response)
        .where(Response.person_id == person_id, Response.round_id.is_(None))
        .order_by(Response.id)
    )
    return {
        "days_after_round_closes": days,
        "why": "to compare a unit with its next rounds and follow up its action plan",
        "rounds": [
            {"round": name, "answers_deleted_after": (closes + timedelta(days=days)).date().isoformat()}
            for name, closes in closing
        ],
        # Counted from the day bot/follow_up/retention.py counts from: finished, or else started.
        "own_assessments": [
            {
                "answers_deleted_after": ((r.completed_at or r.started_at) + timedelta(days=days))
                .date()
                .isoformat()
            }
            for r in own
        ],
    }


def _participation(p: RoundParticipant, round_name: str, anonymous: bool) -> dict[str, object]:
    entry: dict[str, object] = {
        "round": round_name,
        "anonymous": anonymous,
        "invited_at": p.invited_at.isoformat(),
        "finished": p.completed_at is not None,
        "reminders_off": p.reminders_off,
    }
    if not anonymous:  # an anonymous round keeps only that the person finished, never when
        entry["completed_at"] = p.completed_at.isoformat() if p.completed_at else None
    return entry


def forget_me(ctx: Context, _args: list[str]) -> list[Reply]:
    t = ctx.t
    ctx.person.pending = {"kind": "forget-me"}
    return [
        Reply(
            t._(
                "This deletes everything I have stored about you: your answers, results and memberships. "
                "It cannot be undone. Write DELETE to confirm, or anything else to cancel."
            ),
            ((Choice(t._("Cancel"), "cmd:cancel"),),),
        )
    ]


def confirm_forget(ctx: Context, _pending: dict[str, object], text: str) -> list[Reply]:
    t = ctx.t
    if text.strip().upper() not in ("DELETE", "RADERA"):
        return [Reply(t._("Cancelled: nothing was deleted."))]
    audit.record(ctx, "person.forget", {})  # that someone was forgotten, not who
    erasure.forget_person(ctx.session, ctx.person, ctx.now, ctx.config.default_locale)
    # Answered in the locale the person had; there is nobody left to look up afterwards.
    return [Reply(t._("Done. Everything about you has been deleted. Goodbye!"))]


def cancel(ctx: Context, _args: list[str]) -> list[Reply]:
    ctx.person.pending = None
    return [Reply(ctx.t._("Cancelled."))]


def register(registry: Registry) -> None:
    registry.command(
        "start", Audience.EVERYONE, N_("say hello (and join with a code)"), "start", listed=False
    )(start)
    registry.command("help", Audience.EVERYONE, N_("what you can do"), "help", aliases=("hjälp",))(
        partial(help_command, registry)
    )
    registry.command(
        "language", Audience.EVERYONE, N_("choose your language: sv or en"), "language sv", aliases=("språk",)
    )(language)
    registry.command(
        "join", Audience.EVERYONE, N_("join your unit with a code"), "join K7QX2A", aliases=("gå med",)
    )(join)
    registry.command(
        "timezone",
        Audience.EVERYONE,
        N_("see or set your time zone"),
        "timezone Europe/Stockholm",
        aliases=("tidszon",),
    )(timezone)
    registry.command(
        "mydata", Audience.EVERYONE, N_("get all your data as a file"), "mydata", aliases=("mina data",)
    )(mydata)
    registry.command(
        "forget-me", Audience.EVERYONE, N_("delete all your data"), "forget-me", aliases=("glöm mig",)
    )(forget_me)
    registry.command(
        "cancel",
        Audience.EVERYONE,
        N_("cancel what you were doing"),
        "cancel",
        aliases=("avbryt",),
        listed=False,
    )(cancel)
    registry.pending_prompt("forget-me")(confirm_forget)
