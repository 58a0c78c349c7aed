"""Parsing chunks of CSV records into stage columns: cells checked and converted, column by
column, memoised. No SQL here: names are resolved through a `stage.Names`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from fleetui.core import units
from fleetui.db.tables import Card, Node, Project, Team, length_of, table_of, unfit
from fleetui.importing.cells import (
    MISSING,
    CellError,
    RowError,
    add_months,
    identities,
    parse_currency,
    parse_date,
    parse_money,
    parse_months,
    parse_status,
    parse_years,
    slot_serial,
)
from fleetui.importing.columns import Mapping
from fleetui.importing.csvfile import CsvSource
from fleetui.importing.stage import CARD_FIELDS, KEY_COLUMNS, STAGE_COLUMNS, Names, ToCreate
from fleetui.importing.xlsxfile import XlsxSource

MEMO_LIMIT = 100_000  # distinct raw values remembered per column
_MISSING_FIRST = {c for m in MISSING if m for c in (m[0], m[0].upper())}
card_t = table_of(Card)

# The database column each text field's value goes to (or names a row of): its length limit.
FITTED = {
    "serial": card_t.c.serial,
    "uuid": card_t.c.uuid,
    "pci_bus_id": card_t.c.pci_bus_id,
    "supplier": card_t.c.supplier,
    "team": table_of(Team).c.name,
    "project": table_of(Project).c.name,
    "node": table_of(Node).c.hostname,
    "asset_tag": card_t.c.asset_tag,
    "purchase_order": card_t.c.purchase_order,
}


class ChunkParser:
    """Turns chunks of CSV records into stage columns plus the errors of the rejected rows.

    Work goes column by column over a chunk: each column's distinct raw values are converted
    once (memoised, at most MEMO_LIMIT per column, so memory stays bounded) and mapped in a
    list comprehension; unique columns (serial, UUID, notes) are only trimmed. Models, nodes,
    teams and projects are resolved by `names`, which holds them by name.
    """

    def __init__(
        self, names: Names, source: CsvSource | XlsxSource, mapping: Mapping, options
    ) -> None:
        self.names, self.options = names, options
        self.width = len(source.header)
        self.needed = max((i + 1 for i, h in enumerate(source.header) if h), default=0)
        self.source = source
        self.widest = self.width  # cells in the widest rejected row (its rejected-file columns)
        self.columns = {f: i for i, f in mapping.fields.items()}
        self.mapping = mapping  # its headerless columns named in its unknown once data shows
        # every currency the file writes (in its amounts or a currency column): where first
        self.written: dict[str, str] = {}
        self.bare_prices = False  # whether a price names no currency (settled after staging)
        self.rows_estimate = source.estimate_rows()
        self.defaults = {"node": options.node, "team": options.team, "project": options.project}
        self.memos: dict[str, dict[Any, Any]] = {}
        self.failed: set[str] = set()  # memos holding a CellError
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

    def bare_currency(self) -> tuple[str, str]:
        """The currency for prices that name none, and why: --currency, else the one the rest
        of the file writes (when it writes one only: in amounts or a currency column), else
        the config's."""
        if self.options.currency:
            return self.options.currency, "--currency"
        if len(self.written) == 1:
            ((code, column),) = self.written.items()
            return code, f"as written elsewhere in column '{self.header_of(column)}'"
        return self.options.config.cost.currency, "the config's [cost] currency"

    def header_of(self, name: str) -> str:
        index = self.columns.get(name)
        return self.mapping.names[index] if index is not None else f"--{name}"

    # ------------------------------------------------------------ a chunk

    def parse(self, numbers: list[int], rows: list[list[str]]) -> tuple[list[list], list[RowError]]:
        """Stage columns (in STAGE_COLUMNS order) of every row, the invalid ones flagged
        `rejected` (their invalid cells None), and every row's errors."""
        width = self.width
        errors = self._misshapen(numbers, rows)
        if min(map(len, rows)) < width:  # short rows: pad, or zip() below would cut columns
            rows = [c if len(c) >= width else c + [""] * (width - len(c)) for c in rows]
        nul = (
            [i for i, cells in enumerate(rows) if "\x00" in "".join(cells)]
            if "\x00" in "".join(map("".join, rows))
            else []
        )
        errors += [
            RowError(
                numbers[i],
                self._column(c),
                rows[i][c].replace("\x00", "\\0"),
                "holds a NUL byte (binary data?)",
            )
            for i in nul
            for c in range(len(rows[i]))
            if "\x00" in rows[i][c]
        ]
        bad = {e.row for e in errors}
        blanked = {i for i, row in enumerate(numbers) if row in bad} if bad else set()
        for i in blanked:  # reported; blank, so nothing below acts on its values
            rows[i] = [""] * len(rows[i])
        columns = list(zip(*rows, strict=False)) if width else []
        for i in [i for i in self.mapping.headerless if any(columns[i])]:
            self.mapping.holds_data(i)
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

        uuid: list[str | None] = (
            identities(col("uuid")) if "uuid" in self.columns else [None] * len(rows)
        )
        if not self.uuid_repeats:
            self._track_uuids(uuid)
        serial = identities(col("serial"))
        if None in serial:  # a card without a serial goes by its UUID
            serial = [s or u for s, u in zip(serial, uuid, strict=True)]
        status = mapped("status", parse_status)
        purchased = mapped("purchase_date", self._date)
        warranty_end = self._warranty(numbers, purchased, mapped, errors, col)
        minor, currency = self._price(numbers, mapped, errors, col("price"))
        team_values = (
            col("team") if "team" in self.columns else (self.defaults["team"] or "",) * len(rows)
        )
        team_ids = mapped("team", self.names.team, team_values)
        project_ids = self._projects(numbers, col("project"), team_ids, team_values, errors)
        if "team" not in self.columns and not self.defaults["team"]:
            owner = {pid: tid for (tid, _), pid in self.names.projects.items()}
            team_ids = [
                owner.get(p) if p else t for p, t in zip(project_ids, team_ids, strict=True)
            ]
        model_ids, no_model = self._models(
            numbers, col("model"), col("manufacturer"), col("model_number"), errors
        )
        for i in blanked:  # a misshapen row's one error is its shape
            no_model[i] = None
        self._unfit(numbers, col, errors)
        if self.names.pending:  # teams and projects to create, for the rows valid otherwise
            bad = {e.row for e in errors}
            team_ids = self.names.settle(team_ids, numbers, bad)
            project_ids = self.names.settle(project_ids, numbers, bad)
            self._settled()
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
        staged: list[list[Any]] = [
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
            cleaned("asset_tag"),
            cleaned("purchase_order"),
            [u is not None for u in uuid],
            no_model,
        ]
        if not errors:
            return [*staged, [None] * len(rows)], errors
        # An invalid row is staged too, flagged, with its keys only (the checks across rows
        # compare them; its other values may not even fit their columns).
        bad = {e.row for e in errors}
        rejected = [True if row in bad else None for row in numbers]
        kept = [
            values
            if name in KEY_COLUMNS
            else [None if r else v for v, r in zip(values, rejected, strict=True)]
            for name, values in zip(STAGE_COLUMNS, staged, strict=False)  # all but `rejected`
        ]
        return [*kept, rejected], errors

    def _misshapen(self, numbers: list[int], rows: list[list[str]]) -> list[RowError]:
        """The rows whose cells do not line up with the header's columns: a quote never
        closed, cells past the header's (empty ones aside), too few for its named columns.
        Their values would land in the wrong columns, so only this is reported for them."""
        unclosed = getattr(self.source, "unclosed", None)
        lengths = set(map(len, rows))
        fits = self.needed <= min(lengths) and max(lengths) <= self.width
        if fits and (unclosed is None or unclosed[0] not in numbers):
            return []
        errors = []
        for row, cells in zip(numbers, rows, strict=True):
            if unclosed is not None and row == unclosed[0]:
                where = self._column(unclosed[1])
                lines = cells[unclosed[1]].rstrip("\r\n").count("\n")  # those it swallowed
                reason = f"a quote opened in column '{where}' is never closed" + (
                    f" ({units.counted(lines, 'more line')} of the file inside it)" if lines else ""
                )
            elif len(cells) < self.needed or "".join(cells[self.width :]).strip():
                reason = f"{units.counted(len(cells), 'cell')} where the header has {self.width}"
                self.widest = max(self.widest, len(cells))
                broken = next((c for c, v in enumerate(cells) if "\n" in v or "\r" in v), None)
                if broken is not None:
                    reason += f" (the quoted cell in column '{self._column(broken)}' spans lines)"
            else:
                continue
            errors.append(RowError(row, "", "", reason))
        return errors

    def _column(self, index: int) -> str:
        """The header of the cell at `index`, or its place past the header's last."""
        return self.mapping.names[index] if index < self.width else f"column {index + 1}"

    def _settled(self) -> None:
        """The teams and projects created so far go into the memos as their ids, and out of
        `names.pending`: the chunks after need no settling for them."""
        for name in ("team", "project"):
            memo = self.memos.get(name, {})
            for key, value in memo.items():
                if value.__class__ is ToCreate and value.id is not None:
                    memo[key] = value.id
        pending = self.names.pending
        self.names.pending = {k: v for k, v in pending.items() if v.id is None}

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
            slots |= self.names.cards_in_slots(slots.keys())
        return [s or slots.get((n, b)) for s, n, b in zip(serial, node_ids, bus_ids, strict=True)]

    def _unfit(self, numbers, col, errors) -> None:
        """Values too long for their database column (on PostgreSQL: both backends refuse
        them), before any team, project or node is created for their row (parse_money refuses
        a price too large)."""
        for name, column in FITTED.items():
            cells = col(name) if name in self.columns else ()
            if max(map(len, cells), default=0) <= length_of(column):
                continue
            for row, cell in zip(numbers, cells, strict=True):
                if problem := unfit(column, cell.strip()):
                    errors.append(RowError(row, self.header_of(name), cell.strip(), problem))

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
            RowError(numbers[i], header, shown(i), str(v), v.missing)
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

    def _models(self, numbers, models, makers, numbers_col, errors) -> tuple[list, list]:
        """Model ids, and True for each row naming no model (None for the others: a column
        of Nones is not written)."""
        if "manufacturer" in self.columns or "model_number" in self.columns:
            keys: Sequence = list(zip(models, makers, numbers_col, strict=True))
            found = self._memo_map("model", keys, self._model_cell)
        else:
            found = self._memo_map("model", models, lambda m: self._model_cell((m, "", "")))
        no_model = [True if m is None else None for m in found]
        return self._errors("model", numbers, found, lambda i: models[i].strip(), errors), no_model

    def _model_cell(self, key: tuple[str, str, str]) -> int | CellError | None:
        model, maker, number = (k.strip() for k in key)
        if not (model or number):
            return None
        try:
            return self.names.model_id(model, maker, number)
        except CellError as exc:
            return exc

    def _price(self, numbers, mapped, errors, raw_prices) -> tuple[list, list]:
        currencies = mapped("currency", parse_currency)
        if "price" not in self.columns:
            fallback = self.options.currency if currencies and any(currencies) else None
            return [None] * len(numbers), [c or fallback for c in currencies]
        prices = mapped("price", parse_money)
        for column, codes in (
            ("price", {p[1] for p in set(prices) if p is not None}),
            ("currency", set(currencies)),
        ):
            self.written |= {c: column for c in codes - {None} if c not in self.written}
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
        given = _clean(col("purchase_date"))  # a date given but invalid has its own error
        for row, bought, months, end, raw_m, raw_e, date_given in zip(
            numbers, purchased, months_col, ends, raw_months, raw_ends, given, strict=True
        ):
            if months is None or (bought is None and date_given):
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
                        f"disagrees with {units.counted(months, 'month')} from the purchase "
                        f"date ({from_months}); give one of the two",
                    )
                )
            out.append(end or from_months)
        return out

    def _nodes(self, numbers, names, errors) -> list[int | None]:
        """Node ids by hostname. Unknown hosts are reported, or with --create-missing created
        (only for rows valid otherwise, so a rejected row leaves no node behind)."""
        known = self.names.nodes
        unknown = {n for n in names if n is not None and n not in known}
        if unknown and self.options.create_missing:
            bad = {e.row for e in errors}
            self.names.create_nodes(
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
                RowError(
                    row, header, name, "unknown node (register it, or pass --create-missing)", True
                )
                for row, name, node_id in zip(numbers, names, ids, strict=True)
                if name is not None and node_id is None
            )
        return ids

    def _projects(self, numbers, names, team_ids, team_names, errors) -> list[int | None]:
        if "project" not in self.columns and not self.defaults["project"]:
            return [None] * len(numbers)
        names = names if "project" in self.columns else ("",) * len(numbers)
        keys = list(zip(names, team_ids, team_names, strict=True))
        found = self._memo_map("project", keys, self._project_cell)
        shown = lambda i: names[i].strip() or self.defaults["project"]  # noqa: E731
        return self._errors("project", numbers, found, shown, errors)

    def _project_cell(self, key: tuple[str, int | None, str]) -> int | ToCreate | CellError | None:
        raw, team_id, team = key
        name = raw.strip() or self.defaults["project"]
        if not name or name.lower() in MISSING:
            return None
        try:
            return self.names.project(name, team_id, team.strip() or None)
        except CellError as exc:
            return exc


def _clean(values) -> list[str | None]:
    """Trimmed cells, None for the empty and the [N/A]-like ones (for columns whose values
    do not repeat, so a memo would not pay)."""
    return [
        s if (s := v.strip()) and (s[0] not in _MISSING_FIRST or s.lower() not in MISSING) else None
        for v in values
    ]
