"""Serialising long writers with everyone else, the same way on both backends."""

from __future__ import annotations

from sqlalchemy import Connection


def lock_cards_for_writing(conn: Connection) -> None:
    """Take the inventory's write lock at the start of a transaction, before it reads.

    SQLite: a no-op write takes the database's write lock now (waiting out another writer);
    reading first and writing later would fail outright once another writer committed.
    PostgreSQL: SHARE ROW EXCLUSIVE on card blocks other writers of cards, never readers.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE card IN SHARE ROW EXCLUSIVE MODE")
