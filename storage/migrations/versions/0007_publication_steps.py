"""publication steps: each completed response's place in its unit's published set, and withdrawals

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=True))
        batch_op.create_index("ix_response_round_unit_step", ["round_id", "unit_id", "step"], unique=False)
    op.create_table(
        "publication_withdrawal",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("after_steps", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("round_id", "unit_id", "after_steps"),
    )
    # The steps the existing results were published in: the first responses in completion order,
    # `threshold` at a time (what the reports showed until now). The rest wait for the next step.
    op.execute(
        """
        UPDATE response SET step = (
            SELECT (ranked.pos - 1) / ranked.th + 1
            FROM (
                SELECT r.id AS rid,
                       ROW_NUMBER() OVER (
                           PARTITION BY r.round_id, r.unit_id ORDER BY r.completed_at, r.id
                       ) AS pos,
                       COUNT(*) OVER (PARTITION BY r.round_id, r.unit_id) AS total,
                       CASE WHEN rd.threshold > 1 THEN rd.threshold ELSE 1 END AS th
                FROM response r JOIN round rd ON rd.id = r.round_id
                WHERE r.status = 'completed' AND r.unit_id IS NOT NULL
            ) ranked
            WHERE ranked.rid = response.id AND ranked.pos <= (ranked.total / ranked.th) * ranked.th
        )
        """
    )
    # Kept publications were made by position; they are made again from the steps.
    op.drop_table("published_response")
    op.execute("DELETE FROM unit_publication")
    with op.batch_alter_table("unit_publication", schema=None) as batch_op:
        batch_op.add_column(sa.Column("steps", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.create_table(
        "published_response",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id", "unit_id"],
            ["unit_publication.round_id", "unit_publication.unit_id"],
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["response_id"], ["response.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("round_id", "unit_id", "position"),
    )
    op.drop_table("publication_withdrawal")
    op.execute("DELETE FROM unit_publication")
    with op.batch_alter_table("unit_publication", schema=None) as batch_op:
        batch_op.drop_column("steps")
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_index("ix_response_round_unit_step")
        batch_op.drop_column("step")
