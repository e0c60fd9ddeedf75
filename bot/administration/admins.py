"""Who runs the bot: the first admin (named on the command line or claiming a one-off code printed
at first start) and `admin grant @person`, with which admins make other admins."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.administration import join_codes
from bot.commands import Audience, Context, Registry, UsageError
from bot.directory import person_lookup
from bot.directory.people import identify
from bot.i18n import N_
from bot.messages import Incoming, Reply
from bot.permissions import visible_units
from storage.models import AuditLog, JoinCode, Membership, Person

log = logging.getLogger(__name__)

CLAIM_VALID = timedelta(days=30)
PLATFORMS = ("console", "telegram", "slack")


def has_admin(session: Session) -> bool:
    return session.scalar(select(Person.id).where(Person.is_admin.is_(True)).limit(1)) is not None


def revoke_claim_codes(session: Session, now: datetime) -> None:
    """Once there is an admin, a leftover claim code would let anyone become one: expire them."""
    session.execute(
        update(JoinCode)
        .where(
            JoinCode.grants_admin.is_(True),
            (JoinCode.expires_at.is_(None)) | (JoinCode.expires_at > now),
        )
        # Used up as well as expired: a clock that disagrees (another process) cannot revive it.
        .values(expires_at=now, max_uses=JoinCode.uses)
    )


def ensure_claim_code(session: Session, now: datetime) -> str | None:
    """At a start with no admin, the one-off code that makes its claimer the first admin.

    The same unused code is offered at every start until it is claimed or expires, so restarting
    does not pile up codes. Returns None (and revokes any leftover code) when there is an admin.
    """
    if has_admin(session):
        revoke_claim_codes(session, now)
        return None
    existing = session.scalar(
        select(JoinCode)
        .where(
            JoinCode.grants_admin.is_(True),
            JoinCode.expires_at > now,
            (JoinCode.max_uses.is_(None)) | (JoinCode.uses < JoinCode.max_uses),
        )
        .order_by(JoinCode.id.desc())
        .limit(1)
    )
    if existing is not None:
        return existing.code
    row = join_codes.create(
        session,
        now,
        unit_id=None,
        role=None,
        grants_admin=True,
        max_uses=1,
        expires_at=now + CLAIM_VALID,
        created_by=None,
    )
    return row.code


def announce_claim_code(code: str) -> None:
    log.warning("No administrator yet. To become the first one, write to the bot: join %s", code)


def make_admin(
    session: Session, now: datetime, *, platform: str, user_id: str, workspace: str = "", default_locale: str
) -> tuple[Person, bool]:
    """Make the person behind a platform identity an admin (created if the bot has not met them).
    Returns the person and whether they were an admin already."""
    incoming = Incoming(platform=platform, user_id=user_id, workspace=workspace, address=None)
    person = identify(session, incoming, now, default_locale)
    already = person.is_admin
    person.is_admin = True
    revoke_claim_codes(session, now)
    if not already:
        session.add(
            AuditLog(
                at=now,
                actor_person_id=None,
                action="admin.add",
                detail={"person": person.id, "platform": platform, "user": user_id, "via": "command line"},
            )
        )
    session.flush()
    return person, already


# ------------------------------------------------------------------ the chat command


def grant(ctx: Context, args: list[str]) -> list[Reply]:
    """`admin grant @person`: a mention or user id names anyone the bot knows; a name is picked
    from a list of the members of the admin's units (never a stranger who chose that name)."""
    t = ctx.t
    query = " ".join(args).strip()  # `admin grant Anna Berg` names one person, quoted or not
    if not query:
        raise UsageError(t._("Write admin grant and the person, for example: admin grant @anna"))
    members = ctx.session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.unit_id.in_(visible_units(ctx.session, ctx.person)))
    ).unique()
    person = person_lookup.resolve(
        ctx,
        query,
        members,
        t._("your units"),
        person_lookup.Asked("admin grant", (query,), query),
        anyone_by_id=True,
    )
    name = person_lookup.label(ctx.session, person)
    if person.is_admin:
        return [Reply(t._("%(name)s is already an administrator.", name=name))]
    person.is_admin = True
    audit.record(ctx, "admin.grant", {"person": person.id, "name": name})
    return [Reply(t._("%(name)s is now an administrator.", name=name))]


def register(registry: Registry) -> None:
    registry.command(
        "admin grant",
        Audience.ADMIN,
        N_("make someone an administrator"),
        "admin grant @anna",
    )(grant)
