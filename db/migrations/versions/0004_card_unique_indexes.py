"""Card serials and UUIDs stay unique through named unique indexes instead of table constraints.

A constraint's index cannot be dropped, so a bulk load into an empty inventory had to insert
every random UUID into a live B-tree; an index can be dropped for the load and built once,
sorted (see db.bulk.indexes_deferred). Uniqueness is enforced exactly as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("serial", "uuid")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's constraints are unnamed: name them as reflected, then rebuild without them.
        naming = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
        with op.batch_alter_table("card", naming_convention=naming, recreate="always") as batch:
            for column in COLUMNS:
                batch.drop_constraint(f"uq_card_{column}", type_="unique")
    else:
        for column in COLUMNS:
            op.drop_constraint(f"card_{column}_key", "card", type_="unique")
    for column in COLUMNS:
        op.create_index(f"ux_card_{column}", "card", [column], unique=True)


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ux_card_{column}", "card")
    with op.batch_alter_table("card") as batch:
        for column in COLUMNS:
            batch.create_unique_constraint(f"uq_card_{column}", [column])
