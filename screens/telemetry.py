"""Telemetry: metrics stores and nodes with their staleness (a stale store says why), the latest
GPU readings (sick first), discrepancies with the inventory; `f` fixes the highlighted
discrepancy. A worker polls, then schedules the next round only after this one finished, and
skips rounds while a modal is open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Static

from fleetui.core import units
from fleetui.presentation import history_hint
from fleetui.screens.dialogs import Confirm
from fleetui.screens.fit import fill
from fleetui.screens.footer import FleetFooter
from fleetui.screens.messages import FleetChanged, TelemetryPolled
from fleetui.screens.plain import PlainStatic, PlainTable
from fleetui.screens.work import run_service
from fleetui.telemetry import health, reconcile, view

INTERVAL_S = 10.0
NODE_HEADINGS = ("Node", "Kind", "Last seen", "Failures", "Problem")
GPU_HEADINGS = ("Node", "Bus", "Serial", "Util %", "Mem MiB", "°C", "W", "Health", "Age")
FOUND_HEADINGS = ("Kind", "Node", "Bus", "Serial", "Detail")
FOUND_TITLE = "Telemetry vs inventory"
FIXES = {  # what `f` writes, per kind of discrepancy (reconcile.fix)
    "unknown": "add it as a card in service on that node",
    "moved": "record the card where telemetry saw it",
    "missing": "take the card off its node, with a note",
}


class TelemetryScreen(Screen):
    DEFAULT_CSS = """
    TelemetryScreen DataTable { height: 1fr; border: round $primary; }
    #telemetry-status { height: auto; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("f", "fix", "Fix", id="telemetry.fix"),
        Binding("r", "refresh", "Poll now", id="telemetry.refresh"),
    ]
    EXTRA_KEYS = [("f", "unknown: add it; moved: record where seen; missing: take off its node")]

    def __init__(
        self,
        engine: Engine,
        interval: float = INTERVAL_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.engine = engine
        self.interval = interval
        self.clock = clock  # the poll's "now" and the ages shown: one clock, so they agree
        self.found: list[reconcile.Discrepancy] = []
        self.state = view.TelemetryView([], [])
        self.shown_at = clock()
        self.next_round: Timer | None = None
        self.read_after: datetime | None = None  # the last poll round before the last read

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="nodes", cursor_type="row")
        yield PlainTable(id="gpus", cursor_type="row", zebra_stripes=True)
        yield PlainTable(id="discrepancies", cursor_type="row")
        yield PlainStatic("", id="telemetry-status")
        yield FleetFooter()

    def on_mount(self) -> None:
        self.lay_out()
        self.query_one("#nodes", DataTable).border_title = "Stores and nodes"
        self.query_one("#gpus", DataTable).border_title = "GPUs (sick first)"
        self.query_one("#discrepancies", DataTable).border_title = FOUND_TITLE
        self.round()

    def action_refresh(self) -> None:
        self.round(back_off=False)  # asked for: every node and store, those backing off too

    @on(TelemetryPolled)
    def after_poll(self, message: TelemetryPolled) -> None:
        """A round this screen has not shown yet (one it ran itself it has read after)."""
        if message.polled is None or message.polled != self.read_after:
            self.reread()

    @on(FleetChanged)
    def reread(self) -> None:
        run_service(
            self,
            self.read,
            on_done=lambda state: self.show(*state, ""),
            group="telemetry-view",
            exclusive=True,
        )

    def round(self, back_off: bool = True) -> None:
        """Poll (unless a modal is open), show, then schedule the next round: one at a time."""
        if self.next_round is not None:
            self.next_round.stop()
        run_service(
            self,
            lambda: self.poll(back_off),
            on_done=lambda state: self.show(*state),
            on_error=self.show_status,
            on_end=self.schedule_round,
            group="telemetry",
            exclusive=True,
        )

    def poll(
        self, back_off: bool
    ) -> tuple[view.TelemetryView, list[reconcile.Discrepancy], str, str]:
        # Imported on the first poll, not with the app: the HTTP client and NVML's bindings
        # took a third of the TUI's start-up, and most sessions never open this screen.
        from fleetui.telemetry import poller

        message = ""
        if self.app.screen is not self:  # under a dialog: show what is stored, poll later
            return *self.read(), message
        try:  # as `fleetui poll`: with nothing registered, this host's own GPUs through NVML
            result = (
                poller.poll_once(self.engine, now=self.clock(), back_off=back_off)
                if poller.registered(self.engine)
                else poller.poll_local(self.engine, now=self.clock())
            )
        except poller.NoLocalGpus:
            message = (
                "No nodes registered: fleetui nodes add HOST --agent URL, "
                "or fleetui sources add NAME --prometheus URL"
            )
        else:
            message = result.summary() + (
                f"; {len(result.failed)} failed: {result.failed[0]}" if result.failed else ""
            )
        return *self.read(), message

    def schedule_round(self) -> None:
        self.next_round = self.set_timer(self.interval, self.round)

    def read(self) -> tuple[view.TelemetryView, list[reconcile.Discrepancy], str]:
        """What telemetry shows, its discrepancies with the inventory, and their heading: an
        empty list must not read as all agreeing when nothing, or not everything, was compared
        (as `fleetui reconcile` says under its list)."""
        self.read_after = health.last_round(self.engine)
        state = view.load(self.engine)
        try:
            reconcile.require_fresh(self.engine)
        except reconcile.NothingCompared:
            why = "nothing compared, no node or store answered its last poll"
            return state, [], f"{FOUND_TITLE}: {why}"
        found, stale = reconcile.discrepancies(self.engine), reconcile.not_compared(self.engine)
        heading = f"{FOUND_TITLE} (f: fix)" if found else f"{FOUND_TITLE}: all agree"
        if stale:
            heading += f"; {units.counted(stale, 'node')} not compared"
        return state, found, heading

    def show(
        self,
        state: view.TelemetryView,
        found: list[reconcile.Discrepancy],
        heading: str,
        message: str,
    ) -> None:
        self.state, self.found, self.shown_at = state, found, self.clock()
        self.query_one("#discrepancies", DataTable).border_title = heading
        self.lay_out()
        if message:
            self.show_status(message)

    def on_resize(self) -> None:
        self.lay_out()

    def lay_out(self) -> None:
        """The tables, every value readable at the screen's width (see fit.fill)."""
        now = self.shown_at
        nodes = [
            [n.hostname, n.kind, view.age(n.last_seen, now), str(n.failures), n.problem]
            for n in self.state.nodes
        ]
        fill(self.query_one("#nodes", PlainTable), NODE_HEADINGS, nodes, wrap=4, key=2)
        gpus = [
            [
                g.node,
                g.pci_bus_id,
                g.serial or "-",
                view.num(g.util_gpu),
                view.num(g.memory_used_mib),
                view.num(g.temperature_c),
                view.num(g.power_w),
                g.health or "ok",
                view.age(g.seen_at, now),
            ]
            for g in self.state.gpus
        ]
        fill(self.query_one("#gpus", PlainTable), GPU_HEADINGS, gpus, wrap=7, stack=3, key=2)
        found = [
            [d.kind, d.node, d.pci_bus_id or "-", d.serial or "-", d.detail] for d in self.found
        ]
        fill(self.query_one("#discrepancies", PlainTable), FOUND_HEADINGS, found, wrap=4, key=4)

    def show_status(self, message: str) -> None:
        self.query_one("#telemetry-status", Static).update(Text(message))  # never markup

    def action_fix(self) -> None:
        """Ask, naming what the fix writes, then fix the highlighted discrepancy."""
        table = self.query_one("#discrepancies", DataTable)
        if not table.row_count:
            return
        found = self.found[table.cursor_row]
        what = FIXES.get(found.kind)

        def answered(yes: bool | None) -> None:
            if yes:
                run_service(
                    self,
                    reconcile.fix,
                    self.engine,
                    found,
                    on_done=lambda fixed: self.notify(
                        f"{fixed.said} ({history_hint(fixed.batch)})."
                    ),
                    on_error=lambda problem: self.notify(problem, severity="warning"),
                    group="telemetry-fix",
                    writes=True,
                )

        if what is None:  # a model mismatch: the service writes nothing and says why
            answered(True)
            return
        card = found.serial or found.uuid or found.pci_bus_id or "?"
        self.app.push_screen(
            Confirm(f"{found.kind} {card} on {found.node}: {what}?", yes="Fix"), answered
        )

    @on(DataTable.RowSelected, "#discrepancies")
    def selected(self) -> None:
        self.action_fix()
