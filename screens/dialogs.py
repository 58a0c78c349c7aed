"""Small dialogs: a yes/no question before a write, and one line of text (a backup's file)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from fleetui.screens.keep import InOrderInput
from fleetui.screens.plain import PlainLabel, plain
from fleetui.screens.work import run_service

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; height: auto; border: round $warning;
                    background: $surface; padding: 1 2; }}
{name} Horizontal {{ height: auto; margin-top: 1; }}
{name} Label {{ width: 100%; }}
"""


class Confirm(ModalScreen[bool]):
    """Asks `question` (data in it shown literally); dismisses with True for yes."""

    DEFAULT_CSS = DIALOG_CSS.format(name="Confirm")
    BINDINGS = [Binding("escape,n", "dismiss(False)", "No"), Binding("y", "dismiss(True)", "Yes")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Keep") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield PlainLabel(f"{self.question} y/n")
            with Horizontal():
                yield Button(self.yes, id="yes", variant="warning")
                yield Button(self.no, id="no")

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class AskText(ModalScreen[str | None]):
    """One line of text; Enter gives it, escape gives None."""

    DEFAULT_CSS = DIALOG_CSS.format(name="AskText")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question, self.placeholder = question, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield PlainLabel(self.question)
            yield InOrderInput(placeholder=self.placeholder, id="answer")

    @on(Input.Submitted)
    def answer(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())


class PreviewDialog(ModalScreen[str | None]):
    """A form (#dialog) that previews a write (#preview), then makes it (CONFIRM): it opens on
    its first field; Enter in a field previews, and once a preview is shown, confirms."""

    CONFIRM = "#save"
    # The services' messages name the CLI's options; a dialog says them as its own fields.
    TERMS: ClassVar[list[tuple[str, str]]] = [(r"needs --reason", "needs a reason")]
    # Focused as soon as it is composed: a focus() in on_mount lands a moment later (Textual
    # defers it), after keys typed quickly in between (a Tab: the next keys went to this field).
    AUTO_FOCUS = "#dialog Input, #dialog Select"

    @on(Input.Submitted)
    def enter(self, event: Input.Submitted) -> None:
        event.stop()
        confirm = self.query_one(self.CONFIRM, Button)
        self.query_one("#preview" if confirm.disabled else self.CONFIRM, Button).press()

    def show_problem(self, message: str) -> None:
        for option, field in self.TERMS:
            message = re.sub(option, field, message)
        self.show_below(plain(message, "red"))

    def show_below(self, text: Text) -> None:
        """A preview or a problem goes below the form: scrolled into view, or on a small
        terminal Enter would seem to do nothing."""
        plan = self.query_one("#plan", Static)
        plan.update(text)
        self.call_after_refresh(plan.scroll_visible, animate=False)

    def commit(self, write: Callable[..., str], engine: Any, plan: object | None) -> None:
        """Make the previewed write with the reason typed; its own worker group, so a newer
        preview never cancels it."""
        if plan is None:
            return
        self.query_one(self.CONFIRM, Button).disabled = True
        reason = self.query_one("#reason", Input).value
        run_service(
            self,
            write,
            engine,
            plan,
            reason,
            on_done=self.dismiss,
            on_error=self.show_problem,
            group="commit",
            writes=True,
        )
