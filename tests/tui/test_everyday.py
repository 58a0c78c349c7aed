"""Everyday TUI work: the palette, the dialogs' keys, the footer and help, by key presses."""

from __future__ import annotations

import io

from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Select, Static

from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.inventory import cards as inventory
from fleetui.inventory import edit
from fleetui.screens.commands import COMMANDS
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.edit_cards import EditModal
from fleetui.screens.help import HelpScreen
from fleetui.screens.plain import PlainLabel
from fleetui.screens.reallocate import ReallocateModal
from tests.tui.test_work import settle, team_cards


def text_of(screen) -> str:
    """What a screen's Static widgets show, as plain text."""
    console = Console(file=io.StringIO(), width=200)
    for static in screen.query(Static):
        console.print(static.content)
    return console.file.getvalue()


async def palette(pilot, name: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*name)
    await settle(pilot, 1)
    await pilot.press("enter")  # highlights the best match (runs it when it is the only one)
    await pilot.pause()
    if isinstance(pilot.app.screen, CommandPalette):
        await pilot.press("enter")
    await settle(pilot)


async def test_the_palette_finds_every_screen_and_action_by_name(demo_engine):
    names = {c.name for c in COMMANDS}
    for wanted in ("Inventory", "History", "Request cards", "Edit cards", "Move marked cards"):
        assert wanted in names
    for words in ("Undo", "Import", "Backup", "Reports", "Telemetry", "Help"):
        assert any(words in name for name in names), words
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await palette(pilot, "History")
        assert app.current_mode == "history"
        await palette(pilot, "Edit cards")
        assert app.current_mode == "inventory" and isinstance(app.screen, EditModal)
        await pilot.press("escape")
        await palette(pilot, "Import a CSV")
        assert app.current_mode == "import"


async def test_undo_from_the_palette_first_thing_asks_about_the_newest_batch(demo_engine):
    """Palette "Undo a batch" before History was ever opened closed the TUI with a traceback
    (WorkerCancelled: it waited for every worker of the app, one of them cancelled); it opens
    History and asks about its highlighted, newest batch."""
    from fleetui.allocation import history
    from fleetui.screens.dialogs import Confirm

    serial = next(iter(inventory.cards(demo_engine, "", settings=Config()))).serial
    plan = edit.plan_edit(demo_engine, [serial], None, {"notes": "x"}, settings=Config())
    edit.commit_edit(demo_engine, plan, "a note")
    newest = history.batches(demo_engine)[0].batch_id
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await palette(pilot, "Undo a batch")
        assert app.current_mode == "history" and isinstance(app.screen, Confirm)
        assert f"Undo batch {newest[:8]}" in str(app.screen.query_one(PlainLabel).render())


async def test_home_and_end_go_to_a_lists_first_and_last_row(demo_engine):
    """On History, Home then `u` asked to undo the batch the cursor had stayed on (Home
    scrolled sideways); Home and End now move to the first and last row of every list."""
    from fleetui.allocation import history
    from fleetui.screens.dialogs import Confirm

    for n in range(3):
        serial = next(iter(inventory.cards(demo_engine, "", settings=Config()))).serial
        plan = edit.plan_edit(demo_engine, [serial], None, {"notes": f"n{n}"}, settings=Config())
        edit.commit_edit(demo_engine, plan, "a note")
    newest = history.batches(demo_engine)[0].batch_id
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        batches = app.screen.query_one("#batches", DataTable)
        await pilot.press("end")
        assert batches.cursor_row == batches.row_count - 1 > 2
        await pilot.press("up", "home", "u")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert f"Undo batch {newest[:8]}" in str(app.screen.query_one(PlainLabel).render())


async def test_an_edit_typed_and_confirmed_with_enter_updates_every_screen(demo_engine):
    """The edit form opens on its first field; Enter previews, Enter again saves; the dashboard
    (built before) shows the new figures without `r`."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        before = int(team_cards(dashboard, "LLM").replace(",", ""))
        await pilot.press("i", "slash", *"team:llm status:in_service", "enter")
        await settle(pilot)
        chosen = str(
            app.screen.query_one("#cards", DataTable).coordinate_to_cell_key((0, 0))[0].value
        )
        await pilot.press("e")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, EditModal) and modal.focused is modal.query_one("#status", Input)
        await pilot.press(*"retired", "enter")
        await settle(pilot)
        assert "Set status retired" in str(modal.query_one("#plan", Static).render())
        modal.query_one("#reason", Input).focus()
        await pilot.press(*"dead", "enter")
        await settle(pilot)
        assert app.screen is not modal
        assert (
            inventory.detail(demo_engine, chosen, settings=Config()).fields["status"] == "retired"
        )
        await pilot.press("d")
        await settle(pilot)
        assert int(team_cards(dashboard, "LLM").replace(",", "")) == before - 1


async def test_the_move_dialog_opens_on_its_first_field(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ReallocateModal)
        assert app.screen.focused is app.screen.query_one("#amount", Input)
        await pilot.press("escape", "i")
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ReallocateModal)
        assert app.screen.focused is app.screen.query_one("#to_team", Select)


async def test_the_move_dialog_names_the_highlighted_card_when_none_is_marked(demo_engine):
    """With nothing marked, `m` moves the highlighted card: its title says so, by serial (it
    said "Move 1 marked card")."""
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#cards", DataTable)
        serial = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        await pilot.press("m")
        await pilot.pause()
        title = app.screen.query_one("#title", Static)
        assert str(title.render()) == f"Move the highlighted card {serial}"
        await pilot.press("escape", "space", "m")
        await pilot.pause()
        assert str(app.screen.query_one("#title", Static).render()) == "Move 1 marked card"


async def test_a_reloaded_inventory_keeps_the_cursor_on_the_same_card(demo_engine):
    """A reload (after any write, or `r`) put the cursor back on row 1, so the next key acted on
    another card; now the highlighted card stays highlighted."""
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#cards", DataTable)
        await pilot.press("down", "down")
        chosen = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        await pilot.press("r")
        await settle(pilot)
        assert table.cursor_row == 2
        assert str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value) == chosen


async def test_the_footer_keeps_help_at_80_columns(demo_engine):
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        help_key = next(k for k in app.screen.query("FooterKey") if k.action == "help")
        assert help_key.region.right <= 80 and help_key.region.width > 0
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


def test_help_shows_the_filter_syntax_of_the_readme():
    """`?` lists query.SYNTAX; README's table must say the same, row for row."""
    from pathlib import Path

    from fleetui.inventory import query

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme.split("## The filter language", 1)[1].split("\n## ", 1)[0]
    rows = [
        tuple(cell.strip() for cell in line.strip().strip("|").split(" | "))
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    assert rows == [tuple(row) for row in query.SYNTAX]


async def test_help_lists_every_filter_term(demo_engine):
    from fleetui.inventory import query

    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        shown = text_of(app.screen)
        for term, _ in query.SYNTAX:
            assert term.replace("`", "") in shown


async def test_history_fits_80_columns_and_marks_undone_batches(demo_engine):
    from fleetui.allocation import moves
    from fleetui.allocation.undo import undo
    from fleetui.screens.dialogs import Confirm

    serials = [r.serial for r in inventory.cards(demo_engine, "team:search", 2, settings=Config())]
    plan = moves.plan_cards(demo_engine, serials, "LLM", None, settings=Config())
    moved = moves.commit(demo_engine, plan, "a long reason " * 5, actor="ops")
    undid = undo(demo_engine, moved).undo_batch_id
    app = FleetApp(demo_engine, initial_mode="history")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#batches", DataTable)
        assert table.virtual_size.width <= table.size.width <= 80
        assert str(table.get_row(undid)[3]) == f"undid {moved[:8]}"
        assert str(table.get_row(moved)[3]) == "undone"
        table.move_cursor(row=table.get_row_index(moved))
        await pilot.pause()
        detail = str(app.screen.query_one("#batch-detail", Static).render())
        assert f"undone by {undid[:8]}" in detail and "why: a long reason" in detail
        await pilot.press("u")
        await settle(pilot)
        assert not isinstance(app.screen, Confirm)
        notes = [n.message for n in app._notifications]  # Textual keeps no public list
        assert any("already undone" in n for n in notes), notes


async def test_inventory_columns_keep_their_widths_and_give_way_by_priority(demo_engine):
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#cards", DataTable)
        shown = [str(key.value) for key in table.columns]
        assert shown == ["mark", "serial", "model", "team", "status"]
        widths = [c.get_render_width(table) for c in table.columns.values()]
        assert sum(widths) <= table.size.width
        await pilot.press("pagedown")
        await settle(pilot)
        assert [c.get_render_width(table) for c in table.columns.values()] == widths
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        columns = {str(key.value): column for key, column in table.columns.items()}
        assert {"node", "project", "purchase_date", "warranty_end"} <= set(columns)
        assert min(columns["purchase_date"].width, columns["warranty_end"].width) >= 10


async def test_a_first_launch_on_an_empty_database_says_how_to_start(engine):
    app = FleetApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        totals = str(app.screen.query_one("#totals", Static).render())
        assert "No cards yet" in totals and "fleetui import FILE" in totals
        assert "fleetui demo" in totals


async def test_a_write_by_another_process_marks_the_screens_that_read_before_it(
    demo_engine, demo_url
):
    import subprocess
    import sys
    from pathlib import Path

    serial = next(
        iter(inventory.cards(demo_engine, "status:in_service", 1, settings=Config()))
    ).serial
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        app.check_freshness()
        await settle(pilot)
        assert dashboard.sub_title is None, "nothing changed yet"
        fleetui = Path(sys.executable).with_name("fleetui")  # the installed command
        edit = [str(fleetui), "--db", demo_url, "edit", serial]
        done = subprocess.run(
            [*edit, "--status", "spare", "--reason", "elsewhere", "--yes"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        app.check_freshness()  # what the app's timer does
        await settle(pilot)
        assert "changed since by another process" in dashboard.sub_title
        assert f"read {dashboard.read_at:%H:%M:%S}" in dashboard.sub_title
        await pilot.press("r")
        await settle(pilot)
        assert dashboard.sub_title is None


async def test_the_dashboards_head_start_is_read_once_and_a_write_after_it_shows(
    demo_engine, demo_url, monkeypatch
):
    """`fleetui` begins the dashboard's read before Textual starts. The screen shows that read
    (the totals are read once, not again when it is built), stamped as it was read: a write by
    another process between that read and the screen marks the screen, as any later one."""
    import subprocess
    import sys
    from datetime import date
    from pathlib import Path

    from fleetui.screens import dashboard, first_read

    reads = []
    summary = first_read.fleet_summary
    counted = lambda *a: reads.append(1) or summary(*a)  # noqa: E731
    monkeypatch.setattr(first_read, "fleet_summary", counted)
    monkeypatch.setattr(dashboard, "fleet_summary", counted)
    serial = next(
        iter(inventory.cards(demo_engine, "status:in_service", 1, settings=Config()))
    ).serial
    begun = first_read.begin(demo_engine, date.today(), Config())
    begun[0].outcome()  # read
    fleetui = Path(sys.executable).with_name("fleetui")  # the installed command
    done = subprocess.run(
        [
            str(fleetui),
            "--db",
            demo_url,
            "edit",
            serial,
            "--status",
            "spare",
            "--reason",
            "x",
            "--yes",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    app = FleetApp(demo_engine, first_read=begun)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert len(reads) == 1
        app.check_freshness()  # what the app's timer does
        await settle(pilot)
        assert "changed since by another process" in app.screen.sub_title
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.sub_title is None and len(reads) == 2


async def test_backup_from_the_palette_writes_a_new_file(db_path, tmp_path):
    from fleetui.store import open_fleet

    engine = open_fleet(str(db_path))
    dest = tmp_path / "copy.db"
    app = FleetApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await palette(pilot, "Backup")
        await pilot.press(*str(dest), "enter")
        await settle(pilot)
        assert dest.stat().st_size > 0
        notes = [n.message for n in app._notifications]  # Textual keeps no public list
        assert any(n.startswith("Backed up") for n in notes), notes
    engine.dispose()


async def test_help_lists_each_key_once_on_every_screen(demo_engine):
    """A key a screen explains further (EXTRA_KEYS) is one row with both texts, not two."""
    app = FleetApp(demo_engine, initial_mode="dashboard")
    async with app.run_test(size=(120, 60)) as pilot:
        for mode in (
            "dashboard",
            "inventory",
            "import",
            "teams",
            "history",
            "lifecycle",
            "telemetry",
        ):
            app.switch_mode(mode)
            await settle(pilot)
            app.action_help()
            await pilot.pause()
            keys = [key for key, _ in app.screen.keys]
            assert len(keys) == len(set(keys)), (mode, keys)
            if mode == "telemetry":
                assert dict(app.screen.keys)["f"].startswith("Fix: unknown: add it")
            app.pop_screen()


async def test_escape_in_the_inventory_clears_the_filter_then_goes_back(demo_engine):
    """README: escape goes back on every screen; the inventory's first clears its filter."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        await pilot.press("w")  # the dashboard's warranty alert: the inventory, filtered
        await settle(pilot)
        assert app.current_mode == "inventory"
        assert app.screen.query_one("#filter", Input).value
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "inventory"
        assert app.screen.query_one("#filter", Input).value == ""
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "dashboard"
