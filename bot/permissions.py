"""Who may do what (DESIGN.md, "Roles and what they may do"), checked in the core only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands import Audience
from storage.models import Membership, Person, Role, Unit


def roles_of(session: Session, person: Person) -> set[Role]:
    return set(session.scalars(select(Membership.role).where(Membership.person_id == person.id)))


def may_use(session: Session, person: Person, audience: Audience) -> bool:
    if audience is Audience.EVERYONE or person.is_admin:
        return True
    roles = roles_of(session, person)
    if audience is Audience.PRINCIPAL:
        return Role.PRINCIPAL in roles or Role.MANAGER in roles
    if audience is Audience.MANAGER:
        return Role.MANAGER in roles
    return False


def descendants(session: Session, unit_ids: set[int]) -> set[int]:
    """The units themselves and every unit below them (parent links followed downwards)."""
    found = set(unit_ids)
    frontier = set(unit_ids)
    while frontier:
        children = set(session.scalars(select(Unit.id).where(Unit.parent_id.in_(frontier))))
        frontier = children - found
        found |= children
    return found


def visible_units(session: Session, person: Person) -> set[int]:
    """Units whose aggregates the person may see: all for admins, own unit for principals,
    the units (and everything below them) a manager is attached to."""
    if person.is_admin:
        return set(session.scalars(select(Unit.id)))
    principal = set(
        session.scalars(
            select(Membership.unit_id).where(
                Membership.person_id == person.id, Membership.role == Role.PRINCIPAL
            )
        )
    )
    managed = set(
        session.scalars(
            select(Membership.unit_id).where(
                Membership.person_id == person.id, Membership.role == Role.MANAGER
            )
        )
    )
    return principal | descendants(session, managed)


def plan_units(session: Session, person: Person) -> set[int]:
    """Units whose action plan the person runs: admins all, principals their own unit."""
    if person.is_admin:
        return set(session.scalars(select(Unit.id)))
    return set(
        session.scalars(
            select(Membership.unit_id).where(
                Membership.person_id == person.id, Membership.role == Role.PRINCIPAL
            )
        )
    )
