"""Changing and deleting cards: one audited, version-checked batch each, undoable.

An edit or a delete is planned first (nothing written) and committed only if none of the planned
cards changed since: every write is conditional on the version the plan read, as moves are.
Values are parsed with the importer's cell parsers, so an edit accepts what an import accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_STATUSES, Action, Status
from fleetui.db import audit
from fleetui.db.tables import CARD_DATA_COLUMNS, Card, Node, require_fit, table_of
from fleetui.importing.cells import CellError, parse_date, parse_money, parse_years
from fleetui.inventory.filters import where
from fleetui.store import writing

card_t, node_t = table_of(Card), table_of(Node)
# What a deleted card's log event keeps, so that undoing the delete re-creates the card.
KEPT_ON_DELETE = (*CARD_DATA_COLUMNS, "created_at")
# The fields `plan_edit` takes (the CLI's options, the TUI form's inputs), in display order.
EDIT_FIELDS = (
    "status",
    "notes",
    "node",
    "slot",
    "supplier",
    "price",
    "warranty_end",
    "service_life_years",
    "asset_tag",
    "purchase_order",
)


class EditConflict(UserError):
    """Cards changed between the preview and the commit; nothing was written."""


# ---------------------------------------------------------------- choosing cards


@dataclass(frozen=True)
class PlannedCard:
    id: int
    serial: str
    version: int
    values: dict[str, Any]  # the card's stored values of the columns the plan touches


def _chosen(
    conn: Connection,
    serials: list[str],
    columns: tuple,
    query: str | None = None,
    matching: Callable[[str], ColumnElement[bool]] | None = None,
) -> list[PlannedCard]:
    """The cards named by serial, or those filter `query` matches (one or the other; the
    filter's condition made by `matching`)."""
    if serials and query:
        raise UserError("Give serials or --where, not both.")
    if not serials and not (query or "").strip():
        # only a caller that gives `matching` offers a filter (edit does, delete does not)
        offer = ", or choose cards with --where" if matching else ""
        raise UserError(f"Name at least one serial{offer}.")
    picked = select(card_t.c.id, card_t.c.serial, card_t.c.version, *map(card_t.c.get, columns))
    rows: list[Row[Any]] = []
    if query:
        assert matching is not None, "a filter needs its condition"
        rows = list(conn.execute(picked.where(matching(query)).order_by(card_t.c.serial)))
        if not rows:
            raise UserError(f"No card matches '{query}'; nothing was changed.")
    for start in range(0, len(serials), 500):
        rows += conn.execute(picked.where(card_t.c.serial.in_(serials[start : start + 500])))
    found = {r.serial: PlannedCard(r.id, r.serial, r.version, dict(r._mapping)) for r in rows}
    missing = [s for s in serials if s not in found]
    if missing:
        raise UserError(f"No card has serial {units.listed(missing)}; nothing was changed.")
    for card in found.values():
        for key in ("id", "serial", "version"):
            card.values.pop(key, None)
    return [found[s] for s in dict.fromkeys(serials)] if serials else list(found.values())


def _write(conn: Connection, stmt, cards: list[PlannedCard], params: list[dict]) -> None:
    """Run a write conditional on each planned card's version: all of them, or nothing."""
    written = conn.execute(stmt, params).rowcount
    if written != len(cards):
        raise EditConflict(
            f"{len(cards) - max(written, 0):,} of {units.counted(len(cards), 'card')} changed "
            "since your preview; nothing was changed. Preview again."
        )


# ---------------------------------------------------------------- edit


@dataclass
class EditPlan:
    values: dict[str, Any]  # column -> new value
    shown: dict[str, str]  # field -> the new value as the user reads it
    cards: list[PlannedCard]  # those whose values differ
    unchanged: int  # chosen cards that hold these values already

    def as_dict(self) -> dict[str, Any]:
        return {
            "set": self.shown,
            "cards": [c.serial for c in self.cards],
            "count": len(self.cards),
            "unchanged": self.unchanged,
        }


def parse_fields(conn: Connection, fields: dict[str, str | None]) -> tuple[dict, dict]:
    """(column values, field -> shown value) from what the user typed; None leaves a field as it
    is, an empty text clears it (all but status). Bad values are one UserError naming the field."""
    values: dict[str, Any] = {}
    shown: dict[str, str] = {}
    for name, text in fields.items():
        if name not in EDIT_FIELDS:
            raise ValueError(f"unknown edit field {name}")
        if text is None:
            continue
        text = text.strip()
        try:
            parsed = _field(conn, name, text)
        except CellError as exc:
            label = name.replace("_", " ")  # words, not a CLI option: the TUI's form says it too
            raise UserError(f"{label} '{text}': {exc}; nothing was changed.") from None
        values |= parsed
        shown[name] = _shown(name, text, parsed)
    if not values:
        raise UserError("Say what to change (status, notes, node, ...).")
    for column in ("notes", "supplier", "pci_bus_id", "asset_tag", "purchase_order"):
        if values.get(column):
            label = column.replace("pci_bus_id", "slot").replace("_", " ")
            require_fit(card_t.c[column], values[column], label)
    return values, shown


def _shown(name: str, typed: str, parsed: dict[str, Any]) -> str:
    """A parsed value as the preview and the log's summary show it ('none' when cleared)."""
    if name == "price" and parsed["price_minor"] is not None:
        return units.money(parsed["price_minor"], parsed.get("currency"))
    value = next(iter(parsed.values()))
    if value is None or value == "":
        return "none"
    return typed if name == "node" else str(value)


def _field(conn: Connection, name: str, text: str) -> dict[str, Any]:
    if name == "status":  # exactly: a write guesses at no import synonym (is `broken` for good?)
        status = text.lower().replace(" ", "_")
        if status not in CARD_STATUSES:
            raise CellError(f"a status is exactly one of {', '.join(CARD_STATUSES)}")
        return {"status": Status(status)}
    if name == "notes":
        return {"notes": text}
    if not text:
        column = {"node": "node_id", "slot": "pci_bus_id", "price": "price_minor"}.get(name, name)
        return {column: None} | ({"currency": None} if name == "price" else {})
    if name == "node":
        found = conn.execute(
            select(node_t.c.id).where(func.lower(node_t.c.hostname) == text.lower())
        ).scalar()
        if found is None:
            raise CellError("no such node (fleetui nodes list shows them)")
        return {"node_id": found}
    if name == "slot":
        return {"pci_bus_id": text}
    if name in ("supplier", "asset_tag", "purchase_order"):
        return {name: text}
    if name == "price":
        minor, currency = parse_money(text)
        return {"price_minor": minor} | ({"currency": currency} if currency else {})
    if name == "warranty_end":
        return {"warranty_end": parse_date(text, choosable=False)}
    return {"service_life_years": parse_years(text)}


def plan_edit(
    engine: Engine,
    serials: list[str],
    query: str | None,
    fields: dict[str, str | None],
    *,
    settings: Config,
) -> EditPlan:
    """Which cards an edit changes and to what; writes nothing."""
    with engine.connect() as conn:
        values, shown = parse_fields(conn, fields)
        chosen = _chosen(
            conn, serials, tuple(values), query, partial(where, engine, settings=settings)
        )
    if values.get("pci_bus_id") and len(chosen) > 1:
        raise UserError("A slot belongs to one card; give --slot with one serial.")
    if values.get("asset_tag"):
        _check_tag(engine, values["asset_tag"], chosen)
    cards = [c for c in chosen if c.values != values]
    return EditPlan(values, shown, cards, len(chosen) - len(cards))


def _check_tag(engine: Engine, tag: str, chosen: list[PlannedCard]) -> None:
    """An asset tag names one card: refuse giving it to several, or to a card when another
    card has it."""
    if len(chosen) > 1:
        raise UserError("An asset tag belongs to one card; give --asset-tag with one serial.")
    with engine.connect() as conn:
        holder = conn.execute(
            select(card_t.c.serial).where(card_t.c.asset_tag == tag, card_t.c.id != chosen[0].id)
        ).scalar()
    if holder is not None:
        raise UserError(f"Card {holder} already has asset tag '{tag}'; nothing was changed.")


def commit_edit(engine: Engine, plan: EditPlan, reason: str, actor: str | None = None) -> str:
    """Write the planned edit as one audit batch, if no planned card changed since the plan;
    returns the batch id."""
    if not reason.strip():
        raise UserError("Say why: an edit needs --reason.")
    if not plan.cards:
        raise UserError("Every chosen card holds these values already; nothing was changed.")
    now = datetime.now(UTC)
    batch = audit.new_batch_id()
    with writing(engine) as conn:
        stmt = (
            update(card_t)
            .where(and_(card_t.c.id == bindparam("b_id"), card_t.c.version == bindparam("b_v")))
            .values(plan.values | {"version": card_t.c.version + 1, "updated_at": now})
        )
        _write(conn, stmt, plan.cards, [{"b_id": c.id, "b_v": c.version} for c in plan.cards])
        audit.record(
            conn,
            batch_id=batch,
            action=Action.CARD_EDIT,
            actor=actor,
            reason=reason.strip(),
            at=now,
            changes=[
                (
                    c.id,
                    audit.jsonable(c.values) | {"version": c.version},
                    audit.jsonable(plan.values) | {"version": c.version + 1},
                )
                for c in plan.cards
            ],
            serials=[c.serial for c in plan.cards],
        )
        _summary(
            conn, batch, Action.CARD_EDIT_BATCH, actor, reason, now, plan.shown, len(plan.cards)
        )
    return batch


def _summary(conn, batch, action, actor, reason, now, values: dict, cards: int) -> None:
    audit.record(
        conn,
        batch_id=batch,
        action=action,
        actor=actor,
        reason=reason.strip(),
        at=now,
        changes=[(None, None, values | {"cards": cards})],
    )


# ---------------------------------------------------------------- delete

SERIALS_NAMED = 3  # a delete's summary names its first cards (the events keep every one)


def plan_delete(engine: Engine, serials: list[str]) -> list[PlannedCard]:
    """The cards a delete removes, with every value undo needs to re-create them."""
    with engine.connect() as conn:
        return _chosen(conn, serials, KEPT_ON_DELETE)


def commit_delete(
    engine: Engine, cards: list[PlannedCard], reason: str, actor: str | None = None
) -> str:
    """Delete the planned cards as one audit batch (each event keeps the card's values, so
    `undo` re-creates it with its id and history); returns the batch id."""
    if not reason.strip():
        raise UserError("Say why: a delete needs --reason.")
    now = datetime.now(UTC)
    batch = audit.new_batch_id()
    with writing(engine) as conn:
        stmt = delete(card_t).where(
            and_(card_t.c.id == bindparam("b_id"), card_t.c.version == bindparam("b_v"))
        )
        _write(conn, stmt, cards, [{"b_id": c.id, "b_v": c.version} for c in cards])
        audit.record(
            conn,
            batch_id=batch,
            action=Action.CARD_DELETE,
            actor=actor,
            reason=reason.strip(),
            at=now,
            changes=[
                (
                    c.id,
                    audit.jsonable(c.values) | {"version": c.version},
                    {"deleted": True, "version": c.version + 1},
                )
                for c in cards
            ],
            serials=[c.serial for c in cards],
        )
        named = {"serials": [c.serial for c in cards[:SERIALS_NAMED]]}  # history shows them
        _summary(conn, batch, Action.CARD_DELETE_BATCH, actor, reason, now, named, len(cards))
    return batch
