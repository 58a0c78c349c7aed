"""The reallocate modal: marked cards, or a request by count or compute; preview; confirm."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import ClassVar

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Select, Static

from fleetui.allocation import moves, plans, teams
from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import UNASSIGNED
from fleetui.presentation import describe_move, history_hint
from fleetui.screens.dialogs import PreviewDialog
from fleetui.screens.keep import InOrderInput
from fleetui.screens.plain import PlainLabel, PlainStatic, plain
from fleetui.screens.work import run_service


class ReallocateModal(PreviewDialog):
    """Dismisses with the batch id of the move, or None when cancelled."""

    CSS_PATH = "reallocate.tcss"
    CONFIRM = "#move"
    TERMS: ClassVar[list[tuple[str, str]]] = [
        *PreviewDialog.TERMS,
        (r"--to-team and/or --to-project", "a team to move them to (and a project)"),
        (r"either --count N or --pflops X", "a number of cards (16) or of PFLOPS (2 PFLOPS)"),
        (r"--(from|to)-(team|project)", r"'\1 \2'"),
    ]
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        engine: Engine,
        serials: list[str] | None = None,
        today: Callable[[], date] = date.today,
        *,
        settings: Config,
        highlighted: bool = False,
    ) -> None:
        """`highlighted`: `serials` is the highlighted card, as nothing was marked."""
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.serials = serials
        self.highlighted = highlighted
        self.today = today
        self.plan: plans.Plan | None = None
        self.directory = teams.directory(engine)

    def compose(self) -> ComposeResult:
        team_options = [(plain(t), t) for t in self.directory]
        free = (UNASSIGNED, UNASSIGNED)  # the free pool: the cards of no team
        with VerticalScroll(id="dialog"):
            if self.serials:
                title = (
                    f"Move the highlighted card {self.serials[0]}"
                    if self.highlighted
                    else f"Move {units.counted(len(self.serials), 'marked card')}"
                )
                yield PlainLabel(title, id="title")
            else:
                yield PlainLabel("Request cards by count or by compute", id="title")
                with Horizontal(classes="row"):
                    yield InOrderInput(placeholder="how many: 16, or 2 PFLOPS", id="amount")
                    yield InOrderInput(placeholder="models: H800,A800 (optional)", id="models")
                with Horizontal(classes="row"):
                    yield Select(
                        [*team_options, free], prompt="from team (optional)", id="from_team"
                    )
                    yield Select([], prompt="from project (optional)", id="from_project")
            with Horizontal(classes="row"):
                yield Select([*team_options, free], prompt="to team", id="to_team")
                yield Select([], prompt="to project", id="to_project")
            yield InOrderInput(placeholder="reason (required; goes in the audit log)", id="reason")
            with Horizontal(classes="row"):
                yield Button("Preview", id="preview", variant="primary")
                yield Button("Move", id="move", variant="success", disabled=True)
                yield Button("Cancel", id="cancel")
            yield PlainStatic("", id="plan")

    @on(Select.Changed, "#to_team, #from_team")
    def team_chosen(self, event: Select.Changed) -> None:
        """The chosen team's projects, and "(no project)": its cards in none of them."""
        projects = [] if event.select.is_blank() else self.directory.get(str(event.value), [])
        side = "to" if event.select.id == "to_team" else "from"
        picker = self.query_one(f"#{side}_project", Select)
        pool = event.value == UNASSIGNED and UNASSIGNED not in self.directory  # no projects
        offered: list[tuple[str | Text, str]] = [(teams.NO_PROJECT, teams.NO_PROJECT)]
        offered += [(plain(p), p) for p in projects]
        picker.set_options([] if pool else offered)
        self.forget_plan()

    @on(Input.Changed)
    @on(Select.Changed, "#to_project, #from_project")
    def forget_plan(self) -> None:
        self.plan = None
        self.query_one("#move", Button).disabled = True

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    def _value(self, selector: str) -> str | None:
        select = self.query_one(selector, Select)  # Select.BLANK changed meaning in Textual 1
        return None if select.is_blank() or select.value == teams.NO_PROJECT else str(select.value)

    def _from_project(self) -> str | None:
        """The project to take from: its name, NO_PROJECT for the team's cards in none (as
        --from-project takes it), None for any of the team's cards."""
        select = self.query_one("#from_project", Select)
        return None if select.is_blank() else str(select.value)

    @on(Button.Pressed, "#preview")
    def preview(self) -> None:
        self.query_one("#plan", Static).update("Planning…")
        to_team, to_project = self._value("#to_team"), self._value("#to_project")
        if self.serials:
            service = partial(
                moves.plan_cards,
                self.engine,
                self.serials,
                to_team,
                to_project,
                settings=self.settings,
            )
        else:
            service = partial(
                self.plan_request,
                to_team,
                to_project,
                self.query_one("#amount", Input).value,
                self.query_one("#models", Input).value,
                self._value("#from_team"),
                self._from_project(),
            )
        run_service(
            self,
            service,
            on_done=self.show_plan,
            on_error=self.show_problem,
            group="plan",
            exclusive=True,
        )

    def plan_request(
        self,
        to_team: str | None,
        to_project: str | None,
        amount: str,
        models: str,
        from_team: str | None,
        from_project: str | None,
    ) -> plans.Plan:
        """The plan for a request typed in the form (read on the UI thread, parsed here)."""
        count, pflops = _amount(amount)
        wanted = [m.strip() for m in models.split(",") if m.strip()]
        return moves.plan_request(
            self.engine,
            to_team,
            to_project,
            count,
            pflops,
            wanted or None,
            from_team,
            from_project,
            today=self.today(),
            settings=self.settings,
        )

    def show_plan(self, plan: plans.Plan) -> None:
        self.plan = plan
        self.show_below(plain("\n".join(describe_move(plan, limit=12))))
        self.query_one("#move", Button).disabled = False

    @on(Button.Pressed, "#move")
    def move(self) -> None:
        self.commit(moves.commit, self.engine, self.plan)

    def moved(self, batch: str) -> str:
        """What the move made: the notification once the dialog has closed with its batch."""
        assert self.plan is not None  # a batch comes only from a previewed plan
        cards = units.counted(len(self.plan.cards), "card")
        return f"Moved {cards} to {self.plan.target.label()} ({history_hint(batch)})."


def _amount(text: str) -> tuple[int | None, float | None]:
    """'16' -> 16 cards; '2 PFLOPS', '2p', '1.5 pf' -> PFLOPS."""
    value = text.strip().lower().replace(",", "")
    match = re.fullmatch(r"([\d.]+)\s*(p|pf|pflops)?", value)
    try:
        if match and match[2]:
            return None, float(match[1])
        return int(value), None
    except ValueError:
        raise UserError("Say how many: a number of cards (16) or of PFLOPS (2 PFLOPS).") from None
