"""Repairs and RMAs: a card goes out (status repair, ticket, vendor) and comes back (with the cost).

Both steps are audited card changes (undoable like any batch); the return records whether the
card was in warranty that day, so the repair-cost report can split cost in and out of warranty.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action, Status
from fleetui.db import audit
from fleetui.db.audit import change_card
from fleetui.db.tables import Card, Event, GpuModel, table_of
from fleetui.importing.cells import CellError, parse_money
from fleetui.lifecycle.rules import warranty_end
from fleetui.store import writing

card_t, event_t, model_t = table_of(Card), table_of(Event), table_of(GpuModel)


def _card(conn, serial: str):
    row = (
        conn.execute(
            select(card_t, model_t.c.key.label("model_key"))
            .join(model_t, model_t.c.id == card_t.c.model_id)
            .where(card_t.c.serial == serial)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise UserError(f"No card has serial '{serial}'.")
    return row


def send(
    engine: Engine,
    serial: str,
    ticket: str,
    vendor: str,
    reason: str = "",
    actor: str | None = None,
) -> str:
    """Mark a card in repair under a ticket; returns the batch id."""
    if not ticket.strip():
        raise UserError("A repair needs --ticket (the vendor's RMA or ticket number).")
    with writing(engine) as conn:
        card = _card(conn, serial)
        if card["status"] == Status.REPAIR:
            raise UserError(f"Card {serial} is already in repair.")
        if card["status"] in (Status.RETIRED, Status.ON_ORDER):
            raise UserError(f"Card {serial} is {card['status']}; it cannot go to repair.")
        return change_card(
            conn,
            card,
            Action.REPAIR_SEND,
            {"status": Status.REPAIR},
            {"ticket": ticket.strip(), "vendor": vendor.strip()},
            reason,
            actor,
        )


def receive(
    engine: Engine,
    serial: str,
    cost: str | None,
    config: Config,
    today: date,
    reason: str = "",
    actor: str | None = None,
    status: str = Status.SPARE,
) -> str:
    """Bring a card back from repair (as a spare by default), recording the cost if any."""
    with writing(engine) as conn:
        card = _card(conn, serial)
        if card["status"] != Status.REPAIR:
            raise UserError(f"Card {serial} is not in repair (it is {card['status']}).")
        minor, currency = 0, None
        if cost:
            try:
                minor, currency = parse_money(cost)
            except CellError as exc:
                raise UserError(f"--cost {units.quoted(cost)}: {exc}.") from None
        currency = currency or card["currency"] or config.cost.currency
        end = warranty_end(
            config, card["purchase_date"], card["warranty_end"], card["model_key"], card["supplier"]
        )
        covered = end is not None and today <= end
        details = {"cost_minor": minor, "currency": currency, "in_warranty": covered}
        return change_card(
            conn, card, Action.REPAIR_RETURN, {"status": status}, details, reason, actor
        )


@dataclass(frozen=True)
class RepairCost:
    currency: str
    repairs: int
    in_warranty: int
    out_of_warranty: int
    cost_in_warranty: float
    cost_out_of_warranty: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def cost_report(engine: Engine, since: datetime | None = None) -> list[RepairCost]:
    """Repairs returned, and what they cost, in and out of warranty, per currency; a return
    since undone (the card went back to repair) counts for nothing."""
    query = select(event_t.c.batch_id, event_t.c.after).where(
        event_t.c.action == Action.REPAIR_RETURN
    )
    if since:
        query = query.where(event_t.c.at >= since)
    totals: dict[str, list] = defaultdict(lambda: [0, 0, 0, 0, 0])
    with engine.connect() as conn:
        returns = conn.execute(query).all()
        stand = audit.standing(conn, {r.batch_id for r in returns})
        for after in (r.after for r in returns if r.batch_id in stand):
            row = totals[after.get("currency") or "-"]
            covered = bool(after.get("in_warranty"))
            row[0] += 1
            row[1 if covered else 2] += 1
            row[3 if covered else 4] += after.get("cost_minor") or 0
    return [RepairCost(c, n, i, o, ci / 100, co / 100) for c, (n, i, o, ci, co) in totals.items()]
