"""What nodes and metrics stores say, as sample rows: an agent's /snapshot, a dcgm-exporter
page or a store's series turned into one row per GPU, each value checked against its column at
the edge, before the database sees it (ValueError, in words, when one would not fit)."""

from __future__ import annotations

import math
import operator
from datetime import datetime

from fleetui.db.tables import GpuSample, length_of, table_of
from fleetui.telemetry import health, http, prometheus, sources

sample_t = table_of(GpuSample)
SAMPLE_COLUMNS = (
    "node_id",
    "pci_bus_id",
    "uuid",
    "serial",
    "name",
    "util_gpu",
    "util_memory",
    "memory_used_mib",
    "memory_total_mib",
    "temperature_c",
    "power_w",
    "power_limit_w",
    "ecc_uncorrected_volatile",
    *(name for name in health.READINGS if name != "ecc_uncorrected_volatile"),
    "util_window_avg",
    "util_window_max",
    "health",
    "lost",
    "seen_at",
)

TEXTS = ("pci_bus_id", "uuid", "serial", "name")
NUMBERS = SAMPLE_COLUMNS[5 : SAMPLE_COLUMNS.index("health")]
LIMITS = {name: length_of(sample_t.c[name]) for name in TEXTS}
_AT = {name: i for i, name in enumerate(NUMBERS)}
_NUMBER_SET = frozenset(NUMBERS)
_evidence = operator.itemgetter(*(_AT[name] for name in health.READINGS))  # what flags() reads


def page_rows(kind: str, body: bytes, node_id: int, now: datetime) -> list[tuple]:
    """Sample rows from a node's page; ValueError, in words, when any value would not fit."""
    gpus = _agent_gpus(body) if kind == "agent" else _dcgm_gpus(body)
    rows, buses = [], set()
    for gpu in gpus:
        row = gpu_row(gpu, node_id, now)
        if row[1] in buses:
            raise ValueError(f"it reported the bus id {row[1]} twice")
        buses.add(row[1])
        rows.append(row)
    return rows


def _agent_gpus(body: bytes) -> list[dict]:
    try:
        snap = http.decode_json(body)
    except ValueError:
        raise ValueError("its snapshot is not JSON") from None
    if not isinstance(snap, dict) or not isinstance(snap.get("gpus"), list):
        raise ValueError("its snapshot has no list of GPUs")
    if snap.get("error"):  # e.g. no NVML on that host: no readings, not "no GPUs"
        raise ValueError(f"its agent says: {snap['error']}")
    gpus = []
    for g in snap["gpus"]:
        if not isinstance(g, dict):
            raise ValueError("its snapshot lists a GPU that is not an object")
        # its own health flags are not read: the ops box classifies the raw readings
        g["pci_bus_id"] = g.get("pci_bus_id") or f"gpu{g.get('index')}"
        for window in sources.WINDOW:  # only a metrics store computes an idle window
            g.pop(window, None)
        gpus.append(g)
    return gpus


def _dcgm_gpus(body: bytes) -> list[dict]:
    return [scraped(g) for g in prometheus.parse(body.decode("utf-8", "replace"))]


def scraped(g: prometheus.ScrapedGpu) -> dict:
    """A GPU from a dcgm-exporter page as a sample's values (sources.merge makes a metrics
    store's the same way)."""
    return g.values | {
        "pci_bus_id": g.pci_bus_id or (f"gpu{g.index}" if g.index else "?"),
        "uuid": g.uuid,
        "serial": g.serial,
        "name": g.model,
    }


def gpu_row(gpu: dict, node_id: int, now: datetime) -> tuple:
    """One sample row, each value checked against its column (only the values the GPU has:
    a store's GPU has a few of the readings, an agent's most)."""
    texts = list(map(gpu.get, TEXTS))
    for name, value in zip(TEXTS, texts, strict=True):
        if value is not None and (type(value) is not str or len(value) > LIMITS[name]):
            if type(value) is not str:
                raise ValueError(f"a GPU's {name} is {str(value)[:40]!r}, not text")
            raise ValueError(
                f"a GPU reported a {name} of {len(value)} characters (at most {LIMITS[name]} fit)"
            )
    numbers = list(map(gpu.get, NUMBERS))
    for name in _NUMBER_SET.intersection(gpu):
        value = gpu[name]
        if type(value) is bool:  # flags (true/false in the agent's JSON) are stored as 1 and 0
            numbers[_AT[name]] = float(value)
        elif not (
            (type(value) is float and math.isfinite(value))
            or (type(value) is int and abs(value) < 1 << 53)
            or value is None
        ):
            raise ValueError(f"GPU {texts[0]} reported {name} {str(value)[:40]!r}, not a number")
    lost = gpu.get("lost", False)
    if type(lost) is not bool:
        raise ValueError(f"GPU {texts[0]} reported lost {str(lost)[:40]!r}, not true or false")
    flags = ""  # most GPUs show no evidence: no readings dict to build for them
    if lost or any(_evidence(numbers)):
        flags = health.flags(dict(zip(NUMBERS, numbers, strict=True), lost=lost))
    return (node_id, *texts, *numbers, flags, lost, now)
