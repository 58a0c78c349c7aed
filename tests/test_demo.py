"""The demo fleet: realistic, deterministic, and never mixed into real data."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import defaultdict

import pytest
from sqlalchemy import insert, select

from fleetui.admin import demo
from fleetui.allocation.teams import add_team
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db import engine as engine_module
from fleetui.db.tables import Card, GpuModel
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.inventory.summary import fleet_summary
from fleetui.store import open_fleet


def _fleet(engine):
    with engine.connect() as conn:
        ids = list(conn.execute(select(Card.id).order_by(Card.serial)).scalars())
    return inventory.rows_for(engine, ids, settings=Config())


def test_same_seed_same_fleet_other_seed_other_fleet(new_engine, demo_engine):
    again = new_engine()
    demo.build(again, cards=2000, seed=7)
    assert [r.as_dict() for r in _fleet(again)] == [r.as_dict() for r in _fleet(demo_engine)]
    other = new_engine()
    demo.build(other, cards=2000, seed=8)
    assert [r.serial for r in _fleet(other)] != [r.serial for r in _fleet(demo_engine)]


def test_the_fleet_looks_like_a_real_one(demo_engine):
    rows = _fleet(demo_engine)
    assert len(rows) == 2000
    statuses = {r.status for r in rows}
    assert statuses == {"in_service", "spare", "repair", "retired", "on_order"}
    models = {r.model for r in rows}
    for family in ("A100", "A800", "H100", "H800", "H20", "V100", "T4", "L40S", "Ascend 910B"):
        assert any(m.startswith(family) for m in models), family
    assert {r.team for r in rows} >= {
        "LLM",
        "Ads ranking",
        "Search",
        "Autonomous driving",
        "Cloud rental",
    }
    years = {r.purchase_date.year for r in rows}
    assert min(years) == 2019 and max(years) == 2026
    sites = {r.node.split("-")[0] for r in rows if r.node}
    assert len(sites) == 3
    assert all(r.node is None for r in rows if r.status == "on_order")


def test_nodes_hold_eight_cards_of_one_model_owned_by_one_team(demo_engine):
    by_node = defaultdict(list)
    for r in _fleet(demo_engine):
        if r.node:
            by_node[r.node].append(r)
    assert max(len(cards) for cards in by_node.values()) == 8
    for cards in by_node.values():
        assert len({c.model for c in cards}) == 1
        assert len({c.team for c in cards}) == 1


def test_warranties_run_one_to_three_years(demo_engine):
    for r in _fleet(demo_engine):
        years = (r.warranty_end - r.purchase_date).days / 365.25
        assert 0.99 <= years <= 3.01


def test_team_compute_adds_up_to_the_fleet(demo_engine):
    summary = fleet_summary(demo_engine)
    assert summary.total_cards == 2000
    assert sum(line.tflops for line in summary.teams) == pytest.approx(summary.total_tflops)
    by_model = {line.name: line.cards for line in summary.models}
    assert sum(by_model.values()) == 2000


def test_demo_refuses_a_database_holding_real_cards(engine):
    with engine.begin() as conn:
        model = conn.execute(select(GpuModel.id).limit(1)).scalar()
        conn.execute(insert(Card).values(serial="REAL-1", model_id=model, status="spare"))
    with pytest.raises(UserError, match="never mixes demo data with real data"):
        demo.clear(engine)
    assert [r.serial for r in _fleet(engine)] == ["REAL-1"]


def test_a_demo_database_can_be_cleared_and_rebuilt(demo_engine):
    demo.clear(demo_engine)
    assert demo.card_count(demo_engine) == 0
    assert demo.build(demo_engine, cards=100, seed=1) == 100


# ---------------------------------------------------------------- the demo command and real data


def _cli(*args: str):
    from typer.testing import CliRunner

    from fleetui.cli import app

    return CliRunner().invoke(app, list(args))


def _snapshot(db: str, backend: str, tmp_path):
    """What a user would lose: the files of an SQLite database (closed, so a change to any byte
    shows), or a PostgreSQL inventory's cards and teams."""
    if backend == "sqlite":
        return {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("fleet")}
    return _cli("--db", db, "export").stdout + _cli("--db", db, "teams", "list").stdout


def _real_inventory(db: str, tmp_path, cards: bool = True) -> None:
    real = tmp_path / "real.csv"
    real.write_text("serial,model,team\nREAL-1,H800 SXM,Ops\nREAL-2,H20,Ops\n")
    engine = open_fleet(db)
    if cards:
        run_import(engine, real, ImportOptions(create_missing=True, config=Config()))
    else:
        add_team(engine, "Ops")
    engine.dispose()


def test_demo_never_follows_the_environment_to_a_real_inventory(
    db_url, backend, tmp_path, monkeypatch
):
    _real_inventory(db_url, tmp_path)
    before = _snapshot(db_url, backend, tmp_path)
    monkeypatch.setenv("FLEETUI_DB", db_url)
    for _ in range(2):  # the second run rebuilds the demo database, still not the real one
        result = _cli("demo", "--cards", "16", "--no-launch")
        assert result.exit_code == 0, result.output
    assert _snapshot(db_url, backend, tmp_path) == before
    demo_file = engine_module.demo_path()
    assert demo_file.exists() and str(demo_file) in result.stderr


@pytest.mark.parametrize("holding", ["cards", "a team only"])
def test_demo_refuses_a_real_database_named_by_db_and_leaves_it_untouched(
    holding, db_url, backend, tmp_path
):
    _real_inventory(db_url, tmp_path, cards=holding == "cards")
    before = _snapshot(db_url, backend, tmp_path)
    result = _cli("--db", db_url, "demo", "--cards", "16", "--no-launch")
    assert result.exit_code == 1
    assert "demo never mixes demo data with real data" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _snapshot(db_url, backend, tmp_path) == before


def test_demo_never_rebuilds_its_database_once_real_cards_were_added(demo_url, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("serial,model\nREAL-1,H800 SXM\n")
    assert _cli("--db", demo_url, "import", str(real)).exit_code == 0
    result = _cli("--db", demo_url, "demo", "--cards", "16", "--no-launch")
    assert result.exit_code == 1
    assert "demo never mixes demo data with real data" in result.stderr
    listed = json.loads(_cli("--db", demo_url, "cards", "--json").stdout)
    assert len(listed) == 2001 and "REAL-1" in {c["serial"] for c in listed}


def test_demo_refuses_another_applications_sqlite_file(tmp_path):
    other = tmp_path / "fleet-other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    before = other.read_bytes()
    result = _cli("--db", str(other), "demo", "--cards", "16", "--no-launch")
    assert result.exit_code == 1 and "never mixes demo data" in result.stderr
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet-other.db"]


def test_an_interrupted_demo_build_is_simply_built_again(db_url, demo_url):
    open_fleet(db_url).dispose()  # the schema, and nothing in it: as a killed build leaves it
    for db, cards in ((db_url, 16), (demo_url, 24)):
        result = _cli("--db", db, "demo", "--cards", str(cards), "--no-launch")
        assert result.exit_code == 0, result.output
        assert len(json.loads(_cli("--db", db, "cards", "--json").stdout)) == cards


@pytest.mark.parametrize("cards", ["0", "-5"])
def test_a_demo_that_fails_leaves_no_database_file_it_created(tmp_path, cards):
    result = _cli("--db", str(tmp_path / "d.db"), "demo", "--no-launch", "--cards", cards)
    assert (result.exit_code, result.stderr.strip()) == (1, "fleetui: --cards must be at least 1.")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value", "refusal"),
    [
        ("--cards", "0", "--cards must be at least 1."),
        ("--seed", "-1", "--seed must be 0 or more."),
    ],
)
def test_a_refused_demo_leaves_the_demo_it_would_replace(demo_url, option, value, refusal):
    """The options were checked only once the old demo was wiped: a refusal left no cards."""
    history = _cli("--db", demo_url, "history").stdout
    result = _cli("--db", demo_url, "demo", "--no-launch", option, value)
    assert (result.exit_code, result.stderr.strip()) == (1, f"fleetui: {refusal}")
    assert len(json.loads(_cli("--db", demo_url, "cards", "--json").stdout)) == 2000
    assert _cli("--db", demo_url, "history").stdout == history


@pytest.mark.parametrize("args", [[], ["demo", "--cards", "16"]], ids=["tui", "demo"])
def test_the_tui_without_a_terminal_is_one_sentence_and_changes_nothing(tmp_path, args):
    """A script or pipe running `fleetui` (or `fleetui demo`) got a full-screen app that never
    ended; it gets a sentence instead, and demo says it before building anything."""
    db = tmp_path / "fleet.db"

    def fleetui(*words: str) -> subprocess.CompletedProcess:  # a process, as a script runs it
        command = [sys.executable, "-c", "from fleetui.cli import main; main()", "--db", str(db)]
        return subprocess.run(
            [*command, *words], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )

    if not args:  # the TUI opens only a database that exists
        assert fleetui("db", "upgrade").returncode == 0
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir())
    result = fleetui(*args)  # it left the -wal and -shm files opening the database made
    assert result.returncode == 1
    assert "which needs a terminal; `fleetui --help` lists the commands" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir()) == before
