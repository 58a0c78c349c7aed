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


def configured(tmp_path, monkeypatch, text: str):
    """A config file holding `text`, the one FleetApp reads: its path."""
    path = tmp_path / "config.toml"
    path.write_text(text)
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    return path


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
    path = configured(tmp_path, monkeypatch, '[models.aliases]\n"flagship" = "H100 SXM5 80GB"\n')
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
    configured(
        tmp_path, monkeypatch, '[keymap]\n"inventory.filter" = "f"\n"app.teams" = "ctrl+t,T"\n'
    )
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


@pytest.mark.parametrize(
    ("keys", "sentence"),
    [
        (
            '"app.teams" = "i"',
            '[keymap] "app.teams" = "i": "i" is also the key of "app.inventory" (Inventory); '
            "give one of them another key.",
        ),
        (
            '"inventory.filter" = "m"',
            '[keymap] "inventory.filter" = "m": "m" is also the key of "inventory.move" (Move '
            "marked) on the Inventory screen; give one of them another key.",
        ),
        (
            '"app.teams" = "T,s"',  # an app key is live on every screen
            '[keymap] "app.teams" = "T,s": "s" is also the key of "inventory.sort" (Sort) on the '
            "Inventory screen; give one of them another key.",
        ),
        (
            '"dashboard.sick" = "ctrl+q"',
            '[keymap] "dashboard.sick" = "ctrl+q": "ctrl+q" is also the key of Quit (a fixed '
            'key); give "dashboard.sick" another key.',
        ),
        (
            '"history.undo" = "/"\n"app.help" = "slash"',
            '[keymap] "history.undo" = "/": "/" is also the key of "app.help" (Help); give one '
            "of them another key.",
        ),
    ],
)
def test_a_remap_onto_a_key_still_in_use_stops_the_tui_naming_both(
    tmp_path, monkeypatch, keys, sentence
):
    path = configured(tmp_path, monkeypatch, f"[keymap]\n{keys}\n")
    with pytest.raises(UserError) as raised:
        FleetApp(engine=None)  # type: ignore[arg-type]  # stops before any use of it
    assert str(raised.value) == f"{path}: {sentence}"


async def test_two_bindings_may_swap_keys(demo_engine, tmp_path, monkeypatch):
    configured(
        tmp_path, monkeypatch, '[keymap]\n"inventory.filter" = "m"\n"inventory.move" = "slash"\n'
    )
    app = FleetApp(demo_engine, initial_mode="inventory")
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.focused, Input) and app.focused.id == "filter"
