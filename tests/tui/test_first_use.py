"""What a new user meets first at 80x24: keys that leave screens, focus where typing goes,
forms that fit, answers that show where the user looks."""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path

from textual.widgets import Input, ProgressBar, Static
from textual.worker import WorkerCancelled

from fleetui.app import FleetApp
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.edit_cards import EditModal
from fleetui.screens.footer import FleetFooter
from fleetui.screens.import_screen import ImportScreen
from fleetui.screens.reallocate import ReallocateModal

SMALL = (80, 24)


async def settle(pilot) -> None:
    with suppress(WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    """Press the keys, then let what they started finish."""
    await pilot.press(*keys)
    await settle(pilot)


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
            await press(pilot, "I")
            screen = app.screen
            assert isinstance(screen, ImportScreen)
            assert app.focused is screen.query_one("#path", Input)
            assert "escape" in footer_keys(screen)
            assert not screen.query_one("#progress", ProgressBar).display  # nothing runs
            screen.query_one("#path", Input).value = ""
            await press(pilot, *str(path), "enter")
            assert isinstance(app.screen, ImportScreen)
            assert screen.query_one("#path", Input).value == str(path)
            assert {"escape", "question_mark", "d"} <= footer_keys(screen)  # typing is done
            await press(pilot, "ctrl+r")  # errors: they take the focus
            assert not screen.query_one("#progress", ProgressBar).display
            await press(pilot, "escape")
            assert isinstance(app.screen, DashboardScreen)


async def test_the_footer_rebuilds_its_keys_only_when_they_change(demo_engine):
    """Textual signals new bindings on every change of focus; the footer rebuilt and restyled all
    its keys each time (five times before the dashboard was complete)."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        shown = list(app.screen.query_one(FleetFooter).query("FooterKey"))
        before = app.focused
        await press(pilot, "tab")  # the teams table to the models table: the same keys
        assert app.focused is not before
        assert list(app.screen.query_one(FleetFooter).query("FooterKey")) == shown


async def test_the_footers_keys_come_in_its_style_not_restyled_one_by_one(demo_engine, monkeypatch):
    """Textual's footer keys are born compact and each restyled itself as it mounted: 34 style
    passes, a tenth of the dashboard's start at 1M cards. FleetFooter makes them in its style."""
    restyled = []
    update_styles = FleetApp.update_styles

    def spy(app, node, animate=True):
        restyled.append(type(node).__name__)
        update_styles(app, node, animate)

    monkeypatch.setattr(FleetApp, "update_styles", spy)
    app = FleetApp(demo_engine)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        keys = app.screen.query_one(FleetFooter).query("FooterKey")
        assert keys and not any(key.has_class("-compact") for key in keys)
    assert restyled and "FooterKey" not in restyled


async def test_the_request_dialog_fits_a_small_terminal(demo_engine):
    """Each field and button shows at 80x24 (another screen's `#models` rule once made the
    models box the height of the dialog)."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await press(pilot, "R")
        dialog = app.screen
        assert isinstance(dialog, ReallocateModal)
        screen = dialog.region
        for widget in dialog.query("Input, Select, Button"):
            assert screen.contains_region(widget.region), (widget.id, widget.region)


def test_each_screen_stylesheet_styles_only_its_own_screen():
    """Textual applies a screen's CSS_PATH to the whole app, so a rule for `#models` on one
    screen styles any `#models` on another: every rule nests inside its screen's type."""
    screens = Path(__file__).resolve().parents[2] / "screens"
    for path in sorted(screens.glob("*.tcss")):
        css = re.sub(r"/\*.*?\*/", "", path.read_text("utf-8"), flags=re.S)
        top = [line for line in css.splitlines() if line.strip() and not line[0].isspace()]
        assert len(top) == 2 and re.fullmatch(r"[A-Z]\w* \{", top[0]) and top[1] == "}", path


async def test_an_edit_problem_shows_in_view_naming_the_field_in_words(demo_engine):
    """At 80x24 the answer to Enter sits below the form: it scrolls into view."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await press(pilot, "i")
        await press(pilot, "e")
        dialog = app.screen
        assert isinstance(dialog, EditModal)
        assert app.focused is dialog.query_one("#status", Input)
        await press(pilot, *"broken", "enter")
        plan = dialog.query_one("#plan", Static)
        assert str(plan.render()).startswith("status 'broken': a status is exactly one of")
        assert plan.region and dialog.region.contains_region(plan.region), plan.region


async def test_a_filter_matching_nothing_says_so(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await press(pilot, "i")
        await press(pilot, "slash", *"serial:NOPE")
        position = str(app.screen.query_one("#position", Static).render())
        assert position == "No card matches 'serial:NOPE'."
