"""People and their platform identities: who is talking, in which language, and joining units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from bot.free_text import clean
from bot.i18n import pick_locale
from bot.messages import Incoming
from storage.db import upsert_insert
from storage.models import Identity, JoinCode, Membership, Person, Role

# The identity with its person in one query, built once: it runs on every event, and a statement
# built per call costs more Python (construction and cache key) than the query does in SQLite.
_IDENTITY_WITH_PERSON = (
    select(Identity)
    .options(joinedload(Identity.person))
    .where(
        Identity.platform == bindparam("platform"),
        Identity.workspace == bindparam("workspace"),
        Identity.platform_user_id == bindparam("user_id"),
    )
)


def identify(session: Session, incoming: Incoming, now: datetime, default_locale: str) -> Person:
    """The person behind an incoming event, created on first contact."""
    identity = session.scalar(
        _IDENTITY_WITH_PERSON,
        {"platform": incoming.platform, "workspace": incoming.workspace, "user_id": incoming.user_id},
    )
    if identity is not None:
        person = identity.person
        hint = _locale_hint(incoming)
        if hint and person.locale_hint != hint:
            person.locale_hint = hint
        if incoming.address and incoming.is_private and identity.address != incoming.address:
            identity.address = incoming.address
        if incoming.display_name and not person.display_name:
            person.display_name = _display_name(incoming)
        return person
    person = Person(
        display_name=_display_name(incoming),
        locale_hint=_locale_hint(incoming),
        created_at=now,
    )
    session.add(person)
    session.flush()
    # Two first messages of a new person may race in two processes: insert-or-ignore, then re-read.
    values = {
        "person_id": person.id,
        "platform": incoming.platform,
        "workspace": incoming.workspace,
        "platform_user_id": incoming.user_id,
        "address": incoming.address if incoming.is_private else None,
    }
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect)
    session.execute(insert(Identity).values(**values).on_conflict_do_nothing())
    identity = session.scalar(
        select(Identity).where(
            Identity.platform == incoming.platform,
            Identity.workspace == incoming.workspace,
            Identity.platform_user_id == incoming.user_id,
        )
    )
    assert identity is not None
    if identity.person_id != person.id:
        session.delete(person)
        return identity.person
    return person


def identify_changes_nothing(
    incoming: Incoming, *, locale_hint: str | None, address: str | None, display_name: str
) -> bool:
    """Whether `identify` would leave a known person and identity as they are (the quick answer path
    reads these three columns and leaves any change to `identify`). Kept beside it to stay in step."""
    hint = _locale_hint(incoming)
    if hint and locale_hint != hint:
        return False
    if incoming.address and incoming.is_private and address != incoming.address:
        return False
    return not (incoming.display_name and not display_name)


def _display_name(incoming: Incoming) -> str:
    """The platform's name for the person, as text that fits its column: names are user-controlled,
    and a NUL or an over-long name would otherwise fail the insert on PostgreSQL."""
    return clean(incoming.display_name or "").strip()[:200]


def _locale_hint(incoming: Incoming) -> str | None:
    return incoming.locale_hint[:10] if incoming.locale_hint else None


def locale_of(person: Person, default_locale: str) -> str:
    return pick_locale(person.locale, person.locale_hint, default_locale)


def first_name(person: Person) -> str:
    return (person.display_name or "").split(" ")[0]


@dataclass(frozen=True)
class Joined:
    unit_name: str
    role: Role | None
    admin: bool
    already: bool


class JoinRefused(Exception):
    """The code is unknown, used up or expired (the reason is a message id for the person)."""


def redeem(session: Session, person: Person, code: str, now: datetime) -> Joined:
    """Use a join code: membership of its unit with its role (or admin rights for a claim code)."""
    # Codes are made of capitals; a code typed in lower case on a phone is the same code.
    typed = code.strip()
    row = session.scalar(select(JoinCode).where(JoinCode.code.in_({typed, typed.upper()})))
    if row is None:
        raise JoinRefused("unknown")
    if row.expires_at is not None and row.expires_at <= now:
        raise JoinRefused("expired")
    if row.grants_admin:
        already = person.is_admin
        if not already:
            _use(session, row)
            person.is_admin = True
        return Joined("", None, True, already)
    assert row.unit_id is not None
    membership = session.scalar(
        select(Membership).where(Membership.person_id == person.id, Membership.unit_id == row.unit_id)
    )
    role = row.role or Role.STAFF
    if membership is not None:
        return Joined(membership.unit.name, membership.role, False, True)
    _use(session, row)
    membership = Membership(person_id=person.id, unit_id=row.unit_id, role=role, joined_at=now)
    session.add(membership)
    session.flush()
    return Joined(membership.unit.name, role, False, False)


def _use(session: Session, row: JoinCode) -> None:
    # Count the use atomically, so a single-use code cannot be used twice by two people at once.
    if row.max_uses is None:
        session.execute(update(JoinCode).where(JoinCode.id == row.id).values(uses=JoinCode.uses + 1))
        return
    result = session.execute(
        update(JoinCode)
        .where(JoinCode.id == row.id, JoinCode.uses < JoinCode.max_uses)
        .values(uses=JoinCode.uses + 1)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise JoinRefused("used")
