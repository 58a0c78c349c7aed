"""What a new user trying fleetui from the README ran into: charts in a stated order, figures
formatted as everywhere else, zeros on an empty fleet, tables readable at 80x24, escape going
back where the user came from."""

from __future__ import annotations

from textual.widgets import Static

from fleetui.app import FleetApp
from fleetui.screens.lifecycle import LifecycleScreen, bars
from tests.tui.test_work import settle


def test_a_chart_ordered_largest_first_says_so_and_breaks_ties_by_label():
    chart = bars(
        "Per team", [("b", 1.0, "1"), ("c", 3.0, "3"), ("a", 1.0, "1")], "green", largest_first=True
    )
    assert "largest first" in str(chart.title)
    assert [str(label) for label in chart.columns[0].cells] == ["c", "a", "b"]


async def test_the_lifecycle_team_bars_are_largest_first(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LifecycleScreen)
        compute = app.screen.query_one("#teams", Static).content.renderables[0]
        assert "largest first" in str(compute.title)
        pflops = [
            float(str(text).split(" · ")[0].replace(",", "")) for text in compute.columns[2].cells
        ]
        assert len(pflops) > 2 and pflops == sorted(pflops, reverse=True)
