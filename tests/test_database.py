"""Engine factory, default paths, migrations on open, and refusing a newer schema."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from fleetui.core.errors import SchemaTooNew, UserError
from fleetui.db.engine import default_path, redact, resolve_url
from fleetui.db.migrate import HEAD, current_revision, known_revisions
from fleetui.db.tables import Event, table_of
from fleetui.store import open_fleet


def test_default_database_lives_under_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "fleetui" / "fleet.db"
    assert resolve_url(None) == f"sqlite:///{tmp_path}/fleetui/fleet.db"


def test_db_option_beats_environment_which_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("FLEETUI_DB", str(tmp_path / "env.db"))
    assert resolve_url(None).endswith("/env.db")
    assert resolve_url(str(tmp_path / "flag.db")).endswith("/flag.db")
    assert resolve_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_wrong_paths_are_one_sentence_errors(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        open_fleet(str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        open_fleet(str(tmp_path / "no" / "such" / "dir.db"))
    assert not (tmp_path / "no").exists()


def test_passwords_never_appear_in_printable_urls():
    assert "hunter2" not in redact("postgresql+psycopg://ops:hunter2@db.internal/fleet")


def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(db_path):
    engine = open_fleet(str(db_path))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_opening_applies_every_migration_and_they_match_the_models(engine):
    head, _ = known_revisions()
    assert head == HEAD, "update db.migrate.HEAD when adding a migration"
    assert current_revision(engine) == head
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_foreign_keys_are_enforced(engine):
    with engine.begin() as conn, pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        conn.execute(
            text(
                "INSERT INTO card (serial, model_id, status, notes, version, "
                "created_at, updated_at) VALUES ('X1', 9999, 'spare', '', 1, "
                "'2024-01-01', '2024-01-01')"
            )
        )


def test_upgrading_an_older_database_keeps_its_cards_and_their_uniqueness(db_url, capsys):
    from alembic import command

    from fleetui.db.engine import make_engine, resolve_url
    from fleetui.db.migrate import _alembic_config

    old = make_engine(resolve_url(db_url))
    cfg = _alembic_config()
    with old.begin() as conn:  # the schema as fleetui 0003 left it, with a card in it
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            text(
                "INSERT INTO gpu_model (key, vendor, name, fp16_tflops, export_class, "
                "nvml_names, aliases, interconnect, export_note, source) "
                "VALUES ('x', 'v', 'X', 1, 'none', '', '', '', '', '')"
            )
        )
        conn.execute(text(CARD_INSERT.format(serial="S1", uuid="GPU-1")))
    old.dispose()
    engine = open_fleet(db_url)
    assert f"from schema 0003 to {HEAD} (once" in capsys.readouterr().err  # it can take a while
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        assert conn.execute(text("SELECT serial, uuid FROM card")).all() == [("S1", "GPU-1")]
    open_fleet(db_url).dispose()
    assert capsys.readouterr().err == ""  # once
    for serial, uuid in (("S1", "GPU-2"), ("S2", "GPU-1")):
        with engine.begin() as conn, pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
            conn.execute(text(CARD_INSERT.format(serial=serial, uuid=uuid)))
    engine.dispose()


CARD_INSERT = (
    "INSERT INTO card (serial, uuid, model_id, status, notes, version, created_at, updated_at) "
    "SELECT '{serial}', '{uuid}', id, 'spare', '', 1, '2024-01-01', '2024-01-01' FROM gpu_model"
)


def test_database_from_a_newer_fleetui_is_refused_and_left_untouched(db_path):
    open_fleet(str(db_path)).dispose()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(SchemaTooNew, match="newer version") as raised:
        open_fleet(str(db_path))
    assert raised.value.exit_code == 2
    assert "\n" not in str(raised.value)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_a_newer_schema_is_refused_on_either_backend_and_left_as_it_is(engine, db_url):
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew):
        open_fleet(db_url)
    from fleetui.db.engine import make_engine, resolve_url

    again = make_engine(resolve_url(db_url))
    assert current_revision(again) == "9999_future"
    again.dispose()


def test_the_audit_log_refuses_updates_and_deletes(demo_engine):
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"), demo_engine.begin() as conn:
        conn.execute(text("UPDATE event SET reason = 'rewritten'"))
    with pytest.raises(DBAPIError, match="append-only"), demo_engine.begin() as conn:
        conn.execute(text("DELETE FROM event"))
    with demo_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar() >= 1


def test_a_table_hint_for_sqlite_reaches_sqlite_and_only_sqlite(engine):
    """SQLAlchemy's SQLite dialect drops table hints; db.sqlfuncs writes them, so a query that
    names the index SQLite is to read (allocation --as-of, the eol report) reads by it."""
    event_t = table_of(Event)
    query = (
        select(func.count())
        .select_from(event_t)
        .where(event_t.c.at > datetime(2026, 1, 1, tzinfo=UTC))
        .with_hint(event_t, "INDEXED BY ix_event_at", "sqlite")
    )
    with engine.connect() as conn:
        sql = str(query.compile(conn))
        assert ("FROM event INDEXED BY ix_event_at" in sql) == (conn.dialect.name == "sqlite")
        assert conn.execute(query).scalar() == 0
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("2026-01-01",)).all()
            assert any("ix_event_at" in row[-1] for row in plan)
