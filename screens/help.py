"""`?`: the keys of the screen you were on and the app's own, and the whole filter syntax."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from fleetui.inventory import query
from fleetui.screens.plain import PlainStatic, plain


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 96%; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(title="Keys", expand=True, show_edge=False)
        table.add_column("key", style="bold")
        table.add_column("does")
        for key, description in self.keys:
            table.add_row(plain(key), plain(description))
        syntax = Table(
            title="Filter syntax (/ in the inventory; all terms must match)", expand=True
        )
        syntax.add_column("term", style="bold")
        syntax.add_column("matches")
        for term, matches in query.SYNTAX:
            syntax.add_row(plain(term.replace("`", "")), plain(matches.replace("`", "")))
        with VerticalScroll():
            yield PlainStatic(table)
            yield PlainStatic(syntax)
