"""Why a node's last poll failed (empty once it answers), as metrics stores already keep it:
`nodes list` and the Telemetry screen show it beside the failure count.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("node") as batch:
        batch.add_column(sa.Column("problem", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("node") as batch:
        batch.drop_column("problem")
