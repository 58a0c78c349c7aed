"""The config file: read into a typed object, its errors naming the file, setting and value;
its [keymap] checked against the binding ids README lists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetui import config
from fleetui.app import FleetApp
from fleetui.cli import app
from fleetui.core.errors import UserError
from fleetui.screens import keymap

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ('[cost]\npue = "high"\n', '[cost] pue = "high": not a number.'),
        ("[lifecycle]\nwarranty_months = 'a year'\n", '[lifecycle] warranty_months = "a year": '),
        ("[lifecycle]\nexpiring_days = 7.5\n", "[lifecycle] expiring_days = 7.5: not a whole"),
        ("[cost]\ntariff_per_kwh = -1\n", "[cost] tariff_per_kwh = -1: a negative number."),
        ("[cost]\ncurrency = 978\n", "[cost] currency = 978: not a string."),
        ("[cost]\npeu = 1.2\n", "[cost] peu is not a setting; the settings here are currency, pue"),
        ("[costs]\npue = 1.2\n", "costs is not a setting; the settings here are cost, export"),
        ('[export]\nirreplaceable = ["Z99"]\n', '[export] irreplaceable = ["Z99"]: unknown model'),
        (
            '[lifecycle.warranty_months_by_model]\n"Z99" = 36\n',
            '[lifecycle.warranty_months_by_model] Z99 = 36: unknown model "Z99".',
        ),
        (
            '[lifecycle.warranty_months_by_supplier]\n"Inspur" = "3y"\n',
            '[lifecycle.warranty_months_by_supplier] Inspur = "3y": not a number.',
        ),
        ('[keymap]\n"inventory.filter" = 6\n', '[keymap] "inventory.filter" = 6: not a string.'),
        ("[lifecycle\n", "is not valid TOML"),
        ("[lifecycle]\nwarranty_months = 99999\n", "warranty_months = 99999: more than 360."),
        ("[lifecycle]\nservice_life_years = 1e9\n", "service_life_years = 1000000000.0: more"),
        ("[lifecycle]\nexpiring_days = 99999999\n", "expiring_days = 99999999: more than 36,500"),
        (
            '[lifecycle.warranty_months_by_supplier]\n"Inspur" = 100000\n',
            "[lifecycle.warranty_months_by_supplier] Inspur = 100000: more than 360.",
        ),
    ],
)
def test_a_broken_setting_is_one_sentence_naming_file_key_and_value(tmp_path, text, sentence):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UserError) as raised:
        config.load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: " if "TOML" not in sentence else str(path))
    assert sentence in message and message.endswith(".") and "\n" not in message


def test_a_config_reads_into_typed_settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        "[lifecycle]\nwarranty_months = 24\nservice_life_years = 4\n"
        '[lifecycle.warranty_months_by_supplier]\n"Inspur" = 36\n'
        '[cost]\npue = 1\ncurrency = "EUR"\n'
        '[keymap]\n"inventory.filter" = "f"\n'
    )
    settings = config.load(path)
    assert settings.lifecycle.warranty_months == 24
    assert settings.lifecycle.service_life_years == 4.0
    assert isinstance(settings.lifecycle.service_life_years, float)
    assert isinstance(settings.cost.pue, float) and settings.cost.currency == "EUR"
    assert settings.lifecycle.warranty_months_by_supplier == {"inspur": 36}
    assert settings.keymap == {"inventory.filter": "f"}
    assert settings.source == str(path)


def test_the_cli_says_which_setting_is_broken_and_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('[cost]\npue = "high"\n')
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    db = tmp_path / "fleet.db"
    result = CliRunner().invoke(app, ["--db", str(db), "cards"])
    assert result.exit_code == 1
    assert result.stderr == f'fleetui: {path}: [cost] pue = "high": not a number.\n'
    assert not db.exists()


@pytest.mark.parametrize(
    ("named", "sentence"),
    [
        ("confg.toml", "$FLEETUI_CONFIG names {path}, which does not exist; unset it to use"),
        (".", "Cannot read the config file {path}: Is a directory."),
    ],
)
def test_a_config_path_that_names_no_file_is_one_sentence(tmp_path, monkeypatch, named, sentence):
    """A mistyped $FLEETUI_CONFIG ran every command on the defaults without a word."""
    path = tmp_path / named
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    db = tmp_path / "fleet.db"
    result = CliRunner().invoke(app, ["--db", str(db), "cards"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"fleetui: {sentence.format(path=path)}")
    assert result.stderr.count("\n") == 1 and not db.exists()


@pytest.mark.parametrize(
    ("keys", "sentence"),
    [
        ('"inventory.filtre" = "f"', '[keymap] "inventory.filtre" is not a key binding id'),
        ('"inventory.filter" = "ctrl+"', '[keymap] "inventory.filter" = "ctrl+": "ctrl+" is not'),
        ('"app.quit" = "q,florp"', '[keymap] "app.quit" = "q,florp": "florp" is not a key'),
        ('"app.quit" = ""', '[keymap] "app.quit" = "": "" is not a key'),
    ],
)
def test_a_bad_keymap_stops_the_tui_at_start_naming_the_id(tmp_path, monkeypatch, keys, sentence):
    path = tmp_path / "config.toml"
    path.write_text(f"[keymap]\n{keys}\n")
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    db = tmp_path / "fleet.db"
    result = CliRunner().invoke(app, ["--db", str(db)])  # no command: the TUI
    assert result.exit_code == 1
    assert result.stderr.startswith(f"fleetui: {path}: {sentence}")
    assert result.stderr.count("\n") == 1 and not db.exists()


def test_a_good_keymap_passes_the_check_at_start_in_a_fresh_process(tmp_path):
    """`fleetui` checks [keymap] before it loads the app: the check itself loads every screen
    and the app, else each id of a screen not yet open (or of the app) reads as unknown."""
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\n"app.quit" = "Q"\n"dashboard.sick" = "K"\n"history.undo" = "U"\n')
    db = tmp_path / "fleet.db"
    result = subprocess.run(
        [sys.executable, "-c", "from fleetui.cli import main; main()", "--db", str(db)],
        capture_output=True,
        text=True,
        env={**os.environ, "FLEETUI_CONFIG": str(path)},
    )
    assert result.returncode == 1  # past the keymap: no database there
    assert result.stderr.startswith(f"fleetui: There is no database at {db} yet")


@pytest.mark.parametrize("key", ["f", "F", "/", "slash", "ctrl+f", "f2", "escape", "space", "?"])
def test_keys_textual_binds_are_valid(key):
    assert keymap.valid_key(key)


def test_readme_lists_every_binding_id():
    """README's [keymap] list is the code's: every id a user may remap, with its default key."""
    assert FleetApp  # loads every screen, so every binding
    bindings = keymap.bindings()
    assert len(bindings) > 20
    listed = dict(
        re.findall(r"^\| `([a-z_]+\.[a-z_0-9]+)` \| `([^`]+)` \|", README.read_text(), re.M)
    )
    assert listed == {binding_id: b.key for binding_id, b in bindings.items()}
