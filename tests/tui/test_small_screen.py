"""What a new user meets first: filtered inventories after a card detail, dialogs at 80x24."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Static

from fleetui.app import FleetApp
from fleetui.config import Config, Scheduler
from fleetui.core.vocabulary import HELD
from fleetui.screens.card_detail import CardDetailScreen
from fleetui.screens.dialogs import AskText, Confirm
from fleetui.screens.import_screen import FieldPicker
from fleetui.screens.inventory import InventoryScreen
from fleetui.store import open_fleet
from tests.tui.test_app import settle
from tests.tui.test_work import opened


@pytest.fixture
def sqlite_demo(demo_file, tmp_path):
    """The demo fleet in a private SQLite file: layout is the same on either backend."""
    copy = tmp_path / "demo.db"
    copy.write_bytes(demo_file.read_bytes())
    engine = open_fleet(str(copy))
    yield engine
    engine.dispose()


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
        held = ",".join(HELD)  # the cards the row counts
        assert app.screen.query_one("#filter", Input).value == f'team="Search" status:{held}'


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


def overflows(screen: Screen) -> list[str]:
    """What does not fit an 80-column screen: a widget reaching past its sides (the footer
    scrolls, so it may), or a text taller than its box (its last lines cut)."""
    found = []
    for widget in screen.query("*"):
        if not widget.display or any(isinstance(a, Footer) for a in widget.ancestors_with_self):
            continue
        region = widget.region
        if region.width and (region.x < 0 or region.right > screen.size.width):
            found.append(f"{widget!r} spans columns {region.x}-{region.right}")
        if isinstance(widget, Static) and widget.content_region.width:
            box = widget.content_region
            needed = widget.get_content_height(screen.size, screen.size, box.width)
            if needed > box.height:
                found.append(f"{widget!r} needs {needed} lines, has {box.height}")
    return found


LONG = "Undo batch 0123abcd (moved 1,234 cards from Search to LLM for the new model) " * 2


@pytest.mark.parametrize(
    "keys, opened",
    [
        *[((key,), None) for key in "ditlgI"],  # every screen
        (("k",), "HealthScreen"),
        (("A",), "SchedulerModal"),
        (("R",), "ReallocateModal"),
        (("question_mark",), "HelpScreen"),
        (("i", "e"), "EditModal"),
        ((), Confirm(LONG)),
        ((), AskText(LONG)),
        ((), FieldPicker(LONG)),
    ],
)
async def test_every_screen_and_dialog_fits_80_columns(sqlite_demo, keys, opened):
    app = FleetApp(sqlite_demo, settings=Config())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if isinstance(opened, Screen):
            await app.push_screen(opened)
            await settle(pilot)
        else:
            assert opened is None or type(app.screen).__name__ == opened
        assert overflows(app.screen) == []


@pytest.mark.parametrize(
    "kind, said",
    [
        ("kueue", "`fleetui sched export --kueue DIR` and `kubectl apply --server-side -f DIR`"),
        ("", 'set [scheduler] kind = "slurm" in'),
    ],
)
async def test_the_apply_key_without_slurm_says_what_to_do_and_offers_no_apply(
    sqlite_demo, kind, said
):
    from fleetui.screens.scheduler import SchedulerModal

    app = FleetApp(sqlite_demo, settings=Config(scheduler=Scheduler(kind=kind)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, SchedulerModal)
        assert said in str(app.screen.query_one("#commands", Static).render())
        assert not app.screen.query_one("#apply", Button).display


async def test_a_tab_typed_as_the_request_dialog_comes_up_is_kept(sqlite_demo):
    """The dialog's first field has focus once it is composed, not a moment later: a Tab typed
    in that moment was undone, and the next field's keys went into the first."""
    from fleetui.screens.reallocate import ReallocateModal

    app = FleetApp(sqlite_demo, settings=Config())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(ReallocateModal(sqlite_demo, settings=app.settings))
        assert app.focused is app.screen.query_one("#amount", Input)
        app.screen.focus_next()  # the Tab, before anything else runs
        await pilot.press(*"H800")
        assert app.screen.query_one("#models", Input).value == "H800"
        assert app.screen.query_one("#amount", Input).value == ""


async def test_a_long_team_name_leaves_the_teams_figures_on_an_80_column_screen(sqlite_demo):
    """A team named with 128 characters (the most a name may have) pushed Cards and PFLOPS off
    an 80-column Teams screen; its name is cut with an ellipsis instead, and after a rename
    to a short one, `r` narrows the column again."""
    from fleetui.allocation import teams
    from fleetui.screens.teams import TeamsScreen

    long = "Long" + "x" * 124
    teams.add_team(sqlite_demo, long)
    app = FleetApp(sqlite_demo)
    async with app.run_test(size=(80, 24)) as pilot:
        table = (await opened(pilot, "t", TeamsScreen)).query_one("#holdings", DataTable)
        widths = [c.get_render_width(table) for c in table.ordered_columns]
        assert sum(widths[:3]) <= 80, widths  # names, Cards, PFLOPS on screen
        cell = table.get_row(long)[0]
        assert cell.plain == long and cell.overflow == "ellipsis"  # the whole name, cut on screen
        teams.rename_team(sqlite_demo, long, "Short")
        await pilot.press("r")
        await settle(pilot)
        assert table.ordered_columns[0].get_render_width(table) < widths[0]
