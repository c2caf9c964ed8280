"""An index on the outbox's sent rows, for the retention that deletes the oldest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_sent_at",
        "outbox",
        ["sent_at"],
        postgresql_where=sa.text("sent_at IS NOT NULL"),
        sqlite_where=sa.text("sent_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
