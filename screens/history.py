"""History: the audit log's batches, newest first; `u` undoes the highlighted batch."""

from __future__ import annotations

from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from fleetui.allocation import history
from fleetui.allocation.undo import UndoResult, undo
from fleetui.core import units
from fleetui.screens.dialogs import Confirm
from fleetui.screens.footer import FleetFooter
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainStatic, PlainTable
from fleetui.screens.work import run_service


class HistoryScreen(Screen):
    DEFAULT_CSS = """
    #batches { height: 1fr; }
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
        yield PlainStatic("", id="history-status")
        yield FleetFooter()

    def on_mount(self) -> None:
        self.query_one("#batches", DataTable).add_columns(
            "When", "Who", "Action", "Cards", "Reason", "Batch", "Summary"
        )
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        run_service(
            self, history.batches, self.engine, on_done=self.show, group="history", exclusive=True
        )

    def show(self, found: list[history.Batch]) -> None:
        self.found = {b.batch_id: b for b in found}
        table = self.query_one("#batches", DataTable)
        table.clear()
        for b in found:
            table.add_row(*b.cells(), key=b.batch_id)
        self.query_one("#history-status", Static).update(
            f"{units.counted(len(found), 'batch')}, newest first"
        )

    def action_undo(self) -> None:
        table = self.query_one("#batches", DataTable)
        if not table.row_count:
            return
        batch = self.found[str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)]
        if batch.undone_by:
            self.notify(
                f"Batch {batch.batch_id[:8]} was already undone (by {batch.undone_by[:8]}).",
                severity="warning",
            )
            return

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

        question = (
            f"Undo batch {batch.batch_id[:8]} ({batch.action}, "
            f"{units.counted(batch.cards, 'card')}, by {batch.actor})?"
        )
        self.app.push_screen(Confirm(question, yes="Undo"), answered)

    def undone(self, result: UndoResult) -> None:
        self.notify(result.summary())
