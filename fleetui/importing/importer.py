"""Importing an inventory CSV: every row checked first, then one transaction, one audit batch.

How it goes:
1. The file is streamed; every cell is parsed (parsers are memoised per column, since dates,
   models and teams repeat) and valid rows are staged in a temporary table, in chunks.
2. Checks across rows run in SQL on the stage: serials or UUIDs repeated in the file, UUIDs held
   by other cards, existing serials with --on-existing error.
3. With any error and no --skip-invalid nothing is written. Otherwise the upsert runs set-based:
   changed cards are updated (only the columns the file has; an empty cell keeps the stored
   value), new cards inserted, and an event per card written, all in the same transaction.
A dry run does all of it and rolls back, so its counts are exactly what a real run would do.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from fleetui import catalogue, config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import IMPORT_CREATED, Action, Status
from fleetui.db import audit
from fleetui.db.bulk import (
    foreign_keys_trusted,
    gc_paused,
    indexes_deferred,
    insert_columns,
    insert_rows,
    refresh_statistics_if_idle,
)
from fleetui.db.locks import lock_cards_for_writing
from fleetui.db.sqlfuncs import json_object
from fleetui.db.tables import (
    CARD_DATA_COLUMNS,
    INTEGER_MAX,
    Card,
    GpuModel,
    Node,
    Project,
    Team,
    require_fit,
    unfit,
)
from fleetui.importing.cells import (
    MISSING,
    CellError,
    add_months,
    identity,
    parse_currency,
    parse_date,
    parse_money,
    parse_months,
    parse_status,
    parse_years,
    slot_serial,
)
from fleetui.importing.columns import Mapping, map_columns
from fleetui.importing.csvfile import CsvSource, open_csv, write_rows
from fleetui.store import busy_as_user_error

CHUNK = 20_000
MAX_ERRORS_KEPT = 100_000
MEMO_LIMIT = 100_000  # distinct raw values remembered per column
ANALYZE_AFTER = 50_000  # new or changed cards after which the planner's statistics are redone
_UNSEEN = object()
_MISSING_FIRST = {c for m in MISSING if m for c in (m[0], m[0].upper())}
card_t = Card.__table__

CARD_FIELDS = CARD_DATA_COLUMNS  # the card columns an import can set
# The database column each text field's value goes to (or names a row of): its length limit.
FITTED = {
    "serial": card_t.c.serial,
    "uuid": card_t.c.uuid,
    "pci_bus_id": card_t.c.pci_bus_id,
    "supplier": card_t.c.supplier,
    "team": Team.__table__.c.name,
    "project": Project.__table__.c.name,
    "node": Node.__table__.c.hostname,
}
_stage_meta = MetaData()
stage_t = Table(
    "fleetui_import_stage",
    _stage_meta,
    Column("row_no", Integer),
    Column("serial", String),
    Column("uuid", String),
    Column("model_id", Integer),
    Column("node_id", Integer),
    Column("pci_bus_id", String),
    Column("team_id", Integer),
    Column("project_id", Integer),
    Column("status", String),
    Column("purchase_date", Date),
    Column("price_minor", Integer),
    Column("currency", String),
    Column("supplier", String),
    Column("warranty_end", Date),
    Column("service_life_years", Float),
    Column("notes", String),
    # Whether the row gives its card a UUID it does not have yet: staged as "has a UUID",
    # corrected by the link to the cards (only such rows can clash over a UUID).
    Column("new_uuid", Boolean),
    Column("card_id", Integer),  # the card with this serial, if any (set by the link)
    Column("changes", Boolean),  # whether the row changes that card (set by the link)
    prefixes=["TEMPORARY"],
)
STAGE_COLUMNS = ("row_no", "serial", *CARD_FIELDS, "new_uuid")


@dataclass
class ImportOptions:
    dry_run: bool = False
    overrides: dict[str, str] = field(default_factory=dict)
    on_existing: str = "update"  # update | skip | error
    skip_invalid: bool = False
    create_missing: bool = False
    date_format: str | None = None
    currency: str | None = None
    node: str | None = None
    team: str | None = None
    project: str | None = None
    actor: str | None = None
    reason: str = ""
    config: config.Config | None = None  # default: the user's config file


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column '{self.column}'" if self.column else "")
        value = f", value '{self.value}'" if self.value else ""
        return f"{where}{value}: {self.reason}"


@dataclass
class ImportResult:
    file: str
    encoding: str
    delimiter: str
    mapping: dict[str, str]  # column header -> field
    unknown_columns: list[str]
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    batch_id: str | None = None
    dry_run: bool = False
    written: bool = False
    rejected_file: str | None = None
    rejected_rows: dict[int, str] = field(default_factory=dict, repr=False)  # row -> reasons
    model_changes: int = 0  # existing cards whose model the import changes
    model_changed: list[str] = field(default_factory=list)  # their serials (the first 100)
    bare_currency: str | None = None  # what prices naming no currency were read in, and why

    def summary(self) -> str:
        parts = [f"{self.new:,} new", f"{self.changed:,} changed", f"{self.unchanged:,} unchanged"]
        if self.skipped:
            parts.append(f"{self.skipped:,} existing skipped")
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected")
        text = ", ".join(parts)
        if self.model_changes:
            shown = ", ".join(self.model_changed[:10])
            more = self.model_changes - min(len(self.model_changed), 10)
            text += f"; {units.counted(self.model_changes, 'card')} changed model: {shown}"
            text += f" and {more:,} more" if more else ""
        if self.bare_currency:
            text += f"; prices without a currency read as {self.bare_currency}"
        return text

    def as_dict(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values.pop("rejected_rows")
        values["errors"] = [e.__dict__ for e in self.errors]
        return values


@dataclass(frozen=True)
class ErrorGroup:
    """Rows with the same problem in the same column and value, e.g. one unknown team."""

    rows: list[int]
    column: str
    value: str
    reason: str

    def where(self) -> str:
        """Every row it happened on, as ranges: "rows 2-4, 9, 12"."""
        return ("row " if len(self.rows) == 1 else "rows ") + _ranges(self.rows)

    def __str__(self) -> str:
        where = self.where()
        where += f", column '{self.column}'" if self.column else ""
        value = f", value '{self.value}'" if self.value else ""
        return f"{where}{value}: {self.reason}"


def group_errors(errors: list[RowError]) -> list[ErrorGroup]:
    """Errors grouped by (column, value, reason), in order of first appearance."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for e in errors:
        groups.setdefault((e.column, e.value, e.reason), []).append(e.row)
    return [ErrorGroup(rows, *key) for key, rows in groups.items()]


def _ranges(rows: list[int], limit: int = 12) -> str:
    spans: list[str] = []
    start = prev = rows[0]
    for row in [*rows[1:], None]:
        if row is not None and row == prev + 1:
            prev = row
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if row is not None:
            start = prev = row
    text = ", ".join(spans[:limit])
    return text + (f" and {len(spans) - limit} more ranges" if len(spans) > limit else "")


class ImportCancelled(UserError):
    """The user cancelled; nothing was written."""


Progress = Callable[[int, int], None]  # (bytes read, file size)


def inspect_file(path: str | Path, overrides: dict[str, str] | None = None):
    """The detected source and column mapping of a file, for previews (UserError if unusable)."""
    source = open_csv(path)
    return source, map_columns(source.header, overrides)


def run_import(
    engine: Engine,
    path: str | Path,
    options: ImportOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Validate and (unless a dry run or invalid) write a CSV file; see the module docstring."""
    if options.on_existing not in ("update", "skip", "error"):
        raise UserError("--on-existing takes update, skip or error.")
    source, mapping = inspect_file(path, options.overrides)
    _check_options(mapping, options)
    options.config = options.config or config.load()
    result = ImportResult(
        file=str(source.path),
        encoding=source.encoding,
        delimiter=source.delimiter,
        mapping={source.header[i]: f for i, f in mapping.fields.items()},
        unknown_columns=mapping.unknown,
        dry_run=options.dry_run,
    )
    with busy_as_user_error(), gc_paused(), engine.connect() as conn, foreign_keys_trusted(conn):
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
        if options.dry_run or (result.error_count and not options.skip_invalid):
            transaction.rollback()
        else:
            transaction.commit()
            result.written = True
    if result.written and result.new + result.changed > ANALYZE_AFTER:
        refresh_statistics_if_idle(engine)
    if result.written and result.rejected:
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
            raise UserError(f"--currency {options.currency!r}: {exc}.") from None
    if options.date_format:
        try:
            datetime.now().strftime(options.date_format)
        except ValueError:
            raise UserError(
                f"--date-format {options.date_format!r} is not a date format."
            ) from None


def _run(conn, source: CsvSource, mapping: Mapping, options, result, progress, cancel) -> None:
    lock_cards_for_writing(conn)  # before any read: see db.locks
    empty = conn.execute(select(card_t.c.id).limit(1)).first() is None
    stage_t.drop(conn, checkfirst=True)
    stage_t.create(conn)
    parser = ChunkParser(conn, source, mapping, options)
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
        result.bare_currency = _settle_bare_prices(conn, parser)
    if parser.nodes_created:
        parser.created.append(("nodes", parser.nodes_created))
    conn.exec_driver_sql(
        "CREATE INDEX fleetui_import_stage_serial ON fleetui_import_stage (serial)"
    )
    present = parser.present_fields()
    # The usual re-import changes nothing: one read-only pass tells so, and every row is then
    # an existing card left as it is, so no row needs linking to its card nor checks that do.
    quiet = not empty and options.on_existing != "error" and _changes_nothing(conn, present)
    if not empty and not quiet:  # an empty inventory has no cards to link to or clash with
        _link_existing(conn, present)
    serial_column = source.header[mapping.column_of("serial")]
    uuid_index = mapping.column_of("uuid")
    uuid_column = source.header[uuid_index] if uuid_index is not None else "uuid"
    checks = (
        _repeats(conn, "serial", "serial", serial_column)
        if quiet
        else _cross_row_errors(
            conn, options, serial_column, uuid_column, parser.uuid_repeats, not empty
        )
    )
    _add_errors(result, list(checks), bad_rows)
    result.errors.sort(key=lambda e: e.row)
    if result.error_count and not options.skip_invalid:
        return
    if bad_rows:
        conn.execute(delete(stage_t).where(stage_t.c.row_no.in_(list(bad_rows))))
        result.rejected = len(bad_rows)
        result.rejected_rows = bad_rows
    if quiet:  # every staged row is an existing card, left as it is
        total = conn.execute(select(func.count()).select_from(stage_t)).scalar_one()
        if options.on_existing == "skip":
            result.skipped = total
        else:
            result.unchanged = total
    else:
        if options.on_existing == "skip":
            existing = delete(stage_t).where(stage_t.c.card_id.isnot(None))
            result.skipped = conn.execute(existing).rowcount
        _count(conn, result)
        if "model_id" in present and result.changed:
            _model_changes(conn, result)
    if result.new or result.changed or parser.made:
        result.batch_id = audit.new_batch_id()
        _apply(conn, result, present, options, parser)
    if progress:
        progress(size, size)


def _stage(conn, parser: ChunkParser, chunk, result: ImportResult, bad_rows: dict) -> None:
    staged, errors = parser.parse(*chunk)
    result.rows += len(chunk[0])
    errors.sort(key=lambda e: e.row)
    _add_errors(result, errors, bad_rows)
    insert_columns(conn, stage_t, STAGE_COLUMNS, staged)


def _add_errors(result: ImportResult, errors: list[RowError], bad_rows: dict[int, str]) -> None:
    for error in errors:
        result.error_count += 1
        if len(result.errors) < MAX_ERRORS_KEPT:
            result.errors.append(error)
        reason = f"{error.column}: {error.reason}" if error.column else error.reason
        bad_rows[error.row] = (
            f"{bad_rows[error.row]}; {reason}" if error.row in bad_rows else reason
        )


# ---------------------------------------------------------------- one row


class _ToCreate:
    """A team (team None) or a project of `team` that --create-missing makes once a row that
    is valid otherwise names it."""

    __slots__ = ("id", "label", "name", "team")

    def __init__(self, name: str, team: int | _ToCreate | None = None, label: str = "") -> None:
        self.name, self.team, self.label = name, team, label
        self.id: int | None = None


class ChunkParser:
    """Turns chunks of CSV records into stage columns plus the errors of the rejected rows.

    Work goes column by column over a chunk: each column's distinct raw values are converted
    once (memoised, at most MEMO_LIMIT per column, so memory stays bounded) and mapped in a
    list comprehension; unique columns (serial, UUID, notes) are only trimmed. Nodes,
    teams and projects are looked up in dictionaries loaded once (a fleet has thousands).
    """

    def __init__(self, conn: Connection, source: CsvSource, mapping: Mapping, options) -> None:
        self.conn, self.options = conn, options
        self.header = source.header
        self.width = len(source.header)
        self.columns = {f: i for i, f in mapping.fields.items()}
        self.created: list[tuple[str, Any]] = []  # what --create-missing made
        self.made: list[tuple[str, int, str]] = []  # the same, as (audit action, id, name)
        self.teams = {n.lower(): i for i, n in conn.execute(select(Team.id, Team.name))}
        self.projects: dict[tuple[int, str], int] = {
            (t, n.lower()): i
            for i, t, n in conn.execute(select(Project.id, Project.team_id, Project.name))
        }
        self.models = dict(conn.execute(select(GpuModel.key, GpuModel.id)).all())
        self.aliases = options.config.model_aliases
        self.symbols: set[str] = set()  # currencies the price column writes
        self.bare_prices = False  # whether a price names no currency (settled after staging)
        self.nodes: dict[str, int] = dict(conn.execute(select(Node.hostname, Node.id)).all())
        self.nodes_created = 0
        self.rows_estimate = _estimate_rows(source)
        self.defaults = {"node": options.node, "team": options.team, "project": options.project}
        self.memos: dict[str, dict[Any, Any]] = {}
        self.failed: set[str] = set()  # memos holding a CellError
        self._pending: dict[tuple, _ToCreate] = {}  # what --create-missing may create
        # Whether the file may repeat a UUID: hashes of the UUIDs seen so far (ints, not the
        # strings: a tenth of the memory); a repeat, or a hash collision, leaves it to SQL.
        self.uuid_repeats = False
        self._uuid_hashes: set[int] = set()

    def present_fields(self) -> list[str]:
        """The card columns this import sets (its mapped columns plus --node/--team/...)."""
        has = set(self.columns) | {k for k, v in self.defaults.items() if v}
        sources = {
            "model_id": {"model", "manufacturer", "model_number"},
            "node_id": {"node"},
            "team_id": {"team", "project"},  # a project brings its team
            "project_id": {"project"},
            "price_minor": {"price"},
            "warranty_end": {"warranty_end", "warranty_months"},
        }
        present = [f for f in CARD_FIELDS if has & sources.get(f, {f})]
        if "currency" not in present and ("price" in has or self.options.currency):
            present.append("currency")
        return present

    def header_of(self, name: str) -> str:
        index = self.columns.get(name)
        return self.header[index] if index is not None else f"--{name}"

    # ------------------------------------------------------------ a chunk

    def parse(self, numbers: list[int], rows: list[list[str]]) -> tuple[list[list], list[RowError]]:
        """Stage columns (in STAGE_COLUMNS order) of the valid rows, and every row's errors."""
        width = self.width
        if min(map(len, rows)) < width:  # short rows: pad, or zip() below would cut columns
            rows = [c if len(c) >= width else c + [""] * (width - len(c)) for c in rows]
        nul = (
            [i for i, cells in enumerate(rows) if "\x00" in "".join(cells)]
            if "\x00" in "".join(map("".join, rows))
            else []
        )
        errors: list[RowError] = [
            RowError(
                numbers[i],
                self.header[c] if c < width else f"column {c + 1}",
                rows[i][c].replace("\x00", "\\0"),
                "holds a NUL byte (binary data?)",
            )
            for i in nul
            for c in range(len(rows[i]))
            if "\x00" in rows[i][c]
        ]
        blanked = set(nul)
        for i in nul:  # reported; blank, so nothing below acts on its values
            rows[i] = [""] * len(rows[i])
        columns = list(zip(*rows, strict=False)) if width else []
        empty = ("",) * len(rows)
        raw = {name: columns[i] for name, i in self.columns.items()} | {"": empty}
        col = lambda name: raw.get(name, empty)  # noqa: E731

        def mapped(name: str, fn: Callable[[str], Any], values=None) -> list[Any]:
            if values is None:
                if name not in self.columns:
                    return [None] * len(numbers)
                values = col(name)
            out = self._memo_map(name, values, self._cell(fn))
            return self._errors(name, numbers, out, lambda i: values[i].strip(), errors)

        def cleaned(name: str) -> list[str | None]:
            return _clean(col(name)) if name in self.columns else [None] * len(rows)

        uuid = [identity(v) for v in col("uuid")] if "uuid" in self.columns else [None] * len(rows)
        if not self.uuid_repeats:
            self._track_uuids(uuid)
        serial = [identity(v) for v in col("serial")]
        if None in serial:  # a card without a serial goes by its UUID
            serial = [s or u for s, u in zip(serial, uuid, strict=True)]
        status = mapped("status", parse_status)
        purchased = mapped("purchase_date", self._date)
        warranty_end = self._warranty(numbers, purchased, mapped, errors, col)
        minor, currency = self._price(numbers, mapped, errors, col("price"))
        team_values = (
            col("team") if "team" in self.columns else (self.defaults["team"] or "",) * len(rows)
        )
        team_ids = mapped("team", self._team, team_values)
        project_ids = self._projects(numbers, col("project"), team_ids, team_values, errors)
        if "team" not in self.columns and not self.defaults["team"]:
            owner = {pid: tid for (tid, _), pid in self.projects.items()}
            team_ids = [
                owner.get(p) if p else t for p, t in zip(project_ids, team_ids, strict=True)
            ]
        model_ids = self._models(
            numbers, col("model"), col("manufacturer"), col("model_number"), errors
        )
        self._unfit(numbers, col, minor, errors)
        if self._pending:  # teams and projects to create, for the rows valid otherwise
            bad = {e.row for e in errors}
            team_ids = self._settle(team_ids, numbers, bad)
            project_ids = self._settle(project_ids, numbers, bad)
        nodes = (
            mapped("node", str) if "node" in self.columns else [self.defaults["node"]] * len(rows)
        )
        if self.options.node:
            nodes = [n or self.options.node for n in nodes]
        bus_ids = mapped("pci_bus_id", str)
        if None in serial:
            self._no_identity(numbers, serial, nodes, bus_ids, col("serial"), blanked, errors)
        node_ids = self._nodes(numbers, nodes, errors)  # last: it needs the other errors
        if None in serial:
            serial = self._slot_serials(serial, nodes, node_ids, bus_ids)
        staged = [
            numbers,
            serial,
            uuid,
            model_ids,
            node_ids,
            bus_ids,
            team_ids,
            project_ids,
            status,
            purchased,
            minor,
            currency,
            mapped("supplier", str),
            warranty_end,
            mapped("service_life_years", parse_years),
            cleaned("notes"),
            [u is not None for u in uuid],
        ]
        if not errors:
            return staged, errors
        bad = {e.row for e in errors}
        keep = [i for i, row in enumerate(numbers) if row not in bad]
        return [[values[i] for i in keep] for values in staged], errors

    def _no_identity(self, numbers, serial, nodes, bus_ids, raw, blanked, errors) -> None:
        """Rows with no real serial or UUID and no node + PCI bus id to key them by."""
        errors.extend(
            RowError(
                numbers[i],
                self.header_of("serial"),
                raw[i].strip(),
                "no real serial or UUID (0000000000000, GPU-00000000-..., N/A and the like "
                "identify no card); give one, or a node and a PCI bus id",
            )
            for i, s in enumerate(serial)
            if s is None and i not in blanked and (nodes[i] is None or bus_ids[i] is None)
        )

    def _slot_serials(self, serial, nodes, node_ids, bus_ids) -> list[str | None]:
        """A row with no real identity (a masked `nvidia-smi --query-gpu` line) is the card in
        its node's PCI slot: the card recorded there, else a new one named NODE/BUS."""
        rows = zip(serial, nodes, node_ids, bus_ids, strict=True)
        slots = {(n, b): slot_serial(host, b) for s, host, n, b in rows if s is None and n and b}
        if slots:  # one query a chunk, for the cards already in those slots
            slots |= dict(
                ((n, b), s)
                for s, n, b in self.conn.execute(
                    select(card_t.c.serial, card_t.c.node_id, card_t.c.pci_bus_id).where(
                        card_t.c.node_id.in_(sorted({n for n, _ in slots})),
                        card_t.c.pci_bus_id.in_(sorted({b for _, b in slots})),
                    )
                )
                if (n, b) in slots
            )
        return [s or slots.get((n, b)) for s, n, b in zip(serial, node_ids, bus_ids, strict=True)]

    def _unfit(self, numbers, col, minor, errors) -> None:
        """Values too long or large for their database column (on PostgreSQL: both backends
        refuse them), before any team, project or node is created for their row."""
        for name, column in FITTED.items():
            cells = col(name) if name in self.columns else ()
            if max(map(len, cells), default=0) <= column.type.length:
                continue
            for row, cell in zip(numbers, cells, strict=True):
                if problem := unfit(column, cell.strip()):
                    errors.append(RowError(row, self.header_of(name), cell.strip(), problem))
        if max(filter(None, minor), default=0) > INTEGER_MAX:
            biggest = f"{INTEGER_MAX // 100:,}.{INTEGER_MAX % 100:02d}"
            errors.extend(
                RowError(row, self.header_of("price"), raw.strip(), f"more than {biggest}")
                for row, value, raw in zip(numbers, minor, col("price"), strict=True)
                if value is not None and value > INTEGER_MAX
            )

    def _track_uuids(self, uuids: list[str | None]) -> None:
        distinct = set(uuids)
        distinct.discard(None)
        seen = self._uuid_hashes
        before = len(seen)
        seen.update(map(hash, distinct))
        if len(distinct) < len(uuids) - uuids.count(None) or len(seen) - before < len(distinct):
            self.uuid_repeats = True
            self._uuid_hashes = set()

    def _memo_map(self, name: str, keys: Sequence, compute: Callable[[Any], Any]) -> list[Any]:
        """compute(key) for every key, each distinct key computed once (memo kept across
        chunks, up to MEMO_LIMIT keys). A compute that fails returns its CellError, and
        `self.failed` remembers the name, so error-free columns are never scanned for errors.
        """
        memo = self.memos.setdefault(name, {})
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        try:
            return list(map(memo.__getitem__, keys))  # every key seen before: at C speed
        except KeyError:
            pass
        for key in dict.fromkeys(keys):  # in order of appearance: teams are created in it
            if key in memo:
                continue
            value = memo[key] = compute(key)
            if value.__class__ is CellError:
                self.failed.add(name)
        return list(map(memo.__getitem__, keys))

    def _errors(self, name, numbers, values, shown, errors, field=None) -> list[Any]:
        """`values` with each CellError replaced by None and reported under `field` (default:
        the memo's name) with the cell shown(i)."""
        if name not in self.failed:
            return values
        header = self.header_of(field or name)
        errors.extend(
            RowError(numbers[i], header, shown(i), str(v))
            for i, v in enumerate(values)
            if v.__class__ is CellError
        )
        return [None if v.__class__ is CellError else v for v in values]

    @staticmethod
    def _cell(fn: Callable[[str], Any]) -> Callable[[str], Any]:
        """fn over a trimmed cell; None for empty and [N/A]-like cells, CellError if invalid."""

        def compute(raw: str) -> Any:
            value = raw.strip()
            if not value or value.lower() in MISSING:
                return None
            try:
                return fn(value)
            except CellError as exc:
                return exc

        return compute

    def _date(self, raw: str) -> date:
        return parse_date(raw, self.options.date_format)

    def _models(self, numbers, models, makers, numbers_col, errors) -> list[int | None]:
        if "manufacturer" in self.columns or "model_number" in self.columns:
            keys: Sequence = list(zip(models, makers, numbers_col, strict=True))
            found = self._memo_map("model", keys, self._model_cell)
        else:
            found = self._memo_map("model", models, lambda m: self._model_cell((m, "", "")))
        return self._errors("model", numbers, found, lambda i: models[i].strip(), errors)

    def _model_cell(self, key: tuple[str, str, str]) -> int | CellError | None:
        model, maker, number = (k.strip() for k in key)
        if not (model or number):
            return None
        try:
            return self._model_id(model, maker, number)
        except CellError as exc:
            return exc

    def _model_id(self, model: str, maker: str, number: str) -> int | None:
        names = [
            c
            for c in (model, f"{maker} {model}" if maker and model else "", number)
            if c and c.lower() not in MISSING
        ]
        if not names:
            return None
        found = next((f for c in names if (f := catalogue.candidates(c, self.aliases))), ())
        if len(found) > 1:  # never picked silently: the site says which it means, once
            fits = ", ".join(f"'{s.name}'" for s in found)
            raise CellError(
                f"ambiguous model: it fits {fits}; write the full name, or set what this "
                f'site means in the config: [models.aliases] "{names[0]}" = "{found[0].name}"'
            )
        if not found:
            close = catalogue.suggest(names[0])
            raise CellError(
                "unknown model"
                + (f"; did you mean '{close}'?" if close else "; see `fleetui models`")
            )
        return self.models[found[0].key]

    def _price(self, numbers, mapped, errors, raw_prices) -> tuple[list, list]:
        currencies = mapped("currency", parse_currency)
        if "price" not in self.columns:
            fallback = self.options.currency if currencies and any(currencies) else None
            return [None] * len(numbers), [c or fallback for c in currencies]
        prices = mapped("price", parse_money)
        self.symbols.update({p[1] for p in set(prices) if p is not None and p[1]})
        values = self._memo_map(
            "price+currency", list(zip(prices, currencies, strict=True)), self._price_cell
        )
        values = self._errors(
            "price+currency", numbers, values, lambda i: raw_prices[i].strip(), errors, "price"
        )
        return [v[0] if v else None for v in values], [
            v[1] if v else c for v, c in zip(values, currencies, strict=True)
        ]

    def _price_cell(self, key: tuple[tuple[int, str | None] | None, str | None]):
        """(minor units, currency) of a parsed amount and the row's currency column."""
        parsed, column_currency = key
        if parsed is None:
            return None
        minor, symbol = parsed
        if symbol and column_currency and symbol != column_currency:
            return CellError(f"the amount says {symbol}, the currency column {column_currency}")
        currency = column_currency or symbol
        self.bare_prices = self.bare_prices or currency is None
        return minor, currency

    def _warranty(self, numbers, purchased, mapped, errors, col) -> list[date | None]:
        """The end date; given as months it counts from the purchase date in the same row.
        Both given and disagreeing is an error: fleetui will not pick one silently."""
        ends = mapped("warranty_end", self._date)
        if "warranty_months" not in self.columns:
            return ends
        months_col = mapped("warranty_months", parse_months)
        out = []
        raw_months, raw_ends = col("warranty_months"), col("warranty_end")
        for row, bought, months, end, raw_m, raw_e in zip(
            numbers, purchased, months_col, ends, raw_months, raw_ends, strict=True
        ):
            if months is None:
                out.append(end)
                continue
            if bought is None:
                errors.append(
                    RowError(
                        row,
                        self.header_of("warranty_months"),
                        raw_m.strip(),
                        "warranty in months needs a purchase date in the same row",
                    )
                )
                out.append(end)
                continue
            try:
                from_months = add_months(bought, months)
            except CellError as exc:
                header = self.header_of("warranty_months")
                errors.append(RowError(row, header, raw_m.strip(), str(exc)))
                out.append(end)
                continue
            if end is not None and end != from_months:
                errors.append(
                    RowError(
                        row,
                        self.header_of("warranty_end"),
                        raw_e.strip(),
                        f"disagrees with {months} months from the purchase date ({from_months}); "
                        "give one of the two",
                    )
                )
            out.append(end or from_months)
        return out

    def _nodes(self, numbers, names, errors) -> list[int | None]:
        """Node ids by hostname. Unknown hosts are reported, or with --create-missing created
        (only for rows valid otherwise, so a rejected row leaves no node behind)."""
        known = self.nodes
        unknown = {n for n in names if n is not None and n not in known}
        if unknown and self.options.create_missing:
            bad = {e.row for e in errors}
            self._create_nodes(
                sorted(
                    {
                        n
                        for r, n in zip(numbers, names, strict=True)
                        if n in unknown and r not in bad
                    }
                )
            )
        ids = [None if n is None else known.get(n) for n in names]
        if unknown and not self.options.create_missing:
            header = self.header_of("node")
            errors.extend(
                RowError(row, header, name, "unknown node (register it, or pass --create-missing)")
                for row, name, node_id in zip(numbers, names, ids, strict=True)
                if name is not None and node_id is None
            )
        return ids

    def _create_nodes(self, names: list[str]) -> None:
        if not names:
            return
        node_t = Node.__table__
        last = self.conn.execute(select(func.coalesce(func.max(node_t.c.id), 0))).scalar_one()
        insert_rows(self.conn, node_t, ("hostname", "rack"), [(n, "") for n in names])
        new = select(node_t.c.hostname, node_t.c.id).where(node_t.c.id > last)
        made = self.conn.execute(new).all()
        self.nodes.update(made)
        self.made += [(Action.IMPORT_NODE, node_id, name) for name, node_id in made]
        self.nodes_created += len(names)

    def _team(self, name: str) -> int | _ToCreate:
        team_id = self.teams.get(name.lower())
        if team_id is not None:
            return team_id
        if not self.options.create_missing:
            raise CellError(_unknown("team", name, self.teams))
        return self._pending.setdefault(("team", name.lower()), _ToCreate(name))

    def _projects(self, numbers, names, team_ids, team_names, errors) -> list[int | None]:
        if "project" not in self.columns and not self.defaults["project"]:
            return [None] * len(numbers)
        names = names if "project" in self.columns else ("",) * len(numbers)
        keys = list(zip(names, team_ids, team_names, strict=True))
        found = self._memo_map("project", keys, self._project_cell)
        shown = lambda i: names[i].strip() or self.defaults["project"]  # noqa: E731
        return self._errors("project", numbers, found, shown, errors)

    def _project_cell(self, key: tuple[str, int | None, str]) -> int | CellError | None:
        raw, team_id, team = key
        name = raw.strip() or self.defaults["project"]
        if not name or name.lower() in MISSING:
            return None
        try:
            return self._project(name, team_id, team.strip() or None)
        except CellError as exc:
            return exc

    def _project(self, name: str, team_id, team: str | None) -> int | _ToCreate | None:
        if team_id is None:
            if team is not None:
                return None  # the team's own error is reported
            owners = [pid for (t, n), pid in self.projects.items() if n == name.lower()]
            if len(owners) == 1:
                return owners[0]
            raise CellError(
                "unknown project"
                if not owners
                else "that project name exists in several teams; add a team column"
            )
        project_id = self.projects.get((team_id, name.lower()))
        if project_id is not None:
            return project_id
        if not self.options.create_missing:
            names = {n: i for (t, n), i in self.projects.items() if t == team_id}
            raise CellError(_unknown(f"project of team {team}", name, names))
        key = ("project", team_id, name.lower())
        return self._pending.setdefault(key, _ToCreate(name, team_id, f"{team}/{name}"))

    def _settle(self, values: list, numbers: list[int], bad: set[int]) -> list:
        """`values` with each team or project to create replaced by its id, created now if a
        valid row names it; a rejected row creates nothing (and stages nothing)."""
        return [
            (None if row in bad else self._create(v)) if v.__class__ is _ToCreate else v
            for row, v in zip(numbers, values, strict=True)
        ]

    def _create(self, item: _ToCreate) -> int:
        if item.id is not None:
            return item.id
        now = datetime.now(UTC)
        if item.team is None:
            item.id = self.conn.execute(
                insert(Team).values(name=item.name, created_at=now)
            ).inserted_primary_key[0]
            self.teams[item.name.lower()] = item.id
            self.created.append(("team", item.name))
            self.made.append((Action.IMPORT_TEAM, item.id, item.name))
        else:
            team_id = self._create(item.team) if item.team.__class__ is _ToCreate else item.team
            item.id = self.conn.execute(
                insert(Project).values(team_id=team_id, name=item.name, created_at=now)
            ).inserted_primary_key[0]
            self.projects[(team_id, item.name.lower())] = item.id
            self.created.append(("project", item.label))
            self.made.append((Action.IMPORT_PROJECT, item.id, item.label))
        return item.id


def _clean(values) -> list[str | None]:
    """Trimmed cells, None for the empty and the [N/A]-like ones (for columns whose values
    do not repeat, so a memo would not pay)."""
    return [
        s if (s := v.strip()) and (s[0] not in _MISSING_FIRST or s.lower() not in MISSING) else None
        for v in values
    ]


def _unknown(kind: str, name: str, known: dict) -> str:
    close = difflib.get_close_matches(name.lower(), list(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind}{hint} (or pass --create-missing)"


def _estimate_rows(source: CsvSource) -> int:
    size = source.path.stat().st_size
    with source._open() as handle:
        sample = handle.read(1 << 16)
    lines = max(sample.count("\n"), 1)
    return max(1, round(size * lines / max(len(sample.encode(source.encoding, "replace")), 1)))


# ---------------------------------------------------------------- set-based checks and writes


def _link_existing(conn, present: list[str]) -> None:
    """Each staged row's card (by serial), and whether the row changes it or its UUID."""
    conn.execute(
        update(stage_t)
        .where(card_t.c.serial == stage_t.c.serial)
        .values(card_id=card_t.c.id, changes=_changed(present), new_uuid=_new_uuid())
    )


def _changes_nothing(conn, present: list[str]) -> bool:
    """Whether every staged row names a card of the inventory and changes nothing of it."""
    differs = or_(card_t.c.id.is_(None), _changed(present), _new_uuid())
    joined = stage_t.outerjoin(card_t, card_t.c.serial == stage_t.c.serial)
    return (
        conn.execute(select(literal(1)).select_from(joined).where(differs).limit(1)).first() is None
    )


def _new_uuid():
    """A staged row gives its (joined) card a UUID the card does not have."""
    return stage_t.c.uuid.isnot(None) & stage_t.c.uuid.is_distinct_from(card_t.c.uuid)


def _repeats(conn, column, label: str, header: str, among=True) -> Iterator[RowError]:
    """Rows whose value in `column` an earlier row of the file already has (among the rows
    `among` selects)."""
    key = stage_t.c[column]
    repeated = select(key).where(key.isnot(None), among).group_by(key).having(func.count() > 1)
    if conn.execute(repeated.limit(1)).first() is None:  # the usual case
        return
    first = (
        select(key, func.min(stage_t.c.row_no).label("first"))
        .where(key.in_(repeated), among)
        .group_by(key)
        .subquery()
    )
    for row_no, value, first_row in conn.execute(
        select(stage_t.c.row_no, key, first.c.first)
        .join(first, first.c[column] == key)
        .where(stage_t.c.row_no != first.c.first, among)
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(row_no, header, value, f"the same {label} is on row {first_row}")


def _cross_row_errors(
    conn, options, serial_column: str, uuid_column: str, uuid_repeats: bool, cards: bool
) -> Iterator[RowError]:
    """Checks across rows. `uuid_repeats`: whether the file may repeat a UUID (the parser
    saw one); `cards`: whether the inventory had cards before the import."""
    yield from _repeats(conn, "serial", "serial", serial_column)
    # Only rows that give their card a new UUID can clash: with each other (a repeat in the
    # file) or with the card holding it (probed by a correlated subquery, so the planner
    # cannot turn the join around and scan the whole inventory).
    new_uuid = stage_t.c.new_uuid
    if uuid_repeats:
        yield from _repeats(conn, "uuid", "UUID", uuid_column, new_uuid)
    if cards:
        yield from _uuid_holders(conn, uuid_column, new_uuid)
    for row_no, serial in conn.execute(
        select(stage_t.c.row_no, stage_t.c.serial)
        .where(stage_t.c.card_id.is_(None), stage_t.c.model_id.is_(None))
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(
            row_no, serial_column, serial, "a new card needs a model (add a model column)"
        )
    if options.on_existing == "error":
        for row_no, serial in conn.execute(
            select(stage_t.c.row_no, stage_t.c.serial)
            .where(stage_t.c.card_id.isnot(None))
            .order_by(stage_t.c.row_no)
        ):
            yield RowError(
                row_no, serial_column, serial, "already in the inventory (--on-existing error)"
            )


def _uuid_holders(conn, uuid_column: str, new_uuid) -> Iterator[RowError]:
    """Rows giving their card a UUID another card of the inventory has."""
    holder = select(card_t.c.serial).where(card_t.c.uuid == stage_t.c.uuid).scalar_subquery()
    probed = (
        select(stage_t.c.row_no, stage_t.c.uuid, stage_t.c.serial, holder.label("other"))
        .where(new_uuid)
        .subquery()
    )
    for row_no, uuid, other in conn.execute(
        select(probed.c.row_no, probed.c.uuid, probed.c.other)
        .where(probed.c.other.isnot(None), probed.c.other != probed.c.serial)
        .order_by(probed.c.row_no)
    ):
        yield RowError(row_no, uuid_column, uuid, f"card {other} already has this UUID")


def _changed(present: list[str]):
    """A staged row changes its card when a non-empty cell differs from the stored value."""
    return (
        or_(
            *(
                and_(stage_t.c[f].isnot(None), stage_t.c[f].is_distinct_from(card_t.c[f]))
                for f in present
            )
        )
        if present
        else literal(False)
    )


def _settle_bare_prices(conn, parser: ChunkParser) -> str:
    """Give prices that name no currency one: --currency, else the one the rest of the price
    column writes (when it writes one only), else the config's. Says which, and why."""
    options = parser.options
    if options.currency:
        code, why = options.currency, "--currency"
    elif len(parser.symbols) == 1:
        (code,) = parser.symbols
        why = f"as written elsewhere in column '{parser.header_of('price')}'"
    else:
        code, why = options.config.cost.currency, "the config's [cost] currency"
    conn.execute(
        update(stage_t)
        .where(stage_t.c.price_minor.isnot(None), stage_t.c.currency.is_(None))
        .values(currency=code)
    )
    return f"{code} ({why})"


def _model_changes(conn, result: ImportResult) -> None:
    """The existing cards the import gives another model: never done without saying so."""
    differs = and_(
        stage_t.c.changes,
        stage_t.c.model_id.isnot(None),
        stage_t.c.model_id != card_t.c.model_id,
    )
    joined = stage_t.join(card_t, card_t.c.id == stage_t.c.card_id)
    count = select(func.count()).select_from(joined).where(differs)
    result.model_changes = conn.execute(count).scalar_one()
    if result.model_changes:
        first = select(stage_t.c.serial).select_from(joined).where(differs)
        result.model_changed = list(
            conn.execute(first.order_by(stage_t.c.row_no).limit(100)).scalars()
        )


def _count(conn, result: ImportResult) -> None:
    total, new, changed = conn.execute(
        select(
            func.count(),
            func.count().filter(stage_t.c.card_id.is_(None)),
            func.count().filter(stage_t.c.changes),
        )
    ).one()
    result.new, result.changed, result.unchanged = new, changed, total - new - changed


def _apply(conn, result: ImportResult, present: list[str], options, parser) -> None:
    now = datetime.now(UTC)
    actor = options.actor or audit.current_actor()
    stamp = {"batch_id": result.batch_id, "actor": actor, "at": now, "reason": options.reason}
    audit.record(
        conn,
        action=Action.IMPORT,
        **stamp,
        changes=[
            (
                None,
                None,
                {
                    "file": Path(result.file).name,
                    "new": result.new,
                    "changed": result.changed,
                    "created": parser.created,
                },
            )
        ],
    )
    for action in IMPORT_CREATED:
        audit.record(
            conn,
            action=action,
            **stamp,
            changes=[(None, None, {"id": i, "name": n}) for a, i, n in parser.made if a == action],
        )
    if result.changed:
        joined = stage_t.join(card_t, card_t.c.id == stage_t.c.card_id)
        sets = _new_values(present)
        before = json_object({f: card_t.c[f] for f in sets} | {"version": card_t.c.version})
        after = json_object(sets | {"version": card_t.c.version + 1})
        events = (
            select(
                card_t.c.id.label("card_id"),
                card_t.c.serial,
                (card_t.c.version + 1).label("card_version"),
                before.label("before"),
                after.label("after"),
            )
            .select_from(joined)
            .where(stage_t.c.changes)
        )
        audit.record_select(conn, events, action=Action.IMPORT_UPDATE, **stamp)
        conn.execute(
            update(card_t)
            .where(card_t.c.id == stage_t.c.card_id, stage_t.c.changes)
            .values(sets | {"version": card_t.c.version + 1, "updated_at": now})
        )
    if result.new:
        _insert_new(conn, stamp)


def _new_values(present: list[str]) -> dict:
    """SET expressions for changed cards: a non-empty cell replaces the stored value. A card
    that changes team without a project column leaves its old team's project."""
    sets = {f: func.coalesce(stage_t.c[f], card_t.c[f]) for f in present}
    if "team_id" in present and "project_id" not in present:
        team_changes = and_(
            stage_t.c.team_id.isnot(None), stage_t.c.team_id.is_distinct_from(card_t.c.team_id)
        )
        sets["project_id"] = case((team_changes, None), else_=card_t.c.project_id)
    return sets


def _insert_new(conn, stamp: dict) -> None:
    """New cards and their events; into an empty inventory the card indexes are built after.

    The new cards are the ones above the highest id before the insert: ids only grow (SQLite
    rowids, PostgreSQL's sequence) and the import holds the inventory's write lock."""
    now = stamp["at"]
    last = conn.execute(select(func.coalesce(func.max(card_t.c.id), 0))).scalar_one()
    with indexes_deferred(conn, card_t):
        new_rows = select(
            stage_t.c.serial,
            *(stage_t.c[f] for f in CARD_FIELDS if f not in ("status", "notes")),
            func.coalesce(
                stage_t.c.status,
                case(
                    (stage_t.c.node_id.is_(None), Status.SPARE.value), else_=Status.IN_SERVICE.value
                ),
            ),
            func.coalesce(stage_t.c.notes, ""),
            literal(1),
            literal(now),
            literal(now),
        ).where(stage_t.c.card_id.is_(None))
        columns = [
            "serial",
            *(f for f in CARD_FIELDS if f not in ("status", "notes")),
            "status",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ]
        conn.execute(insert(card_t).from_select(columns, new_rows))
        events = (
            select(card_t.c.id.label("card_id"), card_t.c.serial, literal(1).label("card_version"))
            .where(card_t.c.id > last)
            .order_by(card_t.c.id)
        )
        audit.record_select(conn, events, action=Action.IMPORT_CREATE, **stamp)


def _write_rejected(source: CsvSource, result: ImportResult) -> str:
    """FILE.rejected.csv: the rejected rows as they were, with a reason column."""
    bad_rows = result.rejected_rows
    target = source.path.with_name(source.path.name + ".rejected.csv")
    with open(target, "w", encoding="utf-8-sig", newline="") as handle:
        rejected = (
            [row_no, *cells, bad_rows[row_no]]
            for row_no, cells in source.records()
            if row_no in bad_rows
        )
        write_rows(handle, ["row", *source.header, "reason"], rejected)
    return str(target)
