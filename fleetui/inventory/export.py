"""Exporting cards as CSV or JSON, in fleetui's own headers, so an export re-imports as-is.

Each record carries every stored field (EXPORT_FIELDS, as stored: what an import reads back),
then the lifecycle rules' figures (COMPUTED_FIELDS), which an import skips."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Engine, RowMapping, Select, select

from fleetui.config import Config
from fleetui.db.tables import Card, GpuModel, Node, Project, Team
from fleetui.importing.columns import COMPUTED_FIELDS, EXPORT_FIELDS
from fleetui.importing.csvfile import write_rows
from fleetui.inventory import cards as inventory
from fleetui.lifecycle import rules as lifecycle

CHUNK = 5_000
HEADER = (*EXPORT_FIELDS, *COMPUTED_FIELDS)
card, model_t, node_t = Card.__table__, GpuModel.__table__, Node.__table__
team_t, project_t = Team.__table__, Project.__table__


def _columns() -> Select:
    return select(
        card.c.id,
        card.c.serial,
        card.c.uuid,
        model_t.c.name.label("model"),
        model_t.c.key.label("model_key"),
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
        card.c.asset_tag,
        card.c.purchase_order,
    ).select_from(inventory.with_names())


def _record(row: RowMapping, settings: Config) -> dict[str, Any]:
    """A card's HEADER fields: its stored values, then what the lifecycle rules make of them."""
    values = dict(row)
    minor = values["price_minor"]
    values["price"] = str(Decimal(minor) / 100) if minor is not None else None
    key = values["model_key"]
    end = lifecycle.warranty_end(
        settings, values["purchase_date"], values["warranty_end"], key, values["supplier"]
    )
    years = lifecycle.service_life(settings, values["service_life_years"], key)
    values["effective_warranty_end"] = end
    values["effective_service_life_years"] = years
    values["end_of_life"] = lifecycle.end_of_life(values["purchase_date"], years)
    return {f: values[f] for f in HEADER}


def records(engine: Engine, ids: Sequence[int], *, settings: Config) -> dict[int, dict[str, Any]]:
    """The export record of each card id (for `cards --json`, a page at a time)."""
    with engine.connect() as conn:
        found = conn.execute(_columns().where(card.c.id.in_(ids))).mappings().all()
    return {row["id"]: _record(row, settings) for row in found}


def rows(engine: Engine, query: str = "", *, settings: Config) -> Iterator[dict[str, Any]]:
    """Every matching card as a dict of HEADER fields, in serial order, a chunk at a time."""
    condition = inventory.where(engine, query, settings=settings)
    columns = _columns()
    last = None
    with engine.connect() as conn:
        while True:
            query_chunk = columns.where(condition).order_by(card.c.serial).limit(CHUNK)
            if last is not None:
                query_chunk = query_chunk.where(card.c.serial > last)
            chunk = conn.execute(query_chunk).mappings().all()
            for row in chunk:
                yield _record(row, settings)
            if len(chunk) < CHUNK:
                return
            last = chunk[-1]["serial"]


def write_csv(engine: Engine, query: str, out: IO[str], *, settings: Config) -> int:
    cells = (
        [None if v is None else _text(v) for v in row.values()]
        for row in rows(engine, query, settings=settings)
    )
    return write_rows(out, HEADER, cells)


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
