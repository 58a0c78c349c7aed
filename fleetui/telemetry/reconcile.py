"""Telemetry against the inventory: which reported GPU is which card, and what disagrees.

A reported GPU is matched to a card by serial, else by UUID; only a GPU that reports neither
is matched by node + PCI bus id (a different serial in a card's slot is a swapped card).
Discrepancies:
- unknown: a GPU no card matches (seen, not in the inventory);
- moved: its card is recorded on another node;
- model: the catalogue model of its reported name differs from the card's;
- missing: an in-service card recorded on a node that answered its last poll, not reported.
Only nodes that answered their last poll count: a stale node's old readings neither show its
cards as seen nor as missing.
Idle cards: average GPU utilization under a threshold over a window (hourly rollups of
nodes' readings, or a metrics store's own average).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, func, insert, select

from fleetui import catalogue
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action, Status
from fleetui.db import audit
from fleetui.db.audit import change_card
from fleetui.db.tables import (
    Card,
    GpuHourly,
    GpuModel,
    GpuSample,
    Node,
    Source,
    inserted_id,
    table_of,
)
from fleetui.importing.cells import identity, slot_serial
from fleetui.store import writing
from fleetui.telemetry import health

card_t, model_t, node_t = table_of(Card), table_of(GpuModel), table_of(Node)
sample_t, hourly_t, source_t = table_of(GpuSample), table_of(GpuHourly), table_of(Source)


@dataclass(frozen=True)
class Discrepancy:
    kind: str
    node: str
    pci_bus_id: str | None
    serial: str | None
    detail: str
    uuid: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def matching(found: list[Discrepancy], key: str) -> list[Discrepancy]:
    """The discrepancies of the card or GPU with this serial or UUID; UserError if none."""
    chosen = [d for d in found if key in (d.serial, d.uuid)]
    if not chosen:
        raise UserError(f"No discrepancy concerns serial or UUID '{key}'.")
    return chosen


@dataclass(frozen=True)
class Fixed:
    """What a fix did, in a sentence, and the batch that logged it (undo takes it back)."""

    said: str
    batch: str


class NothingCompared(UserError):
    """No fresh telemetry: an empty list of discrepancies would claim an agreement never checked."""

    exit_code = 2


def _answered():
    """The nodes that answered their last poll (directly or through their metrics store)."""
    return select(node_t.c.id).where(node_t.c.failures == 0, node_t.c.polled_at.isnot(None))


def not_compared(engine: Engine) -> int:
    """How many nodes telemetry reaches (directly or through a store) failed their last poll:
    their cards are neither seen nor missing, so a list of discrepancies says nothing of them."""
    polled = node_t.c.telemetry_url.isnot(None) | node_t.c.source_id.isnot(None)
    with engine.connect() as conn:
        stale = select(func.count()).where(polled, node_t.c.failures > 0)
        return conn.execute(stale).scalar_one()


def require_fresh(engine: Engine) -> None:
    """NothingCompared unless some node or metrics store answered its last poll."""
    with engine.connect() as conn:
        if conn.execute(_answered().limit(1)).first() is None:
            registered = select(node_t.c.id).union_all(select(source_t.c.id)).limit(1)
            if conn.execute(registered).first() is None:
                raise NothingCompared(
                    "No node or metrics store is registered, so nothing was compared; "
                    "`fleetui nodes add` or `fleetui sources add` registers them."
                )
            raise NothingCompared(
                "No node or metrics store answered its last poll, so nothing was compared; "
                "`fleetui nodes list` and `fleetui sources list` show why, "
                "`fleetui poll --once` polls them again."
            )


def require_seen(engine: Engine) -> None:
    """NothingCompared unless some node or metrics store ever answered a poll."""
    if not health.telemetry_seen(engine):
        raise NothingCompared(
            f"{health.NO_TELEMETRY}; `fleetui nodes add` or `fleetui sources add` registers "
            "them, `fleetui poll --once` polls them."
        )


def discrepancies(engine: Engine) -> list[Discrepancy]:
    answered = _answered()
    live = sample_t.c.node_id.in_(answered)
    with engine.connect() as conn:
        hosts = dict(conn.execute(select(node_t.c.id, node_t.c.hostname)).all())
        samples = conn.execute(select(sample_t).where(live)).mappings().all()
        cards = (
            conn.execute(
                select(
                    card_t.c.id,
                    card_t.c.serial,
                    card_t.c.uuid,
                    card_t.c.node_id,
                    card_t.c.pci_bus_id,
                    card_t.c.status,
                    model_t.c.key.label("model"),
                    model_t.c.name.label("model_name"),
                )
                .join(model_t, model_t.c.id == card_t.c.model_id)
                .where(
                    card_t.c.node_id.in_(answered)
                    | card_t.c.serial.in_(select(sample_t.c.serial).where(live))
                    | card_t.c.uuid.in_(select(sample_t.c.uuid).where(live))
                )
            )
            .mappings()
            .all()
        )
        answered_ids = set(conn.execute(answered).scalars())
    by_serial = {c["serial"]: c for c in cards}
    by_uuid = {c["uuid"]: c for c in cards if c["uuid"]}
    by_slot = {(c["node_id"], c["pci_bus_id"]): c for c in cards if c["pci_bus_id"]}
    seen: set[int] = set()
    found = []
    for s in samples:
        host = hosts[s["node_id"]]
        serial, uuid = identity(s["serial"]), identity(s["uuid"])  # no placeholders
        card = by_serial.get(serial) or by_uuid.get(uuid)
        if card is None and not (serial or uuid):
            card = by_slot.get((s["node_id"], s["pci_bus_id"]))
        if card is None:
            found.append(
                Discrepancy(
                    "unknown",
                    host,
                    s["pci_bus_id"],
                    serial,
                    f"{s['name'] or 'a GPU'} reported, not in the inventory",
                    s["uuid"],
                )
            )
            continue
        seen.add(card["id"])
        if card["node_id"] != s["node_id"]:
            recorded = hosts.get(card["node_id"], "no node")
            found.append(
                Discrepancy(
                    "moved",
                    host,
                    s["pci_bus_id"],
                    card["serial"],
                    f"recorded on {recorded}",
                    card["uuid"],
                )
            )
        spec = catalogue.lookup(s["name"]) if s["name"] else None
        if spec is not None and spec.key != card["model"]:
            found.append(
                Discrepancy(
                    "model",
                    host,
                    s["pci_bus_id"],
                    card["serial"],
                    f"reports {spec.name}, recorded as {card['model_name']}",
                    card["uuid"],
                )
            )
    for c in cards:
        if (
            c["node_id"] in answered_ids
            and c["status"] == Status.IN_SERVICE
            and c["id"] not in seen
        ):
            found.append(
                Discrepancy(
                    "missing",
                    hosts[c["node_id"]],
                    c["pci_bus_id"],
                    c["serial"],
                    "recorded here, not reported by its node",
                    c["uuid"],
                )
            )
    return sorted(found, key=lambda d: (d.kind, d.node, d.pci_bus_id or ""))


def idle_serials(below_percent: float = 5.0, hours: int = 24, now: datetime | None = None):
    """A query of the serials whose average utilization over the window is under the threshold:
    as a metrics store computed it at the last poll (its idle window), else from the hourly
    rollups of the node's own readings."""
    since = (now or datetime.now(UTC)) - timedelta(hours=hours)
    average = func.sum(hourly_t.c.util_sum) / func.sum(hourly_t.c.samples)
    busy = (
        select(hourly_t.c.node_id, hourly_t.c.pci_bus_id, average.label("avg"))
        .where(hourly_t.c.hour >= since)
        .group_by(hourly_t.c.node_id, hourly_t.c.pci_bus_id)
        .subquery()
    )
    reported = sample_t.outerjoin(
        busy,
        and_(sample_t.c.node_id == busy.c.node_id, sample_t.c.pci_bus_id == busy.c.pci_bus_id),
    )
    return (
        select(card_t.c.serial)
        .select_from(
            reported.join(
                card_t, (card_t.c.serial == sample_t.c.serial) | (card_t.c.uuid == sample_t.c.uuid)
            )
        )
        .where(func.coalesce(sample_t.c.util_window_avg, busy.c.avg) < below_percent)
    )


def idle_cards(
    engine: Engine, below_percent: float = 5.0, hours: int = 24, now: datetime | None = None
) -> list[str]:
    """Serials of cards whose average utilization over the window is under the threshold."""
    query = idle_serials(below_percent, hours, now).distinct().order_by(card_t.c.serial)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


# ---------------------------------------------------------------- one-key fixes


def fix(engine: Engine, found: Discrepancy, actor: str | None = None) -> Fixed:
    """Act on a discrepancy, as one audited (undoable) batch; returns what was done.

    unknown -> add the reported GPU as a card in service on its node; moved -> record the card
    where it was reported; missing -> take the card off its node with a note; model -> nothing
    (someone must check the hardware or the record)."""
    with writing(engine) as conn:
        node_id = conn.execute(select(node_t.c.id).where(node_t.c.hostname == found.node)).scalar()
        if found.kind == "unknown":
            return _add(conn, node_id, found, actor)
        card = (
            conn.execute(select(card_t).where(card_t.c.serial == found.serial)).mappings().first()
        )
        if card is None:
            raise UserError(f"No card has serial '{found.serial}' any more.")
        if found.kind == "moved":
            batch = change_card(
                conn,
                card,
                Action.RECONCILE_MOVE,
                {"node_id": node_id, "pci_bus_id": found.pci_bus_id},
                {"reported_by": found.node},
                "telemetry reported it here",
                actor,
            )
            return Fixed(f"Card {found.serial} is now recorded on {found.node}.", batch)
        if found.kind == "missing":
            note = f"missing since {datetime.now(UTC):%Y-%m-%d} (not reported by {found.node})"
            notes = f"{card['notes']}; {note}" if card["notes"] else note
            batch = change_card(
                conn,
                card,
                Action.RECONCILE_MISSING,
                {"node_id": None, "pci_bus_id": None, "notes": notes},
                {},
                "its node did not report it",
                actor,
            )
            return Fixed(f"Card {found.serial} is off {found.node}, noted as missing.", batch)
    raise UserError("A model mismatch needs a person: check the card or correct its record.")


def _add(conn: Connection, node_id: int | None, found: Discrepancy, actor: str | None) -> Fixed:
    sample = (
        conn.execute(
            select(sample_t).where(
                sample_t.c.node_id == node_id, sample_t.c.pci_bus_id == found.pci_bus_id
            )
        )
        .mappings()
        .first()
    )
    spec = catalogue.lookup(sample["name"] or "") if sample else None
    if sample is None or spec is None:
        raise UserError(
            f"Cannot add it: the model {units.quoted(sample and sample['name'])} "
            "is not in the catalogue."
        )
    uuid = identity(sample["uuid"])
    serial = identity(sample["serial"]) or uuid or slot_serial(found.node, sample["pci_bus_id"])
    taken = card_t.c.serial == serial
    if uuid:
        taken = taken | (card_t.c.serial == uuid) | (card_t.c.uuid == uuid)
    if conn.execute(select(card_t.c.id).where(taken)).first() is not None:
        raise UserError(f"Card {serial} is in the inventory already.")
    model_id = conn.execute(select(model_t.c.id).where(model_t.c.key == spec.key)).scalar()
    card_id = inserted_id(
        conn,
        insert(card_t).values(
            serial=serial,
            uuid=uuid,
            model_id=model_id,
            node_id=node_id,
            pci_bus_id=found.pci_bus_id,
            status=Status.IN_SERVICE,
        ),
    )
    batch = audit.new_batch_id()
    audit.record(
        conn,
        batch_id=batch,
        action=Action.RECONCILE_ADD,
        actor=actor,
        reason=f"reported by {found.node}",
        changes=[(card_id, None, {"version": 1})],
        serials=[serial],
    )
    return Fixed(f"Card {serial} ({spec.name}) added on {found.node}.", batch)
