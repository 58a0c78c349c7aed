"""The `fleetui` command. Every TUI action has a twin here over the same service function.

Exit codes: 0 success; 1 a user error (bad input, unknown serial, unreachable database);
2 a database written by a newer fleetui, or a command-line usage error.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from db.engine import demo_path, redact, sqlite_path
from fleetui import catalogue, demo, inventory, units
from fleetui.errors import Interrupted, UserError
from fleetui.store import database_problem, database_url, open_fleet

# Data (serials, bus ids like 00000000:AB:00.0, names, CSV headers) is printed literally: no
# Rich markup, emoji codes or highlighting on either console, so no call can interpret it.
err = Console(stderr=True, markup=False, emoji=False, highlight=False)
out = Console(markup=False, emoji=False, highlight=False)


class _Group(typer.core.TyperGroup):
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
        _launch(_open(ctx))


def _db(ctx: typer.Context) -> str | None:
    return ctx.find_root().obj["db"]


def _open(ctx: typer.Context, db: str | None = None):
    """open_fleet, saying so when that creates a new, empty database file."""
    target = db or _db(ctx)
    path = sqlite_path(database_url(target))
    is_new = path is not None and not path.exists()
    engine = open_fleet(target)
    if is_new:  # announced when the command succeeds, removed when it fails (_Group)
        ctx.find_root().obj["created"] = (engine, path)
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
    """Build a realistic demo fleet in its own database (rebuilt each run) and open the TUI.
    Never $FLEETUI_DB; --db only names a new or empty database or one demo built."""
    engine = demo.open_target(_db(ctx) or str(demo_path()))
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
    from fleetui.csvfile import write_rows

    write_rows(sys.stdout, inventory.COLUMNS, (row.as_dict().values() for row in rows), tsv=True)


def _stream_json(rows) -> None:
    """A JSON array written row by row, so a million cards never sit in memory at once."""
    write = sys.stdout.write
    write("[")
    for i, row in enumerate(rows):
        write(("," if i else "") + "\n  " + json.dumps(row.as_dict(), ensure_ascii=False))
    write("\n]\n")


# ---------------------------------------------------------------- import, export, undo


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="CSV file: fleetui's export, Snipe-IT, nvidia-smi "
            "--query-gpu, or a spreadsheet saved as CSV."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count; write nothing.")
    ] = False,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="COLUMN=FIELD (or =ignore); repeat.")
    ] = None,
    on_existing: Annotated[
        str, typer.Option(help="For serials already in the inventory: update, skip or error.")
    ] = "update",
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Write the valid rows; rejected ones go to FILE.rejected.csv with a reason.",
        ),
    ] = False,
    create_missing: Annotated[
        bool, typer.Option("--create-missing", help="Create unknown teams, projects and nodes.")
    ] = False,
    date_format: Annotated[str | None, typer.Option(help="e.g. %d/%m/%Y for 03/04/2023.")] = None,
    currency: Annotated[str | None, typer.Option(help="Currency of prices without one.")] = None,
    node: Annotated[str | None, typer.Option(help="Node of rows without one.")] = None,
    team: Annotated[str | None, typer.Option(help="Team of rows without one.")] = None,
    project: Annotated[str | None, typer.Option(help="Project of rows without one.")] = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Import cards from a CSV file: every row checked first, then one transaction and batch."""
    from fleetui.columns import parse_overrides
    from fleetui.importer import ImportOptions, run_import

    options = ImportOptions(
        dry_run=dry_run,
        overrides=parse_overrides(map_ or []),
        on_existing=on_existing,
        skip_invalid=skip_invalid,
        create_missing=create_missing,
        date_format=date_format,
        currency=currency,
        node=node,
        team=team,
        project=project,
        reason=reason,
    )
    engine = _open(ctx)
    try:
        result = _with_progress(
            "Importing", lambda progress: run_import(engine, file, options, progress)
        )
    except KeyboardInterrupt:
        raise Interrupted("Interrupted; nothing was imported.") from None
    if as_json:
        _print_json(result.as_dict())
    else:
        _print_import(result)
    if result.error_count and not skip_invalid:
        raise typer.Exit(1)


def _with_progress(label: str, work):
    """Run work(progress) with a rich progress bar on a terminal, silently otherwise."""
    if not err.is_terminal:
        return work(None)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


SHOWN_ERROR_GROUPS = 40


def _print_import(result) -> None:
    from fleetui.importer import group_errors

    say = err.print
    say(
        f"{result.file}: {result.encoding}, delimiter {result.delimiter!r}, "
        f"{units.counted(result.rows, 'row')}",
        highlight=False,
    )
    say(
        "Columns: " + ", ".join(f"{c} -> {f}" for c, f in result.mapping.items()),
        highlight=False,
        soft_wrap=True,
    )
    if result.unknown_columns:
        say(
            f"Not imported ({len(result.unknown_columns)}): {', '.join(result.unknown_columns)}",
            highlight=False,
        )
    groups = group_errors(result.errors)
    for group in groups[:SHOWN_ERROR_GROUPS]:
        say(f"  {group}", markup=False, highlight=False, soft_wrap=True)
    if len(groups) > SHOWN_ERROR_GROUPS:
        say(
            f"  ... and {len(groups) - SHOWN_ERROR_GROUPS:,} more kinds of error (--json lists "
            "every one)",
            highlight=False,
        )
    if result.error_count and not result.written and not result.dry_run:
        say(
            f"{units.counted(result.error_count, 'error')}; nothing was written. Fix them, or pass "
            "--skip-invalid to write the valid rows.",
            highlight=False,
        )
        return
    verb = "Would import" if result.dry_run else "Imported"
    line = f"{verb}: {result.summary()}."
    if result.batch_id and result.written:
        line += f" Batch {result.batch_id[:8]} (undo: fleetui undo {result.batch_id[:8]})."
    if result.rejected_file:
        line += f" Rejected rows: {result.rejected_file}"
    out.print(line, highlight=False, soft_wrap=True)


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Filter, as in `fleetui cards`.")] = "",
    format_: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="File (default stdout).")
    ] = None,
) -> None:
    """Export cards in fleetui's own columns; `fleetui import` reads the file back unchanged."""
    from fleetui import exporter

    if format_ not in ("csv", "json"):
        raise UserError("--format takes csv or json.")
    engine = _open(ctx)
    write = exporter.write_csv if format_ == "csv" else exporter.write_json
    if output is None:
        write(engine, query, sys.stdout)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            n = write(engine, query, handle)
    except OSError as exc:
        raise UserError(f"Cannot write {output}: {exc.strerror}.") from None
    err.print(f"Exported {n:,} cards to {output}.", highlight=False)


@app.command("undo")
def undo_cmd(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="Batch id (its first 8 characters are enough).")],
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Revert a batch (an import or a move) if none of its cards changed since."""
    from fleetui.undo import undo

    result = undo(_open(ctx), batch, reason=reason)
    if as_json:
        _print_json(result.__dict__)
    else:
        out.print(result.summary(), highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- teams and projects

teams_app = typer.Typer(cls=_Group, help="Teams: add, list, rename, quotas.", no_args_is_help=True)
projects_app = typer.Typer(cls=_Group, help="Projects of teams: add, list.", no_args_is_help=True)
report_app = typer.Typer(
    cls=_Group, help="Reports from the inventory and its log.", no_args_is_help=True
)
app.add_typer(teams_app, name="teams")
app.add_typer(projects_app, name="projects")
app.add_typer(report_app, name="report")
QuotaCards = Annotated[int | None, typer.Option("--quota-cards", help="Quota in cards.")]
QuotaPflops = Annotated[float | None, typer.Option("--quota-pflops", help="Quota in PFLOPS.")]


@teams_app.command("add")
def teams_add(
    ctx: typer.Context, name: str, quota_cards: QuotaCards = None, quota_pflops: QuotaPflops = None
) -> None:
    """Add a team."""
    from fleetui import teams

    teams.add_team(_open(ctx), name, quota_cards, quota_pflops)
    out.print(f"Team '{name.strip()}' added.", highlight=False)


@teams_app.command("rename")
def teams_rename(ctx: typer.Context, old: str, new: str) -> None:
    """Rename a team (its cards and projects stay with it)."""
    from fleetui import teams

    teams.rename_team(_open(ctx), old, new)
    out.print(f"Team '{old}' is now '{new.strip()}'.", highlight=False)


@teams_app.command("quota")
def teams_quota(
    ctx: typer.Context,
    team: str,
    project: Annotated[str | None, typer.Option(help="Set the project's quota instead.")] = None,
    quota_cards: QuotaCards = None,
    quota_pflops: QuotaPflops = None,
) -> None:
    """Set (or, given neither number, clear) a team's or project's quota."""
    from fleetui import teams

    teams.set_quota(_open(ctx), team, project, quota_cards, quota_pflops)
    out.print("Quota set.", highlight=False)


@teams_app.command("list")
def teams_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Teams with their cards, PFLOPS, quota use and cards per model."""
    _print_holdings(_open(ctx), projects=False, as_json=as_json)


@projects_app.command("add")
def projects_add(
    ctx: typer.Context,
    team: str,
    name: str,
    quota_cards: QuotaCards = None,
    quota_pflops: QuotaPflops = None,
) -> None:
    """Add a project to a team."""
    from fleetui import teams

    teams.add_project(_open(ctx), team, name, quota_cards, quota_pflops)
    out.print(f"Project '{name.strip()}' added to {team}.", highlight=False)


@projects_app.command("list")
def projects_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Projects with their cards, PFLOPS and quota use."""
    _print_holdings(_open(ctx), projects=True, as_json=as_json)


def _print_holdings(engine, projects: bool, as_json: bool) -> None:
    from fleetui import teams

    rows = teams.holdings(engine, projects=projects)
    if as_json:
        _print_json([h.as_dict() for h in rows])
        return
    table = Table()
    for column in ("Project" if projects else "Team", "Cards", "PFLOPS", "Quota use", "Models"):
        table.add_column(column, justify="right" if column in ("Cards", "PFLOPS") else "left")
    for h in rows:
        models = ", ".join(f"{m} {n:,}" for m, n in list(h.by_model.items())[:3])
        table.add_row(h.name, f"{h.cards:,}", f"{h.pflops:,.1f}", h.quota_use(), models)
    out.print(table)


# ---------------------------------------------------------------- plan and move

SerialsArg = Annotated[list[str] | None, typer.Argument(help="Serials of the cards to move.")]
ToTeam = Annotated[str | None, typer.Option("--to-team", help="Team that gets the cards.")]
ToProject = Annotated[str | None, typer.Option("--to-project", help="Project that gets them.")]
Count = Annotated[int | None, typer.Option("--count", help="How many cards to find.")]
Pflops = Annotated[float | None, typer.Option("--pflops", help="How much compute to find.")]
Models = Annotated[str | None, typer.Option("--model", help="Model(s), comma-separated.")]
FromTeam = Annotated[str | None, typer.Option("--from-team", help="Take from this team.")]
FromProject = Annotated[str | None, typer.Option("--from-project", help="Take from this project.")]


def _plan(engine, serials, to_team, to_project, count, pflops, model, from_team, from_project):
    from fleetui import moves

    if count is None and pflops is None:
        return moves.plan_cards(engine, serials or [], to_team, to_project)
    if serials:
        raise UserError("Give serials or --count/--pflops, not both.")
    models = [m.strip() for m in model.split(",")] if model else None
    return moves.plan_request(
        engine,
        to_team,
        to_project,
        count,
        pflops,
        models,
        from_team,
        from_project,
        today=date.today(),
    )


def _show_plan(plan, as_json: bool) -> None:
    from fleetui import moves

    if as_json:
        _print_json(plan.as_dict())
    else:
        for line in moves.describe(plan):
            out.print(line, highlight=False, markup=False)


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    serials: SerialsArg = None,
    to_team: ToTeam = None,
    to_project: ToProject = None,
    count: Count = None,
    pflops: Pflops = None,
    model: Models = None,
    from_team: FromTeam = None,
    from_project: FromProject = None,
    as_json: JsonOption = False,
) -> None:
    """Preview a move (same arguments as `move`); writes nothing."""
    plan = _plan(
        _open(ctx), serials, to_team, to_project, count, pflops, model, from_team, from_project
    )
    _show_plan(plan, as_json)


@app.command("move")
def move_cmd(
    ctx: typer.Context,
    serials: SerialsArg = None,
    to_team: ToTeam = None,
    to_project: ToProject = None,
    count: Count = None,
    pflops: Pflops = None,
    model: Models = None,
    from_team: FromTeam = None,
    from_project: FromProject = None,
    reason: Annotated[str, typer.Option(help="Why (required; goes in the log).")] = "",
    actor: Annotated[str | None, typer.Option(help="Who (default: your OS user).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Move cards between teams/projects: named serials, or a request by count or PFLOPS."""
    from fleetui import moves

    if not reason.strip():
        raise UserError("Say why: a move needs --reason.")
    engine = _open(ctx)
    plan = _plan(
        engine, serials, to_team, to_project, count, pflops, model, from_team, from_project
    )
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(
                "Not asking without a terminal: review with `fleetui plan`, then "
                "pass --yes to move."
            )
        _show_plan(plan, as_json=False)
        if not typer.confirm("Move these cards?", default=False):
            raise typer.Exit(1)
    batch = moves.commit(engine, plan, reason, actor)
    if as_json:
        _print_json(plan.as_dict() | {"batch_id": batch})
    else:
        out.print(
            f"Moved {len(plan.cards):,} cards to {plan.target.label()}. Batch {batch[:8]} "
            f"(undo: fleetui undo {batch[:8]}).",
            highlight=False,
        )


# ---------------------------------------------------------------- history and reports


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    card: Annotated[str | None, typer.Option("--card", help="One card's events (serial).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Batches moving cards in/out.")] = None,
    project: Annotated[str | None, typer.Option("--project")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this date (2026-01-31).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many batches.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """The audit log: batches newest first, or one card's events."""
    from fleetui import history

    engine = _open(ctx)
    if card:
        events = history.card_events(engine, card)
        if as_json:
            _print_json(events)
            return
        for e in events:
            out.print(
                f"{e['at']:%Y-%m-%d %H:%M}  {e['actor']}  {e['action']}  {e['before']} -> "
                f"{e['after']}  {e['reason']}  batch {e['batch_id'][:8]}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        return
    found = history.batches(engine, team, project, since, limit)
    if as_json:
        _print_json([b.as_dict() for b in found])
        return
    table = Table()
    for column in history.BATCH_HEADINGS:
        table.add_column(column)
    for b in found:
        table.add_row(*b.cells())
    out.print(table)


@report_app.command("allocation")
def report_allocation(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="The date (2026-01-31).")],
    as_json: JsonOption = False,
) -> None:
    """Who held how many cards and PFLOPS at the end of a past date, rebuilt from the log."""
    from fleetui import history

    rows = history.allocation_as_of(_open(ctx), as_of)
    if as_json:
        _print_json([r.as_dict() for r in rows])
        return
    table = Table(title=f"Allocation at the end of {as_of}")
    for column in ("Team", "Cards", "PFLOPS"):
        table.add_column(column, justify="left" if column == "Team" else "right")
    for r in rows:
        table.add_row(r.team, f"{r.cards:,}", f"{r.tflops / 1000:,.1f}")
    out.print(table)


# ---------------------------------------------------------------- lifecycle

CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")]
TodayOption = Annotated[
    str | None, typer.Option("--today", help="Report as if it were this date (2027-01-31).")
]


def _today(value: str | None) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--today {value!r} is not a date like 2027-01-31.") from None


def _snapshot(ctx: typer.Context, today: str | None):
    from fleetui import config, lifecycle

    return lifecycle.snapshot(_open(ctx), config.load(), _today(today))


def _print_rows(rows, as_json: bool, as_csv: bool, title: str) -> None:
    """Report rows as JSON, CSV or a table (label, cards, PFLOPS and each row's extras)."""
    dicts = [r.as_dict() for r in rows]
    if as_json:
        _print_json(dicts)
        return
    columns = list(dicts[0]) if dicts else ["label", "cards", "pflops"]
    if as_csv:
        from fleetui.csvfile import write_rows

        write_rows(sys.stdout, columns, (d.values() for d in dicts))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column == "label" else "right")
    for d in dicts:
        table.add_row(
            *(
                f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
                for v in d.values()
            )
        )
    out.print(table)


@report_app.command("warranty")
def report_warranty(
    ctx: typer.Context,
    within: Annotated[str, typer.Option(help="Window, e.g. 90d.")] = "90d",
    by: Annotated[str, typer.Option(help="team, model or supplier.")] = "team",
    today: TodayOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cards whose warranty ends within a window, grouped by team, model or supplier."""
    from fleetui import lifecycle

    if by not in ("team", "model", "supplier"):
        raise UserError("--by takes team, model or supplier.")
    try:
        days = int(within.strip().rstrip("dD"))
    except ValueError:
        raise UserError(f"--within {within!r}: give days, like 90d.") from None
    rows = lifecycle.warranty_expiring(_snapshot(ctx, today), days, by)
    _print_rows(rows, as_json, as_csv, f"Warranties ending within {days} days, by {by}")


@report_app.command("cliff")
def report_cliff(
    ctx: typer.Context,
    years: int = 3,
    today: TodayOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cards and PFLOPS reaching end of service life per quarter."""
    from fleetui import lifecycle

    rows = lifecycle.retirement_cliff(_snapshot(ctx, today), years)
    _print_rows(rows, as_json, as_csv, f"Retirement cliff, next {years} years")


def _simple_report(name: str, compute: str, title: str, doc: str) -> None:
    """Register `fleetui report NAME`: lifecycle.COMPUTE over today's snapshot, as a table."""

    def command(
        ctx: typer.Context,
        today: TodayOption = None,
        as_json: JsonOption = False,
        as_csv: CsvOption = False,
    ) -> None:
        from fleetui import lifecycle

        rows = getattr(lifecycle, compute)(_snapshot(ctx, today))
        _print_rows(rows, as_json, as_csv, title)

    command.__doc__ = doc
    report_app.command(name)(command)


_simple_report(
    "eol",
    "past_end_of_life",
    "In service past end of life",
    "Cards still in service past their end of life, per team and model.",
)
_simple_report(
    "book-value",
    "book_values",
    "Book value per team",
    "Purchase price and straight-line book value per team.",
)
_simple_report(
    "irreplaceable",
    "irreplaceable_share",
    "Irreplaceable compute per team",
    "Per team, the share of its compute on models that can no longer be bought.",
)


@report_app.command("cost")
def report_cost(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="team or project.")] = "team",
    today: TodayOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Yearly cost of ownership per team or project: depreciation, power, rack/ops."""
    from fleetui import lifecycle

    if by not in ("team", "project"):
        raise UserError("--by takes team or project.")
    rows = lifecycle.cost_of_ownership(_snapshot(ctx, today), by)
    _print_rows(rows, as_json, as_csv, "Cost of ownership per year")


@report_app.command("repairs")
def report_repairs(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOption = False,
) -> None:
    """Repairs returned and their cost, in and out of warranty."""
    from fleetui import history, repairs

    rows = repairs.cost_report(_open(ctx), history.parse_since(since))
    if as_json:
        _print_json([r.as_dict() for r in rows])
        return
    table = Table(title="Repair cost")
    for column in ("Currency", "Repairs", "In warranty", "Out of warranty", "Cost in", "Cost out"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.currency,
            f"{r.repairs:,}",
            f"{r.in_warranty:,}",
            f"{r.out_of_warranty:,}",
            f"{r.cost_in_warranty:,.2f}",
            f"{r.cost_out_of_warranty:,.2f}",
        )
    out.print(table)


@app.command("repair")
def repair_cmd(
    ctx: typer.Context,
    serial: str,
    ticket: Annotated[str | None, typer.Option(help="RMA or ticket number (sending).")] = None,
    vendor: Annotated[str, typer.Option(help="Who repairs it.")] = "",
    returned: Annotated[bool, typer.Option("--returned", help="It came back.")] = False,
    cost: Annotated[str | None, typer.Option(help="What the repair cost, e.g. 1200 USD.")] = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    today: TodayOption = None,
) -> None:
    """Send a card to repair (--ticket, --vendor) or bring it back (--returned [--cost])."""
    from fleetui import config, repairs

    engine = _open(ctx)
    if returned:
        batch = repairs.receive(engine, serial, cost, config.load(), _today(today), reason)
        out.print(
            f"Card {serial} is back from repair, as a spare (batch {batch[:8]}).", highlight=False
        )
        return
    if cost:
        raise UserError("--cost goes with --returned.")
    batch = repairs.send(engine, serial, ticket or "", vendor, reason)
    out.print(
        f"Card {serial} is in repair under ticket {ticket} (batch {batch[:8]}).", highlight=False
    )


# ---------------------------------------------------------------- telemetry


@app.command("agent")
def agent_cmd(
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve on.")] = "127.0.0.1:9400",
    token_file: Annotated[
        str | None, typer.Option(help="File holding the bearer token; required off loopback.")
    ] = None,
) -> None:
    """Serve this host's GPU telemetry: /snapshot (JSON) and /metrics (Prometheus text)."""
    from fleetui.telemetry import agent

    host, port = agent.parse_listen(listen)
    try:
        server = agent.make_server(host, port, agent.read_token(token_file))
    except OSError as exc:
        raise UserError(f"Cannot listen on {listen}: {exc.strerror}.") from None
    err.print(f"fleetui agent serving http://{listen}/snapshot and /metrics", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


@app.command("gpus")
def gpus_cmd(as_json: JsonOption = False) -> None:
    """This host's GPUs as NVML sees them now (what the agent would serve)."""
    from fleetui.telemetry import nvml

    snap = nvml.collect()
    if as_json:
        _print_json(snap.as_dict())
        return
    if snap.error:
        raise UserError(snap.error + ".")
    table = Table(title=f"{snap.hostname}: {len(snap.gpus)} GPUs, driver {snap.driver}")
    for column in ("GPU", "Name", "Serial", "Bus", "Util %", "Mem MiB", "°C", "W", "Health"):
        table.add_column(column)
    for g in snap.gpus:
        table.add_row(
            str(g.index),
            g.name or "",
            g.serial or "",
            g.pci_bus_id or "",
            _fmt(g.util_gpu),
            _fmt(g.memory_used_mib),
            _fmt(g.temperature_c),
            _fmt(g.power_w),
            ", ".join(g.health()) or "ok",
        )
    out.print(table)


nodes_app = typer.Typer(
    cls=_Group, help="Nodes whose telemetry fleetui polls.", no_args_is_help=True
)
app.add_typer(nodes_app, name="nodes")


@nodes_app.command("add")
def nodes_add(
    ctx: typer.Context,
    host: str,
    agent: Annotated[str | None, typer.Option("--agent", help="fleetui agent URL.")] = None,
    dcgm: Annotated[str | None, typer.Option("--dcgm", help="dcgm-exporter URL.")] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            help="File with this node's bearer token (its path is stored, not the token; "
            "default for agents: $FLEETUI_AGENT_TOKEN_FILE).",
        ),
    ] = None,
) -> None:
    """Register a node and where its telemetry is (a fleetui agent or a dcgm-exporter)."""
    from fleetui.telemetry import poller

    if (agent is None) == (dcgm is None):
        raise UserError("Give the node's --agent URL or its --dcgm URL.")
    poller.add_node(_open(ctx), host, agent or dcgm, "agent" if agent else "dcgm", token_file)
    out.print(f"Node {host} registered.", highlight=False)


@nodes_app.command("import")
def nodes_import(ctx: typer.Context, file: str) -> None:
    """Register many nodes from a CSV with columns hostname, kind (agent or dcgm), url."""
    from fleetui.telemetry import poller

    count = poller.add_nodes_from_csv(_open(ctx), file)
    out.print(f"{count:,} nodes registered.", highlight=False)


@nodes_app.command("list")
def nodes_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Registered nodes, their endpoints and when they last answered."""
    from fleetui.telemetry import poller

    found = poller.nodes(_open(ctx))
    if as_json:
        _print_json(
            [{k: str(v) if isinstance(v, datetime) else v for k, v in n.items()} for n in found]
        )
        return
    table = Table()
    for column in ("Node", "Kind", "URL", "Last seen", "Failures"):
        table.add_column(column)
    for n in found:
        seen = f"{n['last_seen_at']:%Y-%m-%d %H:%M:%S}" if n["last_seen_at"] else "never"
        table.add_row(
            n["hostname"], n["telemetry_kind"], n["telemetry_url"], seen, str(n["failures"])
        )
    out.print(table)


@app.command("poll")
def poll_cmd(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds.")] = 10.0,
    timeout: Annotated[float, typer.Option(help="Seconds per node.")] = 2.0,
) -> None:
    """Poll the registered nodes (each round starts after the previous one finished); with
    none registered, read this host's GPUs through NVML."""
    import time

    from fleetui.telemetry import poller

    engine = _open(ctx)
    local = not poller.nodes(engine)  # no nodes registered: this host's own GPUs via NVML
    while True:
        started = time.monotonic()
        result = poller.poll_local(engine) if local else poller.poll_once(engine, timeout=timeout)
        out.print(
            f"{result.answered:,} of {result.polled:,} nodes answered, {result.gpus:,} GPUs"
            + (f", {result.skipped:,} backing off" if result.skipped else ""),
            highlight=False,
        )
        for failure in result.failed[:10]:
            err.print(f"  {failure}", highlight=False, markup=False)
        if once:
            return
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


reconcile_app = typer.Typer(
    cls=_Group, help="What telemetry and the inventory disagree on, and fixing it."
)
app.add_typer(reconcile_app, name="reconcile")


@reconcile_app.callback(invoke_without_command=True)
def reconcile_cmd(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List what telemetry and the inventory disagree on: unknown, missing, moved, model.
    Exit 0: they agree; 1: discrepancies (listed)."""
    from fleetui.telemetry import reconcile

    if ctx.invoked_subcommand is not None:
        return
    found = reconcile.discrepancies(_open(ctx))
    if as_json:
        _print_json([d.as_dict() for d in found])
    else:
        for d in found:
            out.print(
                f"{d.kind:8} {d.node} {d.pci_bus_id or '-'} {d.serial or '-'}: {d.detail}",
                highlight=False,
                markup=False,
            )
        if not found:
            out.print("Telemetry and the inventory agree.", highlight=False)
    if found:
        raise typer.Exit(1)


@reconcile_app.command("fix")
def reconcile_fix(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="Serial or UUID of the card or GPU.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Fix every discrepancy.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fix discrepancies as the Telemetry screen's `f` does (unknown: add it; moved: record
    where seen; missing: take off its node), each an undoable batch. Exit 1 if any is left."""
    from fleetui.telemetry import reconcile

    if (key is None) == (not every):
        raise UserError("Give a serial or UUID, or --all.")
    engine = _open(ctx)
    found = reconcile.discrepancies(engine)
    chosen = found if every else reconcile.matching(found, key)
    results = []
    for d in chosen:
        try:
            results.append(d.as_dict() | {"done": reconcile.fix(engine, d)})
        except UserError as exc:
            results.append(d.as_dict() | {"error": str(exc)})
    if as_json:
        _print_json(results)
    else:
        for r in results:
            line = r.get("done") or f"{r['kind']} {r['serial'] or '-'}: {r['error']}"
            out.print(line, highlight=False, markup=False)
        if not results:
            out.print("Telemetry and the inventory agree: nothing to fix.", highlight=False)
    if any("error" in r for r in results):
        raise typer.Exit(1)


# ---------------------------------------------------------------- db


@db_app.command("info")
def db_info(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where the database is, its schema revision and size. Never changes it."""
    from db.engine import DatabaseURLError, make_engine
    from db.migrate import current_revision, known_revisions

    url = database_url(_db(ctx))
    path = sqlite_path(url)
    if path is not None and not path.exists():  # connecting would create it
        raise UserError(f"There is no database at {path} yet; any other command creates it.")
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
    if path is not None:
        info["file_bytes"] = path.stat().st_size
    if current == head:
        info["cards"] = demo.card_count(engine)
    engine.dispose()
    if as_json:
        _print_json(info)
    else:
        for key, value in info.items():
            out.print(f"{key:12} {value}", highlight=False)


@db_app.command("check")
def db_check(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="SQLite: the slow, complete integrity_check instead of quick_check."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check integrity, foreign keys and fleetui's invariants. Exit 0: all well; 1: problems
    (listed); 2: a database from a newer fleetui."""
    from fleetui import maintenance

    problems = maintenance.check(_open(ctx), full)
    if as_json:
        _print_json([p.__dict__ for p in problems])
    else:
        for problem in problems:
            out.print(str(problem), highlight=False, markup=False)
        if not problems:
            out.print("All checks passed.", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command("backup")
def backup_cmd(ctx: typer.Context, dest: Annotated[str, typer.Argument(help="New file.")]) -> None:
    """Back up the database (safe while fleetui runs). SQLite: a copy; PostgreSQL: pg_dump -Fc."""
    from fleetui import maintenance

    out.print(maintenance.backup(_open(ctx), dest), highlight=False)


@app.command("restore")
def restore_cmd(
    ctx: typer.Context, src: Annotated[str, typer.Argument(help="A file from `fleetui backup`.")]
) -> None:
    """Restore a backup into an empty database."""
    from fleetui import maintenance

    out.print(maintenance.restore(_open(ctx), src), highlight=False)


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
