"""Data safety on both backends: backups, checks, killed processes, concurrent writers."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from select import select as readable

import pytest
from sqlalchemy import func, insert, select, text, update
from typer.testing import CliRunner

from fleetui.admin import demo, maintenance
from fleetui.allocation import moves
from fleetui.allocation.undo import undo
from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db.tables import Card, Event
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.inventory import edit
from fleetui.store import open_fleet
from tests import racer

TODAY = date(2026, 11, 1)


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Card)).scalar_one(),
            conn.execute(select(func.count()).select_from(Event)).scalar_one(),
        )


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_backup_then_restore_into_an_empty_database_gives_the_same_inventory(
    demo_engine, new_engine, tmp_path
):
    moves.commit(
        demo_engine,
        moves.plan_request(demo_engine, "Search", None, count=8, today=TODAY, settings=Config()),
        "x",
    )
    dest = tmp_path / "fleet.backup"
    assert "Backed up" in maintenance.backup(demo_engine, str(dest))
    with pytest.raises(UserError, match="exists already"):
        maintenance.backup(demo_engine, str(dest))
    target = new_engine()
    maintenance.restore(target, str(dest))
    restored = open_fleet(url_of(target))
    assert [r.as_dict() for r in inventory.cards(restored, settings=Config())] == [
        r.as_dict() for r in inventory.cards(demo_engine, settings=Config())
    ]
    assert counts(restored) == counts(demo_engine)
    assert maintenance.check(restored) == []
    with pytest.raises(UserError, match="Restore only into an empty database"):
        maintenance.restore(restored, str(dest))


def test_db_check_finds_a_card_the_audit_log_last_records_as_deleted(engine, tmp_path):
    """A card back in the inventory (a row copied in by hand, or an undo that said it deleted
    a card and left it) while its log's last event deletes it: the log no longer tells what
    happened to it."""
    path = tmp_path / "two.csv"
    path.write_text("serial,model\nG-1,H20\nG-2,H20\n", "utf-8")
    run_import(engine, str(path), ImportOptions(config=Config()))
    with engine.connect() as conn:
        row = dict(conn.execute(select(Card.__table__).where(Card.serial == "G-1")).one()._mapping)
    edit.commit_delete(engine, edit.plan_delete(engine, ["G-1"]), "sold")
    assert maintenance.check(engine) == []
    with engine.begin() as conn:  # back, at the version the delete's event left
        conn.execute(insert(Card).values(row | {"version": row["version"] + 1}))
    problems = maintenance.check(engine)
    assert [(p.check, p.detail) for p in problems] == [
        ("history", "1 card in the inventory that the audit log last records as deleted"),
        ("holdings", "the holdings ledger does not add up to today's cards: 1 card off"),
    ]


def test_db_check_finds_a_card_in_another_teams_project(demo_engine):
    assert maintenance.check(demo_engine) == []
    with demo_engine.begin() as conn:
        conn.execute(
            update(Card).where(Card.project_id.isnot(None), Card.id < 3).values(team_id=None)
        )
    problems = maintenance.check(demo_engine)  # the ledger did not see them leave their team
    assert [p.check for p in problems] == ["projects", "holdings"]
    result = CliRunner().invoke(app, ["--db", url_of(demo_engine), "db", "check"])
    assert result.exit_code == 1 and "in a project of another team" in result.stdout


def test_secrets_never_reach_the_output(pg_databases, request):
    url = pg_databases.create()
    request.addfinalizer(lambda: pg_databases.drop(url))
    secret = url.replace("fleet@", "fleet:s3cret-pw@")  # trust auth ignores the password
    for args in (["db", "info"], ["cards"], ["db", "check"], ["backup", "/nonexistent/x"]):
        result = CliRunner().invoke(app, ["--db", secret, *args])
        assert "s3cret-pw" not in result.stdout + result.stderr, args
        assert result.exit_code in (0, 1), args


IMPORTER = """
import sys, time
from fleetui.store import open_fleet
from fleetui.config import Config
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
engine = open_fleet(sys.argv[1])
print("started", flush=True)

def progress(done, size):  # halfway through the file, inside the import's transaction
    if size > done > size / 2:
        print("halfway", flush=True)
        time.sleep(60)

run_import(engine, sys.argv[2], ImportOptions(create_missing=True, config=Config()), progress)
print("finished", flush=True)
"""


def _kill_midway(code: str, args: list[str], at: str = "started") -> str:
    """Run `code` in a child, SIGKILL it once it printed the line `at`."""
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert child.stdout.readline().strip() == "started"
    while at != "started" and child.stdout.readline().strip() not in (at, ""):
        pass
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read()
    child.wait()
    return rest


def test_an_import_killed_midway_leaves_the_database_unchanged(engine, tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["serial", "model", "team", "node"])
        for n in range(60_000):
            writer.writerow([f"K{n:07d}", "H800 SXM", "LLM", f"kn-{n // 8:05d}"])
    before = counts(engine)
    rest = _kill_midway(IMPORTER, [url_of(engine), str(path)], at="halfway")
    assert "finished" not in rest, "the import should still have been running"
    assert counts(engine) == before
    assert maintenance.check(engine) == []
    result = run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    assert result.new == 60_000  # nothing was left locked or half-written


def _kill_holding(args: list[str], hold: str) -> None:
    """Run `fleetui ARGS` in a child; SIGKILL it inside its transaction, right after the first
    statement matching `hold` ran (see tests.racer)."""
    child = racer.start(args, hold=hold)
    racer.wait_for(child, "holding")
    child.send_signal(signal.SIGKILL)
    child.communicate()


# Cards written, their events being written: the import's events come from a SELECT.
WRITING_CARDS = "^INSERT INTO card"
WRITING_EVENTS = "^INSERT INTO event .*SELECT"


@pytest.mark.parametrize(
    "existing, hold",
    [
        (False, WRITING_CARDS),
        (False, WRITING_EVENTS),
        (True, WRITING_EVENTS),
        (True, "^UPDATE card"),
    ],
)
def test_an_import_killed_while_writing_cards_and_events_writes_nothing(
    engine, tmp_path, existing, hold
):
    path = tmp_path / "k.csv"
    rows = "".join(f"K{n:05d},H100 SXM5 80GB,Team {n % 3},kn-{n // 8}\n" for n in range(2_000))
    path.write_text("serial,model,team,node\n" + rows)
    if existing:  # the killed import then moves every card to another team
        run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
        path.write_text("serial,team\n" + "".join(f"K{n:05d},Other\n" for n in range(2_000)))
    before = counts(engine), inventory.count(engine, "team:other", settings=Config())
    _kill_holding(["--db", url_of(engine), "import", str(path), "--create-missing"], hold)
    assert (counts(engine), inventory.count(engine, "team:other", settings=Config())) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM team")).scalar() == (3 if existing else 0)
    assert maintenance.check(engine) == []
    assert run_import(
        engine, str(path), ImportOptions(create_missing=True, config=Config())
    ).written


def test_an_undo_killed_while_writing_undoes_nothing(engine, tmp_path):
    path = tmp_path / "u.csv"
    path.write_text(
        "serial,model,team\n" + "".join(f"U{n:05d},H100 SXM5 80GB,LLM\n" for n in range(2_000))
    )
    batch = run_import(
        engine, str(path), ImportOptions(create_missing=True, config=Config())
    ).batch_id
    before = counts(engine)
    _kill_holding(["--db", url_of(engine), "undo", batch], "^INSERT INTO event")
    assert counts(engine) == before
    assert maintenance.check(engine) == []
    assert undo(engine, batch).deleted == 2_000  # nothing was left locked or half-written


def test_a_reallocation_killed_while_writing_moves_nothing(new_engine):
    engine = new_engine()
    demo.build(engine, cards=16_000, seed=3)
    llm_before = inventory.count(engine, "team:llm", settings=Config())
    move = ["move", "--count", "4000", "--from-team", "LLM", "--to-team", "Search"]
    _kill_holding(
        ["--db", url_of(engine), *move, "--reason", "crash test", "--yes"], "^INSERT INTO event"
    )
    assert inventory.count(engine, "team:llm", settings=Config()) == llm_before
    assert "move.batch" not in _batches(engine)
    assert maintenance.check(engine) == []


def _batches(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(Event.action).where(Event.card_id.is_(None))).scalars())


def test_an_import_and_a_move_of_the_same_cards_at_once(demo_engine, tmp_path):
    """The import holds its transaction open, cards written, while the move reaches its write:
    the import wins whole, the move is refused in one sentence and moves nothing."""
    serials = [
        r.serial
        for r in inventory.cards(demo_engine, "team:llm status:in_service", 300, settings=Config())
    ]
    path = tmp_path / "teams.csv"
    path.write_text("serial,team\n" + "".join(f"{s},Ads ranking\n" for s in serials))
    db = ["--db", url_of(demo_engine)]
    importer = racer.start([*db, "import", str(path)], hold="^UPDATE card")
    racer.wait_for(importer, "holding")
    mover = racer.start(
        [*db, "move", *serials, "--to-team", "Search", "--reason", "race", "--yes"],
        say="^UPDATE card",
    )
    racer.wait_for(mover, "writing")
    importer.stdin.write("\n")
    importer.stdin.flush()
    imported, moved = importer.communicate(timeout=90), mover.communicate(timeout=90)
    assert importer.returncode == 0, imported
    assert mover.returncode == 1, moved
    assert "300 of 300 cards changed since your preview; nothing was moved" in moved[1]
    teams = Counter(
        inventory.detail(demo_engine, s, settings=Config()).fields["team"] for s in serials
    )
    assert teams == {"Ads ranking": 300}
    assert maintenance.check(demo_engine) == []


def test_the_append_only_log_survives_a_direct_attempt(engine):
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO event (at, actor, action, batch_id, reason) VALUES "
                "(CURRENT_TIMESTAMP, 'x', 'note', 'b', '')"
            )
        )
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE event SET actor = 'y'"))
    assert counts(engine)[1] == 1


def test_a_lock_timeout_in_any_write_is_one_sentence_and_rolls_back(engine):
    from sqlalchemy.exc import OperationalError

    from fleetui.store import writing

    with pytest.raises(UserError, match="busy"), writing(engine) as conn:
        conn.execute(text("INSERT INTO team (name, created_at) VALUES ('T', CURRENT_TIMESTAMP)"))
        raise OperationalError("UPDATE card", {}, Exception("database is locked"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM team")).scalar() == 0
    with pytest.raises(OperationalError), writing(engine):
        raise OperationalError("SELECT", {}, Exception("no such table: nope"))


@pytest.mark.parametrize("hold", [r"^INSERT INTO card\b", r"^INSERT INTO event\b"])
def test_ctrl_c_inside_an_import_statement_is_one_sentence_and_leaves_no_new_file(tmp_path, hold):
    """SIGINT while the driver runs a statement: SQLAlchemy closes that connection, and the
    import's clean-up must not then use it (a 'closed database' traceback replaced the
    sentence, and the database file the command had created stayed behind)."""
    path = tmp_path / "c.csv"
    rows = "".join(f"C{n:05d},H100 SXM5 80GB,Team {n % 3},cn-{n // 8}\n" for n in range(2_000))
    path.write_text("serial,model,team,node\n" + rows)
    new_db = tmp_path / "new.db"
    child = racer.start(["--db", str(new_db), "import", str(path), "--create-missing"], hold=hold)
    racer.wait_for(child, "holding")
    child.send_signal(signal.SIGINT)
    child.stdin.write("\n")  # SIGINT lands in the event's wait for this line
    child.stdin.flush()
    _, stderr = child.communicate(timeout=60)
    assert (child.returncode, stderr.strip()) == (
        130,
        "fleetui: Interrupted; nothing was imported.",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_end_of_input_at_a_prompt_is_interrupted_exit_130(tmp_path, key):
    """At `Move these cards? [y/N]` on a real terminal (a pty): one sentence and exit 130,
    as Ctrl+C anywhere else (typer printed 'Aborted!' and exited 1)."""
    import pty

    db = tmp_path / "f.db"
    demo.build(engine := open_fleet(str(db)), cards=20, seed=7)
    serial = next(iter(inventory.cards(engine, "", 1, settings=Config()))).serial
    engine.dispose()
    args = ["--db", str(db), "move", serial, "--to-team", "Search", "--reason", "x"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: fleetui on the pty
        os.execv(sys.executable, [sys.executable, "-m", "tests.racer", *args])
    said = b""
    while b"[y/N]" not in said:
        said += os.read(fd, 4096)
    os.write(fd, key)
    pressed = 1
    while True:
        if not readable([fd], [], [], 5)[0]:
            # The prompt was printed before the terminal was set up to read it, and setting
            # it up dropped the key (seen once under load): pressed again, as a person would.
            assert pressed < 6, f"no answer to the key: {said.decode()}"
            os.write(fd, key)
            pressed += 1
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        said += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 130
    assert said.decode().rstrip().endswith("fleetui: Interrupted.")
