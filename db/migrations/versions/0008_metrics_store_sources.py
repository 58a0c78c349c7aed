"""Metrics stores as telemetry sources: the source table, the nodes a store reports (and any
node's basic auth and CA files), and the idle window a store computes per GPU.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("match", sa.String(), nullable=False),
        sa.Column("token_file", sa.String(), nullable=True),
        sa.Column("basic_auth_file", sa.String(), nullable=True),
        sa.Column("ca_file", sa.String(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("problem", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basic_auth_file", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("ca_file", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_node_source_id", ["source_id"], unique=False)
        batch_op.create_foreign_key("fk_node_source_id", "source", ["source_id"], ["id"])
    with op.batch_alter_table("gpu_sample", schema=None) as batch_op:
        batch_op.add_column(sa.Column("util_window_avg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("util_window_max", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gpu_sample", schema=None) as batch_op:
        batch_op.drop_column("util_window_max")
        batch_op.drop_column("util_window_avg")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_constraint("fk_node_source_id", type_="foreignkey")
        batch_op.drop_index("ix_node_source_id")
        batch_op.drop_column("source_id")
        batch_op.drop_column("ca_file")
        batch_op.drop_column("basic_auth_file")
    op.drop_table("source")
