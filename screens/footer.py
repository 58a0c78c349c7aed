"""The footer every screen shows: its keys, with `? Help` pinned to the right end, so a narrow
terminal cuts screen keys, never the key that lists them all."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

HELP_ACTION = "help"


class FleetFooter(Footer):
    DEFAULT_CSS = """
    FleetFooter FooterKey.-pinned { dock: right; padding-right: 1; }
    """

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)  # ctrl+p is listed under `?`

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if getattr(widget, "action", None) == HELP_ACTION:  # the FooterKey of `?`
                widget.add_class("-pinned")
            yield widget
