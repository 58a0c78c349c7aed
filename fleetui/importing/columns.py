"""Which CSV column holds which card field: fleetui's own headers and the ones people send.

Headers are compared ignoring case, spaces and punctuation ("Purchase Date" = "purchase_date").
Sources: fleetui's export, Snipe-IT asset exports (app/Importer/import_mappings.md), NetBox
inventory-item and module exports (dcim), `nvidia-smi --query-gpu ... --format=csv`, and the
Chinese headers of spreadsheets from purchasing and asset teams.

A WEAK alias counts only when no other column of the file gives the fields it names: `name` is
the model in `nvidia-smi --query-gpu=name,...`, but the asset's own name in Snipe-IT and NetBox
files, which carry their model as `Model`/`Model Number` or `part_id`.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter
from dataclasses import dataclass, field

from fleetui.core import units
from fleetui.core.errors import UserError

# fleetui's own export headers, in export order
EXPORT_FIELDS = (
    "serial",
    "uuid",
    "model",
    "node",
    "pci_bus_id",
    "team",
    "project",
    "status",
    "purchase_date",
    "price",
    "currency",
    "supplier",
    "warranty_end",
    "service_life_years",
    "notes",
    "asset_tag",
    "purchase_order",
)
# What an export adds after EXPORT_FIELDS, computed by the lifecycle rules: an import skips them.
COMPUTED_FIELDS = ("effective_warranty_end", "effective_service_life_years", "end_of_life")
ALIASES: dict[str, tuple[str, ...]] = {
    "serial": (
        "serial number",
        "serial no",
        "sn",
        "s/n",
        "gpu serial",
        "asset serial",
        "序列号",
        "序列號",
        "设备序列号",
        "SN号",
        "SN码",
    ),
    "uuid": ("gpu uuid", "nvml uuid", "gpu id"),
    "model": (
        "gpu model",
        "gpu type",
        "card type",
        "gpu",
        "name",
        "gpu name",
        "model name",
        "asset model",
        "part id",  # NetBox inventory items
        "module type",  # NetBox modules
        "card model",
        "product",
        "型号",
        "型號",
        "显卡型号",
        "GPU型号",
        "卡型号",
        "设备型号",
    ),
    "node": (
        "hostname",
        "host",
        "host name",
        "server",
        "machine",
        "node name",
        "device",  # NetBox: the device an inventory item or module is in
        "主机",
        "主机名",
        "节点",
        "服务器",
        "机器",
        "所在主机",
    ),
    "pci_bus_id": ("pci.bus_id", "bus id", "pci bus", "pci bus id", "gpu bus id"),
    "team": (
        "team name",
        "department",
        "dept",
        "group",
        "owner team",
        "company",  # Snipe-IT
        "团队",
        "部门",
        "组",
        "业务线",
        "使用部门",
    ),
    "project": ("project name", "项目", "项目名称"),
    "status": ("state", "status label", "状态", "使用状态", "设备状态"),
    "purchase_date": (
        "purchased",
        "bought",
        "purchase date",
        "date of purchase",
        "order date",
        "采购日期",
        "购买日期",
        "购置日期",
    ),
    "price": (
        "purchase cost",
        "cost",
        "unit price",
        "purchase price",
        "price each",
        "采购价格",
        "单价",
        "价格",
        "采购单价",
        "金额",
    ),
    "currency": ("currency code", "币种", "货币"),
    "asset_tag": (
        "asset tag",
        "asset tag number",
        "asset no",
        "asset number",
        "tag",
        "资产编号",
        "资产标签",
    ),
    "purchase_order": (
        "order number",  # Snipe-IT
        "purchase order",
        "po",
        "po number",
        "invoice",
        "invoice number",
        "采购订单",
        "订单号",
        "发票号",
    ),
    "supplier": ("vendor", "seller", "供应商", "供货商"),
    "warranty_months": (
        "warranty",
        "warranty months",
        "warranty period",
        "warranty (months)",
        "保修期(月)",
        "保修期",
        "保修月数",
        "质保期",
        "质保期(月)",
    ),
    "warranty_end": (
        "warranty end",
        "warranty expires",
        "warranty expiry",
        "warranty until",
        "warranty expiration",
        "warranty end date",
        "保修到期",
        "保修到期日",
        "保修截止日期",
        "质保到期",
    ),
    "service_life_years": ("service life", "service life years", "使用年限"),
    "notes": ("note", "comment", "comments", "remarks", "备注", "说明"),
    "manufacturer": ("manufacturer", "make", "brand", "厂商", "品牌", "制造商"),
    "model_number": ("model number", "model no", "part number", "型号编码"),
}
# weak alias -> the fields whose column, when the file has one, makes it no alias at all
WEAK = {"name": ("model", "model_number")}
FIELDS = tuple(dict.fromkeys((*EXPORT_FIELDS, *ALIASES)))
IGNORE = "ignore"


def normalize(header: str) -> str:
    """'Purchase Date' -> 'purchasedate'; CJK characters are kept; a unit suffix like
    ' [MiB]' is dropped (nvidia-smi)."""
    header = re.sub(r"\s*\[[^\]]*\]\s*$", "", header.strip())
    return re.sub(r"[\W_]+", "", header.lower())


_LOOKUP = {normalize(f): f for f in FIELDS}
_LOOKUP.update({normalize(alias): f for f, aliases in ALIASES.items() for alias in aliases})
_LOOKUP.update({normalize(f): IGNORE for f in COMPUTED_FIELDS})
_WEAK = {normalize(alias): fields for alias, fields in WEAK.items()}


@dataclass
class Mapping:
    """Column index -> field for the columns that are imported, and what was left out."""

    names: list[str]  # how messages name each column (column_names)
    fields: dict[int, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # the columns not imported, in file order
    unknown_at: list[int] = field(default_factory=list)  # their places
    # columns with no header: left out too, and named in `unknown` once a row has data in one
    # (spreadsheets export empty trailing columns, which are not worth a word)
    headerless: list[int] = field(default_factory=list)

    def column_of(self, name: str) -> int | None:
        return next((i for i, f in self.fields.items() if f == name), None)

    def has(self, name: str) -> bool:
        return self.column_of(name) is not None

    def holds_data(self, index: int) -> None:
        """Column `index` was seen holding data: one with no header is named as not imported."""
        if index in self.headerless:
            self.headerless.remove(index)
            self.leave_out(index, f"{self.names[index]} (no header)")

    def leave_out(self, index: int, name: str) -> None:
        at = bisect.bisect(self.unknown_at, index)
        self.unknown_at.insert(at, index)
        self.unknown.insert(at, name)

    @property
    def serial_column(self) -> int:
        """Every mapping has one: map_columns refuses a header without it."""
        index = self.column_of("serial")
        assert index is not None
        return index


def column_names(header: list[str]) -> list[str]:
    """How messages name each column: by its header; `column N` (from 1) when it has none; a
    header the file repeats with its place too, `Notes (column 4)`, so the two are told apart."""
    counts = Counter(normalize(h) for h in header)
    return [
        f"column {i + 1}" if not h else f"{h} (column {i + 1})" if counts[normalize(h)] > 1 else h
        for i, h in enumerate(header)
    ]


def map_name(header: list[str], names: list[str], index: int) -> str:
    """How --map names column `index`: its header, or `column N` where the header is empty or
    repeated (`names`: column_names(header))."""
    return header[index] if names[index] == header[index] else f"column {index + 1}"


def map_columns(header: list[str], overrides: dict[str, str] | None = None) -> Mapping:
    """Map a header row; `overrides` ({column: field or 'ignore'}) come from --map. A field
    chosen there is that column's alone: a header that would have given it is left out."""
    keys = [normalize(raw) for raw in header]
    mapping = Mapping(column_names(header))
    chosen = _chosen(header, keys, mapping.names, overrides or {})
    taken = set(chosen.values()) - {IGNORE}
    targets = [
        chosen[i] if i in chosen else None if _LOOKUP.get(key) in taken else _LOOKUP.get(key)
        for i, key in enumerate(keys)
    ]
    strong = {
        t
        for i, (key, t) in enumerate(zip(keys, targets, strict=True))
        if key not in _WEAK or i in chosen
    }
    seen: dict[str, int] = {}
    for index, (raw, key, target) in enumerate(zip(header, keys, targets, strict=True)):
        if key in _WEAK and index not in chosen and strong.intersection(_WEAK[key]):
            target = None  # another column gives the model: this one is not it
        if target == IGNORE:
            continue
        if target is None or target in seen:
            if raw:
                mapping.leave_out(index, mapping.names[index])
            elif target is None:
                mapping.headerless.append(index)
            continue
        seen[target] = index
        mapping.fields[index] = target
    if "serial" not in seen:
        raise UserError(_missing_serial(header))
    return mapping


_POSITION = re.compile(r"column\s*(\d+)(\s*\(no header\))?", re.IGNORECASE)


def _chosen(
    header: list[str], keys: list[str], names: list[str], overrides: dict[str, str]
) -> dict[int, str]:
    """--map's {column: field} as {column index: field}. A column is named by its header (as
    normalize() compares them) or as `column N`, counting from 1, the only name a column
    without a header has. Refused, so that no column's values go nowhere unsaid: a name the
    file lacks (a typo), a header the file repeats (which one?), two columns for one field."""
    chosen: dict[int, str] = {}
    for column, target in overrides.items():
        key = normalize(column)
        found = [i for i, k in enumerate(keys) if k and k == key]
        position = _POSITION.fullmatch(column.strip())
        if not found and position and 1 <= int(position[1]) <= len(header):
            found = [int(position[1]) - 1]
        if not found:
            named = [h for h in header if h]
            close = difflib.get_close_matches(column, named, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else "."
            raise UserError(
                f"--map '{column}={target}': the file has no column '{column}' (name a header, or "
                f"'column N' for N from 1 to {len(header)}){hint}"
            )
        if len(found) > 1 and target != IGNORE:
            places = " and ".join(f"column {i + 1}" for i in found)
            raise UserError(
                f"--map '{column}={target}': the file has {units.counted(len(found), 'column')} "
                f"'{column}' ({places}); name the one meant as 'column N'."
            )
        for index in found:
            if target != IGNORE and target in chosen.values():
                other = next(i for i, t in chosen.items() if t == target)
                raise UserError(
                    f"--map gives {target} two columns, '{names[other]}' and '{names[index]}'; "
                    "a field is read from one column."
                )
            chosen[index] = target
    return chosen


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """--map 'Asset Tag=serial' values into {column: field}; UserError on a bad one."""
    result: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise UserError(f"--map takes COLUMN=FIELD, not {units.quoted(pair)}.")
        if target not in FIELDS and target != IGNORE:
            close = difflib.get_close_matches(target, FIELDS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; fields: {', '.join(FIELDS)}."
            raise UserError(f"--map {units.quoted(pair)}: unknown field '{target}'{hint}")
        column = column.strip()
        if result.setdefault(column, target) != target:
            raise UserError(
                f"--map gives '{column}' two fields, {result[column]} and {target}; a column is "
                "read as one field."
            )
    return result


def _missing_serial(header: list[str]) -> str:
    known = list(_LOOKUP)
    names = column_names(header)
    for index, raw in enumerate(header):
        close = difflib.get_close_matches(normalize(raw), known, n=1, cutoff=0.75)
        if close and _LOOKUP[close[0]] == "serial":
            return (
                f"No serial column: did you mean '{names[index]}' as serial? "
                f"Rename it or pass --map '{map_name(header, names, index)}=serial'."
            )
    return (
        "No serial column; name one 'serial' (or 序列号, Serial Number, ...) or pass "
        "--map COLUMN=serial."
    )
