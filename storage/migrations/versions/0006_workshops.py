"""workshops: a unit's workshop with its votes and notes, messages whose replies are notes, group
outbox messages, and pulse rounds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posted_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("chat", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("anchor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "workspace", "chat", "message_id"),
    )
    op.create_table(
        "workshop_facilitator",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("named_by", sa.Integer(), nullable=True),
        sa.Column("named_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["named_by"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("unit_id", "person_id"),
    )
    op.create_table(
        "workshop",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("facilitator_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=False),
        sa.Column("chat", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("pick", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("weakest_first", sa.Boolean(), nullable=False),
        sa.Column("auto_next", sa.Boolean(), nullable=False),
        sa.Column("agenda", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_started_at", sa.DateTime(), nullable=True),
        sa.Column("step_elapsed", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["facilitator_id"], ["person.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workshop", schema=None) as batch_op:
        batch_op.create_index("ix_workshop_chat", ["platform", "workspace", "chat", "status"], unique=False)
        batch_op.create_index("ix_workshop_unit_id", ["unit_id"], unique=False)
    op.create_table(
        "workshop_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workshop_id"], ["workshop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workshop_note", schema=None) as batch_op:
        batch_op.create_index("ix_workshop_note_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_workshop_note_workshop", ["workshop_id", "item_code"], unique=False)
    op.create_table(
        "workshop_vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workshop_id"], ["workshop.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workshop_id", "person_id", "item_code"),
    )
    with op.batch_alter_table("workshop_vote", schema=None) as batch_op:
        batch_op.create_index("ix_workshop_vote_person_id", ["person_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat", sa.String(length=200), nullable=True))
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pulse_of_round_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("items", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            "fk_round_pulse_of_round", "round", ["pulse_of_round_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.drop_constraint("fk_round_pulse_of_round", type_="foreignkey")
        batch_op.drop_column("items")
        batch_op.drop_column("pulse_of_round_id")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("chat")
    op.drop_table("workshop_vote")
    op.drop_table("workshop_note")
    op.drop_table("workshop")
    op.drop_table("workshop_facilitator")
    op.drop_table("posted_message")
