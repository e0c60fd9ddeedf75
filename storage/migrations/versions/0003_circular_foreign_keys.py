"""the two circular foreign keys (person.current_response_id, instrument.active_version_id)

0001 declared them with use_alter, which Alembic's create_table leaves out on PostgreSQL (SQLite
keeps them inline in the CREATE TABLE). Create them where they are missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FOREIGN_KEYS = (
    ("fk_person_current_response", "person", "response", ["current_response_id"], "SET NULL"),
    ("fk_instrument_active_version", "instrument", "instrument_version", ["active_version_id"], None),
)


def _existing(table: str) -> set[str]:
    inspector = sa.inspect(op.get_bind())
    return {str(fk["name"]) for fk in inspector.get_foreign_keys(table) if fk.get("name")}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, table, target, columns, ondelete in FOREIGN_KEYS:
        if name not in _existing(table):
            op.create_foreign_key(name, table, target, columns, ["id"], ondelete=ondelete)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, table, _target, _columns, _ondelete in FOREIGN_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
