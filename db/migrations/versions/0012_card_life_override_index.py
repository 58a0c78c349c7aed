"""A partial index of the cards with a service life of their own (few, if any): the
end-of-life conditions (`report cliff`, `report eol`, the `eol:` filter) list those lives
first, which without it reads a whole index of a million cards.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWN_LIFE = sa.text("service_life_years > 0")


def upgrade() -> None:
    op.create_index(
        "ix_card_life_override",
        "card",
        ["service_life_years"],
        sqlite_where=OWN_LIFE,
        postgresql_where=OWN_LIFE,
    )


def downgrade() -> None:
    op.drop_index("ix_card_life_override", table_name="card")
