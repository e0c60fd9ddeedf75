"""Making join codes: short, random, and easy to read aloud or type from a phone screen."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import JoinCode, Role

# No 0/O, 1/I: a code read from a slide or a phone screen must not be mistyped.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 6


def new_code(session: Session) -> str:
    """A code not in use yet (32**6, about a billion: a collision is rare but checked)."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if session.scalar(select(JoinCode.id).where(JoinCode.code == code)) is None:
            return code


def create(
    session: Session,
    now: datetime,
    *,
    unit_id: int | None,
    role: Role | None,
    max_uses: int | None,
    expires_at: datetime | None,
    created_by: int | None,
    grants_admin: bool = False,
) -> JoinCode:
    row = JoinCode(
        code=new_code(session),
        unit_id=unit_id,
        role=role,
        grants_admin=grants_admin,
        max_uses=max_uses,
        uses=0,
        expires_at=expires_at,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row
