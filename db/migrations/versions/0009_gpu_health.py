"""GPU health: the evidence each sample reports (Xid, retired pages, row remaps, throttling) and
a health_event table keeping each piece of evidence per GPU with when and how often.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAMPLE_COLUMNS = (
    "xid",
    "xid_count",
    "retired_pages_dbe",
    "retired_pages_pending",
    "remapped_rows_pending",
    "remapped_rows_failure",
    "throttle_reasons",
)


def upgrade() -> None:
    with op.batch_alter_table("gpu_sample") as batch_op:
        for name in SAMPLE_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    op.create_table(
        "health_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("pci_bus_id", sa.String(32), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("uuid", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "node_id", "pci_bus_id", "kind", "code", name="uq_health_event_evidence"
        ),
    )
    op.create_index("ix_health_event_card", "health_event", ["card_id"])
    op.create_index("ix_health_event_active", "health_event", ["active", "action"])


def downgrade() -> None:
    op.drop_table("health_event")
    with op.batch_alter_table("gpu_sample") as batch_op:
        for name in SAMPLE_COLUMNS:
            batch_op.drop_column(name)
