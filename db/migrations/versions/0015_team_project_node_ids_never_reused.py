"""SQLite never hands out a deleted team's, project's or node's id again (AUTOINCREMENT).

The audit log refers to teams, projects and nodes by id (a card event's team_id, project_id,
node_id; a team's or node's own events by "id"). Without AUTOINCREMENT SQLite gave a new team
the highest deleted id, so `history` showed old moves into a deleted team as moves into the
new one. Each counter starts above every id its table holds or the log has named.

A database whose ids were already reused before this migration cannot be repaired: its log
does not say which of the events naming a reused id meant the old row, so those show the new
row's name (undo still refuses to put cards back in a row deleted since). PostgreSQL's
sequences never reuse an id; there this migration does nothing.

The tables are rebuilt with foreign keys off (cards refer to them): fleetui.db.migrate runs
the migrations so, and checks every reference before committing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

from fleetui.core.vocabulary import Action
from fleetui.db.audit import ROW_EVENTS

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("team", "project", "node")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "Migration 0015 rebuilds tables that cards refer to: run it with foreign keys off "
            "(fleetui.db.migrate.migrating does)."
        )
    logged = _logged_ids()
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
        # Copying the rows set the counter to the highest id held (none when there were none).
        op.execute(
            f"UPDATE sqlite_sequence SET seq = max(seq, {logged[table]}) WHERE name = '{table}'"
        )
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', {logged[table]} "
            f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
        )


def _logged_ids() -> dict[str, int]:
    """The highest id the audit log names, per table (0 for none), in one pass over it."""
    columns = []
    for table in TABLES:
        named = [f"'{a.value}'" for a, (t, _) in ROW_EVENTS.items() if t == table]
        picked = f"action IN ({', '.join(named)})"
        if table != "node":  # quota.set names a project's id, else its team's
            owner = "NOT NULL" if table == "project" else "NULL"
            picked += (
                f" OR (action = '{Action.QUOTA_SET.value}'"
                f" AND json_extract(after, '$.project') IS {owner})"
            )
        columns += [
            f"max(json_extract(before, '$.{table}_id'))",
            f"max(json_extract(after, '$.{table}_id'))",
            f"max(CASE WHEN {picked} THEN coalesce(json_extract(after, '$.id'), "
            "json_extract(before, '$.id')) END)",
        ]
    found = op.get_bind().exec_driver_sql(f"SELECT {', '.join(columns)} FROM event").one()
    return {
        table: max(int(v or 0) for v in found[3 * i : 3 * i + 3]) for i, table in enumerate(TABLES)
    }


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
