"""SQLite keeps no planner statistics for the tables that grow with every move or poll: figures
taken when a log was small (a new demo's log holds one event) made the planner scan the whole
log once per card in undo. Drops those an earlier ANALYZE took; fleetui no longer takes them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROWING = ("event", "batch", "holding_change", "health_event", "gpu_hourly")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL re-analyses a growing table by itself
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'").first():
        names = ", ".join(f"'{name}'" for name in GROWING)
        bind.exec_driver_sql(f"DELETE FROM sqlite_stat1 WHERE tbl IN ({names})")


def downgrade() -> None:
    pass  # statistics are a hint: the next full ANALYZE takes them again
