"""The `fleetui` command through typer's runner: output for scripts and one-sentence errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from fleetui import __version__, catalogue
from fleetui.cli import app
from fleetui.db.migrate import HEAD
from fleetui.store import open_fleet

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def demo_db(db_url):
    result = run("--db", db_url, "demo", "--cards", "400", "--no-launch")
    assert result.exit_code == 0, result.output
    return db_url


def test_models_json_lists_the_whole_catalogue_with_sources():
    result = run("models", "--json")
    assert result.exit_code == 0
    models = json.loads(result.stdout)
    assert len(models) == len(catalogue.models())
    h800 = next(m for m in models if m["key"] == "h800-sxm")
    assert h800["fp16_tflops"] == 989 and h800["export_class"] == "made_for_2022_rule"
    assert "NVIDIA H800" in h800["nvml_names"] and h800["source"]


def test_cards_json_has_the_fields_scripts_need(demo_db):
    result = run("--db", demo_db, "cards", "team:llm status:in_service", "--json", "--limit", "5")
    assert result.exit_code == 0, result.output
    cards = json.loads(result.stdout)
    assert len(cards) == 5
    for card in cards:
        assert {
            "serial",
            "uuid",
            "model",
            "node",
            "team",
            "project",
            "status",
            "purchase_date",
            "warranty_end",
        } <= set(card)
        assert card["team"] == "LLM" and card["status"] == "in_service"


def test_filter_terms_may_come_as_separate_words(demo_db):
    """The shell splits `cards team:llm status:in_service` into two words, and removes the
    quotes of `team:"Ads ranking"`: both filter as the same query typed in one argument."""
    one = run("--db", demo_db, "cards", "team:llm status:in_service", "--json").stdout
    assert run("--db", demo_db, "cards", "team:llm", "status:in_service", "--json").stdout == one
    spaced = run("--db", demo_db, "cards", "team:Ads ranking", "status:in_service", "--json")
    quoted = run("--db", demo_db, "cards", 'team:"Ads ranking" status:in_service', "--json")
    assert json.loads(spaced.stdout) and spaced.stdout == quoted.stdout
    refused = run("--db", demo_db, "cards", "--limit", "0")
    assert refused.exit_code == 2 and "--limit" in refused.output


def test_a_negated_term_is_a_filter_not_an_option(demo_db):
    """`cards -team:llm` takes the word as a filter term (the cards of every other team, and of
    none); a mistyped long option is still refused in one sentence."""
    llm = json.loads(run("--db", demo_db, "cards", "team:llm", "--json").stdout)
    rest = json.loads(run("--db", demo_db, "cards", "-team:llm", "--json").stdout)
    assert llm and rest and {c["team"] for c in rest} >= {None}
    assert "LLM" not in {c["team"] for c in rest} and len(llm) + len(rest) == 400
    typo = run("--db", demo_db, "cards", "--jsno", "team:llm")
    assert typo.exit_code == 1
    assert typo.output == "fleetui: No such option: --jsno (fleetui cards --help lists them).\n"


def test_cards_matching_nothing_in_a_terminal_say_so(demo_db):
    """A terminal got an empty table's frame and no word; it now gets one sentence (a pipe
    still gets the header, --json an empty array)."""
    fleetui = [sys.executable, "-c", "from fleetui.cli import main; main()"]
    reader, terminal = os.openpty()
    done = subprocess.run(
        [*fleetui, "--db", demo_db, "cards", "team:[b]nobody"],
        stdout=terminal,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    os.close(terminal)
    try:
        shown = os.read(reader, 65536)
    except OSError:  # nothing was written: Linux tells so with EIO
        shown = b""
    os.close(reader)
    assert (done.returncode, shown, done.stderr) == (0, b"", "No card matches 'team:[b]nobody'.\n")


def test_cards_json_without_limit_returns_every_match(demo_db):
    result = run("--db", demo_db, "cards", "--json")
    assert len(json.loads(result.stdout)) == 400


def test_piped_cards_are_tab_separated_with_a_header(demo_db):
    result = run("--db", demo_db, "cards", "model:h800", "--limit", "3")
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["serial", "uuid", "model"]
    assert len(lines) == 4 and all("H800" in line.split("\t")[2] for line in lines[1:])


def test_the_environment_variable_names_the_database(demo_db, monkeypatch):
    monkeypatch.setenv("FLEETUI_DB", demo_db)
    result = run("cards", "--json", "--limit", "1")
    assert len(json.loads(result.stdout)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cards", "tema:llm"], "Unknown filter key 'tema'; did you mean 'team'?"),
        (["cards", "--sort", "price"], "Cannot sort by 'price'"),
        (["--db", "/no/such/dir/fleet.db", "cards"], "The directory /no/such/dir does not exist."),
    ],
)
def test_user_errors_are_one_sentence_without_traceback(demo_db, args, message):
    if args[0] != "--db":
        args = ["--db", demo_db, *args]
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_twice_rebuilds_its_own_database(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    for _ in range(2):
        result = run("demo", "--cards", "120", "--no-launch")
        assert result.exit_code == 0, result.output
    assert (tmp_path / "fleetui" / "demo.db").exists()
    assert not (tmp_path / "fleetui" / "fleet.db").exists()
    told = " ".join(result.stderr.split())  # how the other commands reach the demo
    assert f"fleetui --db {tmp_path / 'fleetui' / 'demo.db'} history" in told
    with sqlite3.connect(tmp_path / "fleetui" / "demo.db") as conn:
        assert conn.execute("SELECT count(*) FROM card").fetchone()[0] == 120


def test_demo_refuses_a_real_inventory(db_url, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("serial,model\nREAL-1,H800 SXM\nREAL-2,H20\n")
    assert run("--db", db_url, "import", str(real)).exit_code == 0
    result = run("--db", db_url, "demo", "--cards", "10", "--no-launch")
    assert result.exit_code == 1
    assert "never mixes demo data with real data" in result.stderr
    listed = json.loads(run("--db", db_url, "cards", "--json").stdout)
    assert [c["serial"] for c in listed] == ["REAL-1", "REAL-2"]


def test_demo_rebuilds_a_demo_database_named_by_url(demo_db):
    result = run("--db", demo_db, "demo", "--cards", "50", "--no-launch")
    assert result.exit_code == 0, result.output
    assert len(json.loads(run("--db", demo_db, "cards", "--json").stdout)) == 50


def test_db_info_reports_schema_and_hides_passwords(demo_db, backend):
    result = run("--db", demo_db, "db", "info", "--json")
    info = json.loads(result.stdout)
    assert info["state"] == "up to date" and info["cards"] == 400 and info["backend"] == backend


@pytest.mark.parametrize("command", [["db", "info"], ["cards"]])
def test_an_unreachable_server_is_one_sentence_and_never_shows_the_password(command):
    result = run("--db", "postgresql+psycopg://ops:hunter2@127.0.0.1:1/fleet", *command)
    assert result.exit_code == 1
    assert "postgresql+psycopg://ops:***@127.0.0.1:1/fleet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stdout + result.stderr


def test_a_newer_database_exits_2_and_db_info_says_why(demo_db):
    engine = open_fleet(demo_db)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    engine.dispose()
    result = run("--db", demo_db, "cards")
    assert result.exit_code == 2
    assert "newer version" in result.stderr and "Traceback" not in result.stderr
    info = json.loads(run("--db", demo_db, "db", "info", "--json").stdout)
    assert info["state"] == "newer than this fleetui" and info["schema"] == "ffff_future"
    said = run("--version").stdout  # tells two builds of one version apart by their schema
    assert said == f"fleetui {__version__} (database schema {HEAD})\n"


@pytest.mark.parametrize("args", [[], ["--json"], ["--sort", "nonsense"]])
def test_a_bad_filter_or_sort_writes_nothing_to_stdout_before_its_error(demo_url, args):
    """Scripts read stdout: a header or '[' left before the error would look like data."""
    query = "team:llm" if "--sort" in args else "bogus:x"
    result = CliRunner().invoke(app, ["--db", demo_url, "cards", query, *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("fleetui: ")


def test_the_summaries_name_every_file_import_reads_and_every_batch_undo_reverts():
    """--help's one-line summaries (equal to the docstrings) once said CSV only and 'an import
    or a move'."""
    from fleetui.cli import COMMANDS
    from fleetui.importing.xlsxfile import SUFFIXES

    assert all(suffix in COMMANDS["import"][1] for suffix in (*SUFFIXES, "CSV"))
    undo = COMMANDS["undo"][1]
    kinds = ("import", "move", "edit", "delete", "RMA", "added a team", "renamed", "quota")
    assert all(kind in undo for kind in kinds)
    listed = " ".join(run("--help").stdout.split())
    assert "Revert any batch that changed cards" in listed and ".xlsx/.xlsm workbook" in listed


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_failing_export_writes_nothing_and_creates_no_file(demo_db, tmp_path, fmt):
    """The filter is checked before a header, a bracket or a file is written."""
    printed = run("--db", demo_db, "export", "bogus:1", "--format", fmt)
    assert printed.exit_code == 1 and printed.stdout == ""
    assert "bogus" in printed.stderr
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "e2.csv"
    saved = run("--db", demo_db, "export", "bogus:1", "--format", fmt, "-o", str(target))
    assert saved.exit_code == 1 and list(folder.iterdir()) == []
    elsewhere = run("--db", demo_db, "export", "bogus:1", "-o", str(folder / "new" / "e.csv"))
    assert "bogus" in elsewhere.stderr and list(folder.iterdir()) == []
    target.write_text("kept\n")
    assert run("--db", demo_db, "export", "bogus:1", "-o", str(target)).exit_code == 1
    assert target.read_text() == "kept\n" and list(folder.iterdir()) == [target]
    assert run("--db", demo_db, "export", "-o", str(target)).exit_code == 0
    assert target.read_text().startswith("serial,") and list(folder.iterdir()) == [target]


def test_skip_invalid_with_every_row_invalid_fails_saying_nothing_was_imported(db_url, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("serial,model\nB-1,H9999\nB-2,Nope\n")
    result = run("--db", db_url, "import", str(path), "--skip-invalid")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    said = "Nothing was imported: every row is invalid; the rows and why are in "
    assert any(line.startswith(said) for line in result.stderr.splitlines()), result.stderr
    assert (tmp_path / "bad.csv.rejected.csv").exists()


def test_quotas_are_given_as_cards_and_pflops_and_the_old_names_still_work(tmp_path):
    db = str(tmp_path / "fleet.db")
    for command in (["teams", "add"], ["teams", "quota"], ["projects", "add"]):
        shown = run(*command, "--help").output
        assert "--cards" in shown and "--pflops" in shown and "--quota-" not in shown
    assert run("--db", db, "teams", "add", "LLM", "--cards", "8").exit_code == 0
    assert run("--db", db, "teams", "add", "Ads", "--quota-cards", "4").exit_code == 0
    assert run("--db", db, "teams", "quota", "LLM", "--cards", "16", "--pflops=2").exit_code == 0
    assert run("--db", db, "projects", "add", "LLM", "sft", "--quota-pflops=1.5").exit_code == 0
    teams = {t["name"]: t for t in json.loads(run("--db", db, "teams", "list", "--json").stdout)}
    assert (teams["LLM"]["quota_cards"], teams["LLM"]["quota_pflops"]) == (16, 2.0)
    assert teams["Ads"]["quota_cards"] == 4
    result = run("--db", db, "projects", "list", "--json")
    assert {p["name"]: p["quota_pflops"] for p in json.loads(result.stdout)}["LLM/sft"] == 1.5
