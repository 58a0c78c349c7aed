"""Open a database: check its schema revision, apply pending migrations, refuse newer ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from fleetui.core import units
from fleetui.db.engine import make_engine, redact

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision. Opening an up-to-date database compares against this and
# never imports Alembic (a tenth of a second at start-up); a test keeps it equal to Alembic's head.
HEAD = "0019"


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer fleetui; we must not touch it."""


class ForeignDatabaseError(RuntimeError):
    """The database holds another application's tables and no fleetui schema."""


class BrokenReferencesError(RuntimeError):
    """After the migrations, rows of an SQLite database refer to rows that do not exist."""


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def known_revisions() -> tuple[str, set[str]]:
    """(head, all revisions) of the migrations shipped with this code."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return script.get_current_head() or "", {s.revision for s in script.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def open_database(url: str, on_upgrade: Callable[[str], None] | None = None) -> Engine:
    """Return a ready engine. Migrates an older schema (telling `on_upgrade` the revision it
    starts from first: some migrations rebuild a table); raises SchemaTooNewError on a newer one
    and ForeignDatabaseError on another application's database, before changing anything.
    """
    engine = make_engine(url)
    try:
        upgrade(engine, url, on_upgrade)
    except BaseException:
        engine.dispose()
        raise
    return engine


def upgrade(engine: Engine, url: str, on_upgrade: Callable[[str], None] | None = None) -> None:
    current = current_revision(engine)
    if current != HEAD:
        _refuse_unusable(engine, url, current)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA journal_mode").scalar() != "wal":
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    if current == HEAD:
        return
    if current is not None and on_upgrade is not None:
        on_upgrade(current)
    from alembic import command

    cfg = _alembic_config()
    with migrating(engine, url) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def migrating(engine: Engine, url: str) -> Iterator[Connection]:
    """A connection whose work is one transaction, committed if the body succeeds.

    On SQLite, migrations rebuild tables other tables refer to (card refers to team): foreign
    keys are off while they run, and every reference is checked before the commit (a broken one
    raises BrokenReferencesError and nothing is changed). PRAGMA foreign_keys is a no-op inside
    a transaction, and pysqlite begins one only before DML, so the transaction is begun here,
    explicitly, and holds the DDL too."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock first: one migrator at once
            yield conn
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                table, rowid, parent, _ = broken[0]
                rows = units.counted(len(broken), "row")
                raise BrokenReferencesError(
                    f"Upgrading {redact(url)} would leave {rows} referring to rows that do not "
                    f"exist ({table} row {rowid} refers to a missing {parent}); "
                    "nothing was changed."
                )
            conn.commit()
        finally:
            conn.invalidate()  # closed (rolling back what was not committed), never reused:
            # its foreign keys are off


def _refuse_unusable(engine: Engine, url: str, current: str | None) -> None:
    """Raise when the database is not one this fleetui may change."""
    if current is None:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
        if tables:
            raise ForeignDatabaseError(
                f"The database {redact(url)} holds {units.counted(len(tables), 'table')} of "
                "another application and no fleetui inventory; give fleetui a new file or an "
                "empty database."
            )
        return
    _, known = known_revisions()
    if current not in known:
        raise SchemaTooNewError(
            f"The database {redact(url)} has schema revision {current}, which this fleetui "
            "does not know; it was written by a newer version, so upgrade fleetui to open it."
        )
