"""Lifecycle: warranty expiries per month, the retirement cliff per quarter, compute per team,
irreplaceable compute and book value, as bars that read at 80x24."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from fleetui.config import Config
from fleetui.lifecycle import rules as lifecycle
from fleetui.screens.footer import FleetFooter
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainStatic, plain
from fleetui.screens.work import run_service

BAR_WIDTH = 40


class Bars:
    """A horizontal bar chart: (label, value, value as text) per row, the longest bar BAR_WIDTH
    cells or what the screen leaves beside the labels and figures (Rich, left to fit a table,
    cut every column, figures included: the widest figure lost its share first).

    Rows are shown as given (months, quarters), or with largest_first the longest bar first,
    ties by label, and the title says so.
    """

    def __init__(
        self, title: str, rows: list[tuple[str, float, str]], style: str, *, largest_first=False
    ) -> None:
        if largest_first:
            rows = sorted(rows, key=lambda r: (-r[1], r[0]))
            title += ", largest first"
        self.title, self.rows, self.style = title, rows, style

    def table(self, bar_width: int = BAR_WIDTH) -> Table:
        table = Table(
            title=self.title,
            title_justify="left",
            show_header=False,
            box=None,
            expand=False,
            padding=(0, 1),
        )
        table.add_column("label", no_wrap=True)
        table.add_column("bar", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        top = max((v for _, v, _ in self.rows), default=0) or 1
        for label, value, text in self.rows:
            cells = value / top * bar_width
            bar = "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")
            table.add_row(plain(label), Text(bar or "·", style=self.style), text)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        beside = max((cell_len(label) for label, _, _ in self.rows), default=0)
        beside += max((cell_len(text) for _, _, text in self.rows), default=0) + 6  # + padding
        yield self.table(max(1, min(BAR_WIDTH, options.max_width - beside)))


class LifecycleScreen(Screen):
    DEFAULT_CSS = """
    #charts { padding: 0 1; }
    #charts Static { margin-bottom: 1; }
    """
    BINDINGS = [Binding("r", "refresh", "Refresh", id="lifecycle.refresh")]

    def __init__(
        self, engine: Engine, today: Callable[[], date] = date.today, *, settings: Config
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.today = today

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="charts"):
            yield PlainStatic("Reading warranties and service lives…", id="warranty")
            yield PlainStatic("", id="cliff")
            yield PlainStatic("", id="teams")
        yield FleetFooter()

    def on_mount(self) -> None:
        self.action_refresh()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        run_service(
            self,
            lambda: lifecycle.snapshot(self.engine, self.settings, self.today()),
            on_done=self.show,
            on_error=self.query_one("#warranty", Static).update,
            group="lifecycle",
            exclusive=True,
            stamps=self.engine,
        )

    def show(self, snap: lifecycle.Snapshot) -> None:
        months = lifecycle.expiries_per_month(snap)
        self.query_one("#warranty", Static).update(
            Bars(
                "Warranties ending per month (held cards)",
                [(r.label, r.cards, f"{r.cards:,}") for r in months],
                "yellow",
            )
        )
        cliff = lifecycle.retirement_cliff(snap)
        self.query_one("#cliff", Static).update(
            Bars(
                "End of service life per quarter (PFLOPS, cards)",
                [(r.label, r.pflops, f"{r.pflops:,.1f} · {r.cards:,}") for r in cliff],
                "red",
            )
        )
        stuck = lifecycle.irreplaceable_share(snap)
        book = {r.label: r.extra for r in lifecycle.book_values(snap)}
        compute = Bars(
            "Compute per team (PFLOPS; share no longer buyable)",
            [(r.label, r.pflops, f"{r.pflops:,.1f} · {r.extra['share']:.0%}") for r in stuck],
            "green",
            largest_first=True,
        )
        value = Table(title="Book value per team", title_justify="left", box=None)
        for column in ("Team", "Purchase", "Book value", ""):
            value.add_column(column, justify="right" if column != "Team" else "left")
        for team, extra in book.items():
            value.add_row(
                plain(team),
                f"{extra['purchase']:,.0f}",
                f"{extra['book_value']:,.0f}",
                plain(extra["currency"]),
            )
        self.query_one("#teams", Static).update(Group(compute, Text(""), value))
