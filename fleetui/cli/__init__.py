"""The `fleetui` command. Every TUI action has a twin here over the same service function.

Exit codes: 0 success; 1 a user error (bad input, unknown serial, unreachable database);
2 a database written by a newer fleetui, or a command-line usage error.

Start-up: a run imports only the module of the command it runs (and what that command uses);
`fleetui --help` lists COMMANDS without importing any of them, or typer (fleetui.cli.roothelp).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "app", "main"]

# Each command or group -> (the modules of fleetui.cli that register it on the root command,
# the summary --help shows), in --help's order. A test keeps this equal to what the modules
# register and to their help texts.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "demo": (
        ("demo",),
        "Build a realistic demo fleet in its own database (rebuilt each run) and open the TUI. "
        "Never $FLEETUI_DB; --db only names a new or empty database or one demo built.",
    ),
    "models": (
        ("cards",),
        "List the GPU catalogue: memory, dense FP16/BF16 TFLOPS, TDP, TPP, export class, source.",
    ),
    "cards": (("cards",), "List cards matching a filter (the TUI's `/` syntax)."),
    "import": (
        ("files",),
        "Import cards from a CSV file or an .xlsx/.xlsm workbook: every row checked first, then "
        "one transaction and batch.",
    ),
    "export": (
        ("files",),
        "Export cards in fleetui's own columns; `fleetui import` reads the file back unchanged.",
    ),
    "undo": (
        ("files",),
        "Revert any batch that changed cards (import, move, edit, delete, repair, RMA, telemetry "
        "fix), added a team or project, renamed one or a node, or set a quota, if what it changed "
        "did not change since.",
    ),
    "edit": (
        ("edit",),
        "Change fields of cards, as one audited batch (`fleetui undo` takes it back); fields not "
        "given stay as they are. Values are read as `import` reads them, but a status exactly.",
    ),
    "delete": (
        ("edit",),
        "Delete cards entered by mistake, as one audited batch; `fleetui undo` re-creates them "
        "with their history. (A card that left the fleet is better kept: `edit --status retired`.)",
    ),
    "teams": (("allocation",), "Teams: add, list, rename, delete, quotas."),
    "projects": (("allocation",), "Projects of teams: add, list, rename, delete."),
    "plan": (("allocation",), "Preview a move (same arguments as `move`); writes nothing."),
    "move": (
        ("allocation",),
        "Move cards between teams/projects: named serials, or a request by count or PFLOPS.",
    ),
    "history": (("allocation",), "The audit log: batches newest first, or one card's events."),
    "report": (("allocation", "lifecycle"), "Reports from the inventory and its log."),
    "repair": (
        ("lifecycle",),
        "Send a card to repair (--ticket, --vendor) or bring it back (--returned [--cost]).",
    ),
    "agent": (
        ("telemetry",),
        "Serve this host's GPU telemetry: /snapshot (JSON) and /metrics (Prometheus text).",
    ),
    "gpus": (
        ("telemetry",),
        "This host's GPUs as NVML sees them now (what the agent would serve).",
    ),
    "nodes": (("telemetry",), "Nodes whose telemetry fleetui polls."),
    "sources": (("sources",), "Metrics stores (Prometheus, VictoriaMetrics, Thanos) polled."),
    "poll": (
        ("telemetry",),
        "Poll the registered nodes and metrics stores (each round starts after the previous one "
        "finished; a node or store that failed is asked again after a wait that doubles, but "
        "--once asks every one); with none registered, read this host's GPUs through NVML.",
    ),
    "reconcile": (
        ("telemetry",),
        "What telemetry and the inventory disagree on, and fixing it.",
    ),
    "sched": (
        ("sched",),
        "Make the scheduler (Slurm accounts, Kueue queues) match what each team holds.",
    ),
    "health": (
        ("health",),
        "Sick cards, worst first: evidence, NVIDIA's action, team, node, warranty and supplier.",
    ),
    "rma": (
        ("health",),
        "Open a card's repair and write its RMA packet (markdown and JSON); undo reverts it.",
    ),
    "exporter": (
        ("health",),
        "Serve fleetui's own metrics at /metrics: cards and PFLOPS per team, sick and idle cards.",
    ),
    "db": (("database",), "Inspect or upgrade the database."),
    "backup": (
        ("database",),
        "Back up the database (safe while fleetui runs). SQLite: a copy; PostgreSQL: pg_dump -Fc.",
    ),
    "restore": (("database",), "Restore a backup into an empty database."),
}


def __getattr__(name: str) -> typer.Typer:
    """`app`, the root command, built on first use (fleetui.cli.root)."""
    if name == "app":
        from fleetui.cli.root import app

        return app
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def main() -> None:
    from fleetui.cli.roothelp import print_if_asked

    if not print_if_asked(sys.argv[1:], {name: summary for name, (_, summary) in COMMANDS.items()}):
        from fleetui.cli.root import app

        app()
