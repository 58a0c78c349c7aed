"""Dashboard: cards by status, compute and share per team, cards and compute per model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.vocabulary import HELD, UNASSIGNED, Status
from fleetui.inventory.query import quote
from fleetui.inventory.summary import Summary, fleet_summary
from fleetui.screens.first_read import FirstRead, alerts, sick_count
from fleetui.screens.footer import FleetFooter
from fleetui.screens.keep import same_row
from fleetui.screens.messages import FleetChanged, ShowInventory, TelemetryPolled
from fleetui.screens.plain import PlainStatic, PlainTable
from fleetui.screens.work import run_service

STATUS_LABELS = {  # every status, in CARD_STATUSES's order
    Status.IN_SERVICE: "In service",
    Status.SPARE: "Spare",
    Status.REPAIR: "In repair",
    Status.RETIRED: "Retired",
    Status.ON_ORDER: "On order",
}

# The per-model table's column for each status, short enough that its row fits 80 columns.
MODEL_HEADINGS = STATUS_LABELS | {
    Status.IN_SERVICE: "Service",
    Status.REPAIR: "Repair",
    Status.ON_ORDER: "Ordered",
}

EMPTY = (
    "No cards yet. Import a CSV or spreadsheet: press I here, or run `fleetui import FILE`. "
    "Or look around a demo fleet first: `fleetui demo`."
)


class DashboardScreen(Screen):
    CSS_PATH = "dashboard.tcss"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="dashboard.refresh"),
        Binding("w", "jump('warranty:30d')", "≤30d warranty", id="dashboard.warranty30"),
        Binding("W", "jump('warranty:90d')", "≤90d", id="dashboard.warranty90"),
        Binding("e", "jump('eol:past')", "Past EOL", id="dashboard.eol"),
        Binding("x", "jump('status:repair')", "In repair", id="dashboard.repair"),
        Binding("k", "app.show('health')", "Sick", id="dashboard.sick"),
    ]

    EXTRA_KEYS = [("enter", "On a team or model: its cards in the inventory")]

    def __init__(
        self,
        engine: Engine,
        today: Callable[[], date] = date.today,
        *,
        settings: Config,
        first_read: FirstRead | None = None,
    ) -> None:
        super().__init__()
        self.first_read = first_read
        self.engine = engine
        self.settings = settings
        self.today = today
        self.alerts: dict[str, int | None] | None = None  # as last shown
        self.sick_stale = False  # a poll came while the alerts were first read

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dashboard"):
            yield PlainStatic("Loading the fleet…", id="totals")
            with Horizontal(id="statuses"):
                for status, label in STATUS_LABELS.items():
                    yield PlainStatic(label, id=f"status-{status}", classes="status")
            yield PlainStatic("Checking warranties and service life…", id="alerts")
            yield PlainTable(id="teams", cursor_type="row", zebra_stripes=True)
            yield PlainTable(id="models", cursor_type="row", zebra_stripes=True)
        yield FleetFooter()

    def on_mount(self) -> None:
        teams = self.query_one("#teams", DataTable)
        teams.border_title = "Compute per team (enter: its cards)"
        teams.add_column("Team")
        for heading in ("Cards", "PFLOPS", "Share"):
            teams.add_column(Text(heading, justify="right"))
        models = self.query_one("#models", DataTable)
        models.border_title = "Per model"
        models.add_column("Model")
        for heading in ("Cards", *MODEL_HEADINGS.values(), "PFLOPS"):  # statuses add up to Cards
            models.add_column(Text(heading, justify="right"))
        self.action_refresh()

    def action_refresh(self) -> None:
        """The totals and the alerts, read at once: each is a few SQLite scans that release
        Python's lock, so on two cores the alerts are up when the totals are, not after them."""
        first, self.first_read = self.first_read, None  # a head start serves one read only
        summary, counts = first or (
            partial(fleet_summary, self.engine),
            partial(alerts, self.engine, self.today(), self.settings),
        )
        run_service(
            self, summary, on_done=self.show, group="dashboard", stamps=self.engine, exclusive=True
        )
        run_service(
            self,
            counts,
            on_done=self.show_alerts,
            on_error=self.query_one("#alerts", Static).update,
            group="alerts",
            exclusive=True,
        )

    def on_telemetry_polled(self, _message: TelemetryPolled) -> None:
        """A poll changes the sick count only: the other alerts, fleet-wide scans, stay."""
        if self.alerts is None:  # the full read under way may have counted before the poll
            self.sick_stale = True
            return
        run_service(
            self,
            self.sick,
            on_done=lambda sick: self.show_alerts((self.alerts or {}) | sick),
            on_error=self.query_one("#alerts", Static).update,
            group="sick",  # never cancels a full read under way
            exclusive=True,
        )

    def sick(self) -> dict[str, int | None]:
        return sick_count(self.engine, self.today(), self.settings)

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.action_refresh()

    def show_alerts(self, counts: dict[str, int | None]) -> None:
        self.alerts = counts
        if self.sick_stale:
            self.sick_stale = False
            self.post_message(TelemetryPolled())
        parts = [
            ("w", "warranty ends within 30 days", counts["expiring_30d"]),
            ("W", "within 90 days", counts["expiring_90d"]),
            ("e", "in service past end of life", counts["past_eol_in_service"]),
            ("x", "in repair", counts["in_repair"]),
            ("k", "sick", counts["sick"]),
        ]
        text = Text("   ").join(
            Text.assemble((units.count(n), "bold"), f" {label} ", (f"({key})", "dim"))
            if n
            else Text(f"0 {label}" if n == 0 else f"{label}: no telemetry yet")
            for key, label, n in parts
        )
        self.query_one("#alerts", Static).update(text)

    def action_jump(self, query: str) -> None:
        self.post_message(ShowInventory(query))

    def show(self, summary: Summary) -> None:
        """Every figure, zeros included: an empty fleet (or one just emptied) shows 0s and how
        to start, never the figures of an earlier read."""
        self.query_one("#totals", Static).update(
            Text.assemble(
                (units.count(summary.total_cards), "bold"),
                " cards · ",
                (units.compute(summary.total_tflops), "bold"),
                " usable (in service + spare, dense FP16/BF16)",
            )
            if summary.total_cards
            else EMPTY
        )
        for status, label in STATUS_LABELS.items():
            n = summary.by_status.get(status, 0)
            self.query_one(f"#status-{status}", Static).update(
                Text.assemble(f"{label}\n", (units.count(n), "bold"))
            )
        teams = self.query_one("#teams", DataTable)
        with same_row(teams):
            teams.clear()
            for line in summary.teams:
                teams.add_row(
                    line.name,
                    *_right(
                        units.count(line.cards),
                        f"{units.pflops(line.tflops):,.1f}",
                        units.share(line.tflops, summary.total_tflops),
                    ),
                    key=line.name,
                )
        # Teams hold cards in service, spare or in repair: say what the column leaves out.
        other = summary.by_status[Status.RETIRED] + summary.by_status[Status.ON_ORDER]
        teams.border_subtitle = f"+ {units.count(other)} retired or on order" if other else ""
        models = self.query_one("#models", DataTable)
        with same_row(models):
            models.clear()
            for line in summary.models:
                s = line.by_status
                models.add_row(
                    line.name,
                    *_right(
                        units.count(line.cards),
                        *(units.count(s.get(k, 0)) for k in MODEL_HEADINGS),
                        f"{units.pflops(line.tflops):,.1f}",
                    ),
                    key=line.name,
                )

    @on(DataTable.RowSelected, "#teams")
    def open_team(self, event: DataTable.RowSelected) -> None:
        """The cards the row counts: those the team (or no team) holds."""
        team = str(event.row_key.value)
        named = "team:none" if team == UNASSIGNED else f"team={quote(team)}"
        self.post_message(ShowInventory(f"{named} status:{','.join(HELD)}"))

    @on(DataTable.RowSelected, "#models")
    def open_model(self, event: DataTable.RowSelected) -> None:
        """Every card of the model, as its row counts them (a catalogue name is one model)."""
        self.post_message(ShowInventory(f"model:{quote(str(event.row_key.value))}"))


def _right(*cells: str) -> list[Text]:
    return [Text(cell, justify="right") for cell in cells]
