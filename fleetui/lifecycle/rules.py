"""Warranty, service life and book value: per card, and aggregated for reports and alerts.

Rules (defaults in fleetui.config):
- Warranty end: the card's own end date; else its purchase date plus the warranty months
  configured for its model, else for its supplier, else the default (12). No purchase date and
  no end date: the warranty is "unknown".
- Warranty state on a given day: active; expiring (ends within `expiring_days`); expired; unknown.
- Service life: the card's own override, else its model's configured life, else the default
  (5 years). End of life = purchase date + service life (29 February + 1 year = 28 February).
- Book value: straight line from the price on the purchase date down to the salvage value
  (salvage_fraction x price) at end of life, and flat after it. A card on order is not yet
  depreciating (cost of ownership leaves it out too): it is worth its price until delivered.

Reports group the fleet in SQL by (team, model, supplier, status, purchase date, warranty end,
life override, currency): a few thousand groups even for a million cards, each computed once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Engine,
    String,
    and_,
    func,
    literal,
    null,
    select,
    type_coerce,
)

from fleetui import catalogue
from fleetui.config import Config, irreplaceable
from fleetui.core import units
from fleetui.core.vocabulary import COMPUTING, HELD, NO_PROJECT, UNASSIGNED, Status
from fleetui.db.bulk import gc_paused
from fleetui.db.tables import LIFECYCLE_KEYS, Card, GpuModel, Project, Team, table_of
from fleetui.importing.cells import add_months
from fleetui.lifecycle.conditions import (
    eol_condition,
    life_overrides,
    past_eol_condition,
    warranty_condition,
)

card_t, model_t, team_t = table_of(Card), table_of(GpuModel), table_of(Team)
project_t = table_of(Project)


def warranty_end(
    cfg: Config, purchased: date | None, given: date | None, model_key: str, supplier: str | None
) -> date | None:
    """The warranty end by the rules above: the one function every figure, list and (through
    warranty_condition, tested against it) every filter uses."""
    if given is not None:
        return given
    if purchased is None:
        return None
    life = cfg.lifecycle
    months = life.warranty_months_by_model.get(model_key)
    if months is None and supplier:
        months = life.warranty_months_by_supplier.get(supplier.lower())
    return add_months(purchased, months if months is not None else life.warranty_months)


def warranty_state(end: date | None, today: date, expiring_days: int) -> str:
    if end is None:
        return "unknown"
    if end < today:
        return "expired"
    return "expiring" if end <= today + timedelta(days=expiring_days) else "active"


def service_life(cfg: Config, override: float | None, model_key: str) -> float:
    if override:
        return override
    return cfg.lifecycle.service_life_by_model.get(model_key, cfg.lifecycle.service_life_years)


def end_of_life(purchased: date | None, years: float) -> date | None:
    if purchased is None:
        return None
    return add_months(purchased, round(years * 12))


ON_ORDER = "(on order)"  # the book-value line of cards bought but not yet delivered


def depreciating_from(status: str, purchased: date | None) -> date | None:
    """The date a card's book value starts to fall from: its purchase date, or None (none
    yet) for a card on order."""
    return None if status == Status.ON_ORDER else purchased


def book_value(
    price: int, purchased: date | None, eol: date | None, salvage: float, today: date
) -> int:
    """Straight-line value in minor units on `today` (the price when dates are unknown)."""
    if purchased is None or eol is None or today <= purchased:
        return price
    floor = price * salvage
    if today >= eol:
        return round(floor)
    used = (today - purchased).days / (eol - purchased).days
    return round(price - (price - floor) * used)


# ---------------------------------------------------------------- the fleet in groups


@dataclass(slots=True)
class Group:
    team: str
    project: str | None
    model: str
    model_key: str
    tflops: float  # per card
    tdp_w: int | None
    supplier: str | None
    status: str
    purchased: date | None
    warranty_end: date | None
    end_of_life: date | None
    currency: str | None
    cards: int
    price: int  # sum of known prices, minor units
    priced: int  # cards with a price


@dataclass
class Snapshot:
    today: date
    config: Config
    groups: list[Group] = field(default_factory=list)


@gc_paused()  # ~100k groups of short-lived rows and tuples: collections find nothing
def snapshot(
    engine: Engine,
    config: Config,
    today: date,
    keys: Sequence[str] = LIFECYCLE_KEYS,
    where: Callable[[Connection], ColumnElement[bool]] | None = None,
    index: str | None = None,
    prices: bool = True,
) -> Snapshot:
    """The fleet in groups of cards that the rules treat alike: grouped by `keys` (of
    LIFECYCLE_KEYS; the rest read as unknown), of the cards `where` selects. The GROUP BY reads
    a covering index in its order (no sort): ix_card_lifecycle for all keys; `index` names the
    one SQLite is to read whole, for a window too wide for a range; without `prices` the groups
    carry none (an index without them covers the query). Each distinct date and rule input is
    converted and computed once."""
    grouped = [card_t.c[k] for k in keys]
    # Dates as the driver gives them (SQLite: ISO text, parsed below once per distinct value).
    columns: list[ColumnElement[Any]] = [
        (type_coerce(c, String) if isinstance(c.type, Date) else c) if k in keys else null()
        for k, c in ((k, card_t.c[k]) for k in LIFECYCLE_KEYS)
    ]
    price = card_t.c.price_minor
    sums = (func.sum(price), func.count(price)) if prices else (null(), literal(0))
    query = select(*columns, func.count(), *sums).group_by(*grouped)
    with engine.connect() as conn:
        if where is not None:
            query = query.where(where(conn))
        if index:
            query = query.with_hint(card_t, f"INDEXED BY {index}", "sqlite")
        teams = dict(conn.execute(select(team_t.c.id, team_t.c.name)).all())
        projects = dict(conn.execute(select(project_t.c.id, project_t.c.name)).all())
        models = {
            r.id: r
            for r in conn.execute(
                select(
                    model_t.c.id,
                    model_t.c.key,
                    model_t.c.name,
                    model_t.c.fp16_tflops,
                    model_t.c.tdp_w,
                )
            )
        }
        rows = conn.execute(query).all()
    snap = Snapshot(today, config)
    # Per distinct rule input, not per group: the groups far outnumber the purchase dates.
    day = _Memo(_as_date)
    life = _Memo(lambda k: service_life(config, k[0], models[k[1]].key))
    eol = _Memo(lambda k: end_of_life(day[k[0]], k[1]))
    ends = "warranty_end" in keys  # else the warranty reads as unknown, like the other keys
    warranty = _Memo(
        lambda k: warranty_end(config, day[k[0]], None, models[k[1]].key, k[2]) if ends else None
    )
    names = {None: UNASSIGNED, **teams}
    append = snap.groups.append
    for (
        team_id,
        model_id,
        status,
        bought,
        override,
        currency,
        project_id,
        supplier,
        given,
        n,
        price_sum,
        priced,
    ) in rows:
        model = models[model_id]
        append(
            Group(
                names.get(team_id, UNASSIGNED),
                projects.get(project_id),
                model.name,
                model.key,
                model.fp16_tflops,
                model.tdp_w,
                supplier,
                status,
                day[bought],
                day[given] if given is not None else warranty[bought, model_id, supplier],
                eol[bought, life[override, model_id]],
                currency,
                n,
                int(price_sum or 0),
                priced,
            )
        )
    return snap


def _as_date(value: date | str | None) -> date | None:
    """A driver's date value (a date, or SQLite's ISO text) as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


class _Memo(dict):
    """fn(key) for each key, computed once: a million cards share few distinct inputs."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.fn(key)
        return value


def report_snapshot(
    engine: Engine, config: Config, today: date, report: str, window: int = 0
) -> Snapshot:
    """The groups a report reads, and no others: the cards in its window (`window` days for
    "warranty", years for "cliff") found by an index range, or (for "irreplaceable") groups by
    team, model and status only, or (for "cliff") by status, model and end of life only, or
    without supplier and warranty (for "cost"; for "book-value" without project too). The
    report gives on them what it gives on the whole snapshot."""
    held = card_t.c.status.in_(HELD)
    if report == "irreplaceable":
        computing = card_t.c.status.in_(COMPUTING)
        by_holder = LIFECYCLE_KEYS[:3]
        return snapshot(engine, config, today, keys=by_holder, where=lambda conn: computing)
    if report == "warranty":

        def where(conn: Connection):
            return and_(held, warranty_condition(conn, config, today, window))
    elif report == "cliff":  # by status and end of life alone, all in ix_card_status_purchase
        bounds = _quarters(today, window)

        def within(conn: Connection):
            return and_(held, eol_condition(config, life_overrides(conn), bounds[-1], bounds[0]))

        by_life = ("status", "purchase_date", "model_id", "service_life_years")
        return snapshot(engine, config, today, by_life, within, "ix_card_status_purchase", False)
    elif report in ("book-value", "cost"):  # each group's team, price and end of life
        return snapshot(
            engine, config, today, keys=LIFECYCLE_KEYS[: 6 if report == "book-value" else 7]
        )
    elif report == "eol":

        def where(conn: Connection):
            return past_eol_condition(config, today, life_overrides(conn))
    else:
        return snapshot(engine, config, today)
    index = "ix_card_lifecycle" if report == "eol" else None
    return snapshot(engine, config, today, where=where, index=index)


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class Row:
    """One line of a report: a label and its figures."""

    label: str
    cards: int
    pflops: float
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "cards": self.cards,
            "pflops": round(self.pflops, 3),
            **self.extra,
        }


def _group_key(group: Group, by: str) -> str:
    return {
        "team": group.team,
        "model": group.model,
        "supplier": group.supplier or "(no supplier)",
    }[by]


def warranty_expiring(snap: Snapshot, within_days: int, by: str = "team") -> list[Row]:
    """Held cards whose warranty ends between today and `within_days` from today, and the
    PFLOPS of those that compute."""
    if by not in ("team", "model", "supplier"):
        raise ValueError(by)
    last = snap.today + timedelta(days=within_days)
    cards: dict[str, int] = defaultdict(int)
    tflops: dict[str, float] = defaultdict(float)
    first: dict[str, date] = {}
    for g in snap.groups:
        if g.status in HELD and g.warranty_end and snap.today <= g.warranty_end <= last:
            key = _group_key(g, by)
            cards[key] += g.cards
            tflops[key] += units.computing(g.status, g.cards) * g.tflops
            first[key] = min(first.get(key, g.warranty_end), g.warranty_end)
    return sorted(
        (Row(k, cards[k], tflops[k] / 1000, {"first_expiry": first[k].isoformat()}) for k in cards),
        key=lambda r: (r.extra["first_expiry"], r.label),
    )


def expiries_per_month(snap: Snapshot, months: int = 12) -> list[Row]:
    """Held cards whose warranty ends in each of the next `months` calendar months."""
    start = snap.today.replace(day=1)
    buckets = [add_months(start, i) for i in range(months + 1)]
    counts = [0] * months
    for g in snap.groups:
        if g.status in HELD and g.warranty_end and snap.today <= g.warranty_end < buckets[-1]:
            index = (g.warranty_end.year - start.year) * 12 + g.warranty_end.month - start.month
            counts[index] += g.cards
    return [Row(f"{b:%Y-%m}", n, 0.0) for b, n in zip(buckets, counts, strict=False)]


def retirement_cliff(snap: Snapshot, years: int = 3) -> list[Row]:
    """Cards (in service, spare or in repair) reaching end of life per quarter, and the PFLOPS
    of those that compute."""
    bounds = _quarters(snap.today, years)
    start = bounds[0]
    cards = [0] * (years * 4)
    tflops = [0.0] * (years * 4)
    for g in snap.groups:
        if g.status in HELD and g.end_of_life and bounds[0] <= g.end_of_life < bounds[-1]:
            index = (
                (g.end_of_life.year - start.year) * 12 + g.end_of_life.month - start.month
            ) // 3
            cards[index] += g.cards
            tflops[index] += units.computing(g.status, g.cards) * g.tflops
    return [
        Row(f"{b.year} Q{(b.month - 1) // 3 + 1}", c, t / 1000)
        for b, c, t in zip(bounds, cards, tflops, strict=False)
    ]


def _quarters(today: date, years: int) -> list[date]:
    """The first days of this quarter and of the next `years` x 4 quarters."""
    start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    return [add_months(start, 3 * i) for i in range(years * 4 + 1)]


def past_end_of_life(snap: Snapshot) -> list[Row]:
    """Cards still in service after their end of life, per team and model."""
    rows: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])
    for g in snap.groups:
        if g.status == Status.IN_SERVICE and g.end_of_life and g.end_of_life < snap.today:
            rows[(g.team, g.model)][0] += g.cards
            rows[(g.team, g.model)][1] += units.computing(g.status, g.cards) * g.tflops
    return sorted(
        (Row(f"{t} / {m}", c, f / 1000) for (t, m), (c, f) in rows.items()),
        key=lambda r: (-r.cards, r.label),
    )


def book_values(snap: Snapshot) -> list[Row]:
    """Purchase price and today's book value per team and currency of the priced cards not
    retired; cards on order, held by no one yet and not yet depreciating, on a line of their
    own (ON_ORDER), whatever team they are meant for. The prices of the cards bought on one
    day with one end of life are depreciated together, so the figures do not depend on how
    the snapshot groups the cards (the report reads LIFECYCLE_KEYS' first six: 3x fewer
    groups than the whole snapshot's)."""
    salvage = snap.config.lifecycle.salvage_fraction
    cards: dict[tuple[str, str], int] = defaultdict(int)
    computing: dict[tuple[str, str], dict[float, int]] = defaultdict(lambda: defaultdict(int))
    by_life: dict[tuple[str, str], dict[tuple[date | None, date | None], int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for g in snap.groups:
        if g.status == Status.RETIRED or not g.priced:
            continue
        key = (ON_ORDER if g.status == Status.ON_ORDER else g.team, g.currency or "?")
        cards[key] += g.priced
        computing[key][g.tflops] += units.computing(g.status, g.priced)
        by_life[key][depreciating_from(g.status, g.purchased), g.end_of_life] += g.price
    rows = []
    for key, n in cards.items():
        prices = by_life[key]
        book = sum(
            book_value(p, bought, eol, salvage, snap.today) for (bought, eol), p in prices.items()
        )
        tflops = sum(t * c for t, c in sorted(computing[key].items()))
        extra = {
            "currency": key[1],
            "purchase": sum(prices.values()) / 100,
            "book_value": book / 100,
        }
        rows.append(Row(key[0], n, tflops / 1000, extra))
    return sorted(rows, key=lambda r: (-r.extra["book_value"], r.label))


def irreplaceable_share(snap: Snapshot) -> list[Row]:
    """Per team, its cards that compute (in service or spare) and their PFLOPS, and how many
    of them, and what share of the PFLOPS, are on models that can no longer be bought."""
    specs = {s.key: s for s in catalogue.models()}
    cards: dict[str, int] = defaultdict(int)
    stuck_cards: dict[str, int] = defaultdict(int)
    total: dict[str, float] = defaultdict(float)
    stuck: dict[str, float] = defaultdict(float)
    for g in snap.groups:
        if g.status not in COMPUTING:
            continue
        cards[g.team] += g.cards
        total[g.team] += g.cards * g.tflops
        if irreplaceable(snap.config, specs[g.model_key]):
            stuck_cards[g.team] += g.cards
            stuck[g.team] += g.cards * g.tflops
    return sorted(
        (
            Row(
                team,
                cards[team],
                total[team] / 1000,
                {
                    "irreplaceable_cards": stuck_cards[team],
                    "irreplaceable_pflops": round(stuck[team] / 1000, 3),
                    "share": round(stuck[team] / total[team], 4) if total[team] else 0.0,
                },
            )
            for team in total
        ),
        key=lambda r: (-r.extra["share"], r.label),
    )


# ---------------------------------------------------------------- cost of ownership

HOURS_PER_YEAR = 8766  # 365.25 days
CARDS_PER_NODE = 8


def cost_of_ownership(snap: Snapshot, by: str = "team") -> list[Row]:
    """Yearly cost per team (or team/project), in the config's currency:
    - purchase: straight-line depreciation per year of cards still within their service life
      (cards priced in other currencies are left out and counted in `other_currency_cards`);
    - power: in-service cards x TDP x utilization x hours x PUE x tariff;
    - rack/ops: the configured cost per 8-card node-year, pro rata per held card.
    Industry reports put purchase : rack/ops : power near 3 : 3 : 4 over a card's life; each
    row gives its own split to compare against that."""
    cost = snap.config.cost
    salvage = snap.config.lifecycle.salvage_fraction
    # Whole numbers per row and rule input, turned into money once each (in a set order), so
    # the figures do not depend on how the snapshot groups the cards.
    cards: dict[str, int] = defaultdict(int)
    other: dict[str, int] = defaultdict(int)
    computing: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    powered: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_life: dict[str, dict[tuple[date, date], int]] = defaultdict(lambda: defaultdict(int))
    for g in snap.groups:
        if g.status not in HELD:
            continue
        key = g.team if by == "team" else f"{g.team}/{g.project or NO_PROJECT}"
        cards[key] += g.cards
        computing[key][g.tflops] += units.computing(g.status, g.cards)
        if g.priced and g.purchased and g.end_of_life and snap.today < g.end_of_life:
            if (g.currency or cost.currency) == cost.currency:
                by_life[key][g.purchased, g.end_of_life] += g.price
            else:
                other[key] += g.priced
        if g.status == Status.IN_SERVICE and g.tdp_w:
            powered[key][g.tdp_w] += g.cards
    out = []
    for name, n in cards.items():
        purchase = sum(
            price * (1 - salvage) / ((eol - bought).days / 365.25) / 100
            for (bought, eol), price in sorted(by_life[name].items())
        )
        power = sum(
            c * tdp * cost.utilization * HOURS_PER_YEAR * cost.pue / 1000 * cost.tariff_per_kwh
            for tdp, c in sorted(powered[name].items())
        )
        ops = n / CARDS_PER_NODE * cost.rack_ops_per_node_year
        tflops = sum(t * c for t, c in sorted(computing[name].items()))
        total = purchase + power + ops
        split = (
            ":".join(f"{10 * part / total:.1f}" for part in (purchase, ops, power))
            if total
            else "-"
        )
        out.append(
            Row(
                name,
                n,
                tflops / 1000,
                {
                    "currency": cost.currency,
                    "purchase_per_year": round(purchase, 2),
                    "power_per_year": round(power, 2),
                    "rack_ops_per_year": round(ops, 2),
                    "total_per_year": round(total, 2),
                    "split_purchase_ops_power": split,
                    "other_currency_cards": other[name],
                },
            )
        )
    return sorted(out, key=lambda r: (-r.extra["total_per_year"], r.label))
