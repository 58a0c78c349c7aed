"""The config's [keymap] table: binding id -> keys, checked before the TUI starts."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import REPLACED_KEYS, Keys, key_to_character

from fleetui.core.errors import UserError

MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
NAMED_KEYS = {key.value for key in Keys if "+" not in key.value}


def bindings() -> dict[str, Binding]:
    """Every binding with an id, by id: those of fleetui's screens and widgets (every module of
    fleetui.screens is imported first: the app imports most only when their screen opens) and of
    the app (where fleetui.app is loaded: the caller's part)."""
    import fleetui.screens

    for module in pkgutil.iter_modules(fleetui.screens.__path__):
        importlib.import_module(f"fleetui.screens.{module.name}")
    found: dict[str, Binding] = {}
    classes: list[type] = [DOMNode]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        if not cls.__module__.startswith("fleetui."):
            continue
        for binding in vars(cls).get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                found[binding.id] = binding
    return found


def check(keymap: Mapping[str, str], source: str) -> dict[str, str]:
    """The keymap, when every id names a binding and every key is one Textual knows; else a
    UserError naming the first id that does not. An empty keymap loads no screen."""
    known = bindings() if keymap else {}
    for binding_id, keys in keymap.items():
        if binding_id not in known:
            raise UserError(
                f'{source}: [keymap] "{binding_id}" is not a key binding id; README lists them.'
            )
        bad = next((k for k in keys.split(",") if not valid_key(k.strip())), None)
        if bad is not None:
            raise UserError(
                f'{source}: [keymap] "{binding_id}" = "{keys}": "{bad.strip()}" is not a key; '
                "write keys like f, F, slash, ctrl+f, f2 or escape."
            )
    return dict(keymap)


def valid_key(key: str) -> bool:
    """Whether Textual can bind `key`: one character, or a key name, after any modifiers."""
    *modifiers, base = key.split("+")
    if not base or not all(m in MODIFIERS for m in modifiers):
        return False
    if len(base) == 1 or base in NAMED_KEYS:
        return True
    return key_to_character(REPLACED_KEYS.get(base, base)) is not None  # slash, full_stop, ...
