"""The history people read: names, not ids; creations as the card's values; undone batches and
the undos marked; every line within 80 columns. CLI and TUI, on both backends."""

from __future__ import annotations

import re

from sqlalchemy import select
from textual.widgets import DataTable
from typer.testing import CliRunner

from fleetui.allocation import history, moves, teams
from fleetui.allocation.undo import undo
from fleetui.app import FleetApp
from fleetui.cli import app
from fleetui.config import Config
from fleetui.db.tables import Card, Team
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import edit
from fleetui.screens.history import HistoryScreen
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
    assert lines[1:3] == ["  team: LLM → Ads", "  project: none → ctr"]
    assert any(f"move  [undone by {undone[:8]}]" in line for line in lines)
    assert "  team: Ads → LLM" in lines and "  project: ctr → none" in lines
    assert "  status: spare → in_service" in lines and "  notes: none → rack 4" in lines
    assert "  why: racked" in lines
    oldest = text.split("\n\n")[-1]  # the import's creation, as the card's values
    assert oldest.splitlines()[0].endswith("  import.create")
    assert " ".join(oldest.split()[5:]) == (
        "created: model: H100 SXM5 80GB, node: gpu-01, team: Ads, project: ctr, status: spare, "
        "price: 30,000.00 USD, warranty end: 2027-05-01 why: delivery"
    )


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
