"""The history people read: names, not ids; creations as the card's values; undone batches and
the undos marked; every line within 80 columns. CLI and TUI, on both backends."""

from __future__ import annotations

import itertools
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text, update
from textual.widgets import DataTable
from typer.testing import CliRunner

from fleetui.admin import maintenance
from fleetui.allocation import history, moves, teams
from fleetui.allocation.undo import undo
from fleetui.app import FleetApp
from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.vocabulary import NO_PROJECT, UNASSIGNED, Action
from fleetui.db import audit, holdings
from fleetui.db.tables import BatchSummary, Card, HoldingChange, Team
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import edit
from fleetui.screens.history import HistoryScreen
from fleetui.store import open_fleet
from tests.test_moves import TODAY
from tests.test_undo import url_of

CSV = (
    "serial,model,node,team,project,status,price,currency,warranty_end\n"
    "H-1,H100 SXM5 80GB,gpu-01,Ads,ctr,spare,30000,USD,2027-05-01\n"
)


def cli(engine, *args: str) -> list[str]:
    result = CliRunner().invoke(app, ["--db", url_of(engine), *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    return lines


def test_a_card_moved_to_the_pool_reads_as_the_tables_call_it(demo_engine):
    plan = moves.plan_request(
        demo_engine, "none", None, count=1, from_team="LLM", today=TODAY, settings=Config()
    )
    moves.commit(demo_engine, plan, "freed")
    shown = cli(demo_engine, "history", "--card", plan.cards[0].serial)
    assert f"  team: LLM → {UNASSIGNED}" in shown


def test_a_cards_history_reads_as_names_and_values(engine, tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text(CSV)
    run_import(
        engine, str(path), ImportOptions(create_missing=True, reason="delivery", config=Config())
    )
    plan = edit.plan_edit(
        engine, ["H-1"], None, {"status": "in service", "notes": "rack 4"}, settings=Config()
    )
    edit.commit_edit(engine, plan, "racked")
    teams.add_team(engine, "LLM")
    moved = moves.commit(
        engine, moves.plan_cards(engine, ["H-1"], "LLM", None, settings=Config()), "lend"
    )
    undone = undo(engine, moved).undo_batch_id

    lines = cli(engine, "history", "--card", "H-1")
    text = "\n".join(lines)
    assert "{" not in text and "_id" not in text
    assert re.match(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d  {undone[:8]}  \S+  undo\.card$", lines[0])
    assert lines[1:3] == ["  team: LLM → Ads", f"  project: {NO_PROJECT} → ctr"]
    assert any(f"move  [undone by {undone[:8]}]" in line for line in lines)
    assert "  team: Ads → LLM" in lines and f"  project: ctr → {NO_PROJECT}" in lines
    assert "  status: spare → in_service" in lines and "  notes: none → rack 4" in lines
    assert "  why: racked" in lines
    oldest = text.split("\n\n")[-1]  # the import's creation, as the card's values
    assert oldest.splitlines()[0].endswith("  import.create")
    assert " ".join(oldest.split()[5:]) == (
        "created: model: H100 SXM5 80GB, node: gpu-01, team: Ads, project: ctr, status: spare, "
        "price: 30,000.00 USD, warranty end: 2027-05-01 why: delivery"
    )


def test_line_breaks_in_a_note_and_a_reason_show_as_the_tui_shows_them(engine, tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text(CSV)
    run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    plan = edit.plan_edit(engine, ["H-1"], None, {"notes": "fan loud\nRMA 77"}, settings=Config())
    edit.commit_edit(engine, plan, "seen\r\nby ops")
    for lines in (cli(engine, "history", "--card", "H-1"), cli(engine, "history")):
        assert "  why: seen⏎by ops" in lines, lines
        assert [
            line for line in lines if "notes: " in line and line.endswith(" fan loud⏎RMA 77")
        ], lines
    assert "  notes: none → fan loud⏎RMA 77" in cli(engine, "history", "--card", "H-1")


def test_history_with_nothing_to_show_says_so(engine, tmp_path):
    """`history --since 2030-01-01` printed nothing at all: a hang, a broken log, or none?"""
    path = tmp_path / "cards.csv"
    path.write_text(CSV)
    run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    result = CliRunner().invoke(app, ["--db", url_of(engine), "history", "--since", "2030-01-01"])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No batches since 2030-01-01.\n"
    team = ["--db", url_of(engine), "history", "--team", "Ads"]
    result = CliRunner().invoke(app, [*team, "--since", "2030-01-01"])
    assert result.stderr == "No batches for team Ads since 2030-01-01.\n"
    result = CliRunner().invoke(app, team)  # no card moved in or out: the import that made it
    assert "  import  1 card" in result.stdout and not result.stderr
    result = CliRunner().invoke(app, ["--db", url_of(engine), "history"])
    assert "  import  1 card" in result.stdout and not result.stderr
    # a card's events from a date on: --since was ignored with --card
    card = ["--db", url_of(engine), "history", "--card", "H-1"]
    result = CliRunner().invoke(app, [*card, "--since", "2030-01-01"])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No events of H-1 since 2030-01-01.\n"
    today = datetime.now(UTC).date().isoformat()
    result = CliRunner().invoke(app, [*card, "--since", today])
    assert "import.create" in result.stdout
    result = CliRunner().invoke(app, [*card, "--team", "Ads"])
    assert result.exit_code == 1 and "give one or the other" in result.stderr


def test_a_field_that_did_not_change_is_not_shown_as_a_change(engine, tmp_path):
    """A move between teams of a card in no project logs project_id None on both sides."""
    path = tmp_path / "cards.csv"
    path.write_text(CSV.replace(",ctr,", ",,"))
    run_import(
        engine, str(path), ImportOptions(create_missing=True, reason="delivery", config=Config())
    )
    teams.add_team(engine, "LLM")
    moves.commit(engine, moves.plan_cards(engine, ["H-1"], "LLM", None, settings=Config()), "lend")
    lines = cli(engine, "history", "--card", "H-1")
    assert "  team: Ads → LLM" in lines
    assert not [line for line in lines if "none → none" in line or "project:" in line], lines


def test_history_names_a_deleted_team_and_project_never_the_next_ones(engine, tmp_path):
    """SQLite gave a new team a deleted team's id, and history, which names teams by id, showed
    the old moves into Ads as moves into Research. Ids are never reused now, and a gone row is
    named as the log last named it."""
    teams.add_team(engine, "LLM")
    path = tmp_path / "cards.csv"
    path.write_text(CSV)  # H-1 into Ads/ctr, the newest team and project
    run_import(
        engine, str(path), ImportOptions(create_missing=True, reason="delivery", config=Config())
    )
    moves.commit(engine, moves.plan_cards(engine, ["H-1"], "LLM", None, settings=Config()), "x")
    teams.delete_project(engine, "Ads", "ctr")
    teams.delete_team(engine, "Ads")
    teams.add_team(engine, "Research")
    teams.add_project(engine, "Research", "vision")

    card = "\n".join(cli(engine, "history", "--card", "H-1"))
    assert (
        "  team: Ads (deleted) → LLM" in card and f"  project: ctr (deleted) → {NO_PROJECT}" in card
    )
    assert "team: Ads (deleted), project: ctr (deleted), status: spare" in " ".join(card.split())
    assert "Research" not in card and "vision" not in card
    said = cli(engine, "history", "--team", "ads")
    heads = [re.match(r"\S+ \S+  \w{8}  \S+  (\S+)", line) for line in said]
    # the team is gone; its history is not: its delete, its move out, the import that made it
    assert [m[1] for m in heads if m] == ["team.delete", "move.batch", "import"], said
    assert [line for line in cli(engine, "history") if "Research" in line] == [
        "  team: Research, project: vision",  # only the batches that added them
        "  team: Research",
    ]


def test_a_moves_line_names_its_target_as_card_histories_do(engine, tmp_path):
    """The line said 'to LLM/sft' after LLM was renamed and after it was deleted, while the
    card's own history said 'CV' and 'CV (deleted)'."""
    path = tmp_path / "cards.csv"
    path.write_text(CSV)
    run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    teams.add_team(engine, "LLM")
    teams.add_project(engine, "LLM", "sft")
    moves.commit(engine, moves.plan_cards(engine, ["H-1"], "LLM", "sft", settings=Config()), "lend")
    teams.rename_team(engine, "LLM", "CV")
    assert "  to CV/sft, 1.0 PFLOPS" in cli(engine, "history")
    moves.commit(engine, moves.plan_cards(engine, ["H-1"], "none", None, settings=Config()), "free")
    assert f"  to {UNASSIGNED}, 1.0 PFLOPS" in cli(engine, "history")
    teams.delete_project(engine, "CV", "sft")
    teams.delete_team(engine, "CV")
    assert "  to CV (deleted)/sft (deleted), 1.0 PFLOPS" in cli(engine, "history")
    assert "  team: CV (deleted) → (unassigned)" in cli(engine, "history", "--card", "H-1")


def test_holdings_on_a_past_date_name_a_team_deleted_since(demo_engine):
    """A team that held cards then and was deleted since is that team, not '(unassigned)'."""
    today = datetime.now(UTC).date().isoformat()
    unassigned = {a.team: a.cards for a in history.allocation_as_of(demo_engine, today)}[UNASSIGNED]
    teams.add_team(demo_engine, "Tmp")
    week_ago = datetime.now(UTC) - timedelta(days=7)
    for to, source in (("Tmp", "LLM"), ("LLM", "Tmp")):
        plan = moves.plan_request(
            demo_engine, to, None, count=16, from_team=source, today=TODAY, settings=Config()
        )
        moves.commit(demo_engine, plan, "lend", at=None if to == "LLM" else week_ago)
    teams.delete_team(demo_engine, "Tmp")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    held = {a.team: a.cards for a in history.allocation_as_of(demo_engine, yesterday)}
    assert held["Tmp (deleted)"] == 16 and held[UNASSIGNED] == unassigned


def test_batches_mark_what_was_undone_and_what_undid_it(demo_engine):
    plan = moves.plan_cards(
        demo_engine, _serials(demo_engine, "Search", 2), "LLM", None, settings=Config()
    )
    moved = moves.commit(demo_engine, plan, "training run")
    undid = undo(demo_engine, moved).undo_batch_id
    renamed = ["teams", "rename", "Ads ranking", "Ads"]
    CliRunner().invoke(app, ["--db", url_of(demo_engine), *renamed])

    lines = cli(demo_engine, "history", "--limit", "3")
    assert lines[0].endswith("team.rename") and lines[1] == "  team: Ads ranking → Ads"
    assert lines[3].endswith(f"  undo  2 cards  [undid {moved[:8]}]")
    assert lines[4] == "  2 restored"
    assert lines[6].endswith(f"  move.batch  2 cards  [undone by {undid[:8]}]")
    assert re.fullmatch(r"  to LLM, \d+\.\d PFLOPS", lines[7]) and lines[8] == "  why: training run"


async def test_the_tui_marks_an_undone_batch_and_u_says_so_at_once(demo_engine):
    plan = moves.plan_cards(
        demo_engine, _serials(demo_engine, "Search", 1), "LLM", None, settings=Config()
    )
    moved = moves.commit(demo_engine, plan, "training run")
    undid = undo(demo_engine, moved).undo_batch_id
    fleet = FleetApp(demo_engine)
    async with fleet.run_test(size=(120, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("h")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(fleet.screen, HistoryScreen)
        table = fleet.screen.query_one("#batches", DataTable)
        assert [str(c) for c in table.get_row_at(0)[-2:]] == [f"undid {moved[:8]}", "1 restored"]
        assert str(table.get_row_at(1)[-2]) == "undone"
        assert str(table.get_row_at(1)[-1]).startswith("to LLM")
        await pilot.press("down", "u")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(fleet.screen, HistoryScreen)  # no confirmation asked
        said = [n.message for n in fleet._notifications]
        assert f"Batch {moved[:8]} was already undone (by {undid[:8]})." in said


def _serials(engine, team: str, n: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(Card.serial)
                .join(Team, Team.id == Card.team_id)
                .where(Team.name == team, Card.status == "in_service")
                .order_by(Card.serial)
                .limit(n)
            ).scalars()
        )


def test_history_batches_carry_the_marks_in_json(demo_engine):
    plan = moves.plan_cards(
        demo_engine, _serials(demo_engine, "Search", 1), "LLM", None, settings=Config()
    )
    moved = moves.commit(demo_engine, plan, "x")
    undid = undo(demo_engine, moved).undo_batch_id
    found = {b.batch_id: b for b in history.batches(demo_engine, limit=2)}
    assert found[moved].undone_by == undid and found[undid].undid == moved


def test_a_delete_batch_names_its_first_cards(demo_engine):
    serials = _serials(demo_engine, "Search", 4)
    cli(demo_engine, "delete", *serials, "--reason", "entered twice", "--yes")
    (batch,) = history.batches(demo_engine, limit=1)
    assert batch.summary == f"{', '.join(serials[:3])} and 1 more card"


def test_the_demo_build_counts_the_cards_it_created(demo_engine):
    with demo_engine.connect() as conn:
        made = len(conn.execute(select(Card.id)).all())
    (built,) = [b for b in history.batches(demo_engine) if b.action == "demo.build"]
    assert built.cards == made > 0
    assert cli(demo_engine, "history")[-3].endswith(f"  demo.build  {made:,} cards")


def _regrouped(engine) -> list[history.Batch]:
    """The batch list as the audit log's events group it (a filter that matches every event
    reads them, not the `batch` summary rows)."""
    return history.batches(engine, since="1970-01-01")


def test_the_batch_list_is_the_audit_log_grouped_after_every_kind_of_write(demo_engine, tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text(CSV.replace("Ads,ctr", "Ads ranking,"))
    options = ImportOptions(create_missing=True, reason="delivery", config=Config())
    run_import(demo_engine, str(path), options)
    plan = moves.plan_cards(
        demo_engine, _serials(demo_engine, "Search", 3), "LLM", None, settings=Config()
    )
    undo(demo_engine, moves.commit(demo_engine, plan, "training run"))
    cli(demo_engine, "teams", "rename", "Ads ranking", "Ads")
    cli(demo_engine, "teams", "quota", "Ads", "--cards", "40")
    listed = history.batches(demo_engine)
    assert listed == _regrouped(demo_engine) and len(listed) == 6
    assert maintenance.check(demo_engine) == []


def test_the_undo_of_an_import_says_what_it_removed_in_words(engine, tmp_path):
    """A new user's trial: the line read '1 deleted, team: 1'; the undo itself had said
    'removed 1 team it created'."""
    path = tmp_path / "cards.csv"
    path.write_text(CSV)
    made = run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    undo(engine, made.batch_id)
    assert cli(engine, "history")[1] == "  1 deleted, removed 1 team, 1 project, 1 node it created"


def test_a_batch_written_in_two_transactions_is_one_line_with_all_its_cards(engine):
    batch = audit.new_batch_id()
    for first, reason in ((1, "a"), (3, "b")):
        with engine.begin() as conn:
            changes = [(i, None, {"status": "spare"}) for i in (first, first + 1)]
            audit.record(
                conn, batch_id=batch, action=Action.CARD_EDIT, changes=changes, reason=reason
            )
    (listed,) = history.batches(engine)
    assert (listed.batch_id, listed.cards, listed.reason) == (batch, 4, "b")
    assert [listed] == _regrouped(engine) and maintenance.check(engine) == []


def test_two_writers_into_one_batch_at_once_both_count(engine):
    """The second waits on the first's summary row and then adds to it, not over it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    batch = audit.new_batch_id()

    def write(card_id: int) -> None:
        with engine.begin() as conn:
            audit.record(
                conn, batch_id=batch, action=Action.CARD_EDIT, changes=[(card_id, None, {})]
            )

    def waiting() -> int:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            return conn.execute(text(query)).scalar_one()

    with ThreadPoolExecutor(1) as pool, engine.begin() as first:
        audit.record(first, batch_id=batch, action=Action.CARD_EDIT, changes=[(1, None, {})])
        rival = pool.submit(write, 2)
        while not waiting() and not rival.done():  # until the rival waits on the first row
            pass
    rival.result()
    assert [b.cards for b in history.batches(engine)] == [2]
    assert maintenance.check(engine) == []


def test_an_upgraded_database_lists_the_batches_it_had(db_url):
    from alembic import command

    from fleetui.db.engine import make_engine, resolve_url
    from fleetui.db.migrate import _alembic_config
    from fleetui.store import open_fleet

    old = make_engine(resolve_url(db_url))
    cfg = _alembic_config()
    with old.begin() as conn:  # events as fleetui 0013 wrote them, before `batch` existed
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0013")
        for event_id, batch, card in ((1, "b1", 7), (2, "b1", 8), (3, "b2", None)):
            conn.execute(
                text(
                    "INSERT INTO event (id, at, actor, action, card_id, batch_id, reason) VALUES "
                    f"({event_id}, '2026-11-0{event_id} 10:00:00', 'ann', 'edit', :card, "
                    f"'{batch}', 'why')"
                ),
                {"card": card},
            )
    old.dispose()
    engine = open_fleet(db_url)
    listed = history.batches(engine)
    assert [(b.batch_id, b.cards, b.actor) for b in listed] == [("b2", 0, "ann"), ("b1", 2, "ann")]
    assert listed[1].at.day == 1 and listed == _regrouped(engine)
    assert maintenance.check(engine) == []
    engine.dispose()


def _rolled_back(engine, moment: datetime) -> dict[tuple, int]:
    with engine.connect() as conn:
        return holdings.held_at(conn, moment)


def test_the_upgrade_to_the_holdings_ledger_replays_the_log_it_had(demo_url, demo_engine, tmp_path):
    """A database from before the ledger gets one that gives the same holdings at every moment
    of its history as the ledger written along: cards moved, edited, deleted and brought back,
    imported and the import undone."""
    cfg = Config()
    moments = [datetime.now(UTC) - timedelta(days=4)]
    serials = _serials(demo_engine, "Search", 6)
    plan = moves.plan_cards(demo_engine, serials, "LLM", None, settings=cfg)
    moves.commit(demo_engine, plan, "long ago", at=datetime.now(UTC) - timedelta(days=3))
    moments.append(datetime.now(UTC) - timedelta(days=2))
    edit.commit_edit(
        demo_engine,
        edit.plan_edit(demo_engine, serials[:2], None, {"status": "retired"}, settings=cfg),
        "old",
    )
    gone = edit.commit_delete(demo_engine, edit.plan_delete(demo_engine, serials[2:4]), "gone")
    moments.append(datetime.now(UTC))
    undo(demo_engine, gone)
    path = tmp_path / "cards.csv"
    path.write_text(CSV.replace("Ads,ctr", "Ads ranking,"))
    made = run_import(demo_engine, str(path), ImportOptions(create_missing=True, config=cfg))
    moments.append(datetime.now(UTC))
    undo(demo_engine, made.batch_id)
    moments.append(datetime.now(UTC))
    built = datetime(2026, 11, 1, tzinfo=UTC)
    moments += [built - timedelta(days=1), built + timedelta(days=1)]
    written = {m: _rolled_back(demo_engine, m) for m in moments}
    assert all(written[a] != written[b] for a, b in itertools.pairwise(moments[:5]))
    assert written[built - timedelta(days=1)] == {}
    with demo_engine.begin() as conn:  # as fleetui 0017 left it
        conn.execute(text("DROP TABLE holding_change"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0017'"))
    demo_engine.dispose()
    engine = open_fleet(str(demo_url))
    assert {m: _rolled_back(engine, m) for m in moments} == written
    assert maintenance.check(engine) == []
    engine.dispose()


def test_the_upgrade_to_the_holdings_ledger_opens_a_database_whose_cards_went_unlogged(
    demo_url, demo_engine
):
    """Cards removed outside fleetui after an edit: the log accounts for cards no longer there,
    and the upgrade (which dated the difference by the oldest card) still opens it."""
    serials = _serials(demo_engine, "Search", 3)
    plan = edit.plan_edit(demo_engine, serials, None, {"status": "retired"}, settings=Config())
    edit.commit_edit(demo_engine, plan, "old")
    with demo_engine.begin() as conn:
        conn.execute(text("DELETE FROM card"))
        conn.execute(text("DROP TABLE holding_change"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0017'"))
    demo_engine.dispose()
    engine = open_fleet(str(demo_url))
    with engine.connect() as conn:
        assert conn.execute(holdings.unaccounted()).all() == []
    engine.dispose()


def test_db_check_finds_a_holdings_ledger_that_does_not_add_up(demo_engine):
    with demo_engine.begin() as conn:
        first = conn.execute(select(func.min(HoldingChange.id))).scalar_one()
        conn.execute(
            update(HoldingChange)
            .where(HoldingChange.id == first)
            .values(cards=HoldingChange.cards - 3)
        )
    problems = maintenance.check(demo_engine)
    assert [str(p) for p in problems] == [
        "holdings: the holdings ledger does not add up to today's cards: 3 cards off"
    ]


def test_db_check_finds_batch_summaries_that_disagree_with_the_audit_log(demo_engine):
    with demo_engine.begin() as conn:
        conn.execute(update(BatchSummary).values(cards=BatchSummary.cards + 1))
    problems = maintenance.check(demo_engine)
    assert [p.check for p in problems] == ["batches"]
    result = CliRunner().invoke(app, ["--db", url_of(demo_engine), "db", "check"])
    assert result.exit_code == 1 and "the batch summaries count" in result.stdout


def test_the_batch_list_reads_a_few_events_of_a_move_however_many_cards_it_moved(
    demo_file, tmp_path
):
    """A move's line names its target from its first card event. Finding it read every event
    of the batch: history of 100 moves of 10,000 cards took 0.45 s, a million events read
    (SQLite counts the steps of its virtual machine: they must not grow with the move)."""
    path = tmp_path / "fleet.db"
    with sqlite3.connect(demo_file) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    engine = open_fleet(str(path))
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0  # go on

    event.listen(engine, "connect", lambda dbapi, _: dbapi.set_progress_handler(tick, 1))
    engine.dispose()  # every connection from now on is counted

    def steps_to_list_the_newest_move(cards: int) -> int:
        plan = moves.plan_cards(
            engine, _serials(engine, "LLM", cards), "Search", None, settings=Config()
        )
        moves.commit(engine, plan, "lend")
        steps[0] = 0
        newest = history.batches(engine, limit=1)
        assert newest[0].summary.startswith("to Search")
        return steps[0]

    few, many = steps_to_list_the_newest_move(5), steps_to_list_the_newest_move(400)
    engine.dispose()
    assert many < few * 1.2, (few, many)
