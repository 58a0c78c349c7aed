"""Telemetry: the latest sample per GPU, hourly rollups, poll bookkeeping on nodes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.add_column(sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failures", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "gpu_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("pci_bus_id", sa.String(32), nullable=False),
        sa.Column("uuid", sa.String(64), nullable=True),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        *(
            sa.Column(name, sa.Float(), nullable=True)
            for name in (
                "util_gpu",
                "util_memory",
                "memory_used_mib",
                "memory_total_mib",
                "temperature_c",
                "power_w",
                "power_limit_w",
                "ecc_uncorrected_volatile",
            )
        ),
        sa.Column("health", sa.String(), nullable=False),
        sa.Column("lost", sa.Boolean(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["node.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_id", "pci_bus_id", name="uq_gpu_sample_node_bus"),
    )
    op.create_index("ix_gpu_sample_uuid", "gpu_sample", ["uuid"])
    op.create_index("ix_gpu_sample_serial", "gpu_sample", ["serial"])
    op.create_table(
        "gpu_hourly",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("pci_bus_id", sa.String(32), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("util_sum", sa.Float(), nullable=False),
        sa.Column("util_max", sa.Float(), nullable=False),
        sa.Column("power_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["node.id"]),
        sa.PrimaryKeyConstraint("node_id", "pci_bus_id", "hour"),
    )
    op.create_index("ix_gpu_hourly_hour", "gpu_hourly", ["hour"])


def downgrade() -> None:
    op.drop_table("gpu_hourly")
    op.drop_table("gpu_sample")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_column("failures")
        batch_op.drop_column("polled_at")
