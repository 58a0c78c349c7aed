"""A summary row per audit batch (table `batch`), so `history` reads the newest batches
without grouping the whole event log (a second at a million events). Filled here from the
existing events; fleetui.db.audit keeps it as it appends more.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.execute(
        "INSERT INTO batch (batch_id, at, actor, action, cards, reason, last_event_id)"
        " SELECT batch_id, min(at), min(actor), min(action), count(card_id), max(reason),"
        " max(id) FROM event GROUP BY batch_id"
    )
    op.create_index("ix_batch_last_event_id", "batch", ["last_event_id"])


def downgrade() -> None:
    op.drop_index("ix_batch_last_event_id", "batch")
    op.drop_table("batch")
