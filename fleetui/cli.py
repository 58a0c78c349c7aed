"""The `fleetui` command. Every TUI action has a twin here over the same service function.

Exit codes: 0 success; 1 a user error (bad input, unknown serial, unreachable database);
2 a database written by a newer fleetui, or a command-line usage error.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from db.engine import ENV_VAR, demo_path, redact, sqlite_path
from fleetui import catalogue, demo, inventory, units
from fleetui.errors import UserError
from fleetui.store import database_url, open_fleet

err = Console(stderr=True)
out = Console()


class _Group(typer.core.TyperGroup):
    """Turns a UserError anywhere below into one sentence on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            err.print(f"fleetui: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    help="Terminal fleet manager for GPUs and other accelerators.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(cls=_Group, help="Inspect or upgrade the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

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


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context, db: DbOption = None) -> None:
    """Without a command: open the TUI on the inventory."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is None:
        _launch(_open(ctx))


def _db(ctx: typer.Context) -> str | None:
    return ctx.find_root().obj["db"]


def _open(ctx: typer.Context, db: str | None = None):
    """open_fleet, saying so when that creates a new, empty database file."""
    target = db or _db(ctx)
    path = sqlite_path(database_url(target))
    is_new = path is not None and not path.exists()
    engine = open_fleet(target)
    if is_new:
        err.print(f"Created a new, empty fleet database at {path}.", highlight=False)
    return engine


def _launch(engine, query: str = "") -> None:
    from fleetui.app import FleetApp

    FleetApp(engine, initial_query=query).run()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


# ---------------------------------------------------------------- demo


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    cards: Annotated[int, typer.Option(help="About how many cards.")] = 2000,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet.")] = 7,
    no_launch: Annotated[bool, typer.Option("--no-launch", help="Build only.")] = False,
) -> None:
    """Build a realistic demo fleet in its own database (rebuilt each run) and open the TUI."""
    target = _db(ctx) or os.environ.get(ENV_VAR) or str(demo_path())
    engine = _fresh_demo_database(target)
    if cards >= 50_000:
        from rich.progress import Progress

        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("Building the demo fleet", total=cards)
            written = demo.build(engine, cards, seed, lambda n, _: bar.update(task, completed=n))
    else:
        written = demo.build(engine, cards, seed)
    err.print(f"Demo fleet: {units.count(written)} cards in {redact(str(engine.url))}")
    if not no_launch:
        _launch(engine)


def _fresh_demo_database(target: str):
    """An empty database for the demo; only ever clears one that demo itself built."""
    engine = open_fleet(target)
    if demo.card_count(engine) == 0:
        return engine
    path = sqlite_path(database_url(target))
    if path is not None and demo.is_demo(engine):
        engine.dispose()  # a rebuilt file is faster than deleting a million rows
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return open_fleet(target)
    demo.clear(engine)  # raises unless it is a demo database
    return engine


# ---------------------------------------------------------------- catalogue


@app.command("models")
def models_cmd(as_json: JsonOption = False) -> None:
    """List the GPU catalogue: memory, dense FP16/BF16 TFLOPS, TDP, TPP, export class, source."""
    specs = catalogue.models()
    if as_json:
        _print_json([_model_json(s) for s in specs])
        return
    table = Table(title=f"GPU catalogue ({len(specs)} models)")
    for column in ("Model", "Vendor", "Mem GB", "FP16 TFLOPS", "TDP W", "TPP", "Export class"):
        table.add_column(
            column, justify="right" if column[0] in "MFTP" and column != "Model" else "left"
        )
    for s in specs:
        table.add_row(
            s.name,
            s.vendor,
            _fmt(s.memory_gb),
            _fmt(s.fp16_tflops),
            _fmt(s.tdp_w),
            _fmt(s.tpp),
            s.export_class,
        )
    out.print(table)


def _model_json(spec: catalogue.ModelSpec) -> dict[str, Any]:
    values = spec.row()
    values["nvml_names"] = list(spec.nvml_names)
    values["aliases"] = list(spec.aliases)
    return values


def _fmt(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


# ---------------------------------------------------------------- cards


@app.command("cards")
def cards_cmd(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(help="Filter, e.g. 'team:llm model:h800 status:spare'.")
    ] = "",
    as_json: JsonOption = False,
    limit: Annotated[int | None, typer.Option(help="At most N cards (table default 50).")] = None,
    sort: Annotated[str, typer.Option(help=f"One of: {', '.join(inventory.SORTS)}.")] = "serial",
) -> None:
    """List cards matching a filter (the TUI's `/` syntax)."""
    engine = _open(ctx)
    if as_json:
        _stream_json(inventory.cards(engine, query, limit, sort))
        return
    if not sys.stdout.isatty():  # piped: tab-separated, every matching card unless --limit
        _stream_tsv(inventory.cards(engine, query, limit, sort))
        return
    shown = limit if limit is not None else 50
    rows = list(inventory.cards(engine, query, shown, sort))
    table = Table(show_lines=False)
    for column in TABLE_COLUMNS:
        table.add_column(column.replace("_", " "), no_wrap=True)
    for row in rows:
        values = row.as_dict()
        table.add_row(*(str(values[c] or "") for c in TABLE_COLUMNS))
    out.print(table)
    total = inventory.count(engine, query)
    if total > len(rows):
        err.print(
            f"{units.count(len(rows))} of {units.count(total)} cards shown; use --limit or --json."
        )


TABLE_COLUMNS = ("serial", "model", "node", "team", "project", "status", "warranty_end")


def _stream_tsv(rows) -> None:
    write = sys.stdout.write
    write("\t".join(inventory.COLUMNS) + "\n")
    for row in rows:
        write("\t".join(str(v) if v is not None else "" for v in row.as_dict().values()) + "\n")


def _stream_json(rows) -> None:
    """A JSON array written row by row, so a million cards never sit in memory at once."""
    write = sys.stdout.write
    write("[")
    for i, row in enumerate(rows):
        write(("," if i else "") + "\n  " + json.dumps(row.as_dict(), ensure_ascii=False))
    write("\n]\n")


# ---------------------------------------------------------------- db


@db_app.command("info")
def db_info(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where the database is, its schema revision and size. Never changes it."""
    from db.engine import DatabaseURLError, make_engine
    from db.migrate import current_revision, known_revisions

    url = database_url(_db(ctx))
    try:
        engine = make_engine(url)
    except DatabaseURLError as exc:
        raise UserError(str(exc)) from None
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise UserError(
            f"Cannot read the database {redact(url)}: {exc.__class__.__name__}."
        ) from None
    head, known = known_revisions()
    state = (
        "up to date"
        if current == head
        else "new (no schema yet)"
        if current is None
        else ("needs upgrade" if current in known else "newer than this fleetui")
    )
    info: dict[str, Any] = {
        "url": redact(url),
        "backend": engine.dialect.name,
        "schema": current,
        "code_schema": head,
        "state": state,
    }
    path = sqlite_path(url)
    if path is not None:
        info["file_bytes"] = path.stat().st_size if path.exists() else 0
    if current == head:
        info["cards"] = demo.card_count(engine)
    engine.dispose()
    if as_json:
        _print_json(info)
    else:
        for key, value in info.items():
            out.print(f"{key:12} {value}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (opening the database does this too)."""
    from db.migrate import current_revision

    engine = open_fleet(_db(ctx))
    out.print(
        f"{redact(str(engine.url))} is at schema {current_revision(engine)}.", highlight=False
    )


def main() -> None:
    app()
