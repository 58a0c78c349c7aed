"""One card: every field and its audit history. `esc` goes back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from rich.table import Table
from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from fleetui.config import Config
from fleetui.core import units
from fleetui.inventory.cards import CardDetail, detail
from fleetui.presentation import history_hint
from fleetui.screens.edit_cards import EditModal
from fleetui.screens.footer import FleetFooter
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainStatic, plain
from fleetui.screens.work import run_service

FIGURES: dict[str, tuple[str, Callable[[float], str]]] = {  # fields named with their unit
    "memory_gb": ("memory", lambda v: f"{units.figure(v)} GB"),
    "service_life_years": ("service life", lambda v: units.counted(v, "year")),
    "remaining_life_years": ("remaining life", lambda v: units.counted(v, "year")),
    "tpp": ("TPP", units.figure),
}


def shown(name: str, value: object) -> tuple[str, object]:
    """A field's label and value as the rest of the app shows them: figures through units,
    times to the minute, text as it is."""
    label, figure = FIGURES.get(name, (name.replace("_", " "), units.figure))
    if isinstance(value, datetime):
        return label, f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return label, figure(value)
    return label, value


class CardDetailScreen(Screen):
    CSS_PATH = "card_detail.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="detail.back"),
        Binding("e", "edit", "Edit", id="detail.edit"),
    ]

    def __init__(
        self,
        engine: Engine,
        serial: str,
        today: Callable[[], date] = date.today,
        *,
        settings: Config,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.serial = serial
        self.today = today

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield PlainStatic(f"Card {self.serial}", id="fields")
            yield PlainStatic("", id="history")
        yield FleetFooter()

    def on_mount(self) -> None:
        self.load()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.load()

    def action_edit(self) -> None:
        def edited(batch: str | None) -> None:
            if batch:
                self.notify(f"Edited ({history_hint(batch)}).")

        self.app.push_screen(EditModal(self.engine, [self.serial], settings=self.settings), edited)

    def load(self) -> None:
        run_service(
            self,
            lambda: detail(self.engine, self.serial, self.today(), settings=self.settings),
            on_done=self.show,
            on_error=self.query_one("#fields", Static).update,
            exclusive=True,
        )

    def show(self, card: CardDetail) -> None:
        fields = Table(title=plain(f"Card {self.serial}"), show_header=False, expand=True)
        fields.add_column("field", style="bold")
        fields.add_column("value")
        values = dict(card.fields)
        values["price"] = units.money(values.pop("price_minor"), values.pop("currency"))
        tflops = values.pop("fp16_tflops")
        values["compute"] = f"{units.figure(tflops)} TFLOPS dense FP16/BF16"
        for name, value in values.items():
            label, text = shown(name, value)
            fields.add_row(label, plain(text))
        self.query_one("#fields", Static).update(fields)
        history = Table(title="History", expand=True)
        for column in ("when", "who", "action", "change", "reason", "batch"):
            history.add_column(column)
        for event in card.events:
            history.add_row(
                f"{event['at']:%Y-%m-%d %H:%M}",
                plain(event["actor"]),
                event["action"],
                plain("; ".join(event["changes"])),
                plain(event["reason"]),
                event["batch_id"][:8]
                + (f" (undone by {event['undone_by'][:8]})" if event["undone_by"] else ""),
            )
        if not card.events:
            history.caption = "No recorded changes yet."
        self.query_one("#history", Static).update(history)
