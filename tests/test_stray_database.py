"""A mistyped --db path (or a fresh machine's default path) is not a new fleet: commands that
only read never create a database; those that write may, and say so."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.db.engine import default_path, demo_path

NO_DATABASE = "There is no database at {} yet; `fleetui import FILE` creates it"

READING = [
    ["cards"],
    ["export", "-o", "{dir}/out.csv"],
    ["history"],
    *(
        ["report", name]
        for name in (
            "allocation",
            "warranty",
            "cliff",
            "eol",
            "book-value",
            "irreplaceable",
            "cost",
            "repairs",
        )
    ),
    ["teams", "list"],
    ["projects", "list"],
    ["nodes", "list"],
    ["sources", "list"],
    ["reconcile"],
    ["reconcile", "fix", "--all"],
    ["sched", "map"],
    ["sched", "diff"],
    ["health"],
    ["db", "check"],
    ["backup", "{dir}/copy.bak"],
]


@pytest.mark.parametrize("command", READING, ids=" ".join)
def test_a_reading_command_creates_no_database(tmp_path, command):
    target = tmp_path / "typo" / "fleet.db"
    target.parent.mkdir()
    args = [a.format(dir=tmp_path) for a in command]
    result = CliRunner().invoke(app, ["--db", str(target), *args])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"fleetui: {NO_DATABASE.format(target)}")
    assert len(result.stderr.splitlines()) == 1
    assert "Created" not in result.output
    assert list(tmp_path.rglob("*")) == [target.parent]


def test_a_writing_command_creates_the_database_and_says_so(tmp_path):
    target = tmp_path / "fleet.db"
    result = CliRunner().invoke(app, ["--db", str(target), "teams", "add", "ml"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"Created a new, empty fleet database at {target}."
    assert target.exists()


def test_a_dry_run_import_into_a_new_path_checks_the_file_and_leaves_no_database(tmp_path):
    """It "does everything but write", yet left the database it created behind."""
    cards = tmp_path / "cards.csv"
    cards.write_text("serial,model\nS-1,H800 SXM\n")
    target = tmp_path / "fleet.db"
    result = CliRunner().invoke(app, ["--db", str(target), "import", str(cards), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output and "Created" not in result.output
    assert sorted(tmp_path.iterdir()) == [cards]


def test_the_tui_on_a_fresh_machine_says_how_to_start():
    """In a real terminal (a pseudo-terminal), with no --db and no $FLEETUI_DB: the default
    database does not exist, so the TUI does not open an empty fleet."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "fleetui")],
            stdin=follower,
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,  # a safety net only: without the rule the TUI would wait for keys
        )
    finally:
        os.close(follower)
        os.close(leader)
    default = default_path()  # in the test's own data directory (conftest)
    assert done.returncode == 1
    assert NO_DATABASE.format(default) in done.stderr
    assert "`fleetui demo`" in done.stderr
    assert not default.exists()


@pytest.mark.parametrize(
    ("rows", "kept"), [("X-1,Nope\n" * 50, False), ("N-1,H20\n", True)], ids=["failed", "written"]
)
def test_output_to_a_closed_pipe_removes_the_new_database_unless_written(tmp_path, rows, kept):
    """`fleetui import FILE | head`: the reader is gone before the command says anything. A
    failed import's new database goes as without a pipe; an import that was written stays."""
    target = tmp_path / "fleet.db"
    source = tmp_path / "cards.csv"
    source.write_text("serial,model\n" + rows)
    reader, writer = os.pipe()
    os.close(reader)  # every write the command makes then fails: EPIPE
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "fleetui"), "--db", str(target), "import", source],
            stdout=writer,
            stderr=writer,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert done.returncode != 0
    assert target.exists() is kept


def test_with_a_demo_fleet_built_a_command_without_db_says_how_to_reach_it(tmp_path):
    """The demo's undo hints name no --db; run as printed they find no default database. The
    answer must lead to the demo, not to `fleetui demo`, which rebuilds it (losing the tries)."""
    built = CliRunner().invoke(app, ["demo", "--cards", "40", "--no-launch"])
    assert built.exit_code == 0, built.output
    demo = demo_path()
    result = CliRunner().invoke(app, ["history"])
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert f"the demo fleet is at {demo}: give `fleetui --db {demo}` before the command" in said
    assert "`fleetui demo` would rebuild it" in said
    assert not default_path().exists()
