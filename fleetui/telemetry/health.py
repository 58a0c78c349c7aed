"""GPU health as NVIDIA documents it: each piece of evidence a GPU reports, and the action for it.

Evidence comes from the readings a node reports (dcgm-exporter's fields, or the agent's NVML
reading and kernel-log Xids): the last Xid, uncorrectable (double-bit) ECC errors, pending and
failed row remapping, retired pages, hardware thermal/power slowdown, a GPU fallen off the bus.
An Xid's action is the "immediate" resolution bucket of NVIDIA's Xid catalogue, shipped as data
(fleetui/data/xid_catalogue.toml, with its source and version); an Xid that needs a GPU reset
or a reboot and that NVIDIA says to take to support when it recurs (and a lost GPU, and
double-bit ECC errors) becomes "inspect" (RMA) on its second occurrence. Each poll round keeps
the evidence per GPU in health_event: first and last seen, how often, the last raw value; it
stays there, inactive, once the GPU stops reporting it, as the card's health timeline.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, tuple_, update

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.vocabulary import IN_HAND
from fleetui.db.tables import (
    Card,
    GpuModel,
    GpuSample,
    HealthEvent,
    Node,
    Project,
    Source,
    Team,
    table_of,
)
from fleetui.importing.cells import identity
from fleetui.lifecycle.rules import warranty_end, warranty_state

event_t, card_t, node_t = table_of(HealthEvent), table_of(Card), table_of(Node)
team_t, project_t, model_t = table_of(Team), table_of(Project), table_of(GpuModel)
source_t, sample_t = table_of(Source), table_of(GpuSample)

# fleetui's actions, mildest first, and the state a card with that action is in
ACTIONS = ("none", "restart_app", "reset_gpu", "reboot_node", "inspect")
STATES = {
    "none": "watch",
    "restart_app": "app fault",
    "reset_gpu": "needs reset",
    "reboot_node": "needs reboot",
    "inspect": "inspect/RMA",
}
SICK = ("reset_gpu", "reboot_node", "inspect")  # the card itself needs a hand
ESCALATING = ("reset_gpu", "reboot_node")  # a fault of the card: recurring, it is an RMA
ACTION_TEXT = {
    "none": "none",
    "restart_app": "restart the application",
    "reset_gpu": "reset the GPU",
    "reboot_node": "reboot the node",
    "inspect": "inspect the card; RMA it",
}
# NVML / DCGM clock event reason bits: hardware slowdowns need a look at cooling or power
HW_SLOWDOWN = {0x08: "hw_slowdown", 0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown"}
SW_THERMAL = 0x20
THROTTLE_NAMES = HW_SLOWDOWN | {SW_THERMAL: "sw_thermal_slowdown"}
# the raw readings evidence is taken from (gpu_sample columns, GpuSample attributes)
READINGS = (
    "xid",
    "xid_count",
    "ecc_uncorrected_volatile",
    "retired_pages_dbe",
    "retired_pages_pending",
    "remapped_rows_pending",
    "remapped_rows_failure",
    "throttle_reasons",
)


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Xid:
    code: int
    mnemonic: str
    description: str
    immediate: str  # NVIDIA's resolution buckets, verbatim
    investigate: str
    action: str  # fleetui's action for the immediate bucket
    escalates: bool  # recurring, it is a card to inspect


@dataclass(frozen=True)
class Catalogue:
    source: str
    version: str
    retrieved: str
    xids: dict[int, Xid]

    def xid(self, code: int) -> Xid:
        """The catalogue's row, or NVIDIA's CONTACT_SUPPORT for a code it does not describe."""
        return self.xids.get(code) or Xid(
            code, "", "not in the catalogue", "", "CONTACT_SUPPORT", "inspect", True
        )


@cache
def catalogue() -> Catalogue:
    data = tomllib.loads(
        resources.files("fleetui").joinpath("data/xid_catalogue.toml").read_text("utf-8")
    )
    buckets, escalate = data["buckets"], set(data["escalate"]["when_recurring"])
    xids = {
        int(code): Xid(
            int(code),
            row["mnemonic"],
            row["description"],
            row["immediate"],
            row["investigate"],
            buckets[row["immediate"]],
            row["investigate"] in escalate and buckets[row["immediate"]] in ESCALATING,
        )
        for code, row in data["xid"].items()
    }
    return Catalogue(data["source"], data["version"], data["retrieved"], xids)


# ---------------------------------------------------------------- classifying readings


@dataclass(frozen=True)
class Evidence:
    kind: str
    code: int
    value: float | None
    action: str
    text: str
    escalates: bool = False
    count: int | None = None  # occurrences the source counted itself (the kernel log)


def _on(value: Any) -> bool:
    return bool(value) and value == value  # NaN is no reading


def evidence(readings: Mapping[str, Any]) -> list[Evidence]:
    """What one GPU's readings show (the keys of READINGS and `lost`), worst first."""
    if not readings.get("lost") and not any(map(readings.get, READINGS)):
        return []  # most GPUs, most of the time
    found = []
    if readings.get("lost"):
        found.append(
            Evidence("lost", 79, 1, "reboot_node", "GPU lost: fallen off the bus", escalates=True)
        )
    if _on(readings.get("xid")):
        row = catalogue().xid(int(readings["xid"]))
        found.append(
            Evidence(
                "xid",
                row.code,
                readings["xid"],
                row.action,
                f"Xid {row.code}: {row.description}",
                row.escalates,
                int(readings["xid_count"]) if _on(readings.get("xid_count")) else None,
            )
        )
    if _on(readings.get("ecc_uncorrected_volatile")):
        dbe = catalogue().xid(48)
        found.append(
            Evidence(
                "ecc_dbe",
                0,
                readings["ecc_uncorrected_volatile"],
                dbe.action,
                "uncorrectable (double-bit) ECC errors",
                dbe.escalates,
            )
        )
    if _on(readings.get("remapped_rows_failure")):
        found.append(Evidence("row_remap_failure", 0, 1, "inspect", "row remapping failed"))
    if _on(readings.get("remapped_rows_pending")):
        found.append(
            Evidence("row_remap_pending", 0, 1, "reset_gpu", "row remapping pending a reset")
        )
    if _on(readings.get("retired_pages_pending")):
        found.append(
            Evidence("retired_pending", 0, 1, "reset_gpu", "page retirement pending a reset")
        )
    if _on(readings.get("retired_pages_dbe")):
        found.append(
            Evidence(
                "retired_pages",
                0,
                readings["retired_pages_dbe"],
                "none",
                "pages retired for double-bit ECC errors",
            )
        )
    reasons = int(readings.get("throttle_reasons") or 0)
    hardware = [name for bit, name in HW_SLOWDOWN.items() if reasons & bit]
    if hardware:
        bits = sum(bit for bit in HW_SLOWDOWN if reasons & bit)
        found.append(
            Evidence("throttle", bits, reasons, "inspect", "throttled: " + ", ".join(hardware))
        )
    elif reasons & SW_THERMAL:
        found.append(
            Evidence("throttle", SW_THERMAL, reasons, "none", "throttled: sw_thermal_slowdown")
        )
    return sorted(found, key=lambda e: -ACTIONS.index(e.action))


def flags(readings: Mapping[str, Any]) -> str:
    """The ';'-separated health flags the Telemetry screen shows for one GPU."""
    return ";".join(f"{e.text} ({ACTION_TEXT[e.action]})" for e in evidence(readings))


def worst(actions: Iterable[str]) -> str:
    return max(actions, key=ACTIONS.index, default="none")


# ---------------------------------------------------------------- keeping it per GPU


def gpu_key(gpu: Mapping[Any, Any]) -> str:
    """The GPU its evidence is kept under: its UUID (NVML and dcgm-exporter give it, and a
    board keeps it for life), else its serial, else its node and bus id."""
    return (
        identity(gpu["uuid"]) or identity(gpu["serial"]) or f"{gpu['node_id']} {gpu['pci_bus_id']}"
    )


def record(
    conn: Connection,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    node_ids: Sequence[int],
    now: datetime,
) -> None:
    """Keep this round's evidence: `rows` are the sample rows (in `columns`, their `health`
    made by flags()) of the nodes in `node_ids`, which answered. Evidence is kept per GPU
    (gpu_key), so it follows a card into another slot or node: new evidence is added,
    evidence seen again is updated (an inactive one coming back is one more occurrence) and
    takes the node and bus id it was reported at, and active evidence last reported by one of
    those nodes that is no longer reported becomes inactive. A GPU two nodes report (two
    registrations of one exporter, say) is one GPU: its evidence is kept once, at the node
    that reported it last, and reconciliation lists the other report as a moved card."""
    seen: dict[tuple, tuple[dict[str, Any], Evidence]] = {}
    flagged = columns.index("health")
    for row in rows:
        if not row[flagged]:  # the poller found no evidence on it
            continue
        gpu = dict(zip(columns, row, strict=True))
        for found in evidence(gpu):
            seen[(gpu_key(gpu), found.kind, found.code)] = (gpu, found)
    answered = set(node_ids)
    key = tuple_(event_t.c.gpu, event_t.c.kind, event_t.c.code)
    known = {
        (r.gpu, r.kind, r.code): r for r in conn.execute(select(event_t).where(event_t.c.active))
    }
    missing = [k for k in seen if k not in known]
    for start in range(0, len(missing), 200):
        for r in conn.execute(select(event_t).where(key.in_(missing[start : start + 200]))):
            known[(r.gpu, r.kind, r.code)] = r
    stale = [r.id for k, r in known.items() if r.active and r.node_id in answered and k not in seen]
    for start in range(0, len(stale), 500):
        ids = stale[start : start + 500]
        conn.execute(update(event_t).where(event_t.c.id.in_(ids)).values(active=False))
    cards = _cards(conn, [gpu for gpu, _ in seen.values()])
    for k, (gpu, found) in seen.items():
        old = known.get(k)
        if found.count is not None:
            occurrences = found.count
        elif old is None:
            occurrences = 1
        else:
            occurrences = old.occurrences + (0 if old.active else 1)
        values = {
            "node_id": gpu["node_id"],
            "pci_bus_id": gpu["pci_bus_id"],
            "card_id": cards.get((gpu["node_id"], gpu["pci_bus_id"])),
            "serial": gpu["serial"],
            "uuid": gpu["uuid"],
            "value": found.value,
            "action": "inspect" if found.escalates and occurrences > 1 else found.action,
            "occurrences": occurrences,
            "last_seen": now,
            "active": True,
        }
        if old is None:
            conn.execute(
                insert(event_t).values(gpu=k[0], kind=k[1], code=k[2], first_seen=now, **values)
            )
        else:
            conn.execute(update(event_t).where(event_t.c.id == old.id).values(values))


def forget_node(conn: Connection, node_id: int) -> None:
    """A node is removed and its readings go with it: the evidence it reported last goes too,
    but for a GPU another node reports (the node was a second registration of its exporter,
    say), which keeps its evidence at that node."""
    mine = conn.execute(select(event_t.c.id, event_t.c.gpu).where(event_t.c.node_id == node_id))
    ids = dict(mine.all())
    gpus = sorted(set(ids.values()))
    s = sample_t.c
    elsewhere: dict[str, Any] = {}
    for start in range(0, len(gpus), 200):
        chunk = gpus[start : start + 200]
        reported = select(s.node_id, s.pci_bus_id, s.uuid, s.serial).where(
            s.node_id != node_id, or_(s.uuid.in_(chunk), s.serial.in_(chunk))
        )
        elsewhere |= {gpu_key(r._mapping): r for r in conn.execute(reported)}
    for event_id, gpu in ids.items():
        if at := elsewhere.get(gpu):
            conn.execute(
                update(event_t)
                .where(event_t.c.id == event_id)
                .values(node_id=at.node_id, pci_bus_id=at.pci_bus_id)
            )
    conn.execute(delete(event_t).where(event_t.c.node_id == node_id))


def _cards(conn: Connection, gpus: list[dict[str, Any]]) -> dict[tuple, int]:
    """(node id, bus id) -> card id: by serial, else UUID; by slot only with neither (as
    reconciliation matches)."""
    serials = {identity(g["serial"]) for g in gpus} - {None}
    uuids = {identity(g["uuid"]) for g in gpus} - {None}
    slots = {(g["node_id"], g["pci_bus_id"]) for g in gpus}
    if not gpus:
        return {}
    rows = conn.execute(
        select(
            card_t.c.id, card_t.c.serial, card_t.c.uuid, card_t.c.node_id, card_t.c.pci_bus_id
        ).where(
            or_(
                card_t.c.serial.in_(serials),
                card_t.c.uuid.in_(uuids),
                tuple_(card_t.c.node_id, card_t.c.pci_bus_id).in_(list(slots)),
            )
        )
    ).all()
    by_serial = {r.serial: r.id for r in rows}
    by_uuid = {r.uuid: r.id for r in rows if r.uuid}
    by_slot = {(r.node_id, r.pci_bus_id): r.id for r in rows}
    found = {}
    for g in gpus:
        serial, uuid = identity(g["serial"]), identity(g["uuid"])
        card = by_serial.get(serial) or by_uuid.get(uuid)
        if card is None and not (serial or uuid):
            card = by_slot.get((g["node_id"], g["pci_bus_id"]))
        if card is not None:
            found[(g["node_id"], g["pci_bus_id"])] = card
    return found


# ---------------------------------------------------------------- reading it back


@dataclass(frozen=True)
class SickCard:
    serial: str  # the card's, or what the GPU reported when no card matches
    node: str
    pci_bus_id: str
    model: str | None
    team: str | None
    project: str | None
    status: str | None
    supplier: str | None
    warranty_end: date | None
    warranty: str  # active, expiring, expired, unknown
    action: str
    state: str
    evidence: list[str]
    last_seen: datetime

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["warranty_end"] = self.warranty_end.isoformat() if self.warranty_end else None
        data["last_seen"] = self.last_seen.isoformat()
        data["action_text"] = ACTION_TEXT[self.action]
        return data


NO_TELEMETRY = "No node or metrics store has answered a poll yet, so no GPU's health is known"


def telemetry_seen(engine: Engine) -> bool:
    """Whether any node or metrics store ever answered a poll: without one, an empty list of
    sick cards would claim health never observed."""
    seen = select(node_t.c.id).where(node_t.c.last_seen_at.isnot(None)).limit(1)
    with engine.connect() as conn:
        return conn.execute(seen).first() is not None


def last_round(engine: Engine) -> datetime | None:
    """When a node or metrics store was last polled, by any process: a view of telemetry (the
    TUI's) reads again when it changes, so a `fleetui poll` running as a service shows."""
    with engine.connect() as conn:
        times = [
            conn.execute(select(func.max(t.c.polled_at))).scalar_one() for t in (node_t, source_t)
        ]
    return max((t for t in times if t is not None), default=None)


def sick_cards(
    engine: Engine,
    config: Config,
    today: date,
    include: Sequence[str] = SICK,
    in_hand: bool = False,
) -> list[SickCard]:
    """Cards whose GPU has active evidence with a worst action in `include` (by default: a
    reset, a reboot or an RMA), each card once, worst first, with its team, warranty and
    supplier, and the node and bus id it was last reported at (a GPU no card matches is
    listed by what it reported). Cards already in repair or retired (IN_HAND:
    an RMA opened, say) are left out, as every alert leaves them, unless `in_hand`."""
    query = (
        select(
            event_t,
            node_t.c.hostname,
            card_t.c.serial.label("card_serial"),
            card_t.c.status,
            card_t.c.supplier,
            card_t.c.purchase_date,
            card_t.c.warranty_end,
            model_t.c.key.label("model"),
            team_t.c.name.label("team"),
            project_t.c.name.label("project"),
        )
        .select_from(
            event_t.join(node_t, node_t.c.id == event_t.c.node_id)
            .outerjoin(card_t, card_t.c.id == event_t.c.card_id)
            .outerjoin(model_t, model_t.c.id == card_t.c.model_id)
            .outerjoin(team_t, team_t.c.id == card_t.c.team_id)
            .outerjoin(project_t, project_t.c.id == card_t.c.project_id)
        )
        .where(event_t.c.active)
    )
    if not in_hand:
        query = query.where(or_(card_t.c.status.is_(None), card_t.c.status.not_in(IN_HAND)))
    cards: dict[int | str, list] = {}  # each card once (a GPU no card matches: each GPU once)
    with engine.connect() as conn:
        for r in conn.execute(query):
            cards.setdefault(r.card_id if r.card_serial else r.gpu, []).append(r)
    found = []
    for rows in cards.values():
        action = worst(r.action for r in rows)
        if action not in include:
            continue
        first = max(rows, key=lambda r: r.last_seen)  # where it was reported last
        end = (
            warranty_end(
                config, first.purchase_date, first.warranty_end, first.model, first.supplier
            )
            if first.card_serial
            else None
        )
        found.append(
            SickCard(
                serial=first.card_serial or first.serial or first.uuid or "-",
                node=first.hostname,
                pci_bus_id=first.pci_bus_id,
                model=first.model,
                team=first.team,
                project=first.project,
                status=first.status,
                supplier=first.supplier,
                warranty_end=end,
                warranty=warranty_state(end, today, config.lifecycle.expiring_days),
                action=action,
                state=STATES[action],
                evidence=[
                    _describe(r) for r in sorted(rows, key=lambda r: -ACTIONS.index(r.action))
                ],
                last_seen=max(r.last_seen for r in rows),
            )
        )
    return sorted(found, key=lambda c: (-ACTIONS.index(c.action), c.node, c.pci_bus_id))


def sick_if_known(
    engine: Engine, config: Config, today: date, in_hand: bool = False
) -> list[SickCard] | None:
    """sick_cards(); None when no node or store ever answered a poll: no health is known, and
    an empty list would claim it was observed."""
    found = sick_cards(engine, config, today, in_hand=in_hand)
    return found if found or telemetry_seen(engine) else None


def _describe(r: Any) -> str:
    if r.kind == "xid":
        text = f"Xid {r.code}: {catalogue().xid(r.code).description}"
    elif r.kind == "throttle":
        text = "throttled: " + ", ".join(n for bit, n in THROTTLE_NAMES.items() if r.code & bit)
    else:
        text = TEXTS[r.kind]
    times = f", {units.counted(r.occurrences, 'time')}" if r.occurrences > 1 else ""
    return f"{text}{times} ({ACTION_TEXT[r.action]})"


TEXTS = {
    "lost": "GPU lost: fallen off the bus",
    "ecc_dbe": "uncorrectable ECC errors",
    "row_remap_failure": "row remapping failed",
    "row_remap_pending": "row remapping pending a reset",
    "retired_pending": "page retirement pending a reset",
    "retired_pages": "retired pages",
}


def timeline(engine: Engine, card_id: int) -> list[dict[str, Any]]:
    """Every piece of evidence a card's GPU reported, oldest first, with its raw values."""
    query = (
        select(event_t, node_t.c.hostname)
        .join(node_t, node_t.c.id == event_t.c.node_id)
        .where(event_t.c.card_id == card_id)
        .order_by(event_t.c.first_seen, event_t.c.kind, event_t.c.code)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "first_seen": r.first_seen.isoformat(),
            "last_seen": r.last_seen.isoformat(),
            "node": r.hostname,
            "pci_bus_id": r.pci_bus_id,
            "kind": r.kind,
            "code": r.code,
            "value": r.value,
            "occurrences": r.occurrences,
            "active": r.active,
            "action": r.action,
            "text": _describe(r),
            "nvidia": _nvidia(r),
        }
        for r in rows
    ]


def _nvidia(r: Any) -> dict[str, str] | None:
    if r.kind != "xid":
        return None
    row = catalogue().xid(r.code)
    return {
        "mnemonic": row.mnemonic,
        "immediate": row.immediate,
        "investigate": row.investigate,
        "source": catalogue().source,
    }
