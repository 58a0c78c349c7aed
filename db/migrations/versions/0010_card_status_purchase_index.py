"""An index the dashboard's end-of-life alert counts from alone: (status, purchase_date,
model_id, service_life_years) covers "in service and bought before D" with the model and the
card's own service life, so the count reads an index range and never the card rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["status", "purchase_date", "model_id", "service_life_years"]


def upgrade() -> None:
    op.create_index("ix_card_status_purchase", "card", COLUMNS)
    if op.get_bind().dialect.name == "sqlite":  # without statistics the planner misuses it
        op.execute("ANALYZE ix_card_status_purchase")


def downgrade() -> None:
    op.drop_index("ix_card_status_purchase", table_name="card")
