"""Editing and deleting cards, and deleting teams, projects and nodes: audited, version-checked,
undoable, refused whole when anything is wrong. On both backends."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from fleetui.admin import maintenance
from fleetui.allocation import history, teams
from fleetui.allocation.undo import undo
from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db.tables import Card, GpuSample, Node, Project, Team
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.inventory import edit
from fleetui.inventory.events import card_events
from tests.test_undo import broken_histories, url_of

FIELDS = {
    "status": "retired",
    "notes": "cracked heatsink",
    "supplier": "Inspur",
    "price": "¥95,000",
    "warranty_end": "2028/3/1",
    "service_life_years": "6 years",
    "purchase_order": "PO-2026-0042",
}
KEPT = ("version", "updated_at")
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def rows(engine, serials: list[str]) -> dict[str, dict]:
    with engine.connect() as conn:
        found = conn.execute(select(Card).where(Card.serial.in_(serials))).mappings().all()
    return {r["serial"]: {k: v for k, v in r.items() if k not in KEPT} for r in found}


def serials_of(engine, n: int, **where) -> list[str]:
    with engine.connect() as conn:
        query = select(Card.serial).filter_by(**where).order_by(Card.serial).limit(n)
        return list(conn.execute(query).scalars())


def a_node(engine, other_than: list[int]) -> tuple[int, str]:
    with engine.connect() as conn:
        return conn.execute(
            select(Node.id, Node.hostname).where(Node.id.notin_(other_than)).limit(1)
        ).one()


def test_edit_then_undo_restores_every_field(demo_engine):
    serials = serials_of(demo_engine, 3, status="in_service")
    was = rows(demo_engine, serials)
    node_id, host = a_node(demo_engine, [r["node_id"] for r in was.values()])
    plan = edit.plan_edit(
        demo_engine, serials, None, FIELDS | {"node": host.upper()}, settings=Config()
    )
    batch = edit.commit_edit(demo_engine, plan, "audit found them")

    now = rows(demo_engine, serials)
    for serial in serials:
        assert now[serial] == was[serial] | {
            "status": "retired",
            "notes": "cracked heatsink",
            "supplier": "Inspur",
            "price_minor": 9_500_000,
            "currency": "CNY",
            "warranty_end": date(2028, 3, 1),
            "service_life_years": 6.0,
            "purchase_order": "PO-2026-0042",
            "node_id": node_id,
        }
    assert maintenance.check(demo_engine) == []
    undo(demo_engine, batch)
    assert rows(demo_engine, serials) == was
    assert maintenance.check(demo_engine) == [] and broken_histories(demo_engine) == []


def test_an_edit_of_a_stale_preview_is_refused_and_changes_nothing(demo_engine):
    serials = serials_of(demo_engine, 3, status="in_service")
    stale = edit.plan_edit(demo_engine, serials, None, {"notes": "stale"}, settings=Config())
    edit.commit_edit(
        demo_engine,
        edit.plan_edit(demo_engine, serials[:1], None, {"status": "spare"}, settings=Config()),
        "x",
    )
    before = rows(demo_engine, serials)
    with pytest.raises(edit.EditConflict, match="1 of 3 cards changed since your preview"):
        edit.commit_edit(demo_engine, stale, "too late")
    assert rows(demo_engine, serials) == before
    assert maintenance.check(demo_engine) == []


def test_bad_values_are_one_sentence_naming_the_field(demo_engine):
    serials = serials_of(demo_engine, 2)
    for fields, message in (
        ({"status": "melted"}, "^status 'melted': a status is exactly one of in_service, spare, "),
        ({"status": "broken"}, "^status 'broken': a status is exactly one of "),  # no synonym
        ({"price": "lots"}, "^price 'lots': not an amount of money"),
        # as import refuses it: an export of the card would not import again
        ({"price": "21474836.48"}, r"^price '21474836.48': more than 21,474,836.47; nothing"),
        (
            {"warranty_end": "03/04/2027"},
            r"^warranty end '03/04/2027': ambiguous date \(3 April 2027 or 4 March 2027\); "
            "write it as YYYY-MM-DD; nothing",
        ),
        (
            {"warranty_end": "20261201"},
            "^warranty end '20261201': not a date "
            "\\(use 2023-03-01, 2023/3/1 or 2023年3月1日\\); nothing",
        ),
        (
            {"warranty_end": "2026-13-01"},
            r"^warranty end '2026-13-01': there is no month 13; nothing",
        ),
        (
            {"warranty_end": "2027-02-29"},
            r"^warranty end '2027-02-29': there is no such day "
            r"\(February 2027 has 28 days\); nothing",
        ),
        ({"node": "nowhere"}, "^node 'nowhere': no such node"),
        ({"slot": "0000:17:00.0"}, "A slot belongs to one card"),
        ({}, "Say what to change"),
    ):
        with pytest.raises(UserError, match=message):
            edit.plan_edit(demo_engine, serials, None, fields, settings=Config())
    with pytest.raises(UserError, match="No card has serial NOPE"):
        edit.plan_edit(demo_engine, [*serials, "NOPE"], None, {"notes": "x"}, settings=Config())


def test_edit_by_filter_through_the_cli_is_one_batch(demo_engine):
    url = url_of(demo_engine)
    runner = CliRunner()
    with demo_engine.connect() as conn:
        spare = conn.execute(
            select(func.count()).select_from(Card).where(Card.status == "spare")
        ).scalar_one()
    command = ["--db", url, "edit", "--where", "status:spare", "--status", "repair"]
    refused = runner.invoke(app, [*command, "--reason", "x"])
    assert refused.exit_code == 1
    assert "Not asking without a terminal: review with --dry-run" in refused.stderr
    done = runner.invoke(app, [*command, "--reason", "fans", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["count"] == spare and result["set"] == {"status": "repair"}
    batch = history.batches(demo_engine, limit=1)[0]
    assert (batch.batch_id, batch.cards) == (result["batch_id"], spare)
    assert maintenance.check(demo_engine) == []


def test_delete_then_undo_brings_the_card_back_with_its_id_and_history(demo_engine):
    serials = serials_of(demo_engine, 2)
    moved = edit.plan_edit(
        demo_engine, serials, None, {"notes": "before the delete"}, settings=Config()
    )
    edit.commit_edit(demo_engine, moved, "note")
    was = rows(demo_engine, serials)
    batch = edit.commit_delete(demo_engine, edit.plan_delete(demo_engine, serials), "mistyped")
    assert rows(demo_engine, serials) == {}
    assert [e["action"] for e in card_events(demo_engine, serials[0])][:1] == ["card.delete"]
    assert maintenance.check(demo_engine) == []

    result = undo(demo_engine, batch)
    assert result.restored == 2
    assert rows(demo_engine, serials) == was
    actions = [e["action"] for e in card_events(demo_engine, serials[0])]
    assert actions[:3] == ["undo.card", "card.delete", "card.edit"]
    assert maintenance.check(demo_engine) == [] and broken_histories(demo_engine) == []
    with pytest.raises(UserError, match="already undone"):
        undo(demo_engine, batch)


def test_a_delete_whose_serial_was_taken_again_is_not_undone(demo_engine, tmp_path):
    serial = serials_of(demo_engine, 1)[0]
    batch = edit.commit_delete(demo_engine, edit.plan_delete(demo_engine, [serial]), "oops")
    again = tmp_path / "again.csv"  # entered again meanwhile, as a new card
    again.write_text(f"serial,model,status\n{serial},NVIDIA H800,spare\n", encoding="utf-8")
    run_import(demo_engine, str(again), ImportOptions(config=Config()))
    with pytest.raises(UserError, match=f"Cards changed since batch {batch[:8]}: {serial};"):
        undo(demo_engine, batch)
    assert maintenance.check(demo_engine) == []


def test_a_stale_delete_is_refused(demo_engine):
    serials = serials_of(demo_engine, 2)
    stale = edit.plan_delete(demo_engine, serials)
    with demo_engine.begin() as conn:
        conn.execute(update(Card).where(Card.serial == serials[1]).values(version=Card.version + 1))
    with pytest.raises(edit.EditConflict, match="1 of 2 cards changed"):
        edit.commit_delete(demo_engine, stale, "late")
    assert set(rows(demo_engine, serials)) == set(serials)


def test_deleting_what_still_holds_cards_is_refused_naming_what_it_holds(demo_engine):
    """The count agrees with `teams list` (held cards) in words: the rest are named by status."""
    held = [c.serial for c in inventory.cards(demo_engine, "team:LLM", 3, settings=Config())]
    for serials, status in ((held[:2], "retired"), (held[2:], "on_order")):
        plan = edit.plan_edit(demo_engine, serials, None, {"status": status}, settings=Config())
        edit.commit_edit(demo_engine, plan, "setting up")
    with demo_engine.connect() as conn:
        llm = conn.execute(select(Team.id).where(Team.name == "LLM")).scalar_one()
        projects = conn.execute(
            select(func.count()).select_from(Project).where(Project.team_id == llm)
        ).scalar_one()
    listed = next(h.cards for h in teams.holdings(demo_engine) if h.name == "LLM")
    with demo_engine.connect() as conn:
        kept = conn.execute(
            select(func.count())
            .select_from(Card)
            .where(Card.team_id == llm, Card.status.in_(["retired", "on_order"]))
        ).scalar_one()
        retired = conn.execute(
            select(func.count())
            .select_from(Card)
            .where(Card.team_id == llm, Card.status == "retired")
        ).scalar_one()
    with pytest.raises(UserError) as refused:
        teams.delete_team(demo_engine, "llm")
    assert str(refused.value) == (
        f"The team 'LLM' still holds {listed + kept:,} cards ({retired} retired, "
        f"{kept - retired} on order) and {projects} projects; nothing was deleted."
    )
    with pytest.raises(UserError, match=r"The project 'pretrain' still holds \d+ cards"):
        teams.delete_project(demo_engine, "LLM", "pretrain")
    host = a_node(demo_engine, [])[1]
    with pytest.raises(UserError, match=rf"The node '{host}' still holds \d+ cards"):
        teams.remove_node(demo_engine, host)
    assert maintenance.check(demo_engine) == []


def test_empty_teams_projects_and_nodes_are_renamed_and_deleted(demo_engine):
    url = url_of(demo_engine)
    runner = CliRunner()
    teams.add_team(demo_engine, "Ads")
    teams.add_project(demo_engine, "Ads", "ctr")
    with demo_engine.begin() as conn:
        conn.execute(Node.__table__.insert().values(hostname="spare-box", rack=""))
        node = conn.execute(select(Node.id).where(Node.hostname == "spare-box")).scalar_one()
        conn.execute(
            GpuSample.__table__.insert().values(
                node_id=node, pci_bus_id="0000:01:00.0", health="", lost=False, seen_at=NOW
            )
        )
    for args, said in (
        (["teams", "delete", "Ads"], "The team 'Ads' still holds 1 project; nothing was deleted."),
        (["projects", "rename", "ctr", "cvr", "--team", "ads"], "Project 'ctr' is now 'cvr'."),
        (["projects", "rename", "Ads/cvr", "cvr2"], "Project 'Ads/cvr' is now 'cvr2'."),
        (["projects", "delete", "Ads/cvr2"], "Project 'Ads/cvr2' deleted."),
        (["teams", "rename", "Ads", "Ads ranking"], "A team 'Ads ranking' exists already."),
        (["teams", "delete", "Ads"], "Team 'Ads' deleted."),
        (["nodes", "rename", "spare-box", "spare-1"], "Node spare-box is now spare-1."),
        (["nodes", "remove", "spare-1"], "Node spare-1 removed."),
        (["nodes", "remove", "spare-1"], "There is no node 'spare-1'"),
    ):
        result = runner.invoke(app, ["--db", url, *args])
        assert said in result.output, (args, result.output)
    with demo_engine.connect() as conn:
        assert conn.execute(select(Team.id).where(Team.name == "Ads")).first() is None
        assert conn.execute(select(func.count()).select_from(GpuSample)).scalar_one() == 0
    assert maintenance.check(demo_engine) == []


async def test_e_edits_the_marked_cards_in_one_form(demo_engine):
    from textual.widgets import Button, DataTable, Input, Static
    from textual.worker import WorkerCancelled

    from fleetui.app import FleetApp
    from fleetui.screens.edit_cards import EditModal

    async def settle(pilot) -> None:
        for _ in range(5):  # a reload superseded by a newer one ends cancelled: wait again
            try:
                await pilot.app.workers.wait_for_complete()
                break
            except WorkerCancelled:
                await pilot.pause()
        await pilot.pause()

    fleet = FleetApp(demo_engine, initial_query="status:spare", initial_mode="inventory")
    async with fleet.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        inventory_screen = fleet.screen
        table = inventory_screen.query_one("#cards", DataTable)
        table.focus()
        chosen = [str(k.value) for k in table.rows][:2]
        await pilot.press("space", "space", "e")
        await pilot.pause()
        modal = fleet.screen
        assert isinstance(modal, EditModal), (
            chosen,
            inventory_screen.marked,
            table.row_count,
            fleet.focused,
        )
        assert modal.serials == sorted(chosen)
        assert modal.focused is modal.query_one("#status", Input)
        await pilot.press(*"retired")
        modal.query_one("#notes", Input).value = "dead fan"
        modal.query_one("#reason", Input).value = "audit"
        modal.query_one("#preview", Button).press()
        await pilot.pause()  # the press's message first, then the worker it starts
        await settle(pilot)
        preview = str(modal.query_one("#plan", Static).render())
        assert "Set status retired, notes dead fan on 2 cards." in preview
        modal.query_one("#save", Button).press()
        await pilot.pause()
        await settle(pilot)
        assert fleet.screen is inventory_screen
    now = rows(demo_engine, chosen)
    assert {(r["status"], r["notes"]) for r in now.values()} == {("retired", "dead fan")}
    assert maintenance.check(demo_engine) == []


def test_a_command_without_cards_names_only_the_ways_it_has_to_choose_them(engine):
    url = url_of(engine)
    result = CliRunner().invoke(app, ["--db", url, "delete", "--reason", "x", "--yes"])
    assert result.exit_code == 1
    assert result.output == "fleetui: Name at least one serial.\n"
    result = CliRunner().invoke(app, ["--db", url, "edit", "--notes", "x", "--reason", "x"])
    assert result.exit_code == 1
    assert "Name at least one serial, or choose cards with --where." in result.output
    assert "--where" in CliRunner().invoke(app, ["edit", "--help"]).output
