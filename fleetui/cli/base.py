"""What every command shares: the root command, its --db option, one-sentence errors, output."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.exc import DatabaseError

from fleetui.core.errors import Interrupted, UserError
from fleetui.db.engine import redact, sqlite_path
from fleetui.store import database_problem, database_url, open_fleet

if TYPE_CHECKING:
    from fleetui.config import Config

# Data (serials, bus ids like 00000000:AB:00.0, names, CSV headers) is printed literally: no
# Rich markup, emoji codes or highlighting on either console, so no call can interpret it.
err = Console(stderr=True, markup=False, emoji=False, highlight=False)
out = Console(markup=False, emoji=False, highlight=False)


class Group(typer.core.TyperGroup):
    """Turns a UserError anywhere below (or a database failure the user can act on, or Ctrl+C)
    into one sentence on stderr and its exit code; a command that fails leaves behind no
    database file it created."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except UserError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except DatabaseError as exc:
            sentence = database_problem(exc)
            if sentence is None:
                raise
            _fail(ctx, sentence, 1)
        except KeyboardInterrupt:
            _fail(ctx, "Interrupted.", Interrupted.exit_code)
        except typer.Exit as exc:
            _settle_created(ctx, keep=not exc.exit_code)
            raise
        _settle_created(ctx, keep=True)
        return result


def _fail(ctx: typer.Context, sentence: str, code: int) -> None:
    _settle_created(ctx, keep=False)
    err.print(f"fleetui: {redact(sentence)}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def _settle_created(ctx: typer.Context, keep: bool) -> None:
    """Announce the database file this command created, or remove it when the command failed."""
    created = (ctx.find_root().obj or {}).pop("created", None)
    if created is None:
        return
    engine, path = created
    if keep:
        err.print(f"Created a new, empty fleet database at {path}.", highlight=False)
        return
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


app = typer.Typer(
    cls=Group,
    help="Terminal fleet manager for GPUs and other accelerators.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database file path or SQLAlchemy URL (default: $FLEETUI_DB, "
        "then ~/.local/share/fleetui/fleet.db).",
        envvar=None,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _print_version(value: bool) -> None:
    if value:
        from fleetui import __version__

        out.print(f"fleetui {__version__}", highlight=False)
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db: DbOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Without a command: open the TUI on the dashboard."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        launch(open_db(ctx), settings=settings(ctx))


def db_target(ctx: typer.Context) -> str | None:
    return ctx.find_root().obj["db"]


def settings(ctx: typer.Context) -> Config:
    """The config file, read once per run (by the first command that needs it), then passed
    down to the services."""
    from fleetui import config

    obj = ctx.find_root().obj
    if "settings" not in obj:
        obj["settings"] = config.load()
    return obj["settings"]


def open_db(ctx: typer.Context, db: str | None = None):
    """open_fleet, saying so when that creates a new, empty database file."""
    target = db or db_target(ctx)
    path = sqlite_path(database_url(target))
    is_new = path is not None and not path.exists()
    engine = open_fleet(target)
    if is_new:  # announced when the command succeeds, removed when it fails (Group)
        ctx.find_root().obj["created"] = (engine, path)
    return engine


def launch(engine, query: str = "", *, settings: Config) -> None:
    from fleetui.app import FleetApp

    FleetApp(engine, initial_query=query, settings=settings).run()


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=json_default, ensure_ascii=False) + "\n")


def json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


report_app = typer.Typer(
    cls=Group, help="Reports from the inventory and its log.", no_args_is_help=True
)
app.add_typer(report_app, name="report")


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
