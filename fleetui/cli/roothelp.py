"""`fleetui --help` without typer: the root command's help page, laid out as click lays it out,
from the texts the root command is built from (fleetui.cli.base uses these, COMMANDS lists the
commands). Importing typer alone takes three times as long as Python takes to start; a test
keeps this page equal to typer's at every terminal width."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

from fleetui.core.places import data_dir

ROOT_HELP = "Terminal fleet manager for GPUs and other accelerators."
DB_HELP = (  # the default file as this environment has it, as the error messages name it
    f"Database file path or SQLAlchemy URL (default: $FLEETUI_DB, then {data_dir() / 'fleet.db'})."
)
VERSION_HELP = "Print the version (and the database schema it writes) and exit."
OPTIONS = (
    ("--db <str>", DB_HELP),
    ("--version", VERSION_HELP),
    ("--help", "Show this message and exit."),
)


def print_if_asked(argv: list[str], commands: dict[str, str]) -> bool:
    """Print the page when `argv` is exactly `--help`, the program runs as a script (click names
    `python -m` runs and completes shell words its own way) and the page is 78 columns wide;
    whether it printed it. Narrower, click cuts some summaries short: typer prints that page."""
    prog = os.path.basename(sys.argv[0])
    completing = f"_{prog}_COMPLETE".replace("-", "_").upper() in os.environ
    if (
        argv != ["--help"]
        or completing
        or getattr(sys.modules["__main__"], "__package__", None)
        or shutil.get_terminal_size().columns < 80
        or len(prog) > WIDTH - 28  # click wraps the usage line differently
    ):
        return False
    sys.stdout.write(page(prog, commands) + "\n")
    return True


WIDTH = 78  # click's HelpFormatter: the terminal's width less 2, at most 78


def page(prog: str, commands: dict[str, str]) -> str:
    return "\n".join(
        [
            _fill("[OPTIONS] COMMAND [ARGS]...", " " * len(f"Usage: {prog} "), f"Usage: {prog} "),
            "",
            _fill(ROOT_HELP, "  "),
            "",
            "Options:",
            *_definitions(OPTIONS),
            "",
            "Commands:",
            *_definitions(tuple(commands.items())),
        ]
    )


def _definitions(rows: tuple[tuple[str, str], ...]) -> list[str]:
    """click's definition list: the terms in a column (none here is over its 30 columns), each
    text wrapped beside its term."""
    column = max(len(term) for term, _ in rows) + 2
    lines = []
    for term, text in rows:
        first, *more = textwrap.wrap(text, WIDTH - column - 2, replace_whitespace=False)
        lines.append(f"  {term:<{column}}{first}")
        lines += [" " * (column + 2) + line for line in more]
    return lines


def _fill(text: str, indent: str, first: str | None = None) -> str:
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        replace_whitespace=False,
    )
