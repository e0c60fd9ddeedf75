"""Finding a person named in a command (`@anna`, `@"Anna Svensson"`), among a given set of people.

An exact match on a platform user id, the full display name or the first name wins; otherwise a
part of the display name. More than one person matching is never guessed: the command lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands import UsageError
from bot.i18n import Translator
from storage.models import Identity, Person


def label(session: Session, person: Person) -> str:
    """How a person is shown to an admin: the display name, else a platform user id."""
    if person.display_name:
        return person.display_name
    user_id = session.scalar(
        select(Identity.platform_user_id).where(Identity.person_id == person.id).order_by(Identity.id)
    )
    return f"@{user_id}" if user_id else f"#{person.id}"


def _keys(session: Session, person: Person) -> set[str]:
    keys = {
        uid.casefold()
        for uid in session.scalars(select(Identity.platform_user_id).where(Identity.person_id == person.id))
    }
    name = (person.display_name or "").strip().casefold()
    if name:
        keys.add(name)
        keys.add(name.split()[0])
    return keys


def matching(session: Session, query: str, people: Iterable[Person]) -> list[Person]:
    wanted = query.strip().removeprefix("@").strip().casefold()
    if not wanted:
        return []
    candidates = list({p.id: p for p in people}.values())
    exact = [p for p in candidates if wanted in _keys(session, p)]
    if exact:
        return exact
    return [p for p in candidates if wanted in (p.display_name or "").casefold()]


def resolve(session: Session, t: Translator, query: str, people: Iterable[Person], where: str) -> Person:
    """The one person `query` names among `people`; UsageError when none or several match."""
    found = matching(session, query, people)
    if not found:
        raise UsageError(t._("I can't find anyone called %(name)s in %(where)s.", name=query, where=where))
    if len(found) > 1:
        names = ", ".join(sorted(label(session, p) for p in found))
        raise UsageError(
            t._(
                "Several people match %(name)s: %(names)s. Write more of the name; nothing was changed.",
                name=query,
                names=names,
            )
        )
    return found[0]
