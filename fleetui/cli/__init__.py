"""The `fleetui` command. Every TUI action has a twin here over the same service function.

Exit codes: 0 success; 1 a user error (bad input, unknown serial, unreachable database);
2 a database written by a newer fleetui, or a command-line usage error.
"""

# Each module registers its command group on the root command, in the order --help lists them.
from fleetui.cli import (  # noqa: F401
    allocation,
    cards,
    database,
    demo,
    edit,
    files,
    lifecycle,
    telemetry,
)
from fleetui.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    app()
