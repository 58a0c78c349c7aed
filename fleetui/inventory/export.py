"""Exporting cards as CSV or JSON, in fleetui's own headers, so an export re-imports as-is.

Each record carries every stored field (EXPORT_FIELDS, as stored: what an import reads back),
then the lifecycle rules' figures (COMPUTED_FIELDS), which an import skips. Rows stream as
tuples a chunk at a time, so memory stays flat in the fleet's size."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import ColumnElement, Engine, Select, String, select, type_coerce

from fleetui.config import Config
from fleetui.db.tables import Card, GpuModel, Node, Project, Team, table_of
from fleetui.importing.columns import COMPUTED_FIELDS, EXPORT_FIELDS
from fleetui.importing.csvfile import write_rows
from fleetui.inventory import cards as inventory
from fleetui.inventory import filters
from fleetui.lifecycle import rules as lifecycle

CHUNK = 5_000
HEADER = (*EXPORT_FIELDS, *COMPUTED_FIELDS)
card, model_t, node_t = table_of(Card), table_of(GpuModel), table_of(Node)
team_t, project_t = table_of(Team), table_of(Project)


def _columns() -> dict[str, ColumnElement[Any]]:
    """The SQL each stored field is read from. Dates are read as the text SQLite stores (ISO),
    skipping a parse into date and back (PostgreSQL's dates print as the same ISO text)."""
    return {
        "id": card.c.id,
        "model_key": model_t.c.key,
        "serial": card.c.serial,
        "uuid": card.c.uuid,
        "model": model_t.c.name,
        "node": node_t.c.hostname,
        "pci_bus_id": card.c.pci_bus_id,
        "team": team_t.c.name,
        "project": project_t.c.name,
        "status": card.c.status,
        "purchase_date": type_coerce(card.c.purchase_date, String),
        "price": card.c.price_minor,
        "currency": card.c.currency,
        "supplier": card.c.supplier,
        "warranty_end": type_coerce(card.c.warranty_end, String),
        "service_life_years": card.c.service_life_years,
        "notes": card.c.notes,
        "asset_tag": card.c.asset_tag,
        "purchase_order": card.c.purchase_order,
    }


SELECTED = ("id", "model_key", *EXPORT_FIELDS)  # the id and model key feed the rules only
_AT = {name: i for i, name in enumerate(SELECTED)}
_RULES_READ = ("purchase_date", "warranty_end", "model_key", "supplier", "service_life_years")
_rule_inputs = operator.itemgetter(*(_AT[name] for name in _RULES_READ))
_PRICE = EXPORT_FIELDS.index("price")


def _select() -> Select:
    columns = _columns()
    return select(*(columns[f] for f in SELECTED)).select_from(inventory.with_names())


def _day(value: Any) -> date | None:
    return value if value is None or isinstance(value, date) else date.fromisoformat(value)


class _Rules:
    """The lifecycle figures of a card, each rule memoised on its own inputs: a fleet has as
    many of those as it has purchase days (times models), whatever its size, so the memos stay
    small while nearly every card is a hit. A stored warranty end is the figure itself."""

    def __init__(self, settings: Config) -> None:
        self.settings = settings
        self.ends: dict[tuple[Any, Any, Any], str | None] = {}  # (purchased, model, supplier)
        self.lives: dict[tuple[Any, Any], float] = {}  # (stored life, model)
        self.eols: dict[tuple[Any, float], str | None] = {}  # (purchased, life)

    def __call__(self, row: Sequence[Any]) -> tuple[Any, Any, Any]:
        purchased, given, model_key, supplier, years = _rule_inputs(row)
        end = given if given is None or isinstance(given, str) else given.isoformat()
        if end is None:
            if (purchased, model_key, supplier) not in self.ends:
                found = lifecycle.warranty_end(
                    self.settings, _day(purchased), None, model_key, supplier
                )
                self.ends[purchased, model_key, supplier] = found.isoformat() if found else None
            end = self.ends[purchased, model_key, supplier]
        if (years, model_key) not in self.lives:
            self.lives[years, model_key] = lifecycle.service_life(self.settings, years, model_key)
        life = self.lives[years, model_key]
        if (purchased, life) not in self.eols:
            eol = lifecycle.end_of_life(_day(purchased), life)
            self.eols[purchased, life] = eol.isoformat() if eol else None
        return end, life, self.eols[purchased, life]


def _values(row: Sequence[Any], rules: _Rules) -> list[Any]:
    """A selected row as HEADER values: the stored fields (the price in major units), then the
    rules' figures."""
    values = list(row[2:])
    minor = row[_AT["price"]]
    if minor is not None:
        values[_PRICE] = str(Decimal(minor) / 100)
    values.extend(rules(row))
    return values


def records(engine: Engine, ids: Sequence[int], *, settings: Config) -> dict[int, dict[str, Any]]:
    """The export record of each card id (for `cards --json`, a page at a time)."""
    rules = _Rules(settings)
    with engine.connect() as conn:
        found = conn.execute(_select().where(card.c.id.in_(ids))).all()
    return {row[0]: dict(zip(HEADER, _values(row, rules), strict=True)) for row in found}


def _tuples(engine: Engine, query: str, settings: Config) -> Iterator[list[Any]]:
    """Every matching card as HEADER values, in serial order, a chunk at a time.

    The filter is checked here, before the first row is asked for (as in inventory.cards), so
    a writer's header or opening bracket never precedes a bad filter's error."""
    return _chunks(engine, filters.where(engine, query, settings=settings), settings)


def _chunks(engine: Engine, condition: Any, settings: Config) -> Iterator[list[Any]]:
    selected, rules, serial = _select(), _Rules(settings), _AT["serial"]
    last = None
    with engine.connect() as conn:
        while True:
            query_chunk = selected.where(condition).order_by(card.c.serial).limit(CHUNK)
            if last is not None:
                query_chunk = query_chunk.where(card.c.serial > last)
            chunk = conn.execute(query_chunk).all()
            for row in chunk:
                yield _values(row, rules)
            if len(chunk) < CHUNK:
                return
            last = chunk[-1][serial]


def rows(engine: Engine, query: str = "", *, settings: Config) -> Iterator[dict[str, Any]]:
    """Every matching card as a dict of HEADER fields, in serial order, a chunk at a time
    (the filter checked first, as in _tuples)."""
    return (dict(zip(HEADER, values, strict=True)) for values in _tuples(engine, query, settings))


def write_csv(engine: Engine, query: str, out: IO[str], *, settings: Config) -> int:
    return write_rows(out, HEADER, _tuples(engine, query, settings))


def write_json(engine: Engine, query: str, out: IO[str], *, settings: Config) -> int:
    found = rows(engine, query, settings=settings)
    out.write("[")
    n = 0
    for n, row in enumerate(found, 1):
        out.write(
            ("," if n > 1 else "") + "\n  " + json.dumps(row, default=_text, ensure_ascii=False)
        )
    out.write("\n]\n")
    return n


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
