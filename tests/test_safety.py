"""Data safety on both backends: backups, checks, killed processes, concurrent writers."""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from db.tables import Card, Event
from fleetui import demo, inventory, maintenance, moves
from fleetui.cli import app
from fleetui.errors import UserError
from fleetui.importer import ImportOptions, run_import
from fleetui.store import open_fleet

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
        demo_engine, moves.plan_request(demo_engine, "Search", None, count=8, today=TODAY), "x"
    )
    dest = tmp_path / "fleet.backup"
    assert "Backed up" in maintenance.backup(demo_engine, str(dest))
    with pytest.raises(UserError, match="exists already"):
        maintenance.backup(demo_engine, str(dest))
    target = new_engine()
    maintenance.restore(target, str(dest))
    restored = open_fleet(url_of(target))
    assert [r.as_dict() for r in inventory.cards(restored)] == [
        r.as_dict() for r in inventory.cards(demo_engine)
    ]
    assert counts(restored) == counts(demo_engine)
    assert maintenance.check(restored) == []
    with pytest.raises(UserError, match="Restore only into an empty database"):
        maintenance.restore(restored, str(dest))


def test_db_check_finds_a_card_in_another_teams_project(demo_engine):
    assert maintenance.check(demo_engine) == []
    with demo_engine.begin() as conn:
        conn.execute(
            update(Card).where(Card.project_id.isnot(None), Card.id < 3).values(team_id=None)
        )
    problems = maintenance.check(demo_engine)
    assert [p.check for p in problems] == ["projects"]
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
from fleetui.importer import ImportOptions, run_import
engine = open_fleet(sys.argv[1])
print("started", flush=True)

def progress(done, size):  # halfway through the file, inside the import's transaction
    if size > done > size / 2:
        print("halfway", flush=True)
        time.sleep(60)

run_import(engine, sys.argv[2], ImportOptions(create_missing=True), progress)
print("finished", flush=True)
"""

MOVER = """
import sys
from datetime import date
from fleetui import moves
from fleetui.store import open_fleet
engine = open_fleet(sys.argv[1])
count = int(sys.argv[2])
plan = moves.plan_request(engine, "Search", None, count=count, from_team="LLM", today=date.today())
print("started", flush=True)
moves.commit(engine, plan, "crash test")
print("finished", flush=True)
"""


def _kill_midway(code: str, args: list[str], delay: float = 0.0, at: str = "started") -> str:
    """Run `code` in a child, SIGKILL it `delay` seconds after it printed the line `at`."""
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert child.stdout.readline().strip() == "started"
    while at != "started" and child.stdout.readline().strip() not in (at, ""):
        pass
    time.sleep(delay)
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
    result = run_import(engine, str(path), ImportOptions(create_missing=True))
    assert result.new == 60_000  # nothing was left locked or half-written


def test_a_reallocation_killed_midway_is_all_or_nothing(new_engine):
    engine = new_engine()
    demo.build(engine, cards=16_000, seed=3)
    llm_before = inventory.count(engine, "team:llm")
    want = 4_000
    _kill_midway(MOVER, [url_of(engine), str(want)], delay=0.25)
    llm_after = inventory.count(engine, "team:llm")
    assert llm_after in (llm_before, llm_before - want)
    moved = [b for b in _batches(engine) if b == "move.batch"]
    assert len(moved) == (1 if llm_after != llm_before else 0)
    assert maintenance.check(engine) == []


def _batches(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(Event.action).where(Event.card_id.is_(None))).scalars())


def _import_racer(url, path, barrier, results):
    engine = open_fleet(url)
    barrier.wait(timeout=60)
    try:
        result = run_import(engine, path, ImportOptions())
        results.put(("import", "ok", result.summary()))
    except UserError as exc:
        results.put(("import", "refused", str(exc)))


def _move_racer(url, serials, barrier, results):
    engine = open_fleet(url)
    plan = moves.plan_cards(engine, serials, "Search", None)
    barrier.wait(timeout=60)
    try:
        moves.commit(engine, plan, "race")
        results.put(("move", "ok", ""))
    except UserError as exc:
        results.put(("move", "refused", str(exc)))


def test_an_import_and_a_move_of_the_same_cards_at_once(demo_engine, tmp_path):
    serials = [r.serial for r in inventory.cards(demo_engine, "team:llm status:in_service", 300)]
    path = tmp_path / "teams.csv"
    path.write_text("serial,team\n" + "".join(f"{s},Ads ranking\n" for s in serials))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    url = url_of(demo_engine)
    racers = [
        context.Process(target=_import_racer, args=(url, str(path), barrier, results)),
        context.Process(target=_move_racer, args=(url, serials, barrier, results)),
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(90)
        assert racer.exitcode == 0, "a racer crashed or hung"
    outcome = {
        kind: (status, message)
        for kind, status, message in (results.get(timeout=5) for _ in racers)
    }
    teams = Counter(inventory.detail(demo_engine, s).fields["team"] for s in serials)
    assert len(teams) == 1, f"half-applied: {teams}"
    if outcome["import"][0] == "ok":
        # the import is last either way: a move after it would have found newer versions
        assert teams == {"Ads ranking": 300}
    else:
        assert outcome["move"][0] == "ok" and teams == {"Search": 300}
    if outcome["move"][0] == "refused":
        assert (
            "changed since your preview; nothing was moved" in outcome["move"][1]
            or "busy" in outcome["move"][1]
        )
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
