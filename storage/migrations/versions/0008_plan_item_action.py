"""plan items adopted from an instrument keep which action they are, so each person reads it in
their own language

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("action_index", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_plan_item_action_version", "instrument_version", ["action_version_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.drop_constraint("fk_plan_item_action_version", type_="foreignkey")
        batch_op.drop_column("action_index")
        batch_op.drop_column("action_version_id")
