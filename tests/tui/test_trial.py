"""What a new user trying fleetui from the README ran into: charts in a stated order, figures
formatted as everywhere else, zeros on an empty fleet, tables readable at 80x24, escape going
back where the user came from."""

from __future__ import annotations

import re

from textual.widgets import DataTable, Input, OptionList, Select, Static

from fleetui.allocation.undo import undo
from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.screens.card_detail import CardDetailScreen
from fleetui.screens.dashboard import STATUS_LABELS
from fleetui.screens.import_screen import ImportScreen
from fleetui.screens.inventory import InventoryScreen
from fleetui.screens.lifecycle import BAR_WIDTH, Bars, LifecycleScreen
from fleetui.screens.telemetry import TelemetryScreen
from fleetui.telemetry import poller
from tests.loopback import dead_url, serving
from tests.tui.test_plain_output import picked, shown
from tests.tui.test_snapshots import dcgm_page
from tests.tui.test_work import import_screen_with, opened, settle


def test_a_chart_ordered_largest_first_says_so_and_breaks_ties_by_label():
    chart = Bars(
        "Per team", [("b", 1.0, "1"), ("c", 3.0, "3"), ("a", 1.0, "1")], "green", largest_first=True
    )
    assert "largest first" in str(chart.title)
    assert [str(label) for label in chart.table().columns[0].cells] == ["c", "a", "b"]


async def test_the_lifecycle_team_bars_are_largest_first(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, "l", LifecycleScreen)
        compute = app.screen.query_one("#teams", Static).content.renderables[0].table()
        assert "largest first" in str(compute.title)
        pflops = [
            float(str(text).split(" · ")[0].replace(",", "")) for text in compute.columns[2].cells
        ]
        assert len(pflops) > 2 and pflops == sorted(pflops, reverse=True)


async def test_a_narrow_screen_shortens_the_bars_never_a_figure(demo_engine):
    """At 66 columns the lifecycle charts' bars are shorter; each row keeps its whole figure
    (the largest team's share was cut off) and the longest bar still fills the room left."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(66, 40)) as pilot:
        await opened(pilot, "l", LifecycleScreen)
        for chart in ("#warranty", "#cliff", "#teams"):
            static = app.screen.query_one(chart, Static)
            bars = static.content
            bars = bars.renderables[0] if hasattr(bars, "renderables") else bars
            painted = shown(static).splitlines()
            for label, _value, figure in bars.rows:
                line = next(line for line in painted if line.startswith(f" {label} "))
                assert line.rstrip().endswith(f" {figure}"), (chart, line)
        longest = max(line.count("█") for line in painted)  # the teams' chart's
        assert 20 < longest < BAR_WIDTH


async def test_card_detail_shows_every_figure_as_the_rest_of_the_app_does(demo_engine):
    serial = next(iter(inventory.cards(demo_engine, "model:910b", 1, settings=Config()))).serial
    raw = inventory.detail(demo_engine, serial, settings=Config()).fields
    assert raw["tpp"] >= 1000 and isinstance(raw["memory_gb"], float)
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        app.push_screen(CardDetailScreen(demo_engine, serial, settings=Config()))
        await settle(pilot)
        table = app.screen.query_one("#fields", Static).content
        rows = dict(
            zip(map(str, table.columns[0].cells), map(str, table.columns[1].cells), strict=True)
        )
    assert rows["TPP"] == f"{raw['tpp']:,}"
    assert rows["memory"] == f"{raw['memory_gb']:.0f} GB"
    assert rows["service life"] == f"{raw['service_life_years']:.0f} years"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows["created at"])
    text = {v for v in raw.values() if isinstance(v, str)}  # shown as written: serial, node
    for value in set(rows.values()) - text:  # no figure without separators, no ".0" left
        assert not re.search(r"(?<![\w:.,-])\d{4,}(?![\w:-])|\d\.0\b", value), value


async def test_the_dashboard_of_an_empty_fleet_shows_zeros_and_drops_earlier_figures(
    engine, tmp_path
):
    path = tmp_path / "one.csv"
    path.write_text("serial,model,team,status\nS-1,H100 SXM,Ads,spare\n", "utf-8")
    done = run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    app = FleetApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#teams", DataTable).row_count == 1
        undo(engine, done.batch_id)  # the fleet is empty again
        await pilot.press("r")
        await settle(pilot)
        for status in STATUS_LABELS:
            box = str(app.screen.query_one(f"#status-{status}", Static).render())
            assert box.split("\n")[-1] == "0", box
        assert "No cards yet" in str(app.screen.query_one("#totals", Static).render())
        assert app.screen.query_one("#teams", DataTable).row_count == 0
        assert app.screen.query_one("#models", DataTable).row_count == 0
        alerts = str(app.screen.query_one("#alerts", Static).render())
        assert "0 warranty ends within 30 days" in alerts and "sick: no telemetry yet" in alerts


async def test_every_telemetry_value_is_readable_at_80x24(demo_engine):
    """No table scrolls sideways: the GPUs' identity stacks, long health and details wrap."""
    serial = next(
        iter(inventory.cards(demo_engine, "model:a100 status:in_service", 1, settings=Config()))
    ).serial
    card = inventory.detail(demo_engine, serial, settings=Config()).fields
    sick = (serial, card["pci_bus_id"], 0, 79)
    page = dcgm_page(card["node"], [sick, ("X-UNKNOWN", "00000000:FF:00.0", 5, 0)])
    with serving(page) as url:
        poller.add_node(demo_engine, card["node"], url, "dcgm")
        app = FleetApp(demo_engine)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("g")
            await settle(pilot)
            assert isinstance(app.screen, TelemetryScreen)
            for table in app.screen.query(DataTable):
                await pilot.pause()
                assert table.row_count, table.id
                assert table.max_scroll_x == 0, table.id
                assert table.virtual_size.width <= table.scrollable_content_region.width, table.id
            gpus = app.screen.query_one("#gpus", DataTable)
            shown = gpus.get_row_at(0)
            assert [card["node"], card["pci_bus_id"], serial] == str(shown[0]).split("\n")
            health = gpus.ordered_columns[-1]
            assert str(health.label) == "Health" and str(shown[-1]).startswith("Xid 79: ")
            lines = shown[-1].wrap(app.console, health.width)
            assert gpus.rows[gpus.ordered_rows[0].key].height >= len(lines) > 1


async def test_escape_on_the_import_screen_goes_back_where_the_user_came_from(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, came_from in (("i", InventoryScreen), ("l", LifecycleScreen)):
            await pilot.press(key)
            await settle(pilot)
            await pilot.press("I")
            await settle(pilot)
            assert isinstance(app.screen, ImportScreen)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, came_from)


async def test_escape_goes_back_from_every_screen_that_has_no_escape_of_its_own(demo_engine):
    """README: `esc` is back. Screens without an escape of their own (teams, history, lifecycle,
    telemetry) go back where the user came from; on the dashboard, where the app starts, it
    stays; the inventory's escape still clears its filter first."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in "thlg":
            await pilot.press("i", key)
            await settle(pilot)
            left = type(app.screen)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, InventoryScreen), left
        await pilot.press("slash", *"team:llm", "enter")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        assert app.screen.query_one("#filter", Input).value == ""
        await pilot.press("d", "escape")
        await settle(pilot)
        assert app.current_mode == "dashboard"


async def test_escape_retraces_the_way_and_always_reaches_the_dashboard(demo_engine):
    """A trial pressed d, i, g and escape four times: escape swapped between the inventory and
    the telemetry screen for ever (one mode remembered, not the way back)."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for keys, way in (("dig", ["inventory", "dashboard"]), ("digti", ["dashboard"])):
            await pilot.press(*keys)
            for mode in way:
                await pilot.press("escape")
                await settle(pilot)
                assert app.current_mode == mode, keys
            await pilot.press("escape")
            await settle(pilot)
            assert app.current_mode == "dashboard", keys


async def test_the_import_screen_names_a_headerless_column_with_data_as_not_imported(
    engine, tmp_path
):
    """It said "Every column is imported" while the CLI named the column as not imported; the
    column had a blank name in its table."""
    path = tmp_path / "gap.csv"
    path.write_text("serial,model,,notes,notes\nS-1,H800 SXM,rack 7,a,b\n", "utf-8")
    app = FleetApp(engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path)
        await settle(pilot)
        said = str(screen.query_one("#detected", Static).render())
        assert "2 other columns not imported: column 3 (no header), notes (column 5)" in said, said
        table = screen.query_one("#mapping", DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert names == ["serial", "model", "column 3", "notes (column 4)", "notes (column 5)"]

        async def pick(row: int, field: str) -> None:  # enter on the column, then the field
            await picked(pilot, table, row)
            fields = app.screen.query_one("#fields", OptionList)
            fields.highlighted = next(
                i
                for i in range(fields.option_count)
                if str(fields.get_option_at_index(i).prompt) == field
            )
            await pilot.press("enter")
            await settle(pilot)

        await pick(2, "notes")  # the headerless column's data as notes...
        await pick(4, "supplier")  # ...and the repeated header's second column as supplier
        assert table.cursor_row == 4  # still on the column just mapped
        fields = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert fields == ["serial", "model", "notes", "—", "supplier"]
        await pick(3, "notes")  # notes again, for another column: it moves there
        fields = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert fields == ["serial", "model", "—", "notes", "supplier"]


async def test_the_import_screen_names_its_own_controls_never_cli_options(demo_engine, tmp_path):
    held = next(iter(inventory.cards(demo_engine, "", 1, settings=Config()))).serial
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "serial,model,team,purchase_date\n"
        "N-1,H800 SXM,Nobody,2024-01-01\n"  # an unknown team
        "N-2,H800 SXM,LLM,03/04/2023\n"  # a date that reads two ways
        "N-3,H800 SXM,LLM,someday\n"  # no date at all
        f"{held},H800 SXM,LLM,2024-01-01\n",  # already held, with existing: error
        "utf-8",
    )
    (tmp_path / "noserial.csv").write_text("Serialnumb,model\nX,H800 SXM\n", "utf-8")
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        await pilot.press("I")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImportScreen)
        said = []

        async def check(path, currency: str = "") -> None:
            screen.query_one("#path", Input).value = str(path)
            screen.query_one("#currency", Input).value = currency
            screen.query_one("#on_existing", Select).value = "error"
            screen.open_file()
            await settle(pilot)
            said.append(str(screen.query_one("#summary", Static).render()))
            screen.action_check()
            await settle(pilot)
            said.append(str(screen.query_one("#summary", Static).render()))
            errors = screen.query_one("#errors", DataTable)
            said.extend(str(errors.get_row_at(i)[3]) for i in range(errors.row_count))

        await check(bad)
        await check(bad, currency="dollars")
        await check(tmp_path / "noserial.csv")
    shown = "\n".join(said)
    assert "tick 'Create missing teams, projects, nodes'" in shown
    assert "existing: error" in shown and "as the date format" in shown
    assert "currency 'dollars'" in shown and "No serial column" in shown
    assert "--" not in shown, shown


async def test_poll_now_asks_a_node_that_is_backing_off(engine):
    """`r` is a person asking, often right after mending a node: every node is asked, those
    the screen's own rounds leave alone for a while after a failure too."""

    dead = dead_url()
    poller.add_node(engine, "dead-node", dead, "agent")
    app = FleetApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, "g", TelemetryScreen)
        status = app.screen.query_one("#telemetry-status", Static)
        assert "0 of 1 node answered" in str(status.content)
        await pilot.press("r")
        await settle(pilot)
        shown = str(status.content)
        assert "0 of 1 node answered" in shown and "backing off" not in shown, shown
