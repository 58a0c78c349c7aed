"""The scheduler dialog: after a move, one key previews the sacctmgr commands that make Slurm
match the holdings, and Apply runs them, reads them back and shows what did not take."""

from __future__ import annotations

from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from fleetui.config import Config
from fleetui.scheduler import slurm
from fleetui.screens.plain import PlainLabel, PlainStatic, plain
from fleetui.screens.work import run_service


class SchedulerModal(ModalScreen[None]):
    CSS_PATH = "scheduler.tcss"
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, engine: Engine, *, settings: Config) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.plan: slurm.Preview | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield PlainLabel(f"Apply the holdings to {self.scheduler()}", id="title")
            yield PlainStatic("Reading Slurm's accounts…", id="commands")
            with Horizontal(classes="row"):
                yield Button("Apply", id="apply", variant="success", disabled=True)
                yield Button("Close", id="close")

    def scheduler(self) -> str:
        return {"slurm": "Slurm", "kueue": "Kueue"}.get(self.settings.scheduler.kind, "a scheduler")

    def on_mount(self) -> None:
        problem = slurm.not_applicable(self.settings)
        if problem:  # said as a way forward, with nothing to apply here
            self.text(problem)
            self.query_one("#apply", Button).display = False
            return
        run_service(
            self,
            slurm.preview,
            self.engine,
            self.settings,
            on_done=self.show_plan,
            on_error=self.show_problem,
        )

    def show_plan(self, plan: slurm.Preview) -> None:
        self.plan = plan
        if not plan.commands:
            self.text("\n".join([*plan.notes(), plan.nothing_to_apply()]))
            return
        drift = [d.sentence("account", "parent") for d in plan.drift]
        self.text("\n".join([*drift, *plan.unkept(), "", "Apply runs:", *plan.lines()]))
        self.query_one("#apply", Button).disabled = False

    def text(self, content: str) -> None:
        self.query_one("#commands", Static).update(content)

    def show_problem(self, message: str) -> None:
        """A read or an apply that failed: nothing is left to apply from here."""
        self.query_one("#commands", Static).update(plain(message, "red"))
        self.query_one("#apply", Button).display = False

    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        if self.plan is not None:
            self.query_one("#apply", Button).disabled = True
            self.text("Applying…")
            run_service(
                self,
                slurm.apply,
                self.engine,
                self.settings,
                self.plan,
                on_done=self.show_result,
                on_error=self.show_problem,
                writes=True,  # an audit batch: History shows it
            )

    def show_result(self, result: slurm.Result) -> None:
        lines = "\n".join([*result.lines(), result.summary()])
        self.query_one("#commands", Static).update(lines if result.ok else plain(lines, "red"))

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)
