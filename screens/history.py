"""History: the audit log's batches, newest first, one line each (it fits 80 columns); the
highlighted batch in full below (who, why, what); `u` undoes it. Undone batches are struck
through and marked, and so is the batch that undid them."""

from __future__ import annotations

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from fleetui.allocation import history
from fleetui.allocation.undo import UndoResult, undo
from fleetui.core import units
from fleetui.presentation import batch_lines
from fleetui.screens.dialogs import Confirm
from fleetui.screens.footer import FleetFooter
from fleetui.screens.keep import same_row
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainStatic, PlainTable
from fleetui.screens.work import run_service

FIXED_COLUMNS = 16 + 17 + 6 + 14 + 2 * 5 + 2  # When, Action, Cards, Undo, cell padding, scrollbar


def cells(b: history.Batch, room: int) -> list[Text]:
    """A batch as one table row, its summary cut to `room`; an undone batch struck through."""
    style = "strike dim" if b.undone_by else ""
    mark = b.mark().partition(" by ")[0]  # 'undone', 'redone', 'undid 1a2b3c4d': by whom below
    summary = b.summary if len(b.summary) <= room else b.summary[: room - 1] + "…"
    return [
        Text(f"{b.at:%Y-%m-%d %H:%M}", style=style),
        Text(b.action, style=style),
        Text(f"{b.cards:,}", style=style, justify="right"),
        Text(mark, style="bold" if mark else ""),
        Text(summary, style=style, no_wrap=True),
    ]


class HistoryScreen(Screen):
    DEFAULT_CSS = """
    #batches { height: 1fr; }
    #batch-detail { height: auto; max-height: 8; padding: 0 1; border-top: solid $primary; }
    #history-status { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("u", "undo", "Undo batch", id="history.undo"),
        Binding("r", "refresh", "Refresh", id="history.refresh"),
    ]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.found: dict[str, history.Batch] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="batches", cursor_type="row", zebra_stripes=True)
        yield PlainStatic("", id="batch-detail")
        yield PlainStatic("", id="history-status")
        yield FleetFooter()

    def on_mount(self) -> None:
        table = self.query_one("#batches", DataTable)
        table.add_columns("When", "Action")
        table.add_column(Text("Cards", justify="right"))
        table.add_columns("Undo", "Summary")
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        run_service(
            self,
            history.batches,
            self.engine,
            on_done=self.show,
            group="history",
            exclusive=True,
            stamps=self.engine,
        )

    def show(self, found: list[history.Batch]) -> None:
        self.found = {b.batch_id: b for b in found}
        table = self.query_one("#batches", DataTable)
        room = max(12, self.size.width - FIXED_COLUMNS)
        with same_row(table):
            table.clear()
            for b in found:
                table.add_row(*cells(b, room), key=b.batch_id)
        self.query_one("#history-status", Static).update(
            f"{units.counted(len(found), 'batch')}, newest first"
        )

    def on_resize(self) -> None:
        if self.found:
            self.show(list(self.found.values()))

    @on(DataTable.RowHighlighted, "#batches")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        batch = self.found.get(str(event.row_key.value))
        detail = self.query_one("#batch-detail", Static)
        detail.update("\n".join(batch_lines(batch)) if batch else "")

    def action_undo(self) -> None:
        table = self.query_one("#batches", DataTable)
        if not table.row_count:
            return
        batch = self.found[str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)]

        def answered(yes: bool | None) -> None:
            if yes:
                run_service(  # its own group: a refresh must not cancel an undo
                    self,
                    undo,
                    self.engine,
                    batch.batch_id,
                    on_done=self.undone,
                    group="undo",
                    writes=True,
                )

        if batch.undone_by or batch.redone_by:  # refused, naming what to undo instead: ask not
            answered(True)
            return
        question = (
            f"Undo batch {batch.batch_id[:8]} ({batch.action}, "
            f"{units.counted(batch.cards, 'card')}, by {batch.actor})?"
        )
        self.app.push_screen(Confirm(question, yes="Undo"), answered)

    def undone(self, result: UndoResult) -> None:
        self.notify(result.summary())
