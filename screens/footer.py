"""The footer every screen shows: its keys, with `? Help` pinned to the right end, so a narrow
terminal cuts screen keys, never the key that lists them all."""

from __future__ import annotations

from typing import Any, cast

from textual.app import ComposeResult
from textual.screen import Screen
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
