"""The TUI shows data as written: markup and emoji codes in serials, names, bus ids, CSV headers,
filters and messages are neither interpreted nor a crash."""

from __future__ import annotations

import ast
from pathlib import Path

from textual.geometry import Region
from textual.widgets import DataTable, Input, Static

from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.screens.card_detail import CardDetailScreen
from tests.test_plain_output import EVIL_CSV, EVIL_TEAM
from tests.tui.test_work import import_screen_with

SCREENS = Path(__file__).resolve().parents[2] / "screens"


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def shown(widget) -> str:
    """The text a widget paints on screen, line by line."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(line.text for line in lines)


def evil_engine(engine, tmp_path):
    path = tmp_path / "evil.csv"
    path.write_text(EVIL_CSV, "utf-8")
    result = run_import(
        engine, str(path), ImportOptions(create_missing=True, reason="[/x]:AB:why", config=Config())
    )
    assert result.new == 1, result.errors
    return engine


async def test_inventory_and_card_detail_show_data_literally(engine, tmp_path):
    app = FleetApp(evil_engine(engine, tmp_path))
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        assert EVIL_TEAM in shown(app.screen.query_one("#teams", DataTable))  # dashboard
        await pilot.press("i")
        await settle(pilot)
        cards = shown(app.screen.query_one("#cards", DataTable))
        assert "SN[us]:AB:1" in cards and "node[/x]-1" in cards and EVIL_TEAM in cards

        await pilot.press("slash", *'team:"[/x]')  # an unclosed quote holding a closing tag
        await settle(pilot)
        error = shown(app.screen.query_one("#position", Static))
        assert "The filter 'team:\"[/x]' has an unclosed quote." in error

        app.screen.query_one("#filter", Input).value = ""
        await settle(pilot)
        app.screen.query_one("#cards", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CardDetailScreen)
        fields = shown(app.screen.query_one("#fields", Static))
        assert "00000000:AB:00.0" in fields and "SN[us]:AB:1" in fields
        assert "p[b]x[/b]" in fields and "\U0001f18e" not in fields
        assert "[/x]:AB:why" in shown(app.screen.query_one("#history", Static))


async def test_notifications_show_their_message_literally(engine):
    app = FleetApp(engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        app.notify("No card [/x] at 00000000:AB:00.0 [us]")
        await pilot.pause()
        toast = app.screen.query_one("Toast")
        assert "No card [/x] at 00000000:AB:00.0 [us]" in str(toast.render())


async def test_import_screen_shows_headers_holding_markup_literally(engine, tmp_path):
    from fleetui.screens.import_screen import FieldPicker

    path = tmp_path / "tags.csv"
    path.write_text("serial,model,[b]price[/b],price [us],[/x]\nS-1,H100 SXM,1,2,3\n", "utf-8")
    app = FleetApp(engine)
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path)
        mapping = screen.query_one("#mapping", DataTable)
        headers = [str(mapping.get_row_at(i)[0]) for i in range(mapping.row_count)]
        assert headers[2:] == ["[b]price[/b]", "price [us]", "[/x]"]
        painted = shown(mapping)
        assert "[b]price[/b]" in painted and "price [us]" in painted and "[/x]" in painted
        assert "[b]price[/b]" in shown(screen.query_one("#detected", Static))
        mapping.focus()
        mapping.move_cursor(row=4)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FieldPicker)
        assert "Column '[/x]' is…" in shown(app.screen.query_one("#fields"))


async def test_import_screen_shows_a_file_whose_headers_repeat(engine, tmp_path):
    """Spreadsheets export trailing empty columns (`,,`) and repeated headers: each was a row
    keyed by its header, so the second one stopped the app. Each column is shown, and picking
    a field for one works."""
    from fleetui.screens.import_screen import FieldPicker

    path = tmp_path / "sheet.csv"
    path.write_text("serial,model,notes,notes,,\nS-1,H100 SXM,a,b,,\n", "utf-8")
    app = FleetApp(engine)
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path)
        mapping = screen.query_one("#mapping", DataTable)
        rows = [[str(c) for c in mapping.get_row_at(i)] for i in range(mapping.row_count)]
        assert [r[0] for r in rows] == ["serial", "model", "notes", "notes", "", ""]
        assert [r[2] for r in rows] == ["S-1", "H100 SXM", "a", "b", "", ""]
        mapping.focus()
        mapping.move_cursor(row=3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FieldPicker)
        assert "Column 'notes' is…" in shown(app.screen.query_one("#fields"))


def test_screens_put_text_on_screen_only_through_plain_widgets():
    """Textual reads markup in the strings given to these widgets; screens.plain's twins don't."""
    reads_markup = {"Static", "Label", "DataTable"}
    found = []
    for path in sorted(SCREENS.glob("*.py")):
        if path.name == "plain.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in reads_markup:
                found.append(f"{path.name}:{node.lineno} {node.func.id}(...)")
    assert not found, "use screens.plain's PlainStatic, PlainLabel or PlainTable: " + str(found)


async def test_every_screen_shows_team_and_project_names_holding_slashes_literally(
    engine, tmp_path
):
    """A team's name may hold '/' (a closing tag): TEAM/PROJECT is not split at its first one."""
    from fleetui.screens.teams import TeamsScreen

    team, project = "[bold]Infra[/bold]", "[red]x[/red]"
    path = tmp_path / "tags.csv"
    path.write_text(
        f"serial,model,team,project,status\nS-1,H100 SXM,{team},{project},in_service\n", "utf-8"
    )
    assert run_import(engine, str(path), ImportOptions(create_missing=True, config=Config())).new
    app = FleetApp(engine)
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TeamsScreen)
        table = app.screen.query_one("#holdings", DataTable)
        labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert labels == [team, f"  {project}"]
        painted = shown(table)
        assert team in painted and f"  {project} " in painted
        await pilot.press("i")
        await settle(pilot)
        row = app.screen.query_one("#cards", DataTable).get_row_at(0)
        assert team in map(str, row) and project in map(str, row)
