"""The command palette (ctrl+p): every screen and every action by name, each run as the app
action its key runs, so the palette and the keys never disagree."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Provider


class Command(NamedTuple):
    name: str
    help: str
    action: str  # an action of the app (see FleetApp.action_on for a screen's own)


COMMANDS = [
    Command(
        "Dashboard",
        "Cards by status, compute per team and model",
        "show('dashboard')",
    ),
    Command(
        "Inventory",
        "Every card, paged from the database",
        "show('inventory')",
    ),
    Command(
        "Filter inventory",
        "Jump to the inventory's filter box",
        "on('inventory', 'focus_filter')",
    ),
    Command(
        "Teams",
        "What each team and project holds, and quota use",
        "show('teams')",
    ),
    Command(
        "History",
        "Audit log batches, newest first",
        "show('history')",
    ),
    Command(
        "Undo a batch",
        "History: undo the highlighted batch (asks first)",
        "on('history', 'undo')",
    ),
    Command(
        "Reports: lifecycle",
        "Warranty expiries, the retirement cliff, book value",
        "show('lifecycle')",
    ),
    Command(
        "Telemetry: GPUs live",
        "Nodes, GPU readings and discrepancies with the inventory",
        "show('telemetry')",
    ),
    Command(
        "Import a CSV or spreadsheet",
        "Map its columns, check every row, then import",
        "show('import')",
    ),
    Command(
        "Request cards",
        "Move N cards or X PFLOPS of some models to a team: preview, then confirm",
        "request",
    ),
    Command(
        "Move marked cards",
        "Inventory: move the marked (or highlighted) cards to a team",
        "on('inventory', 'reallocate')",
    ),
    Command(
        "Edit cards",
        "Inventory: edit the marked (or highlighted) cards in one form",
        "on('inventory', 'edit')",
    ),
    Command(
        "Sick cards and RMA",
        "Cards whose GPUs need a reset, a reboot or an RMA; open an RMA packet",
        "on('dashboard', 'sick')",
    ),
    Command(
        "Apply to scheduler",
        "Preview the Slurm commands the holdings call for, then apply them",
        "scheduler",
    ),
    Command(
        "Backup",
        "Copy the database to a new file (safe while fleetui runs)",
        "backup",
    ),
    Command(
        "Help: keys and filter syntax",
        "The keys of this screen and the filter language",
        "help",
    ),
]


class FleetCommands(Provider):
    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(command.name, self._runner(command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            score = max(matcher.match(command.name), matcher.match(command.help) * 0.5)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(command.name), self._runner(command), help=command.help
                )

    def _runner(self, command: Command):
        return partial(self.app.run_action, command.action)
