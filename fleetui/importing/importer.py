"""Importing an inventory CSV: every row checked first, then one transaction, one audit batch.

How it goes:
1. The file is streamed; every cell is parsed (parsers are memoised per column, since dates,
   models and teams repeat) and every row is staged in a temporary table, in chunks; a row
   with an error of its own is staged flagged `rejected`, never to be written.
2. Checks across rows run in SQL on the stage, over every row, rejected or not (so one check
   reports every problem): serials, UUIDs or asset tags repeated in the file, UUIDs or tags
   held by other cards, existing serials with --on-existing error.
3. With any error and no --skip-invalid nothing is written. Otherwise the upsert runs set-based:
   changed cards are updated (only the columns the file has; an empty cell keeps the stored
   value), new cards inserted, and an event per card written, all in the same transaction.
A dry run does all of it and rolls back, so its counts are exactly what a real run would do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.db import audit
from fleetui.db.bulk import (
    bulk_cache,
    foreign_keys_trusted,
    gc_paused,
    refresh_statistics_if_idle,
)
from fleetui.db.locks import lock_cards_for_writing
from fleetui.db.tables import Card, require_fit, table_of
from fleetui.importing import stage
from fleetui.importing.apply import apply
from fleetui.importing.cells import CellError, RowError, parse_currency
from fleetui.importing.columns import Mapping, map_columns
from fleetui.importing.csvfile import CsvSource, open_csv, write_rows
from fleetui.importing.outcome import ImportOptions, ImportResult
from fleetui.importing.parse import FITTED, ChunkParser
from fleetui.importing.stage import Names
from fleetui.importing.xlsxfile import XlsxSource, is_workbook, open_xlsx
from fleetui.store import busy_as_user_error

CHUNK = 20_000
MAX_ERRORS_KEPT = 100_000
ANALYZE_AFTER = 50_000  # new or changed cards after which the planner's statistics are redone
card_t = table_of(Card)


class ImportCancelled(UserError):
    """The user cancelled; nothing was written."""


Progress = Callable[[int, int], None]  # (bytes read, file size)


def inspect_file(
    path: str | Path, overrides: dict[str, str] | None = None, sheet: str | None = None
) -> tuple[CsvSource | XlsxSource, Mapping]:
    """The detected source and column mapping of a CSV file or an .xlsx workbook's sheet, for
    previews (UserError if unusable)."""
    if is_workbook(path):
        source: CsvSource | XlsxSource = open_xlsx(path, sheet)
    elif sheet is not None:
        raise UserError(f"--sheet is for .xlsx workbooks; {Path(path).name} is read as CSV.")
    else:
        source = open_csv(path)
    return source, map_columns(source.header, overrides)


def unused_columns(columns: list[str], verbose: bool = False, shown: int = 3) -> str:
    """The one line naming the columns an import leaves out: 'N other columns not imported:
    a, b, c…' (every one when `verbose`); empty when there are none."""
    if not columns:
        return ""
    names = columns if verbose or len(columns) <= shown else [*columns[:shown], "…"]
    listed = ", ".join(names).replace(", …", "…")
    noun = "column" if len(columns) == 1 else "columns"
    return f"{len(columns):,} other {noun} not imported: {listed}"


def run_import(
    engine: Engine | Callable[[], Engine],
    path: str | Path,
    options: ImportOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Validate and (unless a dry run or invalid) write a CSV file; see the module docstring.
    `engine` may be a function opening it, called once the file and options are found usable
    (so an unusable file creates no database)."""
    if options.on_existing not in ("update", "skip", "error"):
        raise UserError("--on-existing takes update, skip or error.")
    source, mapping = inspect_file(path, options.overrides, options.sheet)
    _check_options(mapping, options)
    if callable(engine):
        engine = engine()
    result = ImportResult(
        file=str(source.path),
        encoding=source.encoding,
        delimiter=source.delimiter,
        layout=source.layout(),
        mapping={mapping.names[i]: f for i, f in mapping.fields.items()},
        unknown_columns=mapping.unknown,
        dry_run=options.dry_run,
    )
    with (
        busy_as_user_error(),
        gc_paused(),
        engine.connect() as conn,
        foreign_keys_trusted(conn),
        bulk_cache(conn),
    ):
        transaction = conn.begin()
        try:
            _run(conn, source, mapping, options, result, progress, cancel)
        except IntegrityError as exc:
            transaction.rollback()
            raise UserError(
                f"The import conflicts with the inventory ({_first_line(exc)}); "
                "nothing was written."
            ) from None
        except BaseException:
            transaction.rollback()
            raise
        if (
            options.dry_run
            or result.nothing_valid
            or (result.error_count and not options.skip_invalid)
        ):
            transaction.rollback()
            result.batch_id = None  # rolled back: no such batch in the log
        else:
            transaction.commit()
            result.written = True
    if result.written and result.new + result.changed > ANALYZE_AFTER:
        refresh_statistics_if_idle(engine)
    if result.rejected and not options.dry_run:
        result.rejected_file = _write_rejected(source, result)
    return result


def _first_line(exc: IntegrityError) -> str:
    return str(exc.orig).strip().splitlines()[0]


def _check_options(mapping: Mapping, options: ImportOptions) -> None:
    for name in ("team", "project", "node"):
        require_fit(FITTED[name], getattr(options, name), f"--{name}")
    if options.currency:
        try:
            options.currency = parse_currency(options.currency)
        except CellError as exc:
            raise UserError(f"--currency {units.quoted(options.currency)}: {exc}.") from None
    if options.date_format:
        try:
            datetime.now().strftime(options.date_format)
        except ValueError:
            raise UserError(
                f"--date-format {units.quoted(options.date_format)} is not a date format."
            ) from None


def _run(
    conn, source: CsvSource | XlsxSource, mapping: Mapping, options, result, progress, cancel
) -> None:
    lock_cards_for_writing(conn)  # before any read: see db.locks
    empty = conn.execute(select(card_t.c.id).limit(1)).first() is None
    stage.create(conn)
    names = Names(conn, options)
    parser = ChunkParser(names, source, mapping, options)
    size = max(source.path.stat().st_size, 1)
    bad_rows: dict[int, str] = {}
    for chunk in source.chunks(CHUNK):
        _stage(conn, parser, chunk, result, bad_rows)
        if cancel is not None and cancel.is_set():
            raise ImportCancelled("Import cancelled; nothing was written.")
        if progress:
            last = chunk[0][-1]
            progress(min(size, round(size * last / max(parser.rows_estimate, last))), size)
    if result.rows == 0:
        raise UserError(f"{source.path.name} has a header but no rows.")
    if parser.bare_prices:
        code, why = parser.bare_currency()
        stage.settle_bare_prices(conn, code)
        result.bare_currency = f"{code} ({why})"
    if names.nodes_created:
        names.created.append(("nodes", names.nodes_created))
    stage.index_serials(conn)
    present = parser.present_fields()
    # The usual re-import changes nothing: one read-only pass tells so, and every row is then
    # an existing card left as it is, so no row needs linking to its card nor checks that do.
    quiet = not empty and options.on_existing != "error" and stage.changes_nothing(conn, present)
    if not empty and not quiet:  # an empty inventory has no cards to link to or clash with
        stage.link_existing(conn, present)
    serial_column = mapping.names[mapping.serial_column]
    uuid_index = mapping.column_of("uuid")
    uuid_column = mapping.names[uuid_index] if uuid_index is not None else "uuid"
    tag_index = mapping.column_of("asset_tag")
    tag_column = mapping.names[tag_index] if tag_index is not None else None
    checks = (
        stage.repeats(conn, "serial", "serial", serial_column)
        if quiet
        else stage.cross_row_errors(
            conn, options, serial_column, uuid_column, parser.uuid_repeats, not empty, tag_column
        )
    )
    across = list(checks)
    _add_errors(result, across, bad_rows)
    result.errors.sort(key=lambda e: e.row)
    if result.error_count and not options.skip_invalid:
        return
    if bad_rows:
        stage.remove_rejected(conn, sorted({e.row for e in across}))
        result.rejected = len(bad_rows)
        result.rejected_rows = bad_rows
        result.rejected_width = parser.widest
    if quiet:  # every staged row is an existing card, left as it is
        total = stage.total(conn)
        if options.on_existing == "skip":
            result.skipped = total
        else:
            result.unchanged = total
    else:
        if options.on_existing == "skip":
            result.skipped = stage.remove_existing(conn)
        result.new, result.changed, result.unchanged = stage.count(conn)
        if "model_id" in present and result.changed:
            result.model_changes, result.model_changed = stage.model_changes(conn)
        if {"team_id", "project_id"} & set(present) and result.changed:
            result.holder_changes, result.holder_changed = stage.holder_changes(conn)
    if result.new or result.changed or names.made:
        result.batch_id = batch_id = audit.new_batch_id()
        apply(conn, result, batch_id, present, options, names)
    stage.drop(conn)  # a rolled-back import's stage goes with its transaction
    if progress:
        progress(size, size)


def _stage(conn, parser: ChunkParser, chunk, result: ImportResult, bad_rows: dict) -> None:
    staged, errors = parser.parse(*chunk)
    result.rows += len(chunk[0])
    errors.sort(key=lambda e: e.row)
    _add_errors(result, errors, bad_rows)
    stage.write(conn, staged)


def _add_errors(result: ImportResult, errors: list[RowError], bad_rows: dict[int, str]) -> None:
    for error in errors:
        result.error_count += 1
        result.missing_errors += error.missing
        if len(result.errors) < MAX_ERRORS_KEPT:
            result.errors.append(error)
        reason = f"{error.column}: {error.reason}" if error.column else error.reason
        bad_rows[error.row] = (
            f"{bad_rows[error.row]}; {reason}" if error.row in bad_rows else reason
        )


def _write_rejected(source: CsvSource | XlsxSource, result: ImportResult) -> str:
    """FILE.rejected.csv: the rejected rows as they were, with a reason column (after the
    cells of the widest row: a row's cells never fall under another's heading)."""
    bad_rows = result.rejected_rows
    target = source.path.with_name(source.path.name + ".rejected.csv")
    width = max(result.rejected_width, len(source.header))
    extra = [f"column {c + 1}" for c in range(len(source.header), width)]
    with open(target, "w", encoding="utf-8-sig", newline="") as handle:
        rejected = (
            [row_no, *cells[:width], *[""] * (width - len(cells)), bad_rows[row_no]]
            for row_no, cells in source.records()
            if row_no in bad_rows
        )
        write_rows(handle, ["row", *source.header, *extra, "reason"], rejected)
    return str(target)
