"""Filters in the TUI: those the app builds from data open exactly what was counted; a filter
that does not parse leaves the last good one's cards up and says it is not applied."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from fleetui.allocation import teams
from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.inventory import cards as inventory
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.inventory import InventoryScreen
from tests.tui.test_app import table_serials
from tests.tui.test_work import settle

ODD = 'Q"uote [b]/x 数据'


def number(cell) -> int:
    return int(str(cell).replace(",", ""))


async def test_enter_on_a_dashboard_row_opens_exactly_the_cards_it_counts(demo_engine):
    """Every team row (one named with quotes, markup and CJK, one whose name contains another's,
    no team) and every model row: the inventory's total after Enter is the row's count."""
    teams.rename_team(demo_engine, "Ads ranking", ODD)
    teams.rename_team(demo_engine, "Search", f"{ODD} 2")  # `team:` would find both
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        for table_id in ("#teams", "#models"):
            table = dashboard.query_one(table_id, DataTable)
            rows = [(str(key.value), number(table.get_row(key)[1])) for key in table.rows]
            assert ODD in dict(rows) or table_id == "#models"
            for index, (name, cards) in enumerate(rows):
                table.focus()
                table.move_cursor(row=index)
                await pilot.press("enter")
                await settle(pilot)
                inventory = app.screen
                assert isinstance(inventory, InventoryScreen)
                query = inventory.query_one("#filter", Input)
                assert not query.has_class("error"), (name, query.value)
                assert inventory.total == cards, (name, query.value)
                await pilot.press("d")
                await settle(pilot)


async def test_a_bad_filter_keeps_the_last_good_ones_cards_and_says_it_is_not_applied(
    demo_engine,
):
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        await pilot.press("slash", *"team:llm")
        await settle(pilot)
        good, total = table_serials(screen), screen.total
        llm = {r.serial for r in inventory.cards(demo_engine, "team:llm", settings=Config())}
        assert set(good) <= llm and total == len(llm)
        screen.query_one("#filter", Input).insert_text_at_cursor(" status:x")  # pasted
        await settle(pilot)
        assert screen.query_one("#filter", Input).has_class("error")
        assert table_serials(screen) == good
        position = str(screen.query_one("#position", Static).render())
        assert position.startswith("Filter not applied: Unknown status 'x'"), position
        assert "Still showing 'team:llm'" in position and f"of {total}" in position, position
        await pilot.press("enter", "right_square_bracket", "s")  # to the table; page; sort
        await settle(pilot)
        assert set(table_serials(screen)) <= llm and screen.total == total
        assert "Filter not applied" in str(screen.query_one("#position", Static).render())
        assert screen.query_one("#filter", Input).has_class("error")
