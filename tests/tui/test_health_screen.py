"""The sick-card list: from the dashboard's alert to an RMA with one key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from textual.widgets import DataTable, Static

from fleetui.app import FleetApp
from fleetui.db.tables import Card
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
        await pilot.press("down", "a")
        await settle(pilot)
    with sick_fleet.connect() as conn:
        assert conn.execute(select(Card.status).where(Card.serial == "S-0")).scalar() == "repair"
    assert sorted(p.name for p in tmp_path.glob("rma-*")) == [
        "rma-S-0-20261101.json",
        "rma-S-0-20261101.md",
    ]
