"""Engine factory, default paths, migrations on open, and refusing a newer schema."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from typer.testing import CliRunner

from fleetui.allocation import teams
from fleetui.cli import app as cli_app
from fleetui.core.errors import SchemaTooNew, UserError
from fleetui.core.vocabulary import Action
from fleetui.db.engine import default_path, redact, resolve_url
from fleetui.db.migrate import HEAD, current_revision, known_revisions
from fleetui.db.tables import Card, Event, Node, Project, Team, inserted_id, table_of
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
    info = CliRunner().invoke(cli_app, ["--db", db_url, "db", "info", "--json"])  # changes nothing
    shown = json.loads(info.stdout)  # what it holds, before anything upgrades it
    assert (shown["schema"], shown["state"], shown["cards"]) == ("0003", "needs upgrade", 1)
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


def _at_0014(db_url: str):
    """An engine on a new database as fleetui 0014 left it (its caller disposes of it)."""
    from alembic import command

    from fleetui.db.engine import make_engine
    from fleetui.db.migrate import _alembic_config

    old = make_engine(resolve_url(db_url))
    cfg = _alembic_config()
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
    return old


def _assert_ids_never_reused(engine) -> None:
    """A team, project and node deleted: the next one of each gets a new id."""
    first = (
        _add_team(engine, "Gone"),
        _add_project(engine, "Gone", "gone"),
        _add_node(engine, "gone-01"),
    )
    teams.delete_project(engine, "Gone", "gone")
    teams.delete_team(engine, "Gone")
    teams.remove_node(engine, "gone-01")
    again = (
        _add_team(engine, "New"),
        _add_project(engine, "New", "new"),
        _add_node(engine, "new-01"),
    )
    assert all(new > old for new, old in zip(again, first, strict=True)), (first, again)


def _add_team(engine, name: str) -> int:
    """The id of a team added as `teams add` adds it (which returns its batch)."""
    teams.add_team(engine, name)
    with engine.connect() as conn:
        return conn.execute(select(Team.id).where(Team.name == name)).scalar_one()


def _add_project(engine, team: str, name: str) -> int:
    teams.add_project(engine, team, name)
    with engine.connect() as conn:
        return conn.execute(select(Project.id).where(Project.name == name)).scalar_one()


def _add_node(engine, hostname: str) -> int:
    with engine.begin() as conn:
        return inserted_id(conn, insert(table_of(Node)).values(hostname=hostname, rack=""))


def test_a_new_database_never_hands_out_a_deleted_teams_projects_or_nodes_id(engine):
    """The audit log refers to them by id: SQLite gave the next new row the deleted one's id,
    and `history` named the new team for the old one's moves."""
    _assert_ids_never_reused(engine)


def test_an_upgraded_database_never_hands_out_an_id_its_log_named(db_url):
    """Upgrading from 0014: new ids start above every id the database holds or its log named
    (a card event's team_id, a delete's or an import's "id"), though those rows are gone; no
    card is touched, and every reference still holds."""
    old = _at_0014(db_url)
    now = datetime.now(UTC)
    team_t, project_t, node_t = table_of(Team), table_of(Project), table_of(Node)
    with old.begin() as conn:
        team = [inserted_id(conn, insert(team_t).values(name=n, created_at=now)) for n in "ABCD"]
        project = [
            inserted_id(conn, insert(project_t).values(team_id=team[0], name=n, created_at=now))
            for n in "pq"
        ]
        node = [inserted_id(conn, insert(node_t).values(hostname=n, rack="")) for n in ("n1", "n2")]
        conn.execute(text(CARD_INSERT.format(serial="S1", uuid="GPU-1")))
        conn.execute(update(table_of(Card)).values(team_id=team[0], node_id=node[0]))
        cards = conn.execute(select(table_of(Card))).all()
        conn.execute(delete(team_t).where(team_t.c.id.in_(team[2:])))
        conn.execute(delete(project_t).where(project_t.c.id == project[1]))
        conn.execute(delete(node_t).where(node_t.c.id == node[1]))
        logged = [  # D only in a card's event; C, q, n2 by their own events' "id"
            (Action.MOVE, 1, {"team_id": team[3], "version": 1}, {"team_id": None}),
            (Action.TEAM_DELETE, None, {"team": "C", "id": team[2]}, None),
            (Action.PROJECT_DELETE, None, {"project": "q", "id": project[1]}, None),
            (Action.IMPORT_NODE, None, None, {"id": node[1], "name": "n2"}),
        ]
        for action, card, before, after in logged:
            conn.execute(
                insert(table_of(Event)).values(
                    actor="ann",
                    action=action,
                    card_id=card,
                    batch_id=action,
                    before=before,
                    after=after,
                )
            )
    old.dispose()
    engine = open_fleet(db_url)
    assert _add_team(engine, "E") > team[3]
    assert _add_project(engine, "A", "r") > project[1]
    assert _add_node(engine, "n3") > node[1]
    with engine.connect() as conn:
        assert conn.execute(select(table_of(Card))).all() == cards
    _assert_ids_never_reused(engine)
    engine.dispose()


def test_an_upgrade_that_would_leave_a_broken_reference_changes_nothing(db_path):
    """Migrations rebuild tables with SQLite's foreign keys off; a row referring to a missing
    one (here from before) fails the check before commit: one sentence, nothing changed."""
    _at_0014(str(db_path)).dispose()
    conn = sqlite3.connect(db_path)  # foreign keys off, as sqlite3 has them by default
    conn.execute(
        "INSERT INTO gpu_model (key, vendor, name, fp16_tflops, export_class, nvml_names, "
        "aliases, interconnect, export_note, source) VALUES ('x', 'v', 'X', 1, 'n', '', '', '', "
        "'', '')"
    )
    conn.execute(CARD_INSERT.format(serial="S1", uuid="GPU-1"))
    conn.execute("UPDATE card SET team_id = 99")
    conn.commit()
    schema = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    with pytest.raises(UserError, match=r"card row 1 refers to a missing team\); nothing was"):
        open_fleet(str(db_path))
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0014",)]
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    conn.close()
