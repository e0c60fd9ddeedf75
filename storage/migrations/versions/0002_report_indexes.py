"""indexes for unit reports: a unit's completed responses of a round in completion order, its invited

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The report's first query ranks a unit's completed responses by completion time; with this
    # index that is a range scan in order instead of a scan of every response of every unit.
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.create_index(
            "ix_response_round_unit_status_completed",
            ["round_id", "unit_id", "status", "completed_at", "id"],
            unique=False,
        )
    # "n of m answered": the invited of one unit in a round, without reading every invitation of it.
    with op.batch_alter_table("round_participant", schema=None) as batch_op:
        batch_op.create_index("ix_round_participant_round_unit", ["round_id", "unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("round_participant", schema=None) as batch_op:
        batch_op.drop_index("ix_round_participant_round_unit")
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_index("ix_response_round_unit_status_completed")
