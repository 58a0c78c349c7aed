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

import csv
import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
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

from db.bulk import insert_rows, refresh_statistics
from db.sqlfuncs import json_object
from db.tables import Card, Event, GpuModel, Node, Project, Team
from fleetui import audit, catalogue
from fleetui.cells import (
    CellError,
    add_months,
    is_missing,
    parse_currency,
    parse_date,
    parse_money,
    parse_months,
    parse_status,
    parse_years,
)
from fleetui.columns import Mapping, map_columns
from fleetui.csvfile import CsvSource, open_csv
from fleetui.errors import UserError

CHUNK = 20_000
MAX_ERRORS_KEPT = 100_000
card_t, event_t = Card.__table__, Event.__table__

# card columns an import can set, and the stage column holding each
CARD_FIELDS = (
    "uuid",
    "model_id",
    "node_id",
    "pci_bus_id",
    "team_id",
    "project_id",
    "status",
    "purchase_date",
    "price_minor",
    "currency",
    "supplier",
    "warranty_end",
    "service_life_years",
    "notes",
)
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
    Column("card_id", Integer),
    prefixes=["TEMPORARY"],
)
STAGE_COLUMNS = ("row_no", "serial", *CARD_FIELDS)


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

    def summary(self) -> str:
        parts = [f"{self.new:,} new", f"{self.changed:,} changed", f"{self.unchanged:,} unchanged"]
        if self.skipped:
            parts.append(f"{self.skipped:,} existing skipped")
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected")
        return ", ".join(parts)

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

    def __str__(self) -> str:
        where = ("row " if len(self.rows) == 1 else "rows ") + _ranges(self.rows)
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
    result = ImportResult(
        file=str(source.path),
        encoding=source.encoding,
        delimiter=source.delimiter,
        mapping={source.header[i]: f for i, f in mapping.fields.items()},
        unknown_columns=mapping.unknown,
        dry_run=options.dry_run,
    )
    with engine.connect() as conn:
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
            if result.new + result.changed > 50_000:
                with conn.begin():
                    refresh_statistics(conn)
    if result.written and result.rejected:
        result.rejected_file = _write_rejected(source, result)
    return result


def _first_line(exc: IntegrityError) -> str:
    return str(exc.orig).strip().splitlines()[0]


def _check_options(mapping: Mapping, options: ImportOptions) -> None:
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
    stage_t.drop(conn, checkfirst=True)
    stage_t.create(conn)
    parser = RowParser(conn, source, mapping, options)
    size = max(source.path.stat().st_size, 1)
    rows: list[tuple] = []
    bad_rows: dict[int, str] = {}
    for row_no, cells in source.records():
        result.rows += 1
        parsed = parser.parse(row_no, cells)
        if isinstance(parsed, list):
            _add_errors(result, parsed, bad_rows)
        else:
            rows.append(parsed)
        if len(rows) >= CHUNK:
            insert_rows(conn, stage_t, STAGE_COLUMNS, rows)
            rows.clear()
            if cancel is not None and cancel.is_set():
                raise ImportCancelled("Import cancelled; nothing was written.")
            if progress:
                progress(min(size, round(size * row_no / max(parser.rows_estimate, row_no))), size)
    insert_rows(conn, stage_t, STAGE_COLUMNS, rows)
    if result.rows == 0:
        raise UserError(f"{source.path.name} has a header but no rows.")
    conn.exec_driver_sql(
        "CREATE INDEX fleetui_import_stage_serial ON fleetui_import_stage (serial)"
    )
    _link_existing(conn)
    serial_column = source.header[mapping.column_of("serial")]
    uuid_index = mapping.column_of("uuid")
    uuid_column = source.header[uuid_index] if uuid_index is not None else "uuid"
    for error in _cross_row_errors(conn, options, serial_column, uuid_column):
        _add_errors(result, [error], bad_rows)
    if result.error_count and not options.skip_invalid:
        return
    if bad_rows:
        conn.execute(delete(stage_t).where(stage_t.c.row_no.in_(list(bad_rows))))
        result.rejected = len(bad_rows)
        result.rejected_rows = bad_rows
    if options.on_existing == "skip":
        result.skipped = conn.execute(delete(stage_t).where(stage_t.c.card_id.isnot(None))).rowcount
    present = parser.present_fields()
    _count(conn, result, present)
    if result.new or result.changed:
        result.batch_id = audit.new_batch_id()
        _apply(conn, result, present, options, parser.created)
    if progress:
        progress(size, size)


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


class RowParser:
    """Turns one CSV record into a stage tuple, or into the list of what is wrong with it."""

    def __init__(self, conn: Connection, source: CsvSource, mapping: Mapping, options) -> None:
        self.conn, self.source, self.mapping, self.options = conn, source, mapping, options
        self.header = source.header
        self.columns = {f: i for i, f in mapping.fields.items()}
        self.caches: dict[str, dict[str, Any]] = {}
        self.created: list[tuple[str, str]] = []  # (kind, name) created by --create-missing
        self.teams = {n.lower(): i for i, n in conn.execute(select(Team.id, Team.name))}
        self.projects: dict[tuple[int, str], int] = {
            (t, n.lower()): i
            for i, t, n in conn.execute(select(Project.id, Project.team_id, Project.name))
        }
        self.models = dict(conn.execute(select(GpuModel.key, GpuModel.id)).all())
        self.nodes: dict[str, int | None] = {}
        self.rows_estimate = _estimate_rows(source)
        self.defaults = {
            "node": options.node,
            "team": options.team,
            "project": options.project,
        }

    def present_fields(self) -> list[str]:
        """The card columns this import sets (its mapped columns plus --node/--team/...)."""
        has = set(self.columns) | {k for k, v in self.defaults.items() if v}
        present = []
        for name in CARD_FIELDS:
            source_field = {
                "model_id": "model",
                "node_id": "node",
                "team_id": "team",
                "project_id": "project",
                "price_minor": "price",
            }.get(name, name)
            if (
                source_field in has
                or (name == "model_id" and has & {"manufacturer", "model_number"})
                or (name == "warranty_end" and "warranty_months" in has)
                or (name == "currency" and ("price" in has or self.options.currency))
            ):
                present.append(name)
        return present

    def cell(self, cells: list[str], name: str) -> str | None:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return None
        value = cells[index].strip()
        return None if is_missing(value) else value

    def cached(self, name: str, value: str, fn: Callable[[str], Any]) -> Any:
        cache = self.caches.setdefault(name, {})
        try:
            hit = cache[value]
        except KeyError:
            try:
                hit = fn(value)
            except CellError as exc:
                hit = exc
            cache[value] = hit
        if isinstance(hit, CellError):
            raise hit
        return hit

    def parse(self, row: int, cells: list[str]) -> tuple | list[RowError]:
        errors: list[RowError] = []
        values: dict[str, Any] = {}

        def attempt(name: str, fn: Callable[[str], Any], raw: str | None) -> Any:
            if raw is None:
                return None
            try:
                return self.cached(name, raw, fn)
            except CellError as exc:
                errors.append(RowError(row, self._header(name), raw, str(exc)))
                return None

        serial = self.cell(cells, "serial") or self.cell(cells, "uuid")
        if serial is None:
            errors.append(RowError(row, self._header("serial"), "", "no serial number"))
        values["uuid"] = self.cell(cells, "uuid")
        values["pci_bus_id"] = self.cell(cells, "pci_bus_id")
        values["supplier"] = self.cell(cells, "supplier")
        values["notes"] = self.cell(cells, "notes")
        values["status"] = attempt("status", parse_status, self.cell(cells, "status"))
        values["model_id"] = self._model(row, cells, errors)
        purchased = attempt("purchase_date", self._date, self.cell(cells, "purchase_date"))
        values["purchase_date"] = purchased
        values["price_minor"], values["currency"] = self._price(row, cells, errors, attempt)
        values["warranty_end"] = self._warranty(row, cells, errors, attempt, purchased)
        values["service_life_years"] = attempt(
            "service_life_years", parse_years, self.cell(cells, "service_life_years")
        )
        team = self.cell(cells, "team") or self.defaults["team"]
        values["team_id"] = attempt("team", self._team, team)
        project = self.cell(cells, "project") or self.defaults["project"]
        values["project_id"] = self._project(row, project, values["team_id"], team, errors)
        node = self.cell(cells, "node") or self.defaults["node"]
        values["node_id"] = attempt("node", self._node, node)
        if errors:
            return errors
        return (row, serial, *(values[f] for f in CARD_FIELDS))

    def _header(self, name: str) -> str:
        index = self.columns.get(name)
        return self.header[index] if index is not None else f"--{name}"

    def _date(self, raw: str) -> date:
        return parse_date(raw, self.options.date_format)

    def _model(self, row: int, cells: list[str], errors: list[RowError]) -> int | None:
        raw = self.cell(cells, "model")
        candidates = [raw, self.cell(cells, "model_number")]
        maker = self.cell(cells, "manufacturer")
        if raw and maker:
            candidates.insert(1, f"{maker} {raw}")
        candidates = [c for c in candidates if c]
        if not candidates:
            return None
        key = "\x1f".join(candidates)
        cache = self.caches.setdefault("model", {})
        if key not in cache:
            spec = next((s for c in candidates if (s := catalogue.lookup(c))), None)
            cache[key] = self.models.get(spec.key) if spec else None
        if cache[key] is None:
            close = catalogue.suggest(candidates[0])
            hint = f"; did you mean '{close}'?" if close else "; see `fleetui models`"
            errors.append(
                RowError(row, self._header("model"), candidates[0], f"unknown model{hint}")
            )
        return cache[key]

    def _price(self, row, cells, errors, attempt) -> tuple[int | None, str | None]:
        raw = self.cell(cells, "price")
        column_currency = attempt("currency", parse_currency, self.cell(cells, "currency"))
        if raw is None:
            return None, column_currency
        parsed = attempt("price", parse_money, raw)
        if parsed is None:
            return None, None
        minor, symbol_currency = parsed
        currency = column_currency or symbol_currency or self.options.currency
        if symbol_currency and column_currency and symbol_currency != column_currency:
            errors.append(
                RowError(
                    row,
                    self._header("price"),
                    raw,
                    f"the amount says {symbol_currency}, the currency column {column_currency}",
                )
            )
        if currency is None:
            errors.append(
                RowError(
                    row,
                    self._header("price"),
                    raw,
                    "no currency: add a currency column or pass --currency",
                )
            )
        return minor, currency

    def _warranty(self, row, cells, errors, attempt, purchased: date | None) -> date | None:
        """The end date; given as months it counts from the purchase date in the same row.
        Both given and disagreeing is an error: fleetui will not pick one silently."""
        end = attempt("warranty_end", self._date, self.cell(cells, "warranty_end"))
        raw_months = self.cell(cells, "warranty_months")
        months = attempt("warranty_months", parse_months, raw_months)
        if months is None:
            return end
        if purchased is None:
            errors.append(
                RowError(
                    row,
                    self._header("warranty_months"),
                    raw_months or "",
                    "warranty in months needs a purchase date in the same row",
                )
            )
            return end
        from_months = add_months(purchased, months)
        if end is not None and end != from_months:
            errors.append(
                RowError(
                    row,
                    self._header("warranty_end"),
                    self.cell(cells, "warranty_end") or "",
                    f"disagrees with {months} months from the purchase date ({from_months}); "
                    "give one of the two",
                )
            )
        return end or from_months

    def _team(self, name: str) -> int:
        team_id = self.teams.get(name.lower())
        if team_id is not None:
            return team_id
        if not self.options.create_missing:
            raise CellError(_unknown("team", name, self.teams))
        team_id = self.conn.execute(
            insert(Team).values(name=name, created_at=datetime.now(UTC))
        ).inserted_primary_key[0]
        self.teams[name.lower()] = team_id
        self.created.append(("team", name))
        return team_id

    def _project(self, row, name: str | None, team_id, team: str | None, errors) -> int | None:
        if name is None:
            return None
        column = self._header("project")
        if team_id is None:
            if team is not None:
                return None  # the team's own error is reported
            owners = [pid for (t, n), pid in self.projects.items() if n == name.lower()]
            if len(owners) == 1:
                return owners[0]
            reason = (
                "unknown project"
                if not owners
                else "that project name exists in several teams; add a team column or --team"
            )
            errors.append(RowError(row, column, name, reason))
            return None
        project_id = self.projects.get((team_id, name.lower()))
        if project_id is not None:
            return project_id
        if not self.options.create_missing:
            names = {n: i for (t, n), i in self.projects.items() if t == team_id}
            errors.append(
                RowError(row, column, name, _unknown(f"project of team {team}", name, names))
            )
            return None
        project_id = self.conn.execute(
            insert(Project).values(team_id=team_id, name=name, created_at=datetime.now(UTC))
        ).inserted_primary_key[0]
        self.projects[(team_id, name.lower())] = project_id
        self.created.append(("project", f"{team}/{name}"))
        return project_id

    def _node(self, hostname: str) -> int:
        if hostname not in self.nodes:
            found = self.conn.execute(select(Node.id).where(Node.hostname == hostname)).scalar()
            if found is None and self.options.create_missing:
                found = self.conn.execute(
                    insert(Node).values(hostname=hostname)
                ).inserted_primary_key[0]
                self.created.append(("node", hostname))
            self.nodes[hostname] = found
        if self.nodes[hostname] is None:
            raise CellError("unknown node (register it, or pass --create-missing)")
        return self.nodes[hostname]


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


def _link_existing(conn) -> None:
    """stage.card_id := the id of the card with that serial, if any."""
    existing = select(card_t.c.id).where(card_t.c.serial == stage_t.c.serial).scalar_subquery()
    conn.execute(update(stage_t).values(card_id=existing))


def _cross_row_errors(conn, options: ImportOptions, serial_column: str, uuid_column: str):
    first = (
        select(stage_t.c.serial, func.min(stage_t.c.row_no).label("first"))
        .group_by(stage_t.c.serial)
        .having(func.count() > 1)
        .subquery()
    )
    for row_no, serial, first_row in conn.execute(
        select(stage_t.c.row_no, stage_t.c.serial, first.c.first)
        .join(first, first.c.serial == stage_t.c.serial)
        .where(stage_t.c.row_no != first.c.first)
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(row_no, serial_column, serial, f"the same serial is on row {first_row}")
    first_uuid = (
        select(stage_t.c.uuid, func.min(stage_t.c.row_no).label("first"))
        .where(stage_t.c.uuid.isnot(None))
        .group_by(stage_t.c.uuid)
        .having(func.count(func.distinct(stage_t.c.serial)) > 1)
        .subquery()
    )
    for row_no, uuid, first_row in conn.execute(
        select(stage_t.c.row_no, stage_t.c.uuid, first_uuid.c.first)
        .join(first_uuid, first_uuid.c.uuid == stage_t.c.uuid)
        .where(stage_t.c.row_no != first_uuid.c.first)
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(row_no, uuid_column, uuid, f"the same UUID is on row {first_row}")
    for row_no, uuid, other in conn.execute(
        select(stage_t.c.row_no, stage_t.c.uuid, card_t.c.serial)
        .join(card_t, card_t.c.uuid == stage_t.c.uuid)
        .where(card_t.c.serial != stage_t.c.serial)
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(row_no, uuid_column, uuid, f"card {other} already has this UUID")
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


def _count(conn, result: ImportResult, present: list[str]) -> None:
    total = conn.execute(select(func.count()).select_from(stage_t)).scalar_one()
    result.new = conn.execute(
        select(func.count()).select_from(stage_t).where(stage_t.c.card_id.is_(None))
    ).scalar_one()
    result.changed = conn.execute(
        select(func.count())
        .select_from(stage_t.join(card_t, card_t.c.id == stage_t.c.card_id))
        .where(_changed(present))
    ).scalar_one()
    result.unchanged = total - result.new - result.changed


def _apply(conn, result: ImportResult, present: list[str], options, created) -> None:
    now = datetime.now(UTC)
    actor = options.actor or audit.current_actor()
    common = {"at": now, "actor": actor, "batch_id": result.batch_id, "reason": options.reason}
    audit.record(
        conn,
        batch_id=result.batch_id,
        action="import",
        actor=actor,
        at=now,
        reason=options.reason,
        changes=[
            (
                None,
                None,
                {
                    "file": Path(result.file).name,
                    "new": result.new,
                    "changed": result.changed,
                    "created": created,
                },
            )
        ],
    )
    if result.changed:
        joined = stage_t.join(card_t, card_t.c.id == stage_t.c.card_id)
        before = json_object({f: card_t.c[f] for f in present} | {"version": card_t.c.version})
        after = json_object(
            {f: func.coalesce(stage_t.c[f], card_t.c[f]) for f in present}
            | {"version": card_t.c.version + 1}
        )
        events = (
            select(
                *(literal(v).label(k) for k, v in common.items()),
                literal("import.update").label("action"),
                card_t.c.id,
                card_t.c.serial,
                (card_t.c.version + 1).label("card_version"),
                before.label("before"),
                after.label("after"),
            )
            .select_from(joined)
            .where(_changed(present))
        )
        conn.execute(
            insert(event_t).from_select(
                [*common, "action", "card_id", "serial", "card_version", "before", "after"], events
            )
        )
        conn.execute(
            update(card_t)
            .where(card_t.c.id == stage_t.c.card_id, _changed(present))
            .values(
                {f: func.coalesce(stage_t.c[f], card_t.c[f]) for f in present}
                | {"version": card_t.c.version + 1, "updated_at": now}
            )
        )
    if result.new:
        new_rows = select(
            stage_t.c.serial,
            *(stage_t.c[f] for f in CARD_FIELDS if f not in ("status", "notes")),
            func.coalesce(
                stage_t.c.status,
                case((stage_t.c.node_id.is_(None), "spare"), else_="in_service"),
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
            select(
                *(literal(v).label(k) for k, v in common.items()),
                literal("import.create").label("action"),
                card_t.c.id,
                card_t.c.serial,
                literal(1).label("card_version"),
            )
            .select_from(stage_t.join(card_t, card_t.c.serial == stage_t.c.serial))
            .where(stage_t.c.card_id.is_(None))
        )
        conn.execute(
            insert(event_t).from_select(
                [*common, "action", "card_id", "serial", "card_version"], events
            )
        )


def _write_rejected(source: CsvSource, result: ImportResult) -> str:
    """FILE.rejected.csv: the rejected rows as they were, with a reason column."""
    bad_rows = result.rejected_rows
    target = source.path.with_name(source.path.name + ".rejected.csv")
    with open(target, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", *source.header, "reason"])
        for row_no, cells in source.records():
            if row_no in bad_rows:
                writer.writerow([row_no, *cells, bad_rows[row_no]])
    return str(target)
