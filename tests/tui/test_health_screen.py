"""The sick-card list: from the dashboard's alert to an RMA with one key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from textual.widgets import DataTable, Static

from fleetui.app import FleetApp
from fleetui.core.vocabulary import Status
from fleetui.db.tables import Card
from fleetui.screens.dialogs import Confirm
from fleetui.screens.health import HealthScreen
from fleetui.telemetry import poller
from tests.test_health import TODAY, dcgm_node, sick_fleet  # noqa: F401


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_dashboard_counts_sick_cards_and_a_opens_the_rma(
    sick_fleet,  # noqa: F811 (the fixture, imported above)
    tmp_path,
    monkeypatch,
):
    monkeypatch.chdir(tmp_path)  # where the TUI writes the packet
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    await asyncio.to_thread(poller.poll_once, sick_fleet, timeout=2.0, now=now)
    app = FleetApp(sick_fleet, today=lambda: TODAY)
    async with app.run_test(size=(140, 36)) as pilot:
        for _ in range(20):
            await settle(pilot)
            alerts = str(app.screen.query_one("#alerts", Static).render())
            if not alerts.startswith("Checking"):
                break
        assert "3 sick (k)" in alerts
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        table = app.screen.query_one("#sick", DataTable)
        assert [str(k.value) for k in table.rows] == ["S-2", "S-0", "S-3"]
        await pilot.press("down", "a", "y")
        await settle(pilot)
        await settle(pilot)  # the RMA's FleetChanged reloads the list: S-0 is in hand now
        assert [str(k.value) for k in table.rows] == ["S-2", "S-3"]
        await pilot.press("d")  # the footer's "d Dashboard", from a screen over the dashboard
        await settle(pilot)
        assert app.screen.id != "health" and not isinstance(app.screen, HealthScreen)
        for _ in range(20):
            await settle(pilot)
            alerts = str(app.screen.query_one("#alerts", Static).render())
            if "2 sick (k)" in alerts:
                break
        assert "2 sick (k)" in alerts
    with sick_fleet.connect() as conn:
        assert conn.execute(select(Card.status).where(Card.serial == "S-0")).scalar() == "repair"
    assert sorted(p.name for p in tmp_path.glob("rma-*")) == [
        "rma-S-0-20261101.json",
        "rma-S-0-20261101.md",
    ]


async def test_with_no_telemetry_ever_the_dashboard_and_health_screen_say_so(demo_engine):
    """The demo has never been polled: no health is known, so neither view reads all clear."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert "sick: no telemetry yet" in str(app.screen.query_one("#alerts", Static).content)
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        status = str(app.screen.query_one("#health-status", Static).content)
        assert status.startswith("No node or metrics store has answered a poll yet")


def _status(engine, serial: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Card.status).where(Card.serial == serial)).scalar_one()


async def test_a_asks_naming_the_serial_and_the_list_keeps_the_card_after_reloading(
    sick_fleet,  # noqa: F811 (the fixture, imported above)
    tmp_path,
    monkeypatch,
):
    """A trial lost a card this way: `a` took the highlighted card out of service at once, the
    list reloaded with the cursor back on row 1, and the next `a` hit another card. Now `a` asks
    first, naming the card, and a reload keeps the cursor on the card (or, when it left the
    list, on its neighbour)."""
    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    await asyncio.to_thread(poller.poll_once, sick_fleet, timeout=2.0, now=now)
    app = FleetApp(sick_fleet, today=lambda: TODAY)
    async with app.run_test(size=(140, 36)) as pilot:
        app.push_screen(HealthScreen(sick_fleet, lambda: TODAY, settings=app.settings))
        await settle(pilot)
        table = app.screen.query_one("#sick", DataTable)
        assert [str(k.value) for k in table.rows] == ["S-2", "S-0", "S-3"]
        await pilot.press("down", "a")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        assert "S-0" in app.screen.question
        await pilot.press("n")  # kept: nothing written
        await settle(pilot)
        assert _status(sick_fleet, "S-0") == Status.IN_SERVICE
        assert not list(tmp_path.glob("rma-*"))
        await pilot.press("a", "y")
        await settle(pilot)
        assert _status(sick_fleet, "S-0") == Status.REPAIR
        shown = [str(k.value) for k in table.rows]
        highlighted = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        assert highlighted == ("S-0" if "S-0" in shown else "S-3")
        await pilot.press("a")
        await settle(pilot)
        assert highlighted in app.screen.question
        await pilot.press("n")
        await settle(pilot)
    assert _status(sick_fleet, "S-2") == Status.IN_SERVICE


async def test_a_on_a_gpu_no_card_matches_says_so_at_once_without_asking(
    dcgm_node,  # noqa: F811 (the fixture, imported above)
    tmp_path,
    monkeypatch,
):
    """A trial pressed `a` on a sick GPU that is in no card: it asked whether the card goes to
    repair, and only after `y` said no card has that serial."""
    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    await asyncio.to_thread(poller.poll_once, dcgm_node, timeout=2.0, now=now)
    app = FleetApp(dcgm_node, today=lambda: TODAY)
    async with app.run_test(size=(140, 36), notifications=True) as pilot:
        app.push_screen(HealthScreen(dcgm_node, lambda: TODAY, settings=app.settings))
        await settle(pilot)
        table = app.screen.query_one("#sick", DataTable)
        assert [str(k.value) for k in table.rows] == ["S-2", "S-0", "S-3"]
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)  # nothing asked
        notes = [n.message for n in app._notifications]  # Textual keeps no public list
        assert notes == [
            "No card has serial 'S-2': the GPU is not in the inventory (f on the Telemetry "
            "screen adds it), so no RMA can be opened."
        ]
    assert not list(tmp_path.glob("rma-*"))


async def test_a_poll_by_another_process_shows_in_the_sick_list_and_the_dashboards_count(
    sick_fleet,  # noqa: F811 (the fixture, imported above)
    monkeypatch,
):
    """`fleetui poll` runs as a service beside the TUI: the sick list and the dashboard's count
    stayed as first read, since a poll writes no audit event. They read again after a poll;
    the dashboard's other alerts (fleet-wide scans a poll does not change) are not read again."""
    import subprocess
    import sys
    from pathlib import Path

    from fleetui.inventory import cards
    from tests import test_health

    scans = []
    alert_counts = cards.alert_counts
    monkeypatch.setattr(
        cards, "alert_counts", lambda *a, **k: scans.append(1) or alert_counts(*a, **k)
    )

    test_health._Exporter.page = test_health.dcgm_page(xid79=False)
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    await asyncio.to_thread(poller.poll_once, sick_fleet, timeout=2.0, now=now)
    app = FleetApp(sick_fleet, today=lambda: TODAY)
    async with app.run_test(size=(140, 36)) as pilot:
        app.check_freshness()  # what the app's timer does
        await pilot.press("k")
        await settle(pilot)
        table = app.screen.query_one("#sick", DataTable)
        assert [str(k.value) for k in table.rows] == ["S-2", "S-3"]
        test_health._Exporter.page = test_health.dcgm_page()  # GPU 0 falls off the bus
        fleetui = Path(sys.executable).with_name("fleetui")  # the installed command
        url = sick_fleet.url.render_as_string(hide_password=False)
        done = await asyncio.to_thread(
            subprocess.run, [str(fleetui), "--db", url, "poll", "--once"], capture_output=True
        )
        assert done.returncode == 0, done.stderr
        app.check_freshness()
        await settle(pilot)
        await settle(pilot)
        assert [str(k.value) for k in table.rows] == ["S-2", "S-0", "S-3"]
        await pilot.press("d")
        await settle(pilot)
        alerts = str(app.screen.query_one("#alerts", Static).render())
        assert "3 sick (k)" in alerts and "0 in repair" in alerts
        assert len(scans) == 1


async def test_a_poll_between_the_dashboards_read_and_the_first_check_still_shows(
    sick_fleet,  # noqa: F811 (the fixture, imported above)
):
    """The first check only noted when the last poll was: a poll by another process a moment
    after the TUI started (its dashboard read before it) never showed."""
    import subprocess
    import sys
    from pathlib import Path

    app = FleetApp(sick_fleet, today=lambda: TODAY)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        assert "sick: no telemetry yet" in str(app.screen.query_one("#alerts", Static).render())
        fleetui = Path(sys.executable).with_name("fleetui")  # the installed command
        url = sick_fleet.url.render_as_string(hide_password=False)
        done = await asyncio.to_thread(
            subprocess.run, [str(fleetui), "--db", url, "poll", "--once"], capture_output=True
        )
        assert done.returncode == 0, done.stderr
        app.check_freshness()  # the app's first check, as its timer makes it
        await settle(pilot)
        await settle(pilot)
        assert "3 sick (k)" in str(app.screen.query_one("#alerts", Static).render())


async def test_the_telemetry_screen_reads_once_after_its_own_round_and_again_after_anothers(
    sick_fleet,  # noqa: F811 (the fixture, imported above)
    monkeypatch,
):
    """The app's check saw the screen's own round as a new poll and the screen read everything
    again (at 80,000 GPUs, a second read a round); a round by another process is read."""
    from datetime import timedelta

    from fleetui.telemetry import view

    reads = []
    load = view.load
    monkeypatch.setattr(view, "load", lambda *a, **k: reads.append(1) or load(*a, **k))
    app = FleetApp(sick_fleet, today=lambda: TODAY)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.press("g")  # the Telemetry screen polls at once
        await settle(pilot)
        assert len(reads) == 1
        app.check_freshness()  # what the app's timer does: sees that round
        await settle(pilot)
        await settle(pilot)
        assert len(reads) == 1
        later = datetime.now(UTC) + timedelta(minutes=1)
        await asyncio.to_thread(poller.poll_once, sick_fleet, timeout=2.0, now=later)
        app.check_freshness()
        await settle(pilot)
        await settle(pilot)
        assert len(reads) == 2


async def test_d_shows_the_dashboard_itself_after_the_sick_list_and_another_screen(
    sick_fleet,  # noqa: F811 (the fixture, imported above)
):
    """A trial went dashboard, `k` (the sick list), `g` (Telemetry), `d`: the sick list came
    back, not the dashboard the footer names. The sick list is a mode of its own now; escape on
    it goes back where the user came from."""
    from fleetui.screens.dashboard import DashboardScreen
    from fleetui.screens.telemetry import TelemetryScreen

    app = FleetApp(sick_fleet, today=lambda: TODAY)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, HealthScreen)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, TelemetryScreen)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("k", "escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
