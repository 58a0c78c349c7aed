"""SQLite never hands out a deleted card's id again (AUTOINCREMENT), as PostgreSQL's sequence.

The audit log refers to cards by id. Undoing an import deletes the cards it created; without
AUTOINCREMENT SQLite gave the next new card the highest deleted id, so the old card's history
attached to a new card (`db check` then found events newer than the card, and undo could take
one card for another). The counter starts above every id the log has seen.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "card", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'card', max("
        "(SELECT coalesce(max(id), 0) FROM card), "
        "(SELECT coalesce(max(card_id), 0) FROM event)) "
        "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'card')"
    )
    op.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, "
        "(SELECT coalesce(max(card_id), 0) FROM event)) WHERE name = 'card'"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "card", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
