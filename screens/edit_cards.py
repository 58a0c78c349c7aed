"""The edit modal: one form for the marked (or highlighted) cards; preview; confirm.
Fields left blank stay as they are."""

from __future__ import annotations

from functools import partial

from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input

from fleetui.config import Config
from fleetui.core import units
from fleetui.inventory import edit
from fleetui.presentation import describe_edit
from fleetui.screens.dialogs import PreviewDialog
from fleetui.screens.keep import InOrderInput
from fleetui.screens.plain import PlainLabel, PlainStatic, plain
from fleetui.screens.work import run_service

HINTS = {
    "status": "status: in_service, spare, repair, retired, on_order",
    "notes": "notes",
    "node": "node (a registered hostname)",
    "slot": "slot (PCI bus id; one card only)",
    "supplier": "supplier",
    "price": "price: ¥95,000, USD 30000",
    "warranty_end": "warranty end: 2027-03-01",
    "service_life_years": "service life in years",
    "asset_tag": "asset tag (one card only)",
    "purchase_order": "purchase order / invoice",
}


class EditModal(PreviewDialog):
    """Dismisses with the batch id of the edit, or None when cancelled."""

    CSS_PATH = "reallocate.tcss"  # the same dialog as a move's
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, engine: Engine, serials: list[str], *, settings: Config) -> None:
        super().__init__()
        self.engine, self.settings = engine, settings
        self.serials = serials
        self.plan: edit.EditPlan | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield PlainLabel(f"Edit {units.counted(len(self.serials), 'card')}", id="title")
            for name in edit.EDIT_FIELDS:
                yield InOrderInput(placeholder=f"{HINTS[name]} (blank: unchanged)", id=name)
            yield InOrderInput(placeholder="reason (required; goes in the audit log)", id="reason")
            with Horizontal(classes="row"):
                yield Button("Preview", id="preview", variant="primary")
                yield Button("Save", id="save", variant="success", disabled=True)
                yield Button("Cancel", id="cancel")
            yield PlainStatic("", id="plan")

    @on(Input.Changed)
    def forget_plan(self, event: Input.Changed) -> None:
        if event.input.id != "reason":
            self.plan = None
            self.query_one("#save", Button).disabled = True

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#preview")
    def preview(self) -> None:
        fields = {n: self.query_one(f"#{n}", Input).value.strip() or None for n in edit.EDIT_FIELDS}
        run_service(
            self,
            partial(edit.plan_edit, settings=self.settings),
            self.engine,
            self.serials,
            None,
            fields,
            on_done=self.show_plan,
            on_error=self.show_problem,
            group="plan",
            exclusive=True,
        )

    def show_plan(self, plan: edit.EditPlan) -> None:
        self.plan = plan
        self.show_below(plain("\n".join(describe_edit(plan, 12))))
        self.query_one("#save", Button).disabled = False

    @on(Button.Pressed, "#save")
    def save(self) -> None:
        self.commit(edit.commit_edit, self.engine, self.plan)
