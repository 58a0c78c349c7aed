"""Telemetry: nodes and their staleness, the latest GPU readings (sick first), discrepancies with
the inventory; `f` fixes the highlighted discrepancy. A worker polls, then schedules the next
round only after this one finished, and skips rounds while a modal is open."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from sqlalchemy import Engine
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from fleetui.core.errors import UserError
from fleetui.screens.plain import PlainStatic, PlainTable
from fleetui.telemetry import poller, reconcile, view

INTERVAL_S = 10.0


class TelemetryScreen(Screen):
    DEFAULT_CSS = """
    TelemetryScreen DataTable { height: 1fr; border: round $primary; }
    #telemetry-status { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("f", "fix", "Fix", id="telemetry.fix"),
        Binding("r", "refresh", "Poll now", id="telemetry.refresh"),
    ]
    EXTRA_KEYS = [("f", "unknown: add it; moved: record where seen; missing: take off its node")]

    def __init__(self, engine: Engine, interval: float = INTERVAL_S) -> None:
        super().__init__()
        self.engine = engine
        self.interval = interval
        self.found: list[reconcile.Discrepancy] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="nodes", cursor_type="row")
        yield PlainTable(id="gpus", cursor_type="row", zebra_stripes=True)
        yield PlainTable(id="discrepancies", cursor_type="row")
        yield PlainStatic("", id="telemetry-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#nodes", DataTable).add_columns("Node", "Kind", "Last seen", "Failures")
        self.query_one("#gpus", DataTable).add_columns(
            "Node", "Bus", "Serial", "Util %", "Mem MiB", "°C", "W", "Health", "Age"
        )
        self.query_one("#discrepancies", DataTable).add_columns(
            "Kind", "Node", "Bus", "Serial", "Detail"
        )
        self.query_one("#nodes", DataTable).border_title = "Nodes"
        self.query_one("#gpus", DataTable).border_title = "GPUs (sick first)"
        self.query_one("#discrepancies", DataTable).border_title = "Telemetry vs inventory (f: fix)"
        self.round()

    def action_refresh(self) -> None:
        self.round()

    @work(thread=True, exclusive=True, group="telemetry")
    def round(self) -> None:
        """Poll (unless a modal is open), show, then schedule the next round."""
        message = ""
        registered = bool(poller.nodes(self.engine))
        if self.app.screen is self and registered:
            result = poller.poll_once(self.engine)
            message = (
                f"{result.answered:,} of {result.polled:,} nodes answered, "
                f"{result.gpus:,} GPUs"
                + (f"; {len(result.failed)} failed: {result.failed[0]}" if result.failed else "")
            )
        elif not registered:
            message = "No nodes registered: fleetui nodes add HOST --agent URL"
        state = view.load(self.engine), reconcile.discrepancies(self.engine)
        self.app.call_from_thread(self.show, *state, message)
        self.app.call_from_thread(self.set_timer, self.interval, self.round)

    def show(
        self, state: view.TelemetryView, found: list[reconcile.Discrepancy], message: str
    ) -> None:
        now = datetime.now(UTC)
        nodes = self.query_one("#nodes", DataTable)
        nodes.clear()
        for n in state.nodes:
            nodes.add_row(n.hostname, n.kind, view.age(n.last_seen, now), str(n.failures))
        gpus = self.query_one("#gpus", DataTable)
        gpus.clear()
        for g in state.gpus:
            gpus.add_row(
                g.node,
                g.pci_bus_id,
                g.serial or "-",
                view.num(g.util_gpu),
                view.num(g.memory_used_mib),
                view.num(g.temperature_c),
                view.num(g.power_w),
                g.health or "ok",
                view.age(g.seen_at, now),
            )
        self.found = found
        table = self.query_one("#discrepancies", DataTable)
        table.clear()
        for d in found:
            table.add_row(d.kind, d.node, d.pci_bus_id or "-", d.serial or "-", d.detail)
        if message:
            self.query_one("#telemetry-status", Static).update(Text(message))  # never markup

    def action_fix(self) -> None:
        table = self.query_one("#discrepancies", DataTable)
        if table.row_count:
            self.apply_fix(self.found[table.cursor_row])

    @work(thread=True, group="telemetry-fix")
    def apply_fix(self, found: reconcile.Discrepancy) -> None:
        try:
            done = reconcile.fix(self.engine, found)
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self.notify, done)
        state = view.load(self.engine), reconcile.discrepancies(self.engine)
        self.app.call_from_thread(self.show, *state, "")

    @on(DataTable.RowSelected, "#discrepancies")
    def selected(self) -> None:
        self.action_fix()
