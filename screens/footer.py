"""The footer every screen shows: its keys, with `? Help` pinned to the right end, so a narrow
terminal cuts screen keys, never the key that lists them all."""

from __future__ import annotations

from typing import Any, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

HELP_ACTION = "help"


class FleetFooter(Footer):
    DEFAULT_CSS = """
    FleetFooter FooterKey.-pinned { dock: right; padding-right: 1; }
    """

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)  # ctrl+p is listed under `?`
        self._shown: tuple | None = None  # what the keys composed last show

    def compose(self) -> ComposeResult:
        self._shown = self._showing() if self._bindings_ready else None
        for widget in super().compose():
            if hasattr(widget, "action"):  # a FooterKey (not public): made in the footer's style
                widget.set_reactive(cast(Any, type(widget)).compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)
            if getattr(widget, "action", None) == HELP_ACTION:  # the FooterKey of `?`
                widget.set_class(True, "-pinned", update=False)
            yield widget
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Show only the keys that fit whole left of the pinned ones: a key cut at the edge
        showed a bare `g` with no word for what it does (the rest are listed under `?`)."""
        keys = [w for w in self.children if hasattr(w, "action")]
        pinned = sum(self._width(k) for k in keys if k.has_class("-pinned"))
        room, used = self.size.width - pinned, 0
        for key in keys:
            if not key.has_class("-pinned"):
                used += self._width(key)
                key.display = used <= room

    def _width(self, key: Widget) -> int:
        """A key's width whether shown or not (a hidden widget has no size)."""
        return key.get_content_width(self.size, self.app.size) + key.styles.gutter.width

    def bindings_changed(self, screen: Screen) -> None:
        """Rebuild the keys only when what they show changed: Textual signals on every change of
        focus (five times before the dashboard is complete), and each rebuild restyles them all."""
        if self._shown is None or self._showing() != self._shown:
            super().bindings_changed(screen)

    def _showing(self) -> tuple:
        return tuple(
            (binding.key, binding.description, binding.action, binding.group, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )
