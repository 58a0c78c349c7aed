"""The config's [keymap] table: binding id -> keys, checked before the TUI starts."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import REPLACED_KEYS, Keys, _character_to_key, key_to_character
from textual.screen import Screen

from fleetui.core.errors import UserError

MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
NAMED_KEYS = {key.value for key in Keys if "+" not in key.value}


def classes() -> list[type[DOMNode]]:
    """fleetui's screens and widgets, every module of fleetui.screens imported first (the app
    imports most only when their screen opens), and the app where fleetui.app is loaded."""
    import fleetui.screens

    for module in pkgutil.iter_modules(fleetui.screens.__path__):
        importlib.import_module(f"fleetui.screens.{module.name}")
    found: list[type[DOMNode]] = []
    pending: list[type[DOMNode]] = [DOMNode]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("fleetui."):
            found.append(cls)
    return found


def bindings() -> dict[str, Binding]:
    """Every binding with an id, by id."""
    return {
        binding.id: binding
        for cls in classes()
        for binding in vars(cls).get("BINDINGS", [])
        if isinstance(binding, Binding) and binding.id
    }


def check(keymap: Mapping[str, str], source: str, app: type[App]) -> dict[str, str]:
    """The keymap, when every id names a binding, every key is one Textual knows and no key is
    taken from another binding live at the same time (on one screen, or the `app`'s); else a
    UserError naming the first that does not. An empty keymap loads no screen."""
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
    if keymap:
        _check_clashes(keymap, source, app)
    return dict(keymap)


def _keys(keys: str) -> set[str]:
    """Keys as Textual tells them apart: `/` is `slash` (its own, private, spelling)."""
    return {_character_to_key(k) if len(k) == 1 else k for k in map(str.strip, keys.split(","))}


def _live(cls: type[DOMNode]) -> list[Binding]:
    """The bindings of `cls` and of its bases, Textual's included (ids or not)."""
    return [
        binding
        for base in cls.__mro__
        for binding in Binding.make_bindings(vars(base).get("BINDINGS", []))
    ]


def _check_clashes(keymap: Mapping[str, str], source: str, app: type[App]) -> None:
    """A remapped binding may not take a key another live one still has: one of the two would
    have none. Keys two bindings shared before any remap (a screen's escape over the app's) are
    as designed."""
    palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
    everywhere = [*_live(app), palette]
    # in the file's order, screens by name: the same file names the same clash, whichever
    # screens' modules were loaded before
    screens = sorted((c for c in classes() if issubclass(c, Screen)), key=lambda c: c.__name__)
    for binding_id in keymap:
        for cls in screens:
            live = _live(cls) + everywhere
            binding = next((b for b in live if b.id == binding_id), None)
            if binding is None:
                continue
            for other in (b for b in live if b.id != binding_id):
                theirs = _keys(keymap.get(other.id or "", other.key))
                theirs -= _keys(binding.key) & _keys(other.key)
                taken = [k.strip() for k in keymap[binding_id].split(",") if _keys(k) & theirs]
                if not taken:
                    continue
                what = other.description or other.action
                where = "" if other in everywhere else f" on the {_screen(cls)} screen"
                name, advice = (
                    (f'"{other.id}" ({what})', "give one of them another key")
                    if other.id
                    else (f"{what} (a fixed key)", f'give "{binding_id}" another key')
                )
                raise UserError(
                    f'{source}: [keymap] "{binding_id}" = "{keymap[binding_id]}": '
                    f'"{taken[0]}" is also the key of {name}{where}; {advice}.'
                )


def _screen(cls: type) -> str:
    return cls.__name__.removesuffix("Screen")


def valid_key(key: str) -> bool:
    """Whether Textual can bind `key`: one character, or a key name, after any modifiers."""
    *modifiers, base = key.split("+")
    if not base or not all(m in MODIFIERS for m in modifiers):
        return False
    if len(base) == 1 or base in NAMED_KEYS:
        return True
    return key_to_character(REPLACED_KEYS.get(base, base)) is not None  # slash, full_stop, ...
