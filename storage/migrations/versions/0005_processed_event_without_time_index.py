"""processed_event loses its index on `at`: nothing reads by time, and every event paid for it

Each event records its id; the index on `at` made that insert update one more B-tree (one more page
written per commit on SQLite, on the busiest path of all) for a query nobody runs. Should old event
ids ever be pruned, the ids grow with time, so walking the primary key from the start finds them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_event", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_event_at")


def downgrade() -> None:
    with op.batch_alter_table("processed_event", schema=None) as batch_op:
        batch_op.create_index("ix_processed_event_at", ["at"], unique=False)
