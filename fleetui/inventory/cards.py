"""Reading the inventory: filtered, sorted, keyset-paged card lists, counts and card details.

No caller ever gets the whole fleet: pages come from SQL with a keyset cursor, so page 5,000 is
as fast as page 1. A sort on a nullable column walks two segments (cards without a value first
when ascending, last when descending), so each query stays a plain index range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    func,
    not_,
    or_,
    select,
)

from fleetui import config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.db.sqlfuncs import unindexed
from fleetui.db.tables import Card, GpuModel, Node, Project, Site, Team, table_of
from fleetui.inventory.events import events_of_card
from fleetui.inventory.filters import FOREIGN_KEYS, where
from fleetui.lifecycle import rules as lifecycle

card = table_of(Card)
model_t = table_of(GpuModel)
node_t = table_of(Node)
team_t = table_of(Team)
project_t = table_of(Project)
site_t = table_of(Site)

# sort name -> (column compared in the keyset, table to join for it, nullable)
SORTS: dict[str, tuple[Any, Any, bool]] = {
    "serial": (card.c.serial, None, False),
    "model": (model_t.c.name, model_t, False),
    "node": (node_t.c.hostname, node_t, True),
    "team": (team_t.c.name, team_t, True),
    "project": (project_t.c.name, project_t, True),
    "status": (card.c.status, None, False),
    "purchase_date": (card.c.purchase_date, None, True),
    "warranty_end": (card.c.warranty_end, None, True),
}
_JOIN_ON = {
    "model": card.c.model_id == model_t.c.id,
    "node": card.c.node_id == node_t.c.id,
    "team": card.c.team_id == team_t.c.id,
    "project": card.c.project_id == project_t.c.id,
}
COLUMNS = (
    "serial",
    "uuid",
    "model",
    "node",
    "team",
    "project",
    "status",
    "purchase_date",
    "warranty_end",
)


@dataclass(frozen=True)
class CardRow:
    id: int
    serial: str
    uuid: str | None
    model: str
    node: str | None
    team: str | None
    project: str | None
    status: str
    purchase_date: date | None
    warranty_end: date | None

    def as_dict(self) -> dict[str, Any]:
        return {c: _jsonable(getattr(self, c)) for c in COLUMNS}


@dataclass(frozen=True)
class Cursor:
    """A position in one sort order: (segment, sort value, serial) of a row."""

    segment: int
    value: Any
    serial: str


@dataclass(frozen=True)
class Page:
    rows: list[CardRow]
    first: Cursor | None
    last: Cursor | None
    more_after: bool
    more_before: bool


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# ---------------------------------------------------------------- paging


def _segments(sort: str, descending: bool) -> list[int]:
    """Segments in display order: 0 = rows with a NULL sort value, 1 = rows with a value."""
    nullable = SORTS[sort][2]
    if not nullable:
        return [1]
    return [1, 0] if descending else [0, 1]


PROBE_WINDOW = 4000  # rows walked in sort order before deciding the filter is sparse


def _segment_rows(sort: str, segment: int, cursor: Cursor | None, asc: bool) -> tuple[Select, list]:
    """One segment's rows after the cursor in sort order (not yet filtered), and its keys."""
    column, join_table, _ = SORTS[sort]
    value = column if segment else card.c.serial
    base = select(card.c.id, card.c.serial, value.label("sort_value"))
    if segment and join_table is not None:
        base = base.select_from(card.join(join_table, _JOIN_ON[sort]))
    if segment:
        base = base.where(column.isnot(None))
        keys = [column, card.c.serial] if sort != "serial" else [column]
    else:
        base = base.where(
            FOREIGN_KEYS[sort].is_(None) if sort in FOREIGN_KEYS else column.is_(None)
        )
        keys = [card.c.serial]
    if cursor is not None and cursor.segment == segment:
        base = base.where(_after(keys, _key_values(keys, segment, cursor), asc))
    return base.order_by(*_directed(keys, asc)), keys


def _key_values(keys: list, segment: int, at: Cursor) -> list:
    return [at.value, at.serial][: len(keys)] if segment else [at.serial]


def _segment_page(
    conn, sort: str, segment: int, condition, cursor: Cursor | None, asc: bool, limit: int
) -> list:
    """Up to `limit` matching rows of one segment after the cursor, by one of two plans.

    The walk reads at most PROBE_WINDOW rows in sort order (up to the window's last row, found
    first by one seek along the sort order) and keeps the matching ones: fast whenever matches
    are dense. When the window holds too few, matches are rare along the sort order, so the
    second plan finds them by the filter's own indexes and sorts them (the order is then read
    from no index: SQLite would otherwise walk the sort index again, past the whole window).
    """
    ordered, keys = _segment_rows(sort, segment, cursor, asc)
    edge = conn.execute(ordered.offset(PROBE_WINDOW - 1).limit(1)).first()
    walk = ordered.where(condition)
    if edge is not None:
        last = Cursor(segment, edge.sort_value, edge.serial)
        walk = walk.where(not_(_after(keys, _key_values(keys, segment, last), asc)))
    rows = conn.execute(walk.limit(limit)).all()
    if len(rows) < limit and edge is not None:
        by_filter = ordered.order_by(None).order_by(*_directed(map(unindexed, keys), asc))
        rows = conn.execute(by_filter.where(condition).limit(limit)).all()
    return rows


def _directed(keys, asc: bool) -> list:
    return [k.asc() if asc else k.desc() for k in keys]


def _after(keys, values, asc: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the (keys) order; written so the first key bounds a range."""
    first, *rest = keys
    v0, *vrest = values
    if not rest:
        return first > v0 if asc else first < v0
    bound = first >= v0 if asc else first <= v0
    return and_(
        bound, or_(first > v0 if asc else first < v0, and_(first == v0, _after(rest, vrest, asc)))
    )


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise UserError(f"Cannot sort by '{sort}'; use one of {', '.join(SORTS)}.")


def fetch_ids(
    engine: Engine,
    condition: ColumnElement[bool],
    sort: str = "serial",
    descending: bool = False,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 100,
) -> tuple[list[tuple[int, Cursor]], bool]:
    """Up to `limit` (card id, cursor) in sort order after `after` (or, backwards, before `before`).

    Returns the rows in display order and whether more rows exist in the direction walked.
    """
    _check_sort(sort)
    backwards = before is not None
    cursor = before if backwards else after
    segments = _segments(sort, descending)
    if backwards:
        segments = segments[::-1]
    asc = descending == backwards
    found: list[tuple[int, Cursor]] = []
    with engine.connect() as conn:
        for segment in segments:
            if cursor is not None and _passed(segments, segment, cursor.segment):
                continue
            want = limit + 1 - len(found)
            rows = _segment_page(conn, sort, segment, condition, cursor, asc, want)
            found += [(r.id, Cursor(segment, r.sort_value, r.serial)) for r in rows]
            if len(found) > limit:
                break
    more = len(found) > limit
    found = found[:limit]
    if backwards:
        found.reverse()
    return found, more


def _passed(order: list[int], segment: int, cursor_segment: int) -> bool:
    return order.index(segment) < order.index(cursor_segment)


def page(
    engine: Engine,
    query_text: str = "",
    sort: str = "serial",
    descending: bool = False,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 100,
    today: date | None = None,
    *,
    settings: config.Config,
) -> Page:
    """One page of cards matching a filter, in a sort order, after or before a cursor."""
    condition = where(engine, query_text, today, settings=settings)
    found, more = fetch_ids(engine, condition, sort, descending, after, before, limit)
    rows = rows_for(engine, [i for i, _ in found], settings=settings)
    backwards = before is not None
    return Page(
        rows=rows,
        first=found[0][1] if found else None,
        last=found[-1][1] if found else None,
        more_after=more if not backwards else True,
        more_before=more if backwards else after is not None,
    )


def with_names():
    """The card table joined to the tables that name its model, node, team and project."""
    return (
        card.join(model_t, _JOIN_ON["model"])
        .outerjoin(node_t, _JOIN_ON["node"])
        .outerjoin(team_t, _JOIN_ON["team"])
        .outerjoin(project_t, _JOIN_ON["project"])
    )


def rows_for(engine: Engine, ids: list[int], *, settings: config.Config) -> list[CardRow]:
    """Display rows for card ids, in the given order; the warranty end is the rules' (the
    card's own, else from its purchase date), as the warranty filter and reports count it."""
    if not ids:
        return []
    query = (
        select(
            card.c.id,
            card.c.serial,
            card.c.uuid,
            model_t.c.name.label("model"),
            node_t.c.hostname.label("node"),
            team_t.c.name.label("team"),
            project_t.c.name.label("project"),
            card.c.status,
            card.c.purchase_date,
            card.c.warranty_end,
            model_t.c.key,
            card.c.supplier,
        )
        .select_from(with_names())
        .where(card.c.id.in_(ids))
    )
    with engine.connect() as conn:
        by_id = {r.id: _card_row(settings, r) for r in conn.execute(query)}
    return [by_id[i] for i in ids if i in by_id]


def _card_row(cfg: config.Config, r) -> CardRow:
    *shown, purchased, stored_end, key, supplier = r
    end = lifecycle.warranty_end(cfg, purchased, stored_end, key, supplier)
    return CardRow(*[*shown, purchased, end])


def count(
    engine: Engine, query_text: str = "", today: date | None = None, *, settings: config.Config
) -> int:
    condition = where(engine, query_text, today, settings=settings)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(card).where(condition)).scalar_one()


# The dashboard's alerts, each the filter its key opens in the inventory.
ALERTS = {
    "expiring_30d": "warranty:30d",
    "expiring_90d": "warranty:90d",
    "past_eol_in_service": "eol:past",
    "in_repair": "status:repair",
}


def alert_counts(
    engine: Engine, today: date | None = None, *, settings: config.Config
) -> dict[str, int]:
    """The dashboard's alert counts: each is the number of cards its inventory filter lists,
    counted in SQL over an index range (no group of the fleet is read into Python)."""
    return {name: count(engine, query, today, settings=settings) for name, query in ALERTS.items()}


def cards(
    engine: Engine,
    query_text: str = "",
    limit: int | None = None,
    sort: str = "serial",
    today: date | None = None,
    *,
    settings: config.Config,
) -> Iterator[CardRow]:
    """Matching cards in sort order, read a page at a time (for the CLI and exports).

    The filter is checked here, before the first row is asked for, so a caller that writes a
    header or an opening bracket first never leaves it behind a bad filter's error."""
    condition = where(engine, query_text, today, settings=settings)
    _check_sort(sort)
    return _pages(engine, condition, limit, sort, settings)


PAGE = 5000  # rows a page of an unbounded listing (a pipe): 1,000 took 1.5x as long


def _pages(
    engine: Engine, condition, limit: int | None, sort: str, settings: config.Config
) -> Iterator[CardRow]:
    cursor, remaining = None, limit
    while remaining is None or remaining > 0:
        size = PAGE if remaining is None else min(PAGE, remaining)
        found, more = fetch_ids(engine, condition, sort, after=cursor, limit=size)
        yield from rows_for(engine, [i for i, _ in found], settings=settings)
        if not more or not found:
            return
        cursor = found[-1][1]
        if remaining is not None:
            remaining -= len(found)


# ---------------------------------------------------------------- one card


@dataclass(frozen=True)
class CardDetail:
    fields: dict[str, Any]
    events: list[dict[str, Any]]


def detail(
    engine: Engine, serial: str, today: date | None = None, *, settings: config.Config
) -> CardDetail:
    """Every field of one card and its event history, newest first; UserError if unknown."""
    query = (
        select(
            card,
            model_t.c.name.label("model"),
            model_t.c.vendor,
            model_t.c.fp16_tflops,
            model_t.c.memory_gb,
            model_t.c.export_class,
            model_t.c.tpp,
            model_t.c.key.label("model_key"),
            node_t.c.hostname.label("node"),
            site_t.c.name.label("site"),
            node_t.c.rack,
            team_t.c.name.label("team"),
            project_t.c.name.label("project"),
        )
        .select_from(
            card.join(model_t, _JOIN_ON["model"])
            .outerjoin(node_t, _JOIN_ON["node"])
            .outerjoin(site_t, site_t.c.id == node_t.c.site_id)
            .outerjoin(team_t, _JOIN_ON["team"])
            .outerjoin(project_t, _JOIN_ON["project"])
        )
        .where(card.c.serial == serial)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            raise UserError(f"No card has serial '{serial}'.")
    history = events_of_card(engine, row["id"])
    fields = {k: row[k] for k in DETAIL_ORDER}
    fields.update(_life(row, today or date.today(), settings))
    fields.update({k: v for k, v in row.items() if k not in fields and k not in _HIDDEN})
    return CardDetail(fields, history)


def _life(row, today: date, cfg: config.Config) -> dict[str, Any]:
    """Warranty state, end of life, remaining life and book value, by fleetui.lifecycle's rules."""
    key = row["model_key"]
    end = lifecycle.warranty_end(
        cfg, row["purchase_date"], row["warranty_end"], key, row["supplier"]
    )
    years = lifecycle.service_life(cfg, row["service_life_years"], key)
    eol = lifecycle.end_of_life(row["purchase_date"], years)
    remaining = round(max(0, (eol - today).days) / 365.25, 1) if eol else None
    value = None
    if row["price_minor"] is not None:
        start = lifecycle.depreciating_from(row["status"], row["purchase_date"])
        minor = lifecycle.book_value(
            row["price_minor"], start, eol, cfg.lifecycle.salvage_fraction, today
        )
        value = units.money(minor, row["currency"])
    return {
        "warranty_end": end,
        "warranty_state": lifecycle.warranty_state(end, today, cfg.lifecycle.expiring_days),
        "service_life_years": years,
        "end_of_life": eol,
        "remaining_life_years": remaining,
        "book_value": value,
    }


DETAIL_ORDER = (  # then the lifecycle fields, then everything else
    "serial",
    "uuid",
    "asset_tag",
    "model",
    "status",
    "team",
    "project",
    "node",
    "pci_bus_id",
    "site",
    "rack",
    "purchase_date",
    "warranty_end",
    "price_minor",
    "currency",
    "supplier",
    "purchase_order",
    "service_life_years",
    "fp16_tflops",
    "memory_gb",
    "vendor",
    "export_class",
    "tpp",
    "notes",
)
_HIDDEN = {"id", "model_id", "node_id", "team_id", "project_id", "model_key"}
