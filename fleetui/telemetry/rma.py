"""A sick card to an RMA: open its repair (an audited, undoable batch) and write the packet a
supplier asks for: the card's identity, its health timeline with raw values and NVIDIA's action,
its purchase and warranty, and its history. In warranty the packet is addressed to the supplier;
out of warranty it shows what past repairs of the same model cost, to weigh the repair.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, or_, select

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action, Status
from fleetui.db import audit
from fleetui.db.tables import (
    Card,
    Event,
    GpuModel,
    GpuSample,
    HealthEvent,
    Node,
    Project,
    Team,
    table_of,
)
from fleetui.inventory.events import events_of_card
from fleetui.lifecycle import repairs
from fleetui.lifecycle.rules import warranty_end, warranty_state
from fleetui.telemetry import health

card_t, event_t, model_t = table_of(Card), table_of(Event), table_of(GpuModel)
node_t, team_t, project_t = table_of(Node), table_of(Team), table_of(Project)
sample_t, health_t = table_of(GpuSample), table_of(HealthEvent)


@dataclass(frozen=True)
class Packet:
    data: dict[str, Any]
    text: str  # markdown
    batch: str | None  # the repair batch it opened (None: the card was already in repair)


def _card(engine: Engine, serial: str) -> dict[str, Any]:
    query = (
        select(
            card_t,
            model_t.c.key.label("model_key"),
            model_t.c.name.label("model"),
            node_t.c.hostname.label("node"),
            team_t.c.name.label("team"),
            project_t.c.name.label("project"),
        )
        .join(model_t, model_t.c.id == card_t.c.model_id)
        .outerjoin(node_t, node_t.c.id == card_t.c.node_id)
        .outerjoin(team_t, team_t.c.id == card_t.c.team_id)
        .outerjoin(project_t, project_t.c.id == card_t.c.project_id)
        .where(card_t.c.serial == serial)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            raise UserError(f"No card has serial '{serial}'.")
        card = dict(row)
        if not (card["uuid"] and card["pci_bus_id"]):  # the supplier needs both
            card["uuid"], card["pci_bus_id"] = _reported(conn, card)
    return card


def _reported(conn: Any, card: dict[str, Any]) -> tuple[str | None, str | None]:
    """The card's UUID and bus id as recorded, else as its GPU reported them: its latest
    reading, else its latest health evidence (a card matched by serial seldom has both
    recorded)."""
    same = sample_t.c.serial == card["serial"]
    if card["uuid"]:
        same = or_(same, sample_t.c.uuid == card["uuid"])
    seen = conn.execute(select(sample_t.c.uuid, sample_t.c.pci_bus_id).where(same)).first()
    if seen is None:
        seen = conn.execute(
            select(health_t.c.uuid, health_t.c.pci_bus_id)
            .where(health_t.c.card_id == card["id"])
            .order_by(health_t.c.last_seen.desc())
        ).first()
    uuid, bus = seen if seen is not None else (None, None)
    return card["uuid"] or uuid, card["pci_bus_id"] or bus


def model_repair_cost(engine: Engine, model_id: int) -> list[dict[str, Any]]:
    """Repairs returned for cards of one model, and what they cost, per currency (a return
    since undone counts for nothing)."""
    query = (
        select(event_t.c.batch_id, event_t.c.after)
        .join(card_t, card_t.c.id == event_t.c.card_id)
        .where(event_t.c.action == Action.REPAIR_RETURN, card_t.c.model_id == model_id)
    )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with engine.connect() as conn:
        returns = conn.execute(query).all()
        stand = audit.standing(conn, {r.batch_id for r in returns})
        for after in (r.after for r in returns if r.batch_id in stand):
            row = totals[after.get("currency") or "-"]
            row[0] += 1
            row[1] += after.get("cost_minor") or 0
    return [
        {"currency": c, "repairs": n, "cost": cost / 100, "average": cost / 100 / n}
        for c, (n, cost) in sorted(totals.items())
    ]


def repair_ticket(engine: Engine, card_id: int) -> str | None:
    """The ticket of the card's latest repair (the open one, for a card in repair)."""
    query = (
        select(event_t.c.after)
        .where(event_t.c.card_id == card_id, event_t.c.action == Action.REPAIR_SEND)
        .order_by(event_t.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        after = conn.execute(query).scalar()
    return after.get("ticket") if after else None


def build(engine: Engine, serial: str, config: Config, today: date) -> dict[str, Any]:
    """Everything the packet says, read without changing anything."""
    card = _card(engine, serial)
    end = warranty_end(
        config, card["purchase_date"], card["warranty_end"], card["model_key"], card["supplier"]
    )
    state = warranty_state(end, today, config.lifecycle.expiring_days)
    covered = end is not None and today <= end
    price = card["price_minor"]
    return {
        "date": today.isoformat(),
        "to": (card["supplier"] or "the supplier (none recorded)") if covered else None,
        "serial": card["serial"],
        "uuid": card["uuid"],
        "pci_bus_id": card["pci_bus_id"],
        "model": card["model"],
        "node": card["node"],
        "team": card["team"],
        "project": card["project"],
        "status": card["status"],
        "ticket": repair_ticket(engine, card["id"]) if card["status"] == Status.REPAIR else None,
        "supplier": card["supplier"],
        "purchase_date": card["purchase_date"].isoformat() if card["purchase_date"] else None,
        "price": None if price is None else f"{price / 100:,.2f} {card['currency'] or ''}".strip(),
        "purchase_order": card["purchase_order"],
        "warranty_end": end.isoformat() if end else None,
        "warranty": state,
        "in_warranty": covered,
        "health": health.timeline(engine, card["id"]),
        "xid_catalogue": health.catalogue().source,
        "past_repairs_of_model": [] if covered else model_repair_cost(engine, card["model_id"]),
        "history": [
            {
                "at": e["at"].isoformat(),
                "action": e["action"],
                "actor": e["actor"],
                "changes": e["changes"],
                "reason": e["reason"],
            }
            for e in events_of_card(engine, card["id"])
        ],
    }


def markdown(data: dict[str, Any]) -> str:
    """The packet as a document people send (values written literally)."""
    lines = [f"# RMA request: GPU {data['serial']}", "", f"Date: {data['date']}"]
    if data["in_warranty"]:
        lines.append(f"To: {data['to']} (in warranty until {data['warranty_end']})")
    elif data["warranty_end"] is None:  # neither in nor out of warranty: no end known
        lines.append("Warranty unknown (no warranty end recorded); for the repair decision.")
    else:
        lines.append(
            f"Out of warranty (warranty end: {data['warranty_end']}); for the repair decision."
        )
    lines += ["", "## The card", ""]
    for label, key in (
        ("Serial", "serial"),
        ("UUID", "uuid"),
        ("PCI bus id", "pci_bus_id"),
        ("Model", "model"),
        ("Node", "node"),
        ("Status", "status"),
        ("Repair ticket", "ticket"),
        ("Team / project", None),
        ("Supplier", "supplier"),
        ("Purchase date", "purchase_date"),
        ("Purchase order", "purchase_order"),
        ("Price", "price"),
        ("Warranty end", "warranty_end"),
    ):
        value = f"{data['team'] or '-'} / {data['project'] or '-'}" if key is None else data[key]
        lines.append(f"- {label}: {value if value is not None else '-'}")
    lines += ["", "## Health timeline (raw values)", ""]
    if not data["health"]:
        lines.append("No health evidence was recorded for this card.")
    for e in data["health"]:
        lines.append(
            f"- {e['first_seen']} to {e['last_seen']}, {e['node']} {e['pci_bus_id']}: "
            f"{e['text']}; kind {e['kind']}, code {e['code']}, value {e['value']}, "
            f"{units.counted(e['occurrences'], 'occurrence')}"
            f"{'' if e['active'] else ' (no longer reported)'}"
        )
        if e["nvidia"]:
            nv = e["nvidia"]
            lines.append(
                f"  NVIDIA: {nv['mnemonic']}, immediate {nv['immediate']}, "
                f"investigate {nv['investigate']}"
            )
    lines.append(f"\nXid actions from NVIDIA's Xid catalogue: {data['xid_catalogue']}")
    lines += [
        "",
        "## Diagnostics",
        "",
        "Attach the node's `nvidia-bug-report.sh` log and a `dcgmi diag -r 3` run on this GPU "
        "(fleetui does not collect them).",
    ]
    if not data["in_warranty"]:
        lines += ["", f"## Past repairs of {data['model']}", ""]
        if not data["past_repairs_of_model"]:
            lines.append("No repair of this model has come back yet.")
        for r in data["past_repairs_of_model"]:
            lines.append(
                f"- {units.counted(r['repairs'], 'repair job')}, "
                f"{r['cost']:,.2f} {r['currency']} in all, {r['average']:,.2f} {r['currency']} each"
            )
    lines += ["", "## History", ""]
    for e in data["history"]:
        lines.append(f"- {e['at']} {e['action']} by {e['actor']}: {'; '.join(e['changes'])}")
        if e["reason"]:
            lines.append(f"  why: {e['reason']}")
    return "\n".join(lines) + "\n"


def open_rma(
    engine: Engine,
    serial: str,
    config: Config,
    today: date,
    out: str | None = None,
    ticket: str | None = None,
    actor: str | None = None,
) -> tuple[Packet, list[Path]]:
    """Open the card's repair (unless it is in repair already: the packet is then that repair's)
    and write its packet, showing the card in repair with its ticket, to `out` (markdown) and
    `out` with .json. When the files exist or cannot be written, or the repair cannot be
    opened, nothing is written and nothing changes."""
    card = _card(engine, serial)
    if card["status"] in (Status.RETIRED, Status.ON_ORDER):
        raise UserError(f"Card {serial} is {card['status']}; it cannot go to repair.")
    target = Path(out or f"rma-{_safe(serial)}-{today:%Y%m%d}.md")
    paths = [target, target.with_suffix(".json")]
    for path in paths:
        if path.exists():
            already = (
                f"card {serial} is in repair already (ticket {repair_ticket(engine, card['id'])}): "
                if card["status"] == Status.REPAIR
                else ""
            )
            raise UserError(
                f"{path} exists and fleetui never overwrites a file; {already}give another "
                "--out. Nothing was done."
            )
    temps = [path.with_name(f".{path.name}.part") for path in paths]
    batch = None
    try:
        try:
            for temp in temps:  # the packet can be written: checked before the repair opens
                temp.write_bytes(b"")
            if card["status"] != Status.REPAIR:
                evidence = [e["text"] for e in health.timeline(engine, card["id"]) if e["active"]]
                batch = repairs.send(
                    engine,
                    serial,
                    ticket or f"RMA-{_safe(serial)}-{today:%Y%m%d}",
                    card["supplier"] or "",
                    reason="RMA: " + ("; ".join(evidence) or "opened by hand"),
                    actor=actor,
                )
            data = build(engine, serial, config, today)  # the card as the RMA leaves it
            text = markdown(data)
            temps[0].write_text(text, "utf-8")
            temps[1].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        except OSError as exc:
            kept = (
                "nothing was changed"
                if batch is None
                else f"the repair stays open (`fleetui undo {batch[:8]}` reverts it)"
            )
            raise UserError(
                f"Cannot write the RMA packet {target}: {exc.strerror}; {kept}."
            ) from None
        for temp, path in zip(temps, paths, strict=True):
            os.replace(temp, path)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return Packet(data, text, batch), paths


def _safe(serial: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in serial)
