"""A table that reloads after a write keeps its cursor on the row the user chose, or, when that
row left, on its neighbour: a reload used to put it back on row 1, under the next key."""

from __future__ import annotations

from textual.widgets import DataTable

from fleetui.app import FleetApp
from fleetui.screens.dialogs import Confirm
from fleetui.screens.telemetry import FIXES, TelemetryScreen
from tests.loopback import dead_url
from tests.test_poll import endpoints, fleet  # noqa: F401
from tests.tui.test_work import settle


async def test_after_a_fix_the_discrepancies_highlight_the_fixed_ones_neighbour(
    fleet,  # noqa: F811 (the fixture, imported above)
):
    app = FleetApp(fleet)
    async with app.run_test(size=(130, 50)) as pilot:
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TelemetryScreen)
        table = screen.query_one("#discrepancies", DataTable)
        before = list(screen.found)
        at = next(i for i, d in enumerate(before) if i and d.kind in FIXES)  # not on row 1
        table.focus()
        await pilot.press(*["down"] * at, "f")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        for _ in range(3):  # the fix, the FleetChanged it posts, the reload that starts
            await settle(pilot)
        after = screen.found
        assert before[at] not in after, "the fix resolved the highlighted discrepancy"
        neighbour = next(d for d in (*before[at + 1 :], *before[:at][::-1]) if d in after)
        assert after[table.cursor_row] == neighbour != after[0]


async def test_with_nothing_compared_the_empty_discrepancies_do_not_read_as_all_agreeing(engine):
    """The store or node is down: an empty list under "Telemetry vs inventory" would read as
    all agree; its heading says nothing was compared, as `fleetui reconcile` says."""

    from fleetui.telemetry import poller

    dead = dead_url()
    poller.add_node(engine, "node-z", dead, "agent")
    app = FleetApp(engine)
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.press("g")
        for _ in range(3):
            await settle(pilot)
        table = app.screen.query_one("#discrepancies", DataTable)
        assert table.row_count == 0
        assert table.border_title == (
            "Telemetry vs inventory: nothing compared, no node or store answered its last poll"
        )


async def test_with_no_node_registered_the_telemetry_screen_reads_this_hosts_gpus(
    engine, monkeypatch
):
    """As `fleetui poll` does: the screen said "No nodes registered" on a GPU host while the
    CLI read its GPUs; without NVML it still says how to register nodes."""
    from fleetui.telemetry import nvml
    from tests.test_poll import _snapshot

    app = FleetApp(engine)
    async with app.run_test(size=(130, 50)) as pilot:
        monkeypatch.setattr(nvml, "collect", lambda: nvml.Snapshot("", 0.0, error="NVML absent"))
        await pilot.press("g")
        await settle(pilot)
        status = app.screen.query_one("#telemetry-status").render()
        assert str(status).startswith("No nodes registered: fleetui nodes add HOST")
        monkeypatch.setattr(nvml, "collect", _snapshot)
        await pilot.press("r")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TelemetryScreen)
        assert {(g.node, g.serial) for g in screen.state.gpus} >= {("node-a", "S1")}
        assert "No nodes" not in str(screen.query_one("#telemetry-status").render())
