"""One card: every field and its audit history. `esc` goes back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

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
from fleetui.screens.edit_cards import EditModal
from fleetui.screens.footer import FleetFooter
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainStatic, plain
from fleetui.screens.work import run_service


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
                self.notify(f"Edited (batch {batch[:8]}; undo from History).")

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
        values["compute"] = f"{values.pop('fp16_tflops'):,.1f} TFLOPS dense FP16/BF16"
        for name, value in values.items():
            fields.add_row(name.replace("_", " "), plain(value))
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
