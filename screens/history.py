"""History: the audit log's batches, newest first; `u` undoes the highlighted batch."""

from __future__ import annotations

from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Static

from fleetui.allocation import history
from fleetui.allocation.undo import UndoResult, undo
from fleetui.presentation import BATCH_HEADINGS, batch_cells
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainLabel, PlainStatic, PlainTable
from fleetui.screens.work import run_service


class ConfirmUndo(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmUndo { align: center middle; }
    ConfirmUndo > Vertical { width: 64; height: auto; border: round $warning;
                             background: $surface; padding: 1 2; }
    ConfirmUndo Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,n", "dismiss(False)", "No"), Binding("y", "dismiss(True)", "Yes")]

    def __init__(self, batch: history.Batch) -> None:
        super().__init__()
        self.undoing = batch  # not `batch`: that is Textual's batch(), which recompose calls

    def compose(self) -> ComposeResult:
        with Vertical():
            yield PlainLabel(
                f"Undo batch {self.undoing.batch_id[:8]} ({self.undoing.action}, "
                f"{self.undoing.cards:,} cards, by {self.undoing.actor})? y/n"
            )
            with Horizontal():
                yield Button("Undo", id="yes", variant="warning")
                yield Button("Keep", id="no")

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


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
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#batches", DataTable).add_columns(*BATCH_HEADINGS)
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
            table.add_row(*batch_cells(b), key=b.batch_id)
        self.query_one("#history-status", Static).update(f"{len(found):,} batches, newest first")

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

        self.app.push_screen(ConfirmUndo(batch), answered)

    def undone(self, result: UndoResult) -> None:
        self.notify(result.summary())
