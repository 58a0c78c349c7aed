"""Hostile input and backend differences: each refused in one sentence with nothing changed, the
same on both backends; opening a database changes nothing before its checks pass."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.config import Config
from fleetui.db import engine as db_engine
from fleetui.importing import importer
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.store import open_fleet


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def refused(result, sentence: str, code: int = 1) -> None:
    """Exit `code` and exactly one line on stderr holding `sentence`."""
    assert result.exit_code == code, result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert sentence in result.stderr, result.stderr


def state(url: str) -> dict:
    """Everything a refused command must leave as it was."""
    engine = open_fleet(url)
    with engine.connect() as conn:
        snapshot = {
            table: conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in ("card", "team", "project", "node", "event")
        }
    engine.dispose()
    return snapshot


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


# ---------------------------------------------------------------- PostgreSQL defects


def test_rows_written_with_their_ids_leave_the_id_sequence_ahead(db_url):
    assert cli("--db", db_url, "demo", "--cards", "40", "--no-launch").exit_code == 0
    result = cli("--db", db_url, "nodes", "add", "new-host", "--agent", "http://127.0.0.1:9")
    assert result.exit_code == 0, result.output
    listed = json.loads(cli("--db", db_url, "nodes", "list", "--json").stdout)
    assert "new-host" in [n["hostname"] for n in listed]


def test_statistics_after_the_commit_never_turn_an_import_into_a_failure(
    demo_url, backend, tmp_path, monkeypatch
):
    """Another import holds the write lock when this one, committed, refreshes statistics."""
    refresh = importer.refresh_statistics_if_idle
    other = create_engine(db_engine.resolve_url(demo_url))

    def another_import_holds_the_lock(engine) -> None:
        with other.connect() as conn:
            if backend == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("LOCK TABLE card IN SHARE ROW EXCLUSIVE MODE")
            refresh(engine)
            conn.rollback()

    monkeypatch.setattr(importer, "ANALYZE_AFTER", 0)
    monkeypatch.setattr(importer, "refresh_statistics_if_idle", another_import_holds_the_lock)
    path = write(tmp_path, "new.csv", "serial,model\nNEW-1,H800 SXM\nNEW-2,H20\n")
    result = cli("--db", demo_url, "import", path)
    other.dispose()
    assert result.exit_code == 0, result.output
    assert "Imported: 2 new" in result.stdout
    assert len(json.loads(cli("--db", demo_url, "cards", "serial:NEW", "--json").stdout)) == 2


def test_the_first_import_into_an_empty_inventory_lets_readers_read(engine, backend, tmp_path):
    path = write(
        tmp_path, "first.csv", "serial,model\n" + "".join(f"F{n},H800 SXM\n" for n in range(50))
    )
    url = engine.url.render_as_string(hide_password=False)
    reader = create_engine(url)
    seen = []

    def progress(done: int, size: int) -> None:
        if done == size:  # the cards are written, the transaction still open
            with reader.connect() as conn:
                if backend == "postgresql":
                    conn.exec_driver_sql("SET lock_timeout = '5s'")
                seen.append(conn.exec_driver_sql("SELECT count(*) FROM card").scalar())

    assert run_import(engine, path, ImportOptions(config=Config()), progress).new == 50
    reader.dispose()
    assert seen and set(seen) == {0}  # the last call comes after the cards are written


# ---------------------------------------------------------------- the same limits on both backends


@pytest.mark.parametrize(
    "args, sentence",
    [
        (["teams", "add", "T" * 129], "team name 'TTTT"),
        (["teams", "add", "Big", "--quota-cards", str(2**31)], "larger than"),
        (["teams", "rename", "LLM", "R" * 129], "longer than 128 characters"),
        (["projects", "add", "LLM", "P" * 129], "longer than 128 characters"),
        (["nodes", "add", "h" * 256, "--agent", "http://127.0.0.1:9"], "longer than 255"),
        (["import", "--team", "T" * 129, "FILE"], "--team"),
        (
            [
                "move",
                "--to-team",
                "Search",
                "--count",
                "1",
                "--reason",
                "x",
                "-y",
                "--actor",
                "a" * 129,
            ],
            "actor",
        ),
    ],
)
def test_values_too_long_for_postgresql_are_refused_alike_on_both_backends(
    demo_url, tmp_path, args, sentence
):
    before = state(demo_url)
    path = write(tmp_path, "ok.csv", "serial,model\nOK-1,H800 SXM\n")
    result = cli("--db", demo_url, *(path if a == "FILE" else a for a in args))
    refused(result, sentence)
    assert state(demo_url) == before


@pytest.mark.parametrize(
    "rows, reason",
    [
        ("serial,model\n" + "S" * 65 + ",H800 SXM\n", "longer than 64 characters"),
        ("serial,model,pci_bus_id\nB1,H800 SXM," + "0" * 33 + "\n", "longer than 32 characters"),
        ("serial,model,team\nT1,H800 SXM," + "T" * 129 + "\n", "longer than 128 characters"),
        ("serial,model,node\nN1,H800 SXM," + "n" * 256 + "\n", "longer than 255 characters"),
        ("serial,model,price\nP1,H800 SXM,1e309 USD\n", "more than 21,474,836.47"),
        ("serial,model,price\nP2,H800 SXM,30000000 USD\n", "more than 21,474,836.47"),
        ("serial,model,price\nP3,H800 SXM,inf USD\n", "not an amount of money"),
        (
            "serial,model,purchase_date,warranty_months\nW1,H800 SXM,2024-01-01,1000000000\n",
            "a warranty is at most 360 months (30 years)",
        ),
        (  # its end of life would fall past the calendar: every report failed on it
            "serial,model,purchase_date\nW2,H800 SXM,9999-06-01\n",
            "9999-06-01 is outside the years 1900 to 2999",
        ),
        ("serial,model,warranty_end\nW3,H800 SXM,1066-10-14\n", "outside the years 1900 to 2999"),
    ],
)
def test_values_no_backend_can_hold_are_row_errors_and_nothing_is_written(
    demo_url, tmp_path, rows, reason
):
    before = state(demo_url)
    result = cli("--db", demo_url, "import", "--create-missing", write(tmp_path, "bad.csv", rows))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert reason in result.stderr and "nothing was written" in result.stderr
    assert state(demo_url) == before


@pytest.mark.parametrize(
    "args, sentence",
    [
        (["cards", "warranty:99999999d"], "use a number of days (warranty:90d, at most 36,500)"),
        (["report", "warranty", "--within", "99999999d"], "give days, like 90d (at most 36,500)"),
        (["report", "warranty", "--within", "-5d"], "--within '-5d': give days, like 90d"),
        (["report", "cliff", "--today", "9999-06-01"], "outside the years 1900 to 2999"),
        (["report", "warranty", "--today", "0001-01-01"], "outside the years 1900 to 2999"),
        (["report", "allocation", "--as-of", "1800-01-01"], "outside the years 1900 to 2999"),
        (["edit", "SERIAL", "--warranty-end", "9999-12-31", "--reason", "x", "-y"], "2999"),
    ],
)
def test_dates_and_windows_past_the_calendars_reach_are_one_sentence(demo_url, args, sentence):
    """A date or window whose lifecycle sums leave Python's calendar (a warranty ending in
    9999 plus a service life) ended in an OverflowError or CellError traceback, and closed the
    TUI from its filter box; every date and window is now held to the years fleetui keeps."""
    serial = json.loads(cli("--db", demo_url, "cards", "--limit", "1", "--json").output)[0]
    before = state(demo_url)
    result = cli("--db", demo_url, *(serial["serial"] if a == "SERIAL" else a for a in args))
    refused(result, sentence)
    assert state(demo_url) == before


# ---------------------------------------------------------------- one sentence, nothing changed


@pytest.mark.parametrize(
    "content, sentence",
    [
        (None, "There is no file"),
        (b"\xef\xbb\xbfserial,model,notes\nB1,H800 SXM,\xc4\xe3\xba\xc3\n", "byte-order mark"),
        (b"\xff\xfes\x00,\x00\n\x00\x00\xd8", "byte-order mark"),
    ],
)
def test_an_unreadable_import_file_is_one_sentence_and_creates_no_database(
    tmp_path, content, sentence
):
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    target = tmp_path / "new.db"
    refused(cli("--db", str(target), "import", str(path)), sentence)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["in.csv"] if content else [])


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_full_disk_at_commit_is_one_sentence_and_changes_nothing(demo_url, tmp_path, monkeypatch):
    """SQLite's max_page_count makes the file as full as a full disk would."""
    pragmas = db_engine._sqlite_pragmas

    def nearly_full(dbapi_conn, record) -> None:
        pragmas(dbapi_conn, record)
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    before = state(demo_url)
    monkeypatch.setattr(db_engine, "_sqlite_pragmas", nearly_full)
    rows = "serial,model,notes\n" + "".join(f"D{n:05d},H800 SXM,{'x' * 200}\n" for n in range(3000))
    result = cli("--db", demo_url, "import", write(tmp_path, "big.csv", rows))
    monkeypatch.undo()
    refused(result, "The disk holding the database is full; nothing was changed.")
    assert state(demo_url) == before


@pytest.fixture
def read_only_url(demo_url, backend, pg_databases_if_any):
    """The demo database, read-only to fleetui: SQLite's read-only open (what a file without
    write permission gives, even to root), PostgreSQL's read-only default for the database."""
    if backend == "sqlite":
        return f"sqlite:///file:{demo_url}?mode=ro&uri=true"
    name = demo_url.rsplit("/", 1)[1]
    with pg_databases_if_any.admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE {name} SET default_transaction_read_only = on"))
    return demo_url


@pytest.fixture
def pg_databases_if_any(backend, request):
    return request.getfixturevalue("pg_databases") if backend == "postgresql" else None


def test_a_database_in_a_read_only_folder_is_named_so_even_to_read(demo_file, tmp_path):
    """SQLite said "attempt to write a readonly database" to `cards`, a command that only reads:
    it writes its journal files beside the database. A new database there, the same."""
    folder = tmp_path / "shelf"
    folder.mkdir()
    shutil.copy(demo_file, folder / "fleet.db")
    folder.chmod(0o555)
    as_user = []  # root writes anywhere: drop that power, as an ops user lacks it
    if os.geteuid() == 0:
        if shutil.which("capsh") is None:
            pytest.skip("capsh absent (libcap2-bin): cannot run as an ordinary user here")
        as_user = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--"]
    said = []
    try:
        for db, args in ((folder / "fleet.db", "cards"), (folder / "new.db", "db upgrade")):
            argv = [sys.executable, "-c", "from fleetui.cli import main; main()", "--db", str(db)]
            argv += args.split()
            done = subprocess.run(
                [*as_user, "-c", shlex.join(argv)] if as_user else argv,
                capture_output=True,
                text=True,
                check=False,
            )
            said.append((done.returncode, done.stderr))
        assert sorted(p.name for p in folder.iterdir()) == ["fleet.db"]
    finally:
        folder.chmod(0o755)
    for db, (code, stderr) in zip(("fleet.db", "new.db"), said, strict=True):
        assert code == 1 and stderr == (
            f"fleetui: Cannot open the database sqlite:///{folder / db}: its folder {folder} is "
            "read-only here, and SQLite writes beside the database (its -wal and -shm journal "
            "files) even for a command that only reads; use a folder you can write to.\n"
        )


@pytest.mark.parametrize(
    "args",
    [
        ["import", "FILE"],
        ["teams", "add", "Vision"],
        ["nodes", "add", "n1", "--agent", "http://127.0.0.1:9"],
        [
            "move",
            "--to-team",
            "Search",
            "--count",
            "2",
            "--from-team",
            "LLM",
            "--reason",
            "x",
            "-y",
        ],
    ],
)
def test_every_write_to_a_read_only_database_is_one_sentence(
    read_only_url, demo_url, tmp_path, args
):
    before = state(demo_url)
    path = write(tmp_path, "ok.csv", "serial,model\nOK-1,H800 SXM\n")
    result = cli("--db", read_only_url, *(path if a == "FILE" else a for a in args))
    refused(result, "The database is read-only here")
    assert state(demo_url) == before


CTRL_C_IMPORT = """
import sys, time
from fleetui import cli
from fleetui.importing import importer

stage = importer._stage

def stage_then_wait(*args):  # the first chunk is staged, inside the import's transaction
    stage(*args)
    print("inside", flush=True)
    time.sleep(60)

importer._stage = stage_then_wait
sys.argv = ["fleetui", *sys.argv[1:]]
cli.main()
"""


def test_ctrl_c_during_an_import_is_one_sentence_exit_130_and_imports_nothing(demo_url, tmp_path):
    before = state(demo_url)
    rows = "serial,model\n" + "".join(f"C{n:06d},H800 SXM\n" for n in range(importer.CHUNK + 10))
    path = write(tmp_path, "many.csv", rows)
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_IMPORT, "--db", demo_url, "import", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    assert child.stdout.readline().strip() == "inside"
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130
    assert stderr.strip() == "fleetui: Interrupted; nothing was imported."
    assert state(demo_url) == before


# ---------------------------------------------------------------- SQLite files


def _damage_a_card_page(path) -> bytes:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page,) = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'card' AND pagetype = 'leaf' LIMIT 1"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    with open(path, "r+b") as handle:
        handle.seek((page - 1) * size + 8)
        handle.write(b"\xff" * 64)
    return path.read_bytes()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_db_check_finds_a_damaged_page_and_backup_refuses_to_copy_it(demo_url, tmp_path):
    path = tmp_path / "demo-copy.db"
    damaged = _damage_a_card_page(path)
    for full in ([], ["--full"]):
        result = cli("--db", demo_url, "db", "check", *full)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stdout.startswith("integrity: "), result.stdout
    refused(cli("--db", demo_url, "backup", str(tmp_path / "copy.db")), "is damaged")
    assert not (tmp_path / "copy.db").exists()
    assert path.read_bytes() == damaged


def test_a_newer_schema_is_refused_before_anything_changes(db_path):
    open_fleet(str(db_path)).dispose()
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    before = db_path.read_bytes()
    refused(cli("--db", str(db_path), "cards"), "written by a newer version", code=2)
    assert db_path.read_bytes() == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]


def test_another_applications_database_is_refused_and_left_as_it_was(db_url, backend):
    if backend == "sqlite":
        with sqlite3.connect(db_url) as conn:
            conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        before = Path(db_url).read_bytes()
    other = create_engine(db_engine.resolve_url(db_url))
    if backend == "postgresql":
        with other.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    refused(cli("--db", db_url, "cards"), "holds 1 table of another application")
    with other.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM orders").scalar() == 0
        assert not conn.dialect.has_table(conn, "card")
    other.dispose()
    if backend == "sqlite":
        assert Path(db_url).read_bytes() == before


def test_failed_commands_create_no_database_file(tmp_path):
    target = tmp_path / "new.db"
    junk = write(tmp_path, "junk.bak", "not a backup")
    refused(cli("--db", str(target), "db", "info"), "There is no database")
    refused(cli("--db", str(target), "restore", str(tmp_path / "missing.bak")), "no backup file")
    refused(cli("--db", str(target), "restore", junk), "is not an SQLite backup")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.bak"]


def test_a_new_database_is_announced_before_the_output_unless_restore_fills_it(tmp_path):
    target = tmp_path / "new.db"
    imported = cli(
        "--db", str(target), "import", write(tmp_path, "a.csv", "serial,model\nN-1,H20\n")
    )
    assert imported.exit_code == 0, imported.output
    lines = imported.stderr.splitlines()
    assert lines[0] == f"Created a new, empty fleet database at {target}."
    assert not any("Created" in line for line in lines[1:])
    backup = tmp_path / "copy.bak"
    assert cli("--db", str(target), "backup", str(backup)).exit_code == 0
    restored = cli("--db", str(tmp_path / "other.db"), "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert "Created" not in restored.output
    failed = cli(
        "--db",
        str(tmp_path / "third.db"),
        "import",
        write(tmp_path, "b.csv", "serial,model\nN-2,Nope\n"),
    )
    assert failed.exit_code == 1 and not (tmp_path / "third.db").exists()
    assert (
        failed.stderr.splitlines()[-1] == f"Removed the new database {tmp_path / 'third.db'} again."
    )
    refused(
        cli("--db", str(tmp_path / "typo.db"), "teams", "delete", "Nope"), "There is no database"
    )
    assert not (tmp_path / "typo.db").exists()
