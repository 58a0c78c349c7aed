"""Sick cards (from the dashboard's `k`): worst first, with NVIDIA's action, team, node, warranty
and supplier; `a` asks, naming the serial, then opens the highlighted card's RMA (an audited
repair, undone from History) and writes its packet in the working directory (on a GPU no card
matches it says so at once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from fleetui.config import Config
from fleetui.core import units
from fleetui.presentation import history_hint
from fleetui.screens.dialogs import Confirm
from fleetui.screens.footer import FleetFooter
from fleetui.screens.keep import same_row
from fleetui.screens.messages import FleetChanged, TelemetryPolled
from fleetui.screens.plain import PlainStatic, PlainTable
from fleetui.screens.work import run_service
from fleetui.telemetry import health, rma


class HealthScreen(Screen):
    DEFAULT_CSS = """
    HealthScreen DataTable { height: 1fr; border: round $primary; }
    #health-status { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("escape", "app.go_back", "Back", id="health.back"),
        Binding("a", "rma", "Open RMA", id="health.rma"),
        Binding("r", "refresh", "Refresh", id="health.refresh"),
    ]

    def __init__(
        self, engine: Engine, today: Callable[[], date] = date.today, *, settings: Config
    ) -> None:
        super().__init__()
        self.engine, self.today, self.settings = engine, today, settings
        self.unknown: set[str] = set()  # listed GPUs no card matches, by what they reported

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="sick", cursor_type="row", zebra_stripes=True)
        yield PlainStatic("Reading health evidence…", id="health-status")
        yield FleetFooter()

    def on_mount(self) -> None:
        table = self.query_one("#sick", DataTable)
        table.border_title = "Sick cards, worst first (a: open RMA)"
        table.add_columns("Serial", "Node", "Team", "Action", "Evidence", "Warranty", "Supplier")
        self.action_refresh()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.action_refresh()

    def on_telemetry_polled(self, _message: TelemetryPolled) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        run_service(
            self,
            lambda: health.sick_if_known(self.engine, self.settings, self.today()),
            on_done=self.show,
            group="health",
            exclusive=True,
        )

    def show(self, found: list[health.SickCard] | None) -> None:
        """The sick cards; None when no telemetry ever came (no health is known)."""
        cards = found or []
        self.unknown = {c.serial for c in cards if c.status is None}
        table = self.query_one("#sick", DataTable)
        with same_row(table):
            table.clear()
            for c in cards:
                table.add_row(
                    c.serial,
                    c.node,
                    c.team or "-",
                    health.ACTION_TEXT[c.action],
                    "; ".join(c.evidence),
                    c.warranty,
                    c.supplier or "-",
                    key=c.serial,
                )
        self.query_one("#health-status", Static).update(
            f"{units.counted(len(cards), 'card')} needing a hand"
            if cards
            else "No GPU reports anything."
            if found is not None
            else f"{health.NO_TELEMETRY}."
        )

    def action_rma(self) -> None:
        table = self.query_one("#sick", DataTable)
        if not table.row_count:
            return
        serial = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if serial in self.unknown:  # said at once, never asked first
            self.notify(
                f"No card has serial '{serial}': the GPU is not in the inventory (f on the "
                "Telemetry screen adds it), so no RMA can be opened.",
                severity="warning",
            )
            return

        def opened(result: tuple[rma.Packet, list]) -> None:
            packet, paths = result
            how = history_hint(packet.batch) if packet.batch else "in repair"
            self.notify(f"RMA for {serial} ({how}): {paths[0]}")

        def answered(yes: bool | None) -> None:
            if yes:
                run_service(
                    self,
                    rma.open_rma,
                    self.engine,
                    serial,
                    self.settings,
                    self.today(),
                    on_done=opened,
                    writes=True,
                )

        question = f"Open an RMA for {serial}: the card goes to repair and its packet is written?"
        self.app.push_screen(Confirm(question, yes="Open RMA"), answered)
