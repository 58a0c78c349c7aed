"""The store's 24-hour utilization peak per GPU is no longer fetched: nothing read it (idle is
the window's average), and asking for it cost a third of a store round's work.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gpu_sample") as batch:
        batch.drop_column("util_window_max")


def downgrade() -> None:
    with op.batch_alter_table("gpu_sample") as batch:
        batch.add_column(sa.Column("util_window_max", sa.Float(), nullable=True))
