"""What a new user meets first at 80x24: keys that leave screens, focus where typing goes,
forms that fit, answers that show where the user looks."""

from __future__ import annotations

from contextlib import suppress

from textual.widgets import Input, ProgressBar
from textual.worker import WorkerCancelled

from fleetui.app import FleetApp
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.footer import FleetFooter
from fleetui.screens.import_screen import ImportScreen

SMALL = (80, 24)


async def settle(pilot) -> None:
    with suppress(WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def footer_keys(screen) -> set[str]:
    return {key.key for key in screen.query_one(FleetFooter).query("FooterKey")}


async def test_the_import_screen_takes_typing_each_time_and_escape_goes_back(demo_engine, tmp_path):
    path = tmp_path / "e" / "new.csv"  # `/` and `e` are app keys elsewhere
    path.parent.mkdir()
    path.write_text("serial,model,team,status\nNEW-1,Z999,LLM,spare\n", "utf-8")
    app = FleetApp(demo_engine)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        for _ in range(2):
            await pilot.press("I")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ImportScreen)
            assert app.focused is screen.query_one("#path", Input)
            assert "escape" in footer_keys(screen)
            assert not screen.query_one("#progress", ProgressBar).display  # nothing runs
            screen.query_one("#path", Input).value = ""
            await pilot.press(*str(path), "enter")
            await settle(pilot)
            assert isinstance(app.screen, ImportScreen)
            assert screen.query_one("#path", Input).value == str(path)
            assert {"escape", "question_mark", "d"} <= footer_keys(screen)  # typing is done
            await pilot.press("ctrl+r")  # errors: they take the focus
            await settle(pilot)
            assert not screen.query_one("#progress", ProgressBar).display
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
