"""Exporting cards as CSV or JSON, in fleetui's own headers, so an export re-imports as-is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Engine, select

from fleetui.config import Config
from fleetui.db.tables import Card, GpuModel, Node, Project, Team, table_of
from fleetui.importing.columns import EXPORT_FIELDS
from fleetui.importing.csvfile import write_rows
from fleetui.inventory import cards as inventory
from fleetui.inventory import filters

CHUNK = 5_000
card, model_t, node_t = table_of(Card), table_of(GpuModel), table_of(Node)
team_t, project_t = table_of(Team), table_of(Project)


def rows(engine: Engine, query: str = "", *, settings: Config) -> Iterator[dict[str, Any]]:
    """Every matching card as a dict of EXPORT_FIELDS, in serial order, a chunk at a time."""
    condition = filters.where(engine, query, settings=settings)
    columns = select(
        card.c.serial,
        card.c.uuid,
        model_t.c.name.label("model"),
        node_t.c.hostname.label("node"),
        card.c.pci_bus_id,
        team_t.c.name.label("team"),
        project_t.c.name.label("project"),
        card.c.status,
        card.c.purchase_date,
        card.c.price_minor,
        card.c.currency,
        card.c.supplier,
        card.c.warranty_end,
        card.c.service_life_years,
        card.c.notes,
    ).select_from(inventory.with_names())
    last = None
    with engine.connect() as conn:
        while True:
            query_chunk = columns.where(condition).order_by(card.c.serial).limit(CHUNK)
            if last is not None:
                query_chunk = query_chunk.where(card.c.serial > last)
            chunk = conn.execute(query_chunk).mappings().all()
            for row in chunk:
                values = dict(row)
                minor = values.pop("price_minor")
                values["price"] = str(Decimal(minor) / 100) if minor is not None else None
                yield {f: values[f] for f in EXPORT_FIELDS}
            if len(chunk) < CHUNK:
                return
            last = chunk[-1]["serial"]


def write_csv(engine: Engine, query: str, out: IO[str], *, settings: Config) -> int:
    cells = (
        [None if v is None else _text(v) for v in row.values()]
        for row in rows(engine, query, settings=settings)
    )
    return write_rows(out, EXPORT_FIELDS, cells)


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
