"""Exporting cards as CSV or JSON, in fleetui's own headers, so an export re-imports as-is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import ColumnElement, Engine, String, select, type_coerce

from fleetui.config import Config
from fleetui.db.tables import Card, GpuModel, Node, Project, Team
from fleetui.importing.columns import EXPORT_FIELDS
from fleetui.importing.csvfile import write_rows
from fleetui.inventory import cards as inventory

CHUNK = 5_000
card, model_t, node_t = Card.__table__, GpuModel.__table__, Node.__table__
team_t, project_t = Team.__table__, Project.__table__


def _columns() -> dict[str, ColumnElement[Any]]:
    """The SQL each export field is read from. Dates are read as the text SQLite stores (ISO),
    skipping a parse into date and back (PostgreSQL's dates print as the same ISO text)."""
    return {
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
    }


def _tuples(engine: Engine, query: str, settings: Config) -> Iterator[list[Any]]:
    """Every matching card as values in EXPORT_FIELDS order, in serial order, a chunk at a time
    (memory stays flat in the fleet's size)."""
    condition = inventory.where(engine, query, settings=settings)
    columns = _columns()
    price, serial = EXPORT_FIELDS.index("price"), EXPORT_FIELDS.index("serial")
    selected = select(*(columns[f] for f in EXPORT_FIELDS)).select_from(inventory.with_names())
    last = None
    with engine.connect() as conn:
        while True:
            query_chunk = selected.where(condition).order_by(card.c.serial).limit(CHUNK)
            if last is not None:
                query_chunk = query_chunk.where(card.c.serial > last)
            chunk = conn.execute(query_chunk).all()
            for row in chunk:
                values = list(row)
                minor = values[price]
                values[price] = str(Decimal(minor) / 100) if minor is not None else None
                yield values
            if len(chunk) < CHUNK:
                return
            last = chunk[-1][serial]


def rows(engine: Engine, query: str = "", *, settings: Config) -> Iterator[dict[str, Any]]:
    """Every matching card as a dict of EXPORT_FIELDS, in serial order, a chunk at a time."""
    for values in _tuples(engine, query, settings):
        yield dict(zip(EXPORT_FIELDS, values, strict=True))


def write_csv(engine: Engine, query: str, out: IO[str], *, settings: Config) -> int:
    return write_rows(out, EXPORT_FIELDS, _tuples(engine, query, settings))


def write_json(engine: Engine, query: str, out: IO[str], *, settings: Config) -> int:
    out.write("[")
    n = 0
    for n, row in enumerate(rows(engine, query, settings=settings), 1):
        out.write(
            ("," if n > 1 else "") + "\n  " + json.dumps(row, default=_text, ensure_ascii=False)
        )
    out.write("\n]\n")
    return n


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
