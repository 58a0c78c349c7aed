"""The lifecycle rules of rules.py as SQL conditions on cards (for filters and move picks),
matching warranty_end(), end_of_life() and service_life() card for card."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Connection, and_, literal_column, or_, select

from fleetui.config import Config
from fleetui.core.vocabulary import Status
from fleetui.db.tables import Card, GpuModel, table_of
from fleetui.importing.cells import add_months

card_t, model_t = table_of(Card), table_of(GpuModel)


def purchase_bound(months: int, target: date) -> date:
    """The earliest purchase date p with add_months(p, months) >= target."""
    p = add_months(target, -months)
    while add_months(p - timedelta(days=1), months) >= target:
        p -= timedelta(days=1)
    while add_months(p, months) < target:
        p += timedelta(days=1)
    return p


def warranty_condition(
    conn: Connection, cfg: Config, today: date, days: int | None
) -> ColumnElement[bool]:
    """SQL for "warranty ends within `days` from today" (None: "has expired"), matching
    warranty_end() including its defaults for cards with no end date of their own."""
    card = card_t
    if days is None:
        stored = card.c.warranty_end < today
    else:
        stored = card.c.warranty_end.between(today, today + timedelta(days=days))
    derived = []
    for months, which in _default_months(cfg, _supplier_months(conn, cfg)):
        start = purchase_bound(months, today)
        if days is None:
            window = card.c.purchase_date < start
        else:
            end = purchase_bound(months, today + timedelta(days=days + 1)) - timedelta(days=1)
            window = card.c.purchase_date.between(start, end)
        derived.append(and_(which, window))
    return or_(stored, and_(card.c.warranty_end.is_(None), or_(*derived)))


def _supplier_months(conn: Connection, cfg: Config) -> dict[str, int]:
    """The configured warranty months per supplier as spelt in the database, matched by
    warranty_end()'s own str.lower() (SQL's lower() differs between backends beyond ASCII)."""
    by_supplier = cfg.lifecycle.warranty_months_by_supplier
    if not by_supplier:
        return {}
    spelt = conn.execute(select(card_t.c.supplier).where(card_t.c.supplier != "").distinct())
    return {s: by_supplier[s.lower()] for s in spelt.scalars() if s.lower() in by_supplier}


def _default_months(
    cfg: Config, suppliers: dict[str, int]
) -> Iterator[tuple[int, ColumnElement[bool]]]:
    """(months, SQL saying a card's default warranty is that many months) for each default."""
    life = cfg.lifecycle
    card = card_t
    by_model = life.warranty_months_by_model
    model_ids = select(model_t.c.id)
    with_model_default = card.c.model_id.in_(model_ids.where(model_t.c.key.in_(list(by_model))))
    months = set(by_model.values()) | set(suppliers.values()) | {life.warranty_months}
    for m in sorted(months):
        keys = [k for k, v in by_model.items() if v == m]
        names = [s for s, v in suppliers.items() if v == m]
        which: list[ColumnElement[bool]] = (
            [card.c.model_id.in_(model_ids.where(model_t.c.key.in_(keys)))] if keys else []
        )
        if names:
            which.append(and_(~with_model_default, card.c.supplier.in_(names)))
        if m == life.warranty_months:
            no_supplier = or_(card.c.supplier.is_(None), card.c.supplier.not_in(list(suppliers)))
            which.append(and_(~with_model_default, no_supplier))
        yield m, or_(*which)


def life_overrides(conn: Connection) -> list[float]:
    """The distinct per-card service lives in the database (for the end-of-life conditions),
    read from the partial index ix_card_life_override (its condition spelt as in the index:
    a bound 0 would not let SQLite use it)."""
    own = card_t.c.service_life_years
    query = select(own).where(own > literal_column("0")).distinct()
    return list(conn.execute(query).scalars())


def eol_condition(
    cfg: Config, overrides: list[float], before: date, since: date | None = None
) -> ColumnElement[bool]:
    """SQL for "end of life is before `before` (and on or after `since`)", matching
    end_of_life()/service_life(). `overrides`: life_overrides()."""
    card = card_t
    life = cfg.lifecycle
    model_ids = select(model_t.c.id)
    by_model = life.service_life_by_model

    def window(years: float) -> ColumnElement[bool]:
        months = round(years * 12)
        bought = card.c.purchase_date < purchase_bound(months, before)
        if since is None:
            return bought
        return and_(bought, card.c.purchase_date >= purchase_bound(months, since))

    options = []
    for years in sorted(set(by_model.values()) | {life.service_life_years}):
        keys = [k for k, v in by_model.items() if v == years]
        if years == life.service_life_years:
            which = ~card.c.model_id.in_(model_ids.where(model_t.c.key.in_(list(by_model))))
        else:
            which = card.c.model_id.in_(model_ids.where(model_t.c.key.in_(keys)))
        options.append(
            and_(
                or_(card.c.service_life_years.is_(None), card.c.service_life_years == 0),
                which,
                window(years),
            )
        )
    for years in overrides:
        options.append(and_(card.c.service_life_years == years, window(years)))
    return or_(*options)


def past_eol_condition(cfg: Config, today: date, overrides: list[float]) -> ColumnElement[bool]:
    """SQL for "in service and past end of life", matching end_of_life()/service_life()."""
    return and_(card_t.c.status == Status.IN_SERVICE, eol_condition(cfg, overrides, today))
