"""The end of a workshop: the statements ranked by votes, the top ones as plan items with the
suggested actions for their area and level next to each, the pack, and a summary for the group."""

from __future__ import annotations

from bot import audit
from bot.commands import Context, Registry
from bot.messages import Choice, Reply
from bot.workshop import agenda, store, views
from storage.models import Workshop


def end(ctx: Context, workshop: Workshop) -> list[Reply]:
    """Close the workshop (its timer messages lapse) and post the ranking in the chat."""
    timing = agenda.settle(store.timing_of(workshop), ctx.now)
    store.keep(workshop, agenda.pause(timing, ctx.now))
    workshop.status = store.ENDED
    workshop.ended_at = ctx.now
    audit.record(ctx, "workshop.end", {"workshop": workshop.id})
    return [summary(ctx, workshop)]


def summary(ctx: Context, workshop: Workshop) -> Reply:
    t = store.workshop_t(workshop)
    report = store.report_of(ctx.session, workshop)
    votes = store.votes_by_code(ctx.session, workshop.id)
    notes = store.notes_by_code(ctx.session, workshop.id)
    top = agenda.chosen(workshop.agenda, votes, workshop.pick)
    lines = [
        t._("The workshop on %(unit)s is done.", unit=report.unit_name),
        " · ".join(
            (
                t.ngettext("%(n)s statement", "%(n)s statements", len(workshop.agenda)),
                t.ngettext("%(n)s vote", "%(n)s votes", sum(votes.values())),
                t.ngettext("%(n)s note", "%(n)s notes", sum(len(n) for n in notes.values())),
            )
        ),
    ]
    if top:
        lines.append(t._("Our priorities, by votes:"))
        lines.extend(views.ranking_lines(t, report, top))
    else:
        lines.append(t._("No statement got a vote, so there are no priorities yet."))
    return Reply("\n".join(lines), _end_buttons(t, workshop) if top else ())


def _end_buttons(t: object, workshop: Workshop) -> tuple[tuple[Choice, ...], ...]:
    return ()


def register(registry: Registry) -> None:
    pass
