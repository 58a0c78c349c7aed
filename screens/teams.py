"""Teams: what each team and project holds, in cards, PFLOPS by model, and quota use (a quota
exceeded is marked "(over)", in red)."""

from __future__ import annotations

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header

from fleetui.allocation import teams
from fleetui.core.vocabulary import HELD, NO_PROJECT
from fleetui.inventory.query import quote
from fleetui.screens.footer import FleetFooter
from fleetui.screens.keep import same_row
from fleetui.screens.messages import FleetChanged, ShowInventory
from fleetui.screens.plain import PlainTable
from fleetui.screens.work import run_service

# The names' column is at most this wide, so a long name (up to 128 characters) never pushes
# the figures off the screen; a longer name ends in an ellipsis.
NAME_WIDTH = 40


class TeamsScreen(Screen):
    DEFAULT_CSS = """
    #holdings { height: 1fr; }
    """
    BINDINGS = [Binding("r", "refresh", "Refresh", id="teams.refresh")]
    EXTRA_KEYS = [("enter", "On a team or project: its cards in the inventory")]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="holdings", cursor_type="row", zebra_stripes=True)
        yield FleetFooter()

    def on_mount(self) -> None:
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        run_service(
            self,
            lambda: (teams.holdings(self.engine), teams.holdings(self.engine, projects=True)),
            on_done=lambda rows: self.show(*rows),
            group="teams",
            exclusive=True,
            stamps=self.engine,
        )

    def show(self, team_rows: list[teams.Holding], project_rows: list[teams.Holding]) -> None:
        table = self.query_one("#holdings", DataTable)
        rows = []
        for team, lines in teams.team_lines(team_rows, project_rows):
            rows.append((_name(team.name, "bold"), team, team.name))
            for line in lines:
                # TEAM/PROJECT less its team: a team's name may hold a '/' ("[b]x[/b]")
                name = line.name.removeprefix(f"{team.name}/")
                rows.append((_name("  " + name), line, f"{team.name}\n{name}"))
        widest = max((len(label) for label, _, _ in rows), default=0)
        with same_row(table):
            table.clear(columns=True)  # the names' column as wide as they are now (a rename)
            table.add_column("Team / project", width=max(14, min(widest, NAME_WIDTH)))
            for heading in ("Cards", "PFLOPS"):
                table.add_column(Text(heading, justify="right"))
            table.add_columns("Quota use", "PFLOPS (cards) per model")
            for label, holding, key in rows:
                self._add(table, label, holding, key)

    @on(DataTable.RowSelected, "#holdings")
    def open_line(self, event: DataTable.RowSelected) -> None:
        """Enter on a team's or project's line: the cards it holds, in the inventory (as the
        dashboard's team lines open theirs)."""
        team, _, project = str(event.row_key.value).partition("\n")
        named = f"team={quote(team)}"
        if project:
            named += " project:none" if project == NO_PROJECT else f" project={quote(project)}"
        self.post_message(ShowInventory(f"{named} status:{','.join(HELD)}"))

    @staticmethod
    def _add(table: DataTable, label: Text, h: teams.Holding, key: str) -> None:
        # every model held, in repair only too (0.0 PFLOPS), most PFLOPS first
        pflops = h.pflops_by_model
        held = sorted(h.by_model.items(), key=lambda kv: -pflops.get(kv[0], 0.0))
        models = ", ".join(f"{m} {pflops.get(m, 0.0):,.1f} ({n:,})" for m, n in held)
        table.add_row(
            label,
            Text(f"{h.cards:,}", justify="right"),
            Text(f"{h.pflops:,.1f}", justify="right"),
            Text(h.quota_use(), style="bold red" if h.over_quota() else ""),
            models,
            key=key,
        )


def _name(name: str, style: str = "") -> Text:
    """A name on one line, cut with an ellipsis where its column is narrower."""
    return Text(name, style=style, no_wrap=True, overflow="ellipsis")
