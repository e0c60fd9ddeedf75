"""The workshop in the chat: `workshop start|next|back|pause|resume|note|facilitator`, the vote and
move buttons, and replies to a statement's message as its notes.

A workshop belongs to the chat it was started in (a Telegram group, a Slack channel, the
terminal); its commands and buttons are the only ones answered in a group. Who may do what:
starting is for whoever runs the unit's plan (its principal, an admin) or a facilitator the
principal named; moving on is for the workshop's facilitator and the principal; votes and notes
count only from members of the unit.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot import audit
from bot.commands import CommandRun, Context, UsageError
from bot.directory.person_lookup import Asked
from bot.follow_up.plans import find_member
from bot.i18n import Translator
from bot.messages import Address, Image, Reply
from bot.outbox import CANCEL, Due, Verdict, enqueue
from bot.permissions import plan_units
from bot.results import charts, report_text
from bot.results.reports import UnitReport, unit_report
from bot.results.unit_results import _choose, file_stem
from bot.workshop import agenda, ending, store, views
from storage.db import upsert_insert
from storage.models import Person, Unit, Workshop, WorkshopFacilitator, WorkshopVote

KIND = "workshop"  # the outbox kind of a workshop's timer messages
ORDERS = {"weakest": True, "svagast": True, "instrument": False, "ordning": False}


def _tz(session: Session, workshop: Workshop) -> str:
    facilitator = session.get(Person, workshop.facilitator_id) if workshop.facilitator_id else None
    return facilitator.timezone if facilitator is not None else "Europe/Stockholm"


def _chat_of(ctx: Context) -> tuple[str, str, str]:
    incoming = ctx.incoming
    return incoming.platform, incoming.workspace, incoming.address or incoming.user_id


# ---------------------------------------------------------------- starting


def _number(t: Translator, word: str, value: str | None, low: int, high: int) -> int:
    if value is None or not value.isdigit() or not low <= int(value) <= high:
        raise UsageError(
            t._("%(word)s takes a number from %(low)s to %(high)s.", word=word, low=low, high=high)
        )
    return int(value)


def _options(t: Translator, args: list[str]) -> tuple[list[str], dict[str, int | bool]]:
    """The unit and round words, and the options: minutes N, pick N, votes N, order X, auto."""
    words: list[str] = []
    options: dict[str, int | bool] = {}
    i = 0
    while i < len(args):
        word = args[i].lower()
        value = args[i + 1] if i + 1 < len(args) else None
        if word in ("minutes", "minuter", "min"):
            options["minutes"] = _number(t, args[i], value, 1, 60)
            i += 2
        elif word in ("pick", "välj"):
            options["pick"] = _number(t, args[i], value, 1, 24)
            i += 2
        elif word in ("votes", "röster"):
            options["votes"] = _number(t, args[i], value, 1, 24)
            i += 2
        elif word in ("order", "ordning") and value is not None and value.lower() in ORDERS:
            options["weakest_first"] = ORDERS[value.lower()]
            i += 2
        elif word == "auto":
            options["auto_next"] = True
            i += 1
        else:
            words.append(args[i])
            i += 1
    return words, options


def start(ctx: Context, args: list[str]) -> list[Reply]:
    """`workshop start [UNIT] [ROUND] [minutes 3] [pick 6] [votes 3] [order weakest|instrument] [auto]`."""
    t = ctx.t
    words, options = _options(t, args)
    platform, workspace, chat = _chat_of(ctx)
    existing = store.going_on(ctx.session, platform, workspace, chat)
    if existing is not None:
        raise UsageError(
            t._(
                "A workshop is already going on here. Write workshop resume to go on with it, or workshop end to finish it."
            )
        )
    units = store.facilitated_units(ctx.session, ctx.person)
    if not units and not ctx.person.is_admin:
        raise UsageError(
            t._("A workshop is started by the unit's principal or a facilitator the principal has named.")
        )
    chosen = _choose(ctx, words, units, "workshop start")
    if isinstance(chosen, list):
        return chosen
    report = unit_report(ctx.session, chosen.unit.id, chosen.round.id)
    if not report.shown:
        return [
            Reply(report_text.summary(t, report)),
            Reply(t._("A workshop needs the unit's result, so it can start once the result is shown.")),
        ]
    weakest_first = bool(options.get("weakest_first", True))
    statements = report.weakest() if weakest_first else report.statements
    pick = int(options.get("pick", 6))
    workshop = Workshop(
        unit_id=chosen.unit.id,
        round_id=chosen.round.id,
        facilitator_id=ctx.person.id,
        platform=platform,
        workspace=workspace,
        chat=chat,
        locale=ctx.locale,
        minutes=int(options.get("minutes", 3)),
        pick=pick,
        votes=int(options.get("votes", max(1, pick // 2))),
        weakest_first=weakest_first,
        auto_next=bool(options.get("auto_next", False)),
        agenda=[s.code for s in statements],
        position=0,
        step_started_at=ctx.now,
        step_elapsed=0,
        seq=1,
        status=store.RUNNING,
        started_at=ctx.now,
    )
    ctx.session.add(workshop)
    ctx.session.flush()
    audit.record(ctx, "workshop.start", {"workshop": workshop.id, "unit": chosen.unit.id})
    return [*_opening(t, report, workshop), *_posted(ctx, workshop, report)]


def _opening(t: Translator, report: UnitReport, workshop: Workshop) -> list[Reply]:
    """How the workshop goes, then the unit's result exactly as `unit results` shows it."""
    order = t._("weakest first") if workshop.weakest_first else t._("in the instrument's order")
    how = t._(
        "Workshop on %(unit)s: %(n)s statements, %(order)s, %(minutes)s min each. Each member has "
        "%(votes)s votes for the statements that are a priority for us; the top %(pick)s become our "
        "priorities. Reply to a statement's message to add a note. Votes are shown as counts, never names.",
        unit=report.unit_name,
        n=len(workshop.agenda),
        order=order,
        minutes=workshop.minutes,
        votes=workshop.votes,
        pick=workshop.pick,
    )
    chart = Image(
        f"{file_stem(report)}-areas.png", partial(charts.unit_chart, t, report), t._("Mean per area")
    )
    return [Reply(how), Reply(report_text.summary(t, report), image=chart)]


# ---------------------------------------------------------------- the timer


def _address(ctx: Context, workshop: Workshop) -> Address | None:
    """Where the timer speaks: the workshop's group chat (None: the facilitator's own chat)."""
    if ctx.incoming.is_private:
        return None
    return Address(workshop.platform, workshop.workspace, "", workshop.chat)


def _posted(ctx: Context, workshop: Workshop, report: UnitReport) -> list[Reply]:
    """The current statement, and its timer messages queued in the outbox for when time runs out."""
    t = store.workshop_t(workshop)
    timing = agenda.settle(store.timing_of(workshop), ctx.now)
    tz = _tz(ctx.session, workshop)
    votes = store.votes_by_code(ctx.session, workshop.id)
    where = _address(ctx, workshop)
    for alarm in agenda.alarms(timing):
        replies = [views.time_up(t, report, workshop, alarm.position, alarm.moves_on)]
        if alarm.moves_on:
            following = agenda.Timing(
                alarm.position + 1, timing.size, alarm.due_at, 0.0, timing.minutes, timing.auto_next
            )
            replies.append(
                views.statement_reply(
                    t,
                    report,
                    workshop,
                    alarm.position + 1,
                    votes=votes.get(workshop.agenda[alarm.position + 1], 0),
                    timing=following,
                    now=alarm.due_at,
                    tz=tz,
                )
            )
        enqueue(
            ctx.session,
            person_id=workshop.facilitator_id or ctx.person.id,
            kind=KIND,
            replies=replies,
            key=f"{KIND}:{workshop.id}:{workshop.seq}:{alarm.position}",
            due_at=alarm.due_at,
            chat=where,
        )
    code = workshop.agenda[timing.position]
    return [
        views.statement_reply(
            t, report, workshop, timing.position, votes=votes.get(code, 0), timing=timing, now=ctx.now, tz=tz
        )
    ]


def still_due(session: Session, row: Due, _now: datetime) -> Verdict:
    """A timer message goes out only if the workshop is still where it was when the message was
    written (same `seq`, running)."""
    parts = row.idempotency_key.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return CANCEL
    workshop = session.get(Workshop, int(parts[1]))
    if workshop is None or workshop.status != store.RUNNING or workshop.seq != int(parts[2]):
        return CANCEL
    return None


# ---------------------------------------------------------------- moving on


def _not_running_here(t: Translator) -> UsageError:
    return UsageError(t._("There is no workshop going on in this chat. Start one with workshop start."))


def _current(ctx: Context) -> Workshop:
    workshop = store.going_on(ctx.session, *_chat_of(ctx))
    if workshop is None:
        raise _not_running_here(ctx.t)
    return workshop


def move(ctx: Context, workshop: Workshop, how: str) -> list[Reply]:
    """`next`, `back`, `pause`, `resume` or `end`, by someone who runs the workshop."""
    store.check_runs(ctx, workshop)
    if how == "end":
        return ending.end(ctx, workshop)
    t = store.workshop_t(workshop)
    report = store.report_of(ctx.session, workshop)
    timing = agenda.settle(store.timing_of(workshop), ctx.now)
    if how == "pause":
        if timing.paused:
            return [Reply(t._("The workshop is already paused. Write workshop resume to go on."))]
        store.keep(workshop, agenda.pause(timing, ctx.now))
        return [
            Reply(
                t._(
                    "Paused at statement %(n)s/%(total)s. Write workshop resume to go on, today or another day.",
                    n=timing.position + 1,
                    total=timing.size,
                )
            )
        ]
    if how == "next" and timing.position + 1 >= timing.size:
        return [views.time_up(t, report, workshop, timing.position, False)]
    target = timing
    if how in ("next", "back"):
        target = agenda.go_to(timing, timing.position + (1 if how == "next" else -1), ctx.now)
    # Moving on while paused runs again: whoever moves on wants the talk to go on.
    store.keep(workshop, agenda.resume(target, ctx.now))
    return _posted(ctx, workshop, report)


def move_command(how: str) -> CommandRun:
    """`workshop next|back|pause|resume|end` in the chat the workshop is going on in."""

    def run(ctx: Context, _args: list[str]) -> list[Reply]:
        return move(ctx, _current(ctx), how)

    return run


def on_move(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `wm:<workshop>:<seq>:<next|back|pause|end>`: only from the state it was shown in."""
    t = ctx.t
    if len(args) != 3 or not args[0].isdigit() or not args[1].isdigit():
        return [Reply(t._("That button is not valid any more."))]
    workshop = store.locked(ctx.session, int(args[0]))
    if workshop is None or workshop.status == store.ENDED:
        return [Reply(t._("That workshop has ended."))]
    if args[2] not in ("next", "back", "pause", "end"):
        return [Reply(t._("That button is not valid any more."))]
    if int(args[1]) != workshop.seq and args[2] != "end":
        return [Reply(t._("The workshop has moved on since; use the buttons of the latest statement."))]
    return move(ctx, workshop, args[2])


# ---------------------------------------------------------------- votes and notes


def on_vote(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `wv:<workshop>:<code>`: a member's priority vote on a statement, or taking it back."""
    t = ctx.t
    workshop = store.locked(ctx.session, int(args[0])) if len(args) == 2 and args[0].isdigit() else None
    if workshop is None or args[1] not in workshop.agenda:
        return [Reply(t._("That button is not valid any more."))]
    if workshop.status == store.ENDED:
        return [Reply(t._("That workshop has ended; its votes are counted."))]
    code = args[1]
    mine = store.votes_of(ctx.session, workshop.id, ctx.person.id)
    verdict = agenda.vote(
        member=store.is_member(ctx.session, workshop.unit_id, ctx.person.id),
        already=code in mine,
        used=len(mine),
        allowed=workshop.votes,
    )
    if verdict is agenda.Vote.NOT_A_MEMBER:
        unit = ctx.session.get(Unit, workshop.unit_id)
        return [Reply(t._("Only members of %(unit)s can vote.", unit=unit.name if unit else ""))]
    if verdict is agenda.Vote.NONE_LEFT:
        return [
            Reply(
                t.ngettext(
                    "You have used your vote. Press it again to take it back.",
                    "You have used all %(n)s of your votes. Press one of them again to take it back.",
                    workshop.votes,
                )
            )
        ]
    if verdict is agenda.Vote.ADDED:
        insert = upsert_insert(ctx.session.get_bind().dialect.name)
        ctx.session.execute(
            insert(WorkshopVote)
            .values(workshop_id=workshop.id, person_id=ctx.person.id, item_code=code, at=ctx.now)
            .on_conflict_do_nothing(index_elements=["workshop_id", "person_id", "item_code"])
        )
    else:
        ctx.session.execute(
            delete(WorkshopVote).where(
                WorkshopVote.workshop_id == workshop.id,
                WorkshopVote.person_id == ctx.person.id,
                WorkshopVote.item_code == code,
            )
        )
    return [_statement_again(ctx, workshop, code)]


def _statement_again(ctx: Context, workshop: Workshop, code: str) -> Reply:
    """The statement's message as it is now (its vote count), replacing the pressed one."""
    timing = agenda.settle(store.timing_of(workshop), ctx.now)
    position = workshop.agenda.index(code)
    return views.statement_reply(
        store.workshop_t(workshop),
        store.report_of(ctx.session, workshop),
        workshop,
        position,
        votes=store.votes_by_code(ctx.session, workshop.id).get(code, 0),
        timing=timing if timing.position == position else None,
        now=ctx.now,
        tz=_tz(ctx.session, workshop),
        edit=True,
    )


def _keep_note(ctx: Context, workshop: Workshop, code: str, text: str) -> list[Reply]:
    t = ctx.t
    if not text:
        return [
            Reply(
                t._("Write the note after workshop note, for example: workshop note We need a shared folder.")
            )
        ]
    if not store.is_member(ctx.session, workshop.unit_id, ctx.person.id):
        unit = ctx.session.get(Unit, workshop.unit_id)
        return [Reply(t._("Only members of %(unit)s can add notes.", unit=unit.name if unit else ""))]
    n = store.add_note(ctx.session, workshop, code, ctx.person, text[:2000], ctx.now)
    return [
        Reply(
            t.ngettext(
                "📝 Noted on %(code)s (%(n)s note).", "📝 Noted on %(code)s (%(n)s notes).", n, code=code
            )
        )
    ]


def on_reply(ctx: Context, anchor: str, text: str) -> list[Reply]:
    """A reply to a statement's message (anchor `ws:<workshop>:<code>`) is a note on it."""
    parts = anchor.split(":")
    workshop = ctx.session.get(Workshop, int(parts[1])) if len(parts) == 3 and parts[1].isdigit() else None
    if workshop is None or parts[2] not in workshop.agenda:
        return []
    return _keep_note(ctx, workshop, parts[2], text)


def note(ctx: Context, args: list[str]) -> list[Reply]:
    """`workshop note TEXT`: a note on the statement being discussed."""
    workshop = _current(ctx)
    timing = agenda.settle(store.timing_of(workshop), ctx.now)
    return _keep_note(ctx, workshop, workshop.agenda[timing.position], " ".join(args).strip())


# ---------------------------------------------------------------- naming a facilitator


def facilitator(ctx: Context, args: list[str]) -> list[Reply]:
    """`workshop facilitator @NAME [UNIT]`: the principal names someone to run the unit's workshops."""
    t = ctx.t
    if not args:
        raise UsageError(
            t._("Write workshop facilitator and a name, for example: workshop facilitator @anna")
        )
    chosen = _choose(ctx, args[1:], plan_units(ctx.session, ctx.person), "workshop facilitator")
    if isinstance(chosen, list):
        return chosen
    person = find_member(ctx, chosen.unit, args[0], Asked("workshop facilitator", tuple(args), args[0]))
    if ctx.session.get(WorkshopFacilitator, (chosen.unit.id, person.id)) is None:
        ctx.session.add(
            WorkshopFacilitator(
                unit_id=chosen.unit.id, person_id=person.id, named_by=ctx.person.id, named_at=ctx.now
            )
        )
    audit.record(ctx, "workshop.facilitator", {"unit": chosen.unit.id, "person": person.id})
    return [
        Reply(
            t._(
                "%(name)s can now run workshops on %(unit)s: workshop start.",
                name=person.display_name or args[0],
                unit=chosen.unit.name,
            )
        )
    ]
