"""Import: choose a CSV file, see its detected mapping and first rows, fix the mapping, check
every row (a dry run lists every error), then import, with progress and cancel."""

from __future__ import annotations

import re
import threading
from dataclasses import replace

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Header,
    Input,
    OptionList,
    ProgressBar,
    Select,
    Static,
)

from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.importing.columns import FIELDS, IGNORE, map_name
from fleetui.importing.importer import inspect_file, run_import, unused_columns
from fleetui.importing.outcome import ImportOptions, ImportResult
from fleetui.presentation import ErrorGroup, group_errors, import_refusal
from fleetui.screens.footer import FleetFooter
from fleetui.screens.keep import InOrderInput
from fleetui.screens.plain import PlainStatic, PlainTable, plain
from fleetui.screens.work import on_ui, run_service

PREVIEW_ROWS = 5


class FieldPicker(ModalScreen[str | None]):
    """Pick the field a column maps to (or ignore it)."""

    DEFAULT_CSS = """
    FieldPicker { align: center middle; }
    FieldPicker > OptionList { width: 40; height: 24; border: round $accent; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def compose(self) -> ComposeResult:
        options = OptionList(*FIELDS, IGNORE, id="fields")
        options.border_title = plain(f"Column '{self.column}' is…")
        yield options

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.prompt))


# The importer's messages name its CLI options; this screen has its own control for each but
# --map, which it cannot offer before the file has a serial column (the mapping shows then).
CONTROLS = [
    (r" or pass --map (?:'[^']*'|[^ .]+)", ""),
    (r"pass --create-missing", "tick 'Create missing teams, projects, nodes'"),
    (r"pass --skip-invalid", "tick 'Skip invalid rows'"),
    (r"--on-existing (\w+)", r"existing: \1"),
    (r"pass --date-format (\S+)", r"type \1 as the date format"),
    (r"--date-format (\S+)", r"\1"),
    (r"--date-format\b", "a date format"),
    (r"--currency\b", "currency"),
]


def in_screen_terms(message: str) -> str:
    """An importer's message with its CLI options said as this screen's controls."""
    for pattern, replacement in CONTROLS:
        message = re.sub(pattern, replacement, message)
    return message


class ImportScreen(Screen):
    CSS_PATH = "import_screen.tcss"
    BINDINGS = [
        Binding("ctrl+r", "check", "Check rows", id="import.check"),
        Binding("escape", "back", "Back", id="import.cancel"),
    ]
    EXTRA_KEYS = [
        ("enter on a column", "Choose the field it maps to"),
        ("escape while importing", "Cancel the import"),
    ]

    def __init__(self, engine: Engine, *, settings: Config) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.overrides: dict[str, str] = {}
        self.cancel_event: threading.Event | None = None
        self.checked: ImportResult | None = None
        self.edits = 0  # changes to the path and options; a check counts for those it saw
        self.checked_edits = -1
        self.left = True
        self.error_groups: list[ErrorGroup] = []  # as the errors table lists them

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="import"):
            with Horizontal(classes="row"):
                yield InOrderInput(placeholder="Path of the CSV file to import", id="path")
                yield Button("Open", id="open")
            yield PlainStatic("", id="detected")
            yield PlainTable(id="mapping", cursor_type="row")
            with Horizontal(classes="row"):
                yield Checkbox("Create missing teams, projects, nodes", id="create_missing")
                yield Checkbox("Skip invalid rows", id="skip_invalid")
            with Horizontal(classes="row"):  # rows that fit 80 columns
                yield InOrderInput(placeholder="currency, e.g. CNY", id="currency")
                yield InOrderInput(placeholder="dates, e.g. %d/%m/%Y", id="date_format")
                yield Select(
                    [(f"existing: {v}", v) for v in ("update", "skip", "error")],
                    value="update",
                    allow_blank=False,
                    id="on_existing",
                )
            with Horizontal(classes="row"):
                yield Button("Check every row", id="check", variant="primary")
                yield Button("Import", id="run", variant="success", disabled=True)
                yield Button("Cancel", id="cancel", variant="error", disabled=True)
                yield ProgressBar(id="progress", show_eta=False)
            yield PlainStatic("", id="summary")
            yield PlainTable(id="errors", cursor_type="row")
            yield PlainStatic("", id="error_detail")
        yield FleetFooter()

    def on_mount(self) -> None:
        errors = self.query_one("#errors", DataTable)
        errors.add_columns("Rows", "Column", "Value", "Problem")
        self.query_one("#progress", ProgressBar).display = False

    def on_screen_suspend(self) -> None:
        self.left = self not in self.app.screen_stack  # another mode, not a dialog over this one

    def on_screen_resume(self) -> None:
        """Each time the screen is shown anew, typing goes to the path box, not to the app's
        keys (`/`, `e`); back from a dialog over it, the focus stays where it was."""
        if self.left:
            self.query_one("#path", Input).focus()

    async def action_back(self) -> None:
        """Escape cancels a running check or import, else goes back where the user came from."""
        if self.cancel_event is not None:
            self.action_cancel()
        else:
            await self.app.run_action("go_back")

    # ------------------------------------------------------------ the file and its mapping

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#open")
    def open_file(self) -> None:
        self.overrides = {}
        self.query_one("#mapping", DataTable).move_cursor(row=0)  # a new file: its first column
        self.inspect()

    def inspect(self) -> None:
        self.checked = None
        self.query_one("#run", Button).disabled = True
        path = self.query_one("#path", Input).value.strip()
        try:
            source, mapping = inspect_file(path, self.overrides)
            preview = [
                cells for _, cells in zip(range(PREVIEW_ROWS), source.records(), strict=False)
            ]
        except UserError as exc:
            self.say(str(exc), "red")
            return
        for index in list(mapping.headerless):  # as the import will name it, once seen here
            if any(index < len(cells) and cells[index] for _, cells in preview):
                mapping.holds_data(index)
        self.query_one("#mapping", DataTable).focus()  # the app's keys work (and show) again
        unused = unused_columns(mapping.unknown, verbose=True) or "Every column is imported"
        self.query_one("#detected", Static).update(
            f"{source.path.name}: {source.layout()}. {unused}."
        )
        table = self.query_one("#mapping", DataTable)
        row = table.cursor_row  # kept: the column just mapped stays highlighted
        table.clear(columns=True)
        table.add_columns("Column", "Field", *(f"row {n}" for n, _ in preview))
        for index, name in enumerate(mapping.names):
            field = mapping.fields.get(index, "—")
            values = [cells[index] if index < len(cells) else "" for _, cells in preview]
            mapped_as = map_name(source.header, mapping.names, index)
            table.add_row(
                name,
                Text(field, style="bold" if field != "—" else "dim"),
                *values,
                key=f"{index}\n{mapped_as}",  # by position too: the name may repeat
            )
        table.move_cursor(row=row)
        self.say("Check every row before importing; nothing is written until you import.")

    @on(DataTable.RowSelected, "#mapping")
    def remap(self, event: DataTable.RowSelected) -> None:
        # --map's name for the column: its header, or `column N` for one with none or repeated
        column = str(event.row_key.value).partition("\n")[2]

        def chosen(field: str | None) -> None:
            if field:  # a field is read from one column: one chosen before for it gives it up
                kept = {c: f for c, f in self.overrides.items() if f != field or f == IGNORE}
                self.overrides = kept | {column: field}
                self.inspect()

        self.app.push_screen(FieldPicker(column), chosen)

    # ------------------------------------------------------------ check and import

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def invalidate(self) -> None:
        """Any change to the path or an option voids the last check: import only what was
        checked with the options it will run with."""
        self.edits += 1
        if self.checked is not None:
            self.checked = None
            self.query_one("#run", Button).disabled = True
            self.say("The path or options changed: check every row again before importing.")

    def options(self, dry_run: bool) -> ImportOptions:
        return ImportOptions(
            dry_run=dry_run,
            overrides=dict(self.overrides),
            on_existing=str(self.query_one("#on_existing", Select).value),
            skip_invalid=self.query_one("#skip_invalid", Checkbox).value,
            create_missing=self.query_one("#create_missing", Checkbox).value,
            currency=self.query_one("#currency", Input).value.strip() or None,
            date_format=self.query_one("#date_format", Input).value.strip() or None,
            config=self.settings,
        )

    @on(Button.Pressed, "#check")
    def action_check(self) -> None:
        self.start(dry_run=True)

    @on(Button.Pressed, "#run")
    def run_import_now(self) -> None:
        self.start(dry_run=False)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()

    def start(self, dry_run: bool) -> None:
        path = self.query_one("#path", Input).value.strip()
        self.checked_edits = self.edits
        self.cancel_event = threading.Event()
        for button, disabled in (("#check", True), ("#run", True), ("#cancel", False)):
            self.query_one(button, Button).disabled = disabled
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.say("Checking every row…" if dry_run else "Importing…")
        run_service(
            self,
            run_import,
            self.engine,
            path,
            self.options(dry_run),
            on_ui(self, self.progress),
            self.cancel_event,
            on_done=self.finished,
            on_error=self.failed,
            on_end=self.ended,
            group="import",
            exclusive=True,
            writes=not dry_run,
        )

    def progress(self, done: int, total: int) -> None:
        self.query_one("#progress", ProgressBar).update(total=total, progress=done)

    def ended(self) -> None:
        """Whatever the outcome (a busy database included): ready for the next check."""
        self.query_one("#check", Button).disabled = False
        self.query_one("#cancel", Button).disabled = True
        self.query_one("#progress", ProgressBar).display = False
        self.cancel_event = None

    def failed(self, problem: str) -> None:
        self.show_errors([])
        self.say(problem, "red")

    def show_errors(self, groups: list[ErrorGroup]) -> None:
        """The errors, one row a group; the table cuts a long problem at its edge, so the
        highlighted group is also written out whole below it."""
        self.error_groups = [replace(g, reason=in_screen_terms(g.reason)) for g in groups]
        errors = self.query_one("#errors", DataTable)
        errors.clear()
        for group in self.error_groups:
            errors.add_row(group.where(), group.column, group.value, group.reason)
        self.query_one("#error_detail", Static).update(
            str(self.error_groups[0]) if self.error_groups else ""
        )

    @on(DataTable.RowHighlighted, "#errors")
    def error_detail(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.error_groups):
            self.query_one("#error_detail", Static).update(str(self.error_groups[event.cursor_row]))

    def finished(self, result: ImportResult) -> None:
        self.show_errors(group_errors(result.errors))
        errors = self.query_one("#errors", DataTable)
        if errors.row_count:  # in view and focused: below the form on a small terminal
            errors.focus()
            errors.scroll_visible(animate=False)
        unused = unused_columns(result.unknown_columns)
        unused = f" {unused}." if unused else ""
        refusal = import_refusal(result)
        current = result.dry_run and self.checked_edits == self.edits
        self.checked = result if current and not refusal else None
        self.query_one("#run", Button).disabled = not (
            self.checked and (result.new or result.changed)
        )
        if refusal:
            self.say(f"{refusal}{unused}", "red")
        elif not result.dry_run:
            batch = f" Batch {result.batch_id[:8]}." if result.batch_id else ""
            rejected = f" Rejected rows: {result.rejected_file}" if result.rejected_file else ""
            self.say(f"Imported: {result.summary()}.{batch}{rejected}{unused}", "green")
        elif current:
            self.say(f"Would import: {result.summary()} — ready to import.{unused}")
        else:
            self.say("The path or options changed during the check: check every row again.")

    def say(self, message: str, style: str = "") -> None:
        self.query_one("#summary", Static).update(plain(in_screen_terms(message), style))
