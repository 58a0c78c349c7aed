"""One card: every field and its audit history. `esc` goes back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from rich.table import Table
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.inventory.cards import CardDetail, detail
from fleetui.screens.plain import PlainStatic, plain


class CardDetailScreen(Screen):
    CSS_PATH = "card_detail.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="detail.back")]

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
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        try:
            card = detail(self.engine, self.serial, self.today(), settings=self.settings)
        except UserError as exc:
            self.app.call_from_thread(self.query_one("#fields", Static).update, str(exc))
            return
        self.app.call_from_thread(self.show, card)

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
                plain(_change(event["before"], event["after"])),
                plain(event["reason"]),
                event["batch_id"][:8],
            )
        if not card.events:
            history.caption = "No recorded changes yet."
        self.query_one("#history", Static).update(history)


def _change(before: dict | None, after: dict | None) -> str:
    before, after = before or {}, after or {}
    keys = sorted(set(before) | set(after))
    return "; ".join(f"{k}: {before.get(k, '')} → {after.get(k, '')}" for k in keys) or json.dumps(
        after
    )
