"""What the Telemetry screen shows: metrics stores and nodes with staleness (and why a store is
stale), and the latest GPU readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, case, func, select

from fleetui.db.tables import Card, GpuSample, Node, Source, table_of

node_t, sample_t, source_t = table_of(Node), table_of(GpuSample), table_of(Source)
card_t = table_of(Card)
MAX_GPUS = 300  # a screenful; sick and lost ones first
MAX_NODES = 1000  # stale ones first


@dataclass(frozen=True)
class NodeRow:
    hostname: str
    kind: str
    last_seen: datetime | None
    failures: int
    problem: str = ""  # why its last poll failed


@dataclass(frozen=True)
class GpuRow:
    node: str
    pci_bus_id: str
    serial: str | None
    util_gpu: float | None
    memory_used_mib: float | None
    temperature_c: float | None
    power_w: float | None
    health: str
    seen_at: datetime


@dataclass(frozen=True)
class TelemetryView:
    nodes: list[NodeRow]
    gpus: list[GpuRow]


def load(engine: Engine) -> TelemetryView:
    with engine.connect() as conn:
        stores = [
            NodeRow(r.name, "store", r.last_seen_at, r.failures, r.problem)
            for r in conn.execute(
                select(source_t).order_by(source_t.c.failures.desc(), source_t.c.name)
            )
        ]
        nodes = [
            NodeRow(
                r.hostname,
                r.telemetry_kind or f"via {r.name}",
                r.last_seen_at,
                r.failures,
                r.problem,
            )
            for r in conn.execute(
                select(node_t, source_t.c.name)
                .outerjoin(source_t, source_t.c.id == node_t.c.source_id)
                .where(node_t.c.telemetry_url.isnot(None) | node_t.c.source_id.isnot(None))
                .order_by(node_t.c.failures.desc(), node_t.c.hostname)
                .limit(MAX_NODES)
            )
        ]
        sick_first = case((sample_t.c.health != "", 0), else_=1)
        gpus = [
            GpuRow(
                r.hostname,
                r.pci_bus_id,
                r.shown_serial,
                r.util_gpu,
                r.memory_used_mib,
                r.temperature_c,
                r.power_w,
                r.health,
                r.seen_at,
            )
            for r in conn.execute(
                # a GPU that reports no serial (dcgm-exporter's, mostly) shows its card's, by UUID
                select(
                    node_t.c.hostname,
                    sample_t,
                    func.coalesce(sample_t.c.serial, card_t.c.serial).label("shown_serial"),
                )
                .join(node_t, node_t.c.id == sample_t.c.node_id)
                .outerjoin(card_t, card_t.c.uuid == sample_t.c.uuid)
                .order_by(sick_first, node_t.c.hostname, sample_t.c.pci_bus_id)
                .limit(MAX_GPUS)
            )
        ]
    return TelemetryView(stores + nodes, gpus)


def age(moment: datetime | None, now: datetime) -> str:
    """How stale a reading is, as people say it."""
    if moment is None:
        return "never"
    seconds = (now - (moment if moment.tzinfo else moment.replace(tzinfo=UTC))).total_seconds()
    if seconds < 120:
        return f"{max(0, int(seconds))}s ago"
    if seconds < 7200:
        return f"{int(seconds // 60)}m ago"
    return f"{int(seconds // 3600)}h ago"


def num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
