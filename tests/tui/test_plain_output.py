"""The TUI shows data as written: markup and emoji codes in serials, names, bus ids, CSV headers,
filters and messages are neither interpreted nor a crash."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
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


async def test_ctrl_c_says_how_to_quit_without_markup(engine):
    """Textual's own hint carried markup, which a literal notification showed as `[b]`."""
    app = FleetApp(engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert [n.message for n in app._notifications] == ["Press ctrl+q to quit the app"]


async def picked(pilot, mapping: DataTable, row: int) -> str:
    """Enter on the mapping's `row`, as a user picks a column's field: the picker's text."""
    from fleetui.screens.import_screen import FieldPicker

    mapping.focus()
    mapping.move_cursor(row=row)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, FieldPicker)
    return shown(pilot.app.screen.query_one("#fields"))


@pytest.mark.parametrize(
    "text, headers, row, unused, named",
    [
        (
            "serial,model,[b]price[/b],price [us],[/x]\nS-1,H100 SXM,1,2,3\n",
            ["serial", "model", "[b]price[/b]", "price [us]", "[/x]"],
            4,
            "[b]price[/b]",
            "[/x]",
        ),
        (  # spreadsheets export trailing empty columns and repeated headers: rows keyed by
            # their header, the second of a name stopped the app; each is named by its place
            "serial,model,notes,notes,,\nS-1,H100 SXM,a,b,,\n",
            ["serial", "model", "notes (column 3)", "notes (column 4)", "column 5", "column 6"],
            3,
            "notes (column 4)",
            "column 4",
        ),
    ],
)
async def test_import_screen_shows_each_column_as_written(
    engine, tmp_path, text, headers, row, unused, named
):
    path = tmp_path / "sheet.csv"
    path.write_text(text, "utf-8")
    app = FleetApp(engine)
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path)
        mapping = screen.query_one("#mapping", DataTable)
        assert [str(mapping.get_row_at(i)[0]) for i in range(mapping.row_count)] == headers
        painted = shown(mapping)
        assert all(h in painted for h in headers)
        assert unused in shown(screen.query_one("#detected", Static))
        assert f"Column '{named}' is…" in await picked(pilot, mapping, row)


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


async def test_a_row_painted_before_its_table_measured_it_is_painted_again_in_full():
    """DataTable sizes its columns to new rows on its idle event and keys its painted lines
    without the widths, renewing the key only on the Resize event that follows. A screen
    painted before the measuring (under load) and again before that Resize kept the rows and
    the header cut to the old widths (a History shot in CI: `2026  demo.b  200`) until the
    cursor crossed them. The order is pinned here by calling the idle handler directly."""
    from textual import events
    from textual.app import App

    from fleetui.screens.plain import PlainTable

    class OneTable(App):
        CSS = "PlainTable { height: 1fr; }"

        def compose(self):
            yield PlainTable()

    async with OneTable().run_test(size=(80, 6)) as pilot:
        table = pilot.app.query_one(PlainTable)
        table.add_columns("When", "Action")
        table.add_row("2026-11-01 09:01", "demo.build")
        assert "2026-11-01 09:01" not in shown(table)  # painted before it is measured
        await table._on_idle(events.Idle())  # measured; its Resize not handled yet
        assert "2026-11-01 09:01  demo.build" in shown(table)
        await pilot.pause()
        assert "2026-11-01 09:01  demo.build" in shown(table)
