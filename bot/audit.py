"""The audit log: `record` keeps who did what (in the event's transaction), `forget_person` keeps the
action and drops the person, and the `audit [N]` command shows the latest entries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.directory import person_lookup
from bot.i18n import N_
from bot.messages import Reply
from storage.models import AuditLog, Person

DEFAULT_ENTRIES = 20
MAX_ENTRIES = 200


def record(ctx: Context, action: str, detail: dict[str, object]) -> None:
    """Keep an admin action with who did it and when, committed with the event that did it."""
    ctx.session.add(AuditLog(at=ctx.now, actor_person_id=ctx.person.id, action=action, detail=detail))


def latest(session: Session, limit: int = DEFAULT_ENTRIES) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)))


# Detail keys that hold a person's id, and those recorded beside it that identify them too.
PERSON_KEYS = ("person", "owner")
IDENTIFYING_KEYS = ("name", "user", "platform")


def forget_person(session: Session, person_id: int) -> None:
    """Keep what was done, drop to whom: entries naming the person lose the id and its companions.

    The audit holds admin actions only, so reading it whole is cheap, and it catches every action
    that names someone without a list of actions to keep up to date."""
    for entry in session.scalars(select(AuditLog)):
        detail = dict(entry.detail or {})
        if not any(detail.get(key) == person_id for key in PERSON_KEYS):
            continue
        for key in (*PERSON_KEYS, *IDENTIFYING_KEYS):
            if key in PERSON_KEYS and detail.get(key) != person_id:
                continue  # someone else named in the same entry stays
            detail.pop(key, None)
        entry.detail = detail


def _detail(detail: dict[str, object]) -> str:
    return ", ".join(f"{key}={value}" for key, value in detail.items() if value not in (None, ""))


def audit(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    if len(args) > 1 or (args and not (digits(args[0]) and 1 <= int(args[0]) <= MAX_ENTRIES)):
        raise UsageError(t._("Write audit and how many entries to show, for example: audit 50"))
    limit = int(args[0]) if args else DEFAULT_ENTRIES
    entries = latest(ctx.session, limit)
    if not entries:
        return [Reply(t._("Nothing has been recorded yet."))]
    lines = [
        t.ngettext("The latest %(n)s recorded action:", "The latest %(n)s recorded actions:", len(entries))
    ]
    for entry in entries:
        actor = ctx.session.get(Person, entry.actor_person_id) if entry.actor_person_id else None
        who = person_lookup.label(ctx.session, actor) if actor else t._("(command line or removed person)")
        when = t.datetime(entry.at, ctx.person.timezone or ctx.config.default_timezone)
        details = _detail(entry.detail or {})
        lines.append(f"• {when} · {who} · {entry.action}" + (f" ({details})" if details else ""))
    return [Reply("\n".join(lines))]


def register(registry: Registry) -> None:
    registry.command("audit", Audience.ADMIN, N_("the latest admin actions: who, what, when"), "audit 50")(
        audit
    )
