"""What nodes and metrics stores say, as sample rows: an agent's /snapshot, a dcgm-exporter
page or a store's series turned into one row per GPU, each value checked against its column at
the edge, before the database sees it (ValueError, in words, when one would not fit)."""

from __future__ import annotations

import math
import operator
from datetime import datetime

from fleetui.core import units
from fleetui.db.tables import GpuSample, length_of, table_of
from fleetui.telemetry import health, http, prometheus

sample_t = table_of(GpuSample)
WINDOW = ("util_window_avg",)  # utilization over the idle window: stores only
# A store's series come with dcgm-exporter's labels that place a GPU (`Hostname` from older
# exporters, `hostname` from newer ones) or also identify it (the serial when the exporter is
# set to add it) joined into one label, STORE_KEY, by a separator no such value holds.
STORE_PLACE = ("Hostname", "hostname", "gpu", "pci_bus_id")
STORE_IDENTITY = (*STORE_PLACE, "UUID", "modelName", "DCGM_FI_DEV_SERIAL")
STORE_KEY = "fleetui_gpu"
STORE_SEP = "\x1f"  # ASCII's unit separator
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
    *WINDOW,
    "health",
    "lost",
    "seen_at",
)

TEXTS = ("pci_bus_id", "uuid", "serial", "name")
NUMBERS = SAMPLE_COLUMNS[5 : SAMPLE_COLUMNS.index("health")]
LIMITS = {name: length_of(sample_t.c[name]) for name in TEXTS}
_AT = {name: i for i, name in enumerate(NUMBERS)}
_NUMBER_SET = frozenset(NUMBERS)
_COLUMN_AT = {name: i for i, name in enumerate(SAMPLE_COLUMNS)}
_HEALTH = _COLUMN_AT["health"]
READINGS_AT = _COLUMN_AT[NUMBERS[0]]  # a sample row: node id, identity, then readings
_EVIDENCE_AT = [_COLUMN_AT[name] for name in health.READINGS]
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
        for window in WINDOW:
            g.pop(window, None)
        gpus.append(g)
    return gpus


def _dcgm_gpus(body: bytes) -> list[dict]:
    return [scraped(g) for g in prometheus.parse(body.decode("utf-8", "replace"))]


def scraped(g: prometheus.ScrapedGpu) -> dict:
    """A GPU from a dcgm-exporter page as a sample's values."""
    return g.values | {
        "pci_bus_id": g.pci_bus_id or (f"gpu{g.index}" if g.index else "?"),
        "uuid": g.uuid,
        "serial": g.serial,
        "name": g.model,
    }


def gpu_row(gpu: dict, node_id: int, now: datetime) -> tuple:
    """One sample row, each value checked against its column (only the values the GPU has:
    an agent's GPU has most of the readings, a dcgm-exporter page's fewer)."""
    texts = list(map(gpu.get, TEXTS))
    _check_texts(texts)
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
            raise ValueError(
                f"GPU {texts[0]} reported {name} {units.quoted(str(value)[:40])}, not a number"
            )
    lost = gpu.get("lost", False)
    if type(lost) is not bool:
        raise ValueError(
            f"GPU {texts[0]} reported lost {units.quoted(str(lost)[:40])}, not true or false"
        )
    return (node_id, *texts, *numbers, _flags(numbers, lost), lost, now)


def store_rows(results: dict[str, list[dict]]) -> dict[str, list[list] | str]:
    """A metrics store's series (each query's, by the sample column it answers; sources.queries)
    as sample rows by hostname, one per (hostname, bus id), their node id and time left for the
    poller to fill. The GPUs are those the first query reports (utilization's latest value,
    keyed by STORE_IDENTITY's labels joined); the other queries, keyed by STORE_PLACE's, only
    fill in their readings. A GPU with no latest value is not reported now: an exporter that
    stopped leaves its 24-hour windows in the store, and a GPU made of those alone would read
    as answering with nothing wrong. Series without a hostname (or with a label holding the
    separator) cannot be placed on a node and are left out; a hostname with a GPU whose labels
    would not fit holds the reason instead of rows. ValueError, in words, when a series is not
    a label set and a value: the whole answer is then unusable.

    Built straight into rows, checked column by column, not through gpu_row's dicts: a store
    answers for the whole fleet at once (80,000 GPUs), and its values are numbers parsed here."""
    gpus: dict[tuple[str, str], list] = {}  # by (hostname, bus id)
    placed: dict[str, list] = {}  # the same rows by their place labels joined: the others' key
    blank: list = [None] * len(SAMPLE_COLUMNS)
    blank[_HEALTH : _HEALTH + 2] = "", False
    isfinite = math.isfinite
    (attr, series), *rest = results.items()
    at, parts_of = _COLUMN_AT[attr], len(STORE_IDENTITY)
    for one in series:
        try:
            key, (_, text) = one["metric"][STORE_KEY], one["value"]
            value, parts = float(text), key.split(STORE_SEP)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ValueError(f"a series of {attr} is not a label set and a value") from None
        if len(parts) != parts_of:
            continue
        host, bus = parts[0] or parts[1], parts[3] or (f"gpu{parts[2]}" if parts[2] else "")
        if not (host and bus):
            continue
        row = gpus.get((host, bus))
        if row is None:
            row = gpus[host, bus] = blank.copy()
            row[1:5] = bus, parts[4] or None, parts[6] or None, parts[5] or None
        placed[key.rsplit(STORE_SEP, parts_of - len(STORE_PLACE))[0]] = row
        if isfinite(value):
            row[at] = value
    for attr, series in rest:
        at = _COLUMN_AT[attr]
        for one in series:
            try:
                row, (_, text) = placed.get(one["metric"][STORE_KEY]), one["value"]
                value = float(text)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise ValueError(f"a series of {attr} is not a label set and a value") from None
            if row is not None and isfinite(value):
                row[at] = value
    by_host: dict[str, list[list]] = {}
    for (host, _), row in gpus.items():
        by_host.setdefault(host, []).append(row)
    unfit: dict[str, str] = {}
    for at, name in enumerate(TEXTS, 1):  # text, as split from the key: is any too long?
        values = filter(None, map(operator.itemgetter(at), gpus.values()))
        if max(map(len, values), default=0) > LIMITS[name]:
            for (host, _), row in gpus.items():  # rarely: find whose
                try:
                    _check_texts(row[1:5])
                except ValueError as exc:
                    unfit[host] = str(exc)
    answered = [at for at in _EVIDENCE_AT if results.get(SAMPLE_COLUMNS[at])]
    for at in answered:
        if any(map(operator.itemgetter(at), gpus.values())):  # rarely: flag whose
            for row in gpus.values():
                row[_HEALTH] = _flags(row[READINGS_AT:_HEALTH], False)
            break
    return {**by_host, **unfit}


def _check_texts(texts: list) -> None:
    """ValueError, in words, unless each of TEXTS' values is text that fits its column."""
    for name, value in zip(TEXTS, texts, strict=True):
        if value is not None and (type(value) is not str or len(value) > LIMITS[name]):
            if type(value) is not str:
                raise ValueError(f"a GPU's {name} is {units.quoted(str(value)[:40])}, not text")
            raise ValueError(
                f"a GPU reported a {name} of {units.counted(len(value), 'character')} "
                f"(at most {LIMITS[name]} fit)"
            )


def _flags(numbers: list, lost: bool) -> str:
    """health.flags() of a GPU's readings (NUMBERS' values); most GPUs show no evidence: no
    readings dict is built for them."""
    if lost or any(_evidence(numbers)):
        return health.flags(dict(zip(NUMBERS, numbers, strict=True), lost=lost))
    return ""
