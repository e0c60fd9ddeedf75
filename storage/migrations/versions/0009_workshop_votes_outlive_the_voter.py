"""a workshop vote outlives its voter: forget-me detaches it (person_id NULL) instead of deleting it

Deleting the votes of someone who erased changes the counts of a workshop the group has already
seen by exactly their votes, which tells the group how they voted. A vote that names nobody keeps
the counts as they were.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# 0006 left the constraint unnamed: PostgreSQL named it, SQLite's batch copy is given this name.
_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_SQLITE_FK = "fk_workshop_vote_person_id_person"


def _voter_fk_name() -> str:
    return "workshop_vote_person_id_fkey" if op.get_bind().dialect.name == "postgresql" else _SQLITE_FK


def upgrade() -> None:
    name = _voter_fk_name()
    with op.batch_alter_table("workshop_vote", schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
        batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.alter_column("person_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(name, "person", ["person_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    name = _voter_fk_name()
    op.execute("DELETE FROM workshop_vote WHERE person_id IS NULL")
    with op.batch_alter_table("workshop_vote", schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
        batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.alter_column("person_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(name, "person", ["person_id"], ["id"], ondelete="CASCADE")
