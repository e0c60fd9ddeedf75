"""unit publications: what a unit's report shows, kept when a step of responses fills

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nothing to fill in: a unit without a publication gets one when its next step fills, and until
    # then its report is computed from the answers as before.
    op.create_table(
        "unit_publication",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("instrument_version_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instrument_version_id"], ["instrument_version.id"]),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("round_id", "unit_id"),
    )
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
    # Deleting a response (a person erased) looks up the rows that name it.
    with op.batch_alter_table("published_response", schema=None) as batch_op:
        batch_op.create_index("ix_published_response_response_id", ["response_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("published_response", schema=None) as batch_op:
        batch_op.drop_index("ix_published_response_response_id")
    op.drop_table("published_response")
    op.drop_table("unit_publication")
