"""What a new user meets first: filtered inventories after a card detail, dialogs at 80x24."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from fleetui.app import FleetApp
from fleetui.screens.card_detail import CardDetailScreen
from fleetui.screens.inventory import InventoryScreen
from tests.tui.test_app import settle


async def open_a_card_then_go_to_the_dashboard(pilot) -> None:
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CardDetailScreen)
    await pilot.press("d")
    await settle(pilot)


@pytest.mark.parametrize(
    "key, query",
    [("w", "warranty:30d"), ("W", "warranty:90d"), ("e", "eol:past"), ("x", "status:repair")],
)
async def test_an_alert_key_shows_the_filtered_list_not_a_card_left_open(demo_engine, key, query):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await open_a_card_then_go_to_the_dashboard(pilot)
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert app.screen.query_one("#filter", Input).value == query


async def test_a_team_row_shows_the_filtered_list_not_a_card_left_open(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await open_a_card_then_go_to_the_dashboard(pilot)
        teams = app.screen.query_one("#teams", DataTable)
        teams.focus()
        teams.move_cursor(row=[str(k.value) for k in teams.rows].index("Search"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert app.screen.query_one("#filter", Input).value == 'team:"Search"'


async def test_the_palettes_filter_inventory_reaches_the_filter_box_over_a_card(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await open_a_card_then_go_to_the_dashboard(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Filter inventory")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert app.focused is app.screen.query_one("#filter", Input)
