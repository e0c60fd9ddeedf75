"""outbox.reply_to: the message a reply's edit replaces, so any process can deliver an event's replies

An event's replies are written to the outbox in the event's transaction (bot/reply_outbox.py). An
edit there needs the pressed message (a Telegram message id, a Slack channel and ts), which only the
platform's update carried: it is kept with the row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("reply_to")
