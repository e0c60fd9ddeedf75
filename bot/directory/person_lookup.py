"""Finding the one person a command names (`admin grant`, `unit role`, a plan item's owner).

People choose their own display names, so a name never picks anyone by itself. What names one
exact person is a platform mention or user id: Slack's `<@U123>` (also `<@U123|shown name>`),
Telegram's mention of a user without a username (the adapter writes it as `<@123456>`) or the
numeric id itself, `@login` in the terminal, each on the asker's own platform and workspace.
Anything else (a name, part of one) offers a numbered list of the members the asker may choose
from whose name is the one typed (full or first name), or all of them when none is; the asker
answers with the number (a button) and the command runs again with `#<person id>` in the name's
place, which is looked up among the same members again, so neither a typed nor a forged `#id`
reaches anyone outside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import picks
from bot.commands import Context, UsageError
from bot.i18n import Translator
from storage.models import Identity, Membership, Person, Unit

MAX_LISTED = 20
_MENTION = re.compile(r"^<@([A-Za-z0-9_.-]+)(?:\|[^>]*)?>$")
_PICKED = re.compile(r"^#(\d{1,10})$")


def label(session: Session, person: Person) -> str:
    """How a person is shown to an admin: the display name, else a platform user id."""
    if person.display_name:
        return person.display_name
    user_id = session.scalar(
        select(Identity.platform_user_id).where(Identity.person_id == person.id).order_by(Identity.id)
    )
    return f"@{user_id}" if user_id else f"#{person.id}"


@dataclass(frozen=True)
class Asked:
    """The command that named someone, to run again with the pick: its words and arguments."""

    command: str
    args: tuple[str, ...]
    query: str


def platform_id(query: str) -> str | None:
    """The platform user id a query names exactly, if it is a mention or an id (not a name)."""
    text = query.strip()
    found = _MENTION.match(text)
    if found:
        return found.group(1)
    if text.isascii() and text.isdigit():
        return text  # a Telegram user id
    bare = text.removeprefix("@")
    return bare if text.startswith("@") and bare and " " not in bare else None


def by_platform_id(ctx: Context, user_id: str) -> Person | None:
    """The person with this user id on the asker's platform and workspace."""
    incoming = ctx.incoming
    person_id = ctx.session.scalar(
        select(Identity.person_id).where(
            Identity.platform == incoming.platform,
            Identity.workspace == incoming.workspace,
            # Any case: `@Anna` for the terminal's `anna`; platforms' ids never differ by case alone.
            func.lower(Identity.platform_user_id) == user_id.lower(),
        )
    )
    return ctx.session.get(Person, person_id) if person_id is not None else None


def resolve(
    ctx: Context,
    query: str,
    members: Iterable[Person],
    where: str,
    asked: Asked,
    *,
    anyone_by_id: bool = False,
) -> Person:
    """The one person `query` names: by mention or id (among `members`, or anyone the bot knows
    with `anyone_by_id`), by a pick (`#id`, among `members`); else UsageError with the list to pick
    from (and the prompt waiting for the number)."""
    t = ctx.t
    candidates = {p.id: p for p in members}
    picked = _PICKED.match(query.strip())
    if picked:
        chosen = candidates.get(int(picked.group(1)))
        if chosen is None:
            raise UsageError(_not_found(t, query, where))
        return chosen
    user_id = platform_id(query)
    exact = by_platform_id(ctx, user_id) if user_id else None
    if exact is not None and (anyone_by_id or exact.id in candidates):
        return exact
    raise _pick_list(ctx, query, list(candidates.values()), where, asked)


def _not_found(t: Translator, query: str, where: str) -> str:
    return t._(
        "I can't find anyone called %(name)s in %(where)s; nothing was changed.", name=query, where=where
    )


def _named(person: Person, query: str) -> bool:
    wanted = query.strip().removeprefix("@").strip().casefold()
    name = (person.display_name or "").strip().casefold()
    return bool(wanted) and (name == wanted or name.split(" ")[0] == wanted)


def _pick_list(ctx: Context, query: str, members: list[Person], where: str, asked: Asked) -> UsageError:
    t = ctx.t
    named = [p for p in members if _named(p, query)]
    listed = sorted(named or members, key=lambda p: (label(ctx.session, p).casefold(), p.id))[:MAX_LISTED]
    if not listed:
        return UsageError(_not_found(t, query, where))
    units = _units_of(ctx.session, [p.id for p in listed])
    question = (
        t._("Who do you mean by %(name)s? Pick a number; nothing was changed yet.", name=query)
        if named
        else _not_found(t, query, where) + " " + t._("Pick a number from the list:")
    )
    labels = [label(ctx.session, p) + (f" · {units[p.id]}" if p.id in units else "") for p in listed]
    args = list(asked.args)
    at = args.index(asked.query) if asked.query in args else len(args)
    options = [[*args[:at], f"#{p.id}", *args[at + 1 :]] for p in listed]
    return picks.ask(ctx, question, labels, asked.command, options)


def _units_of(session: Session, person_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(Membership.person_id, Unit.name)
        .join(Unit, Unit.id == Membership.unit_id)
        .where(Membership.person_id.in_(person_ids))
        .order_by(Unit.name)
    ).all()
    units: dict[int, list[str]] = {}
    for person_id, name in rows:
        units.setdefault(person_id, []).append(name)
    return {person_id: ", ".join(names) for person_id, names in units.items()}
