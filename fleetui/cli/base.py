"""What every command shares: the root command, its --db option, one-sentence errors, output."""

from __future__ import annotations

import json
import sys
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from fleetui.cli.roothelp import DB_HELP, ROOT_HELP, VERSION_HELP
from fleetui.core.errors import Interrupted, UserError

if TYPE_CHECKING:
    # typer (0.2x) types its groups' methods against its private, vendored click, whose
    # Context and Command have no public name; only the type checker imports them.
    from pathlib import Path

    from rich.console import Console
    from sqlalchemy import Engine
    from typer._click import Context

    from fleetui.app import FleetApp
    from fleetui.config import Config

# Start-up: this module is loaded by every run, --help included, so it imports only typer; rich,
# SQLAlchemy and the services load inside the functions that use them.


@cache
def _console(stderr: bool) -> Console:
    """Data (serials, bus ids like 00000000:AB:00.0, names, CSV headers) is printed literally: no
    Rich markup, emoji codes or highlighting on either console, so no call can interpret it.
    Piped (not a terminal), text is never wrapped to a width: a line stays one line."""
    from rich.console import Console, RenderHook

    class BeforeOutput(RenderHook):
        def process_renderables(self, renderables):
            _announce()
            return renderables

    console = Console(stderr=stderr, markup=False, emoji=False, highlight=False)
    console.soft_wrap = not console.is_terminal
    console.push_render_hook(BeforeOutput())
    return console


# The sentence announcing a new database: printed (to stderr) before the command's first output,
# or when it succeeds having printed nothing; dropped when it fails first (Group).
_pending: list[str] = []


def _announce() -> None:
    while _pending:
        sys.stderr.write(_pending.pop() + "\n")


def __getattr__(name: str) -> Console:
    """`out` and `err`, made on first use."""
    if name in ("out", "err"):
        return _console(name == "err")
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


class Group(typer.core.TyperGroup):
    """Turns a UserError anywhere below (or a database failure the user can act on, or Ctrl+C)
    into one sentence on stderr and its exit code; a command that fails leaves behind no
    database file it created."""

    def invoke(self, ctx: Context) -> Any:
        try:
            result = super().invoke(ctx)
        except UserError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except (KeyboardInterrupt, typer.Abort):  # Abort: Ctrl+C or end of input at a prompt
            _fail(ctx, "Interrupted.", Interrupted.exit_code)
        except typer.Exit as exc:
            _say(_settle_created(ctx, keep=not exc.exit_code))
            raise
        except Exception as exc:
            sentence = _database_problem(exc)
            if sentence is None:  # e.g. output to a pipe its reader closed (`| head`)
                _settle_created(ctx, keep=_written(ctx))
                raise
            _fail(ctx, sentence, 1)
        _settle_created(ctx, keep=True)
        return result


def _written(ctx: Context) -> bool:
    """Whether anything was written to the database this command created (then it stays)."""
    created = (ctx.find_root().obj or {}).get("created")
    if created is None:
        return False
    from sqlalchemy import select

    from fleetui.db.tables import Event, table_of

    with created[0].connect() as conn:
        return conn.execute(select(table_of(Event).c.id).limit(1)).first() is not None


def _database_problem(exc: Exception) -> str | None:
    """The sentence for a database failure the user can act on; None for any other exception."""
    if "sqlalchemy" not in sys.modules:  # then nothing could raise its DatabaseError
        return None
    from sqlalchemy.exc import DatabaseError

    from fleetui.store import database_problem

    return database_problem(exc) if isinstance(exc, DatabaseError) else None


def _fail(ctx: Context, sentence: str, code: int) -> None:
    from fleetui.db.engine import redact

    removed = _settle_created(ctx, keep=False)
    _say(f"fleetui: {redact(sentence)}")
    _say(removed)
    raise typer.Exit(code) from None


def _say(sentence: str | None) -> None:
    if sentence:
        _console(stderr=True).print(sentence, markup=False, highlight=False, soft_wrap=True)


def _settle_created(ctx: Context, keep: bool) -> str | None:
    """Announce the database file this command created when it succeeded (unless announced
    already), or remove it when it failed: then the sentence saying so where its creation was
    announced."""
    created = (ctx.find_root().obj or {}).pop("created", None)
    if created is None:
        return None
    engine, path, announce, dry_run = created
    if keep and not dry_run:
        _announce()
        return None
    announced = announce and not _pending
    _pending.clear()
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return f"Removed the new database {path} again." if announced else None


# Help and usage errors in plain text (rich_markup_mode=None, on every group): typer's rich help
# renderer loads rich and a Markdown parser, which would double the time `fleetui --help` takes.
app = typer.Typer(
    cls=Group,
    rich_markup_mode=None,
    help=ROOT_HELP,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=DB_HELP,
        envvar=None,
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")]


def _print_version(value: bool) -> None:
    if value:
        from fleetui import __version__
        from fleetui.db.migrate import HEAD

        # the schema it writes: two builds of one version can differ there, and a database
        # written by the newer one is refused by the older
        said = f"fleetui {__version__} (database schema {HEAD})"
        _console(stderr=False).print(said, highlight=False)
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db: DbOption = None,
    version: Annotated[
        bool,
        typer.Option("--version", help=VERSION_HELP, callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Without a command: open the TUI on the dashboard."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        from fleetui.app import checked_keymap

        cfg = settings(ctx)
        checked_keymap(cfg)  # the whole config's errors before the database's
        launch(open_db(ctx), settings=cfg)


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


# The commands that may create the database they write to (announced, see _pending); every
# other command, the TUI included, needs one that exists: where there is none it says so and how
# to make one, and leaves no file behind (a mistyped --db path is not a new fleet).
CREATING = frozenset(
    {"import", "restore", "poll", "teams add", "nodes add", "nodes import", "sources add"}
)


class Created(NamedTuple):
    """A database file this command created: removed if it fails (or was a dry run)."""

    engine: Engine
    path: Path
    announce: bool  # its creation is said (not for a demo or a restore, which fill it)
    dry_run: bool = False


def open_db(
    ctx: typer.Context, db: str | None = None, *, fills: bool = False, dry_run: bool = False
):
    """open_fleet, saying so (before the command's first output, see _pending) when that creates
    a new, empty database file, unless the command `fills` it whole (restore); only the
    CREATING commands create one. A `dry_run` works in the database it creates and leaves no
    file behind, as it writes nothing."""
    from fleetui.db.engine import sqlite_path
    from fleetui.store import database_url, open_fleet

    settings(ctx)  # a broken config file is said first, whatever the database
    target = db or db_target(ctx)
    path = sqlite_path(database_url(target))
    is_new = path is not None and not path.exists()
    if is_new and _command(ctx) not in CREATING:
        raise UserError(no_database(path))
    engine = open_fleet(target)
    # Closed when the command ends, whichever way: SQLite's last connection to close removes
    # the -wal and -shm files opening it made (a refused TUI launch left them behind).
    ctx.call_on_close(engine.dispose)
    if is_new and path is not None:  # removed when the command fails (Group)
        ctx.find_root().obj["created"] = Created(engine, path, not (fills or dry_run), dry_run)
        if not (fills or dry_run):
            _pending[:] = [f"Created a new, empty fleet database at {path}."]
    return engine


def _command(ctx: Context) -> str:
    """The command running, as typed after `fleetui` ("teams add"; "" for the TUI)."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def no_database(path: object) -> str:
    """Why a command found no database, and how to start; where a demo fleet exists, how to
    reach it (its `undo` hints and the like name no --db, and `fleetui demo` would rebuild it,
    losing what was tried on it)."""
    from fleetui.db.engine import demo_path

    demo = demo_path()
    if demo.exists() and str(demo) != str(path):
        return (
            f"There is no database at {path} yet; the demo fleet is at {demo}: give "
            f"`fleetui --db {demo}` before the command (`fleetui demo` would rebuild it)."
        )
    return (
        f"There is no database at {path} yet; `fleetui import FILE` creates it with your cards "
        "(`fleetui db upgrade` creates an empty one, `fleetui demo` shows a demo fleet)."
    )


def need_terminal(what: str) -> None:
    """Refuse, in a sentence, to start the TUI where no one can see it or type: a script or a
    pipe would otherwise get a full-screen app that never ends."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            f"{what}, which needs a terminal; `fleetui --help` lists the commands that work "
            "without one."
        )


def launch(engine, query: str = "", *, settings: Config) -> None:
    """The TUI, once the database, the config and its [keymap] passed their checks (and
    there is a terminal: a refusal begins no read)."""
    need_terminal("`fleetui` without a command opens the TUI")
    tui_app(engine, query, settings=settings).run()


def tui_app(engine, query: str = "", *, settings: Config) -> FleetApp:
    """The TUI app as `fleetui` starts it (bench/inventory_scale.py times this): the
    dashboard's first read is begun before Textual is imported, so the two overlap."""
    from fleetui.screens.first_read import begin, wait_for

    first_read = begin(engine, date.today(), settings)
    try:
        from fleetui.app import FleetApp

        return FleetApp(engine, initial_query=query, settings=settings, first_read=first_read)
    except BaseException:  # Ctrl+C while Textual loads: the read's connections go back first
        wait_for(first_read)
        raise


def print_json(value: Any) -> None:
    _announce()
    sys.stdout.write(json.dumps(value, indent=2, default=json_default, ensure_ascii=False) + "\n")


def json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def subgroup(name: str, help: str, *, no_args_is_help: bool = True) -> typer.Typer:
    """The command group `fleetui NAME`, with the root's errors and plain-text help."""
    group = typer.Typer(
        cls=Group, rich_markup_mode=None, help=help, no_args_is_help=no_args_is_help
    )
    app.add_typer(group, name=name)
    return group


report_app = subgroup("report", "Reports from the inventory and its log.")


def confirm(yes: bool, preview: list[str], question: str, review: str, act: str) -> None:
    """Before a write: unless --yes, show the preview and ask; without a terminal, refuse with
    how to review it (`review`) and how to `act` without asking."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"Not asking without a terminal: {review}, then pass --yes to {act}.")
    for line in preview:
        _console(stderr=False).print(line)
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
