"""The TUI's settings: read from the file once, at start; [keymap] remaps keys by binding id."""

from __future__ import annotations

import builtins
import io

import pytest
from textual.widgets import Input

from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.inventory import cards as inventory
from fleetui.screens.inventory import InventoryScreen
from tests.tui.test_app import settle, table_serials


def count_reads(monkeypatch, path) -> list[str]:
    """Every opening of `path` from now on (Path.read_text and open() both come through here)."""
    reads: list[str] = []
    real = io.open

    def counting_open(file, *args, **kwargs):
        if str(file) == str(path):
            reads.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    return reads


async def test_the_config_is_read_once_across_many_filter_keystrokes(
    demo_engine, tmp_path, monkeypatch
):
    path = tmp_path / "config.toml"
    path.write_text('[models.aliases]\n"flagship" = "H100 SXM5 80GB"\n')
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    reads = count_reads(monkeypatch, path)
    app = FleetApp(demo_engine, initial_mode="inventory")
    assert len(reads) == 1
    query = "model:flagship status:in_service"
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        await pilot.press("slash")
        for key in query:
            await pilot.press(key)
            await pilot.pause()  # each keystroke filters
        await settle(pilot)
        shown = table_serials(app.screen)
        await pilot.press("enter", "enter")  # open a card: its detail also uses the settings
        await settle(pilot)
    assert len(reads) == 1
    site = [r.serial for r in inventory.cards(demo_engine, query, settings=app.settings)]
    assert shown == site[: len(shown)] and shown, "the filter knows the config's alias"
    with pytest.raises(UserError, match="No catalogue model is named 'flagship'"):
        inventory.count(demo_engine, query, settings=Config())  # the alias is the config's


async def test_a_remapped_key_works_and_the_old_one_no_longer_does(
    demo_engine, tmp_path, monkeypatch
):
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\n"inventory.filter" = "f"\n"app.teams" = "ctrl+t,T"\n')
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        screen.query_one("#cards").focus()
        await pilot.press("slash")
        await pilot.pause()
        assert not isinstance(app.focused, Input), "/ no longer filters"
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.focused, Input) and app.focused.id == "filter"
        await pilot.press("escape")
        screen.query_one("#cards").focus()
        await pilot.press("t")
        await pilot.pause()
        assert app.current_mode == "inventory", "t no longer opens Teams"
        await pilot.press("T")
        await pilot.pause()
        assert app.current_mode == "teams"
        await pilot.press("i", "ctrl+t")
        await pilot.pause()
        assert app.current_mode == "teams"
