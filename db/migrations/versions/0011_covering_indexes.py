"""Covering indexes for the lifecycle reports and `projects list` at a million cards.

Their GROUP BYs sorted the whole card table (seconds at 1M cards); with an index in GROUP BY
order they read the index alone, in order, with no sort.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIFECYCLE = [
    "team_id",
    "model_id",
    "status",
    "purchase_date",
    "service_life_years",
    "currency",
    "project_id",
    "supplier",
    "warranty_end",
    "price_minor",
]


def upgrade() -> None:
    op.create_index("ix_card_lifecycle", "card", LIFECYCLE)
    op.create_index("ix_card_project_model_status", "card", ["project_id", "model_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_card_project_model_status", "card")
    op.drop_index("ix_card_lifecycle", "card")
