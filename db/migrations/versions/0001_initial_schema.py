"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gpu_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("nvml_names", sa.String(), nullable=False),
        sa.Column("aliases", sa.String(), nullable=False),
        sa.Column("memory_gb", sa.Float(), nullable=True),
        sa.Column("mem_bw_gbs", sa.Float(), nullable=True),
        sa.Column("fp16_tflops", sa.Float(), nullable=False),
        sa.Column("fp32_tflops", sa.Float(), nullable=True),
        sa.Column("fp64_tflops", sa.Float(), nullable=True),
        sa.Column("tdp_w", sa.Integer(), nullable=True),
        sa.Column("interconnect", sa.String(), nullable=False),
        sa.Column("launch_year", sa.Integer(), nullable=True),
        sa.Column("list_price_usd", sa.Integer(), nullable=True),
        sa.Column("tpp", sa.Integer(), nullable=True),
        sa.Column("export_class", sa.String(32), nullable=False),
        sa.Column("controlled_since", sa.Date(), nullable=True),
        sa.Column("export_note", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("quota_cards", sa.Integer(), nullable=True),
        sa.Column("quota_pflops", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "node",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("rack", sa.String(), nullable=False),
        sa.Column("telemetry_url", sa.String(), nullable=True),
        sa.Column("telemetry_kind", sa.String(16), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hostname"),
    )
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_site_id"), ["site_id"], unique=False)

    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("quota_cards", sa.Integer(), nullable=True),
        sa.Column("quota_pflops", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "name", name="uq_project_team_name"),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_name"), ["name"], unique=False)

    op.create_table(
        "card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("uuid", sa.String(64), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=True),
        sa.Column("pci_bus_id", sa.String(32), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("purchase_date", sa.Date(), nullable=True),
        sa.Column("price_minor", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("supplier", sa.String(128), nullable=True),
        sa.Column("warranty_end", sa.Date(), nullable=True),
        sa.Column("service_life_years", sa.Float(), nullable=True),
        sa.Column("notes", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('in_service','spare','repair','retired','on_order')", name="ck_card_status"
        ),
        sa.CheckConstraint("price_minor IS NULL OR price_minor >= 0", name="ck_card_price"),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["gpu_model.id"],
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.create_index("ix_card_model_serial", ["model_id", "serial"], unique=False)
        batch_op.create_index("ix_card_node_serial", ["node_id", "serial"], unique=False)
        batch_op.create_index("ix_card_project_serial", ["project_id", "serial"], unique=False)
        batch_op.create_index("ix_card_purchase_serial", ["purchase_date", "serial"], unique=False)
        batch_op.create_index("ix_card_status_serial", ["status", "serial"], unique=False)
        batch_op.create_index("ix_card_team_serial", ["team_id", "serial"], unique=False)
        batch_op.create_index(
            "ix_card_team_model_status", ["team_id", "model_id", "status"], unique=False
        )
        batch_op.create_index("ix_card_warranty_serial", ["warranty_end", "serial"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("card_version", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_at", ["at"], unique=False)
        batch_op.create_index("ix_event_batch_id", ["batch_id"], unique=False)
        batch_op.create_index("ix_event_card_id", ["card_id"], unique=False)
        batch_op.create_index("ix_event_serial", ["serial"], unique=False)


def downgrade() -> None:
    for table in ("event", "card", "project", "node", "team", "site", "gpu_model"):
        op.drop_table(table)
