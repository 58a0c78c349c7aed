"""Import and export card files; undo any batch."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from fleetui.cli.base import JsonOption, app, err, open_db, out, print_json, settings
from fleetui.core import units
from fleetui.core.errors import Interrupted, UserError

# ---------------------------------------------------------------- import, export, undo


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="CSV file or .xlsx workbook: fleetui's export, Snipe-IT, NetBox, "
            "nvidia-smi --query-gpu, or a spreadsheet."
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
    sheet: Annotated[
        str | None, typer.Option(help="Sheet of an .xlsx workbook (default: the first).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Name every column not imported.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import cards from a CSV file or an .xlsx/.xlsm workbook: every row checked first, then
    one transaction and batch."""
    from fleetui.importing.columns import parse_overrides
    from fleetui.importing.importer import run_import
    from fleetui.importing.outcome import ImportOptions

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
        sheet=sheet,
        reason=reason,
        config=settings(ctx),
    )
    try:
        result = _with_progress(
            "Importing",
            lambda progress: run_import(
                lambda: open_db(ctx, dry_run=dry_run), file, options, progress
            ),
        )
    except KeyboardInterrupt:
        raise Interrupted("Interrupted; nothing was imported.") from None
    if as_json:
        print_json(result.as_dict())
    else:
        _print_import(result, verbose)
    if (result.error_count and not skip_invalid) or result.nothing_valid:
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


def _print_import(result, verbose: bool = False) -> None:
    from fleetui.importing.importer import unused_columns
    from fleetui.presentation import group_errors, import_refusal, undo_hint

    say = err.print
    say(
        f"{result.file}: {result.layout}, {units.counted(result.rows, 'row')}",
        highlight=False,
        soft_wrap=True,
    )
    say(
        "Columns: " + ", ".join(f"{c} -> {f}" for c, f in result.mapping.items()),
        highlight=False,
        soft_wrap=True,
    )
    if result.unknown_columns:
        say(unused_columns(result.unknown_columns, verbose), highlight=False, soft_wrap=True)
    groups = group_errors(result.errors)
    for group in groups[:SHOWN_ERROR_GROUPS]:
        say(f"  {group}", markup=False, highlight=False, soft_wrap=True)
    if len(groups) > SHOWN_ERROR_GROUPS:
        say(
            f"  ... and {units.counted(len(groups) - SHOWN_ERROR_GROUPS, 'more kind')} of error "
            "(--json lists every one)",
            highlight=False,
        )
    refusal = import_refusal(result)
    if refusal:
        say(refusal, highlight=False)
        return
    verb = "Would import" if result.dry_run else "Imported"
    line = f"{verb}: {result.summary()}."
    if result.batch_id:
        line += f" {undo_hint(result.batch_id)}"
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
    from fleetui.inventory import export as exporter
    from fleetui.inventory import filters

    if format_ not in ("csv", "json"):
        raise UserError("--format takes csv or json.")
    engine = open_db(ctx)
    write = exporter.write_csv if format_ == "csv" else exporter.write_json
    if output is None:
        write(engine, query, sys.stdout, settings=settings(ctx))
        return
    # The filter checked before a file is opened; the file written beside the target, then
    # renamed: a failing export leaves no file, not a header.
    filters.where(engine, query, settings=settings(ctx))
    target = Path(output)
    part = target.with_name(f".{target.name}.part")
    try:
        with open(part, "w", encoding="utf-8", newline="") as handle:
            n = write(engine, query, handle, settings=settings(ctx))
        os.replace(part, target)
    except OSError as exc:
        raise UserError(f"Cannot write {output}: {exc.strerror}.") from None
    finally:
        part.unlink(missing_ok=True)
    err.print(f"Exported {units.counted(n, 'card')} to {output}.", highlight=False)


@app.command("undo")
def undo_cmd(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="Batch id (its first 8 characters are enough).")],
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Revert any batch that changed cards (import, move, edit, delete, repair, RMA, telemetry
    fix), added a team or project, renamed one or a node, or set a quota, if what it changed did
    not change since."""
    from fleetui.allocation.undo import undo

    result = undo(open_db(ctx), batch, reason=reason)
    if as_json:
        print_json(result.__dict__)
    else:
        out.print(result.summary(), highlight=False, soft_wrap=True)
