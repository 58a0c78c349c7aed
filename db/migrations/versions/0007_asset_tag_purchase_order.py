"""Cards get an asset tag (unique when given) and a purchase-order / invoice reference.

A blank tag is stored as NULL, and a unique index lets any number of NULLs through on SQLite and
PostgreSQL alike, so only tags actually given must differ.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("card", sa.Column("asset_tag", sa.String(length=64), nullable=True))
    op.add_column("card", sa.Column("purchase_order", sa.String(length=128), nullable=True))
    op.create_index("ux_card_asset_tag", "card", ["asset_tag"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_card_asset_tag", "card")
    with op.batch_alter_table("card") as batch:
        batch.drop_column("purchase_order")
        batch.drop_column("asset_tag")
