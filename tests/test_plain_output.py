"""Data is printed as data: Rich markup and emoji codes in serials, names, bus ids and CSV
headers reach the terminal exactly as written, from every command."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from typer.testing import CliRunner

from fleetui.cli import app

# A card whose every text field holds what Rich would read as markup or an emoji code (:AB:).
EVIL_TEAM = "[/x] :AB: [us]"
EVIL_CSV = (
    "serial,model,node,pci_bus_id,team,project,price [us],currency\n"
    f"SN[us]:AB:1,H100 SXM,node[/x]-1,00000000:AB:00.0,{EVIL_TEAM},p[b]x[/b],100,USD\n"
)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def evil_fleet(db_url: str, tmp_path) -> str:
    path = tmp_path / "evil.csv"
    path.write_text(EVIL_CSV, "utf-8")
    result = run("--db", db_url, "import", str(path), "--create-missing")
    assert result.exit_code == 0, result.output
    assert "price [us] -> price" in result.stderr  # the column name keeps its [us]
    return db_url


def test_import_shows_csv_headers_holding_markup_literally(db_url, tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("serial,model,[b]price[/b],[/x]\nS-1,H100 SXM,1,2\n", "utf-8")
    result = run("--db", db_url, "import", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 other columns not imported: [b]price[/b], [/x]" in result.stderr


def test_tables_and_errors_show_names_and_filters_literally(db_url, tmp_path):
    db = evil_fleet(db_url, tmp_path)
    teams = run("--db", db, "teams", "list")
    assert teams.exit_code == 0, teams.output
    assert EVIL_TEAM in teams.stdout
    projects = run("--db", db, "projects", "list")
    assert f"{EVIL_TEAM}/p[b]x[/b]" in projects.stdout
    bad = run("--db", db, "cards", 'team:"[/x]')
    assert bad.exit_code == 1
    assert "The filter 'team:\"[/x]' has an unclosed quote." in bad.stderr


def test_the_cards_table_on_a_terminal_shows_serials_and_names_literally(db_url, tmp_path):
    db = evil_fleet(db_url, tmp_path)
    primary, secondary = os.openpty()  # `cards` prints its Rich table only on a terminal
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    code = "from fleetui.cli import main; main()"
    with subprocess.Popen(
        [sys.executable, "-c", code, "--db", db, "cards"],
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closes when the command exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait() == 0, proc.stderr.read()
    os.close(primary)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())
    assert "SN[us]:AB:1" in shown and "node[/x]-1" in shown and EVIL_TEAM in shown
    assert "p[b]x[/b]" in shown
    assert "\U0001f18e" not in shown  # :AB: never becomes the emoji


def test_piped_output_is_never_wrapped_to_a_width(db_url, tmp_path):
    """A script reading `fleetui import` through a pipe gets each sentence on one line, however
    narrow COLUMNS says the terminal is: the footer of a refused import, too."""
    path = tmp_path / "cards.csv"
    path.write_text(EVIL_CSV + "SN-2,No Such GPU 9000,n,,Ads,,1,USD\n", "utf-8")
    code = "from fleetui.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "--db", db_url, "import", str(path), "--create-missing"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert (
        "1 error; nothing was written. Fix them, or pass --skip-invalid to write the valid rows."
        in done.stderr.splitlines()
    ), done.stderr
