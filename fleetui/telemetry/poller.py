"""Polling registered nodes from the ops box: concurrent, bounded, and never stuck on one node.

Each node is fetched over HTTP (the fleetui agent's /snapshot, or dcgm-exporter's /metrics)
with a per-node timeout and a limit on how many are in flight, sending a bearer token only to
the nodes it belongs to. A node that does not answer, answers without GPU readings (an agent
without NVML) or answers with values that do not fit (checked here, at the edge, before the
database sees them) is marked (failures in a row) and skipped for a while that doubles with each
failure, up to MAX_BACKOFF_S: a bad node is a stale state, never a crash. One round ends with
one write: the latest sample per GPU, hourly rollups (kept RETENTION_DAYS), and each node's
bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from fleetui.core.errors import UserError
from fleetui.db.bulk import insert_rows, upsert
from fleetui.db.tables import (
    GpuHourly,
    GpuSample,
    Node,
    inserted_id,
    length_of,
    require_fit,
    table_of,
    unfit,
)
from fleetui.telemetry import prometheus
from fleetui.telemetry.agent import read_token

node_t, sample_t, hourly_t = table_of(Node), table_of(GpuSample), table_of(GpuHourly)
PAGES = {"agent": "/snapshot", "dcgm": "/metrics"}  # what each kind of node serves
KINDS = tuple(PAGES)
TOKEN_ENV = "FLEETUI_AGENT_TOKEN_FILE"  # the default token file, for agents only
MAX_RESPONSE = 8 << 20
MAX_BACKOFF_S = 600
RETENTION_DAYS = 30
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
    "health",
    "lost",
    "seen_at",
)

TEXTS = ("pci_bus_id", "uuid", "serial", "name")
NUMBERS = SAMPLE_COLUMNS[5:13]
LIMITS = {name: length_of(sample_t.c[name]) for name in TEXTS}

Fetch = Callable[[str, float, str | None], Awaitable[bytes]]


# ---------------------------------------------------------------- nodes


def base_url(url: str) -> str:
    """The endpoint without its page: people copy `http://host:9400/metrics` as often as
    `http://host:9400`, and the poller adds the page its kind serves."""
    url = url.strip().rstrip("/")
    for page in PAGES.values():
        url = url.removesuffix(page)
    return url


def add_node(
    engine: Engine, hostname: str, url: str, kind: str, token_file: str | None = None
) -> None:
    """Register (or re-point) a node's telemetry endpoint, and the file holding the token it
    wants (stored as the file's path; without one, agents get $FLEETUI_AGENT_TOKEN_FILE's)."""
    if kind not in KINDS:
        raise UserError(f"A node's telemetry is one of {', '.join(KINDS)}.")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UserError(f"{url!r} is not an http:// URL (https is not supported yet).")
    if token_file is not None:
        token_file = str(Path(token_file).expanduser().resolve())
        read_token(token_file)
    require_fit(node_t.c.hostname, hostname, "hostname")
    with engine.begin() as conn:
        found = conn.execute(select(node_t.c.id).where(node_t.c.hostname == hostname)).scalar()
        values = {
            "telemetry_url": base_url(url),
            "telemetry_kind": kind,
            "token_file": token_file,
            "failures": 0,
        }
        if found is None:
            conn.execute(insert(node_t).values(hostname=hostname, rack="", **values))
        else:
            conn.execute(update(node_t).where(node_t.c.id == found).values(values))


def add_nodes_from_csv(engine: Engine, path: str) -> int:
    """Register nodes from a CSV with columns hostname, kind (agent or dcgm) and url; all or
    none: any bad row is reported (row number and why) and nothing is registered."""
    from fleetui.importing.csvfile import open_csv

    source = open_csv(path)
    header = [h.lower() for h in source.header]
    missing = {"hostname", "kind", "url"} - set(header)
    if missing:
        raise UserError(
            f"{source.path.name} needs the columns hostname, kind and url "
            f"(missing: {', '.join(sorted(missing))})."
        )
    index = {name: header.index(name) for name in ("hostname", "kind", "url")}
    rows, problems = [], []
    for row, cells in source.records():
        values = {k: (cells[i].strip() if i < len(cells) else "") for k, i in index.items()}
        if (
            values["kind"] not in KINDS
            or not values["url"].startswith("http://")
            or not values["hostname"]
            or unfit(node_t.c.hostname, values["hostname"])
        ):
            problems.append(f"row {row}")
        rows.append(values)
    if problems:
        raise UserError(
            f"Bad node rows ({', '.join(problems[:10])}): each needs a hostname (at most "
            f"{length_of(node_t.c.hostname)} characters), kind agent or dcgm, and an http:// "
            "URL; nothing was registered."
        )
    for values in rows:
        add_node(engine, values["hostname"], values["url"], values["kind"])
    return len(rows)


def poll_local(engine: Engine, now: datetime | None = None) -> Round:
    """With no nodes registered: this host's GPUs through NVML, stored under its hostname."""
    from fleetui.telemetry import nvml

    now = now or datetime.now(UTC)
    snap = nvml.collect()
    if snap.error:
        raise UserError(snap.error + "; register nodes with fleetui nodes add.")
    with engine.begin() as conn:
        node_id = conn.execute(
            select(node_t.c.id).where(node_t.c.hostname == snap.hostname)
        ).scalar()
        if node_id is None:
            node_id = inserted_id(conn, insert(node_t).values(hostname=snap.hostname, rack=""))
    rows = _samples("agent", json.dumps(snap.as_dict()).encode(), node_id, now)
    _store(engine, [node_id], rows, [{"b_id": node_id, "b_failures": 0, "b_seen": now}], now)
    return Round(polled=1, answered=1, gpus=len(rows))


def nodes(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(node_t).where(node_t.c.telemetry_url.isnot(None)).order_by(node_t.c.hostname)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- one round


@dataclass
class Round:
    polled: int = 0
    answered: int = 0
    failed: list[str] = field(default_factory=list)  # "host: why"
    skipped: int = 0  # backing off
    gpus: int = 0


async def http_get(url: str, timeout: float, token: str | None = None) -> bytes:
    """A plain HTTP/1.0 GET with a deadline and a size limit; ConnectionError on failure."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    auth = f"Authorization: Bearer {token}\r\n" if token else ""

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {parts.netloc}\r\n{auth}\r\n".encode())
            await writer.drain()
            data = await reader.read(MAX_RESPONSE + 1)
            while len(data) <= MAX_RESPONSE and (chunk := await reader.read(MAX_RESPONSE)):
                data += chunk
        finally:
            writer.close()
        if len(data) > MAX_RESPONSE:
            raise ConnectionError("response too large")
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1:2]
        if status != [b"200"]:
            raise ConnectionError(f"HTTP {status[0].decode() if status else '?'}")
        return body

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except TimeoutError:
        raise ConnectionError("no answer in time") from None
    except OSError as exc:
        raise ConnectionError(exc.strerror or str(exc)) from None


def _samples(kind: str, body: bytes, node_id: int, now: datetime) -> list[tuple]:
    """Sample rows from a node's page; ValueError, in words, when any value would not fit."""
    gpus = _agent_gpus(body) if kind == "agent" else _dcgm_gpus(body)
    rows, buses = [], set()
    for gpu in gpus:
        row = _row(gpu, node_id, now)
        if row[1] in buses:
            raise ValueError(f"it reported the bus id {row[1]} twice")
        buses.add(row[1])
        rows.append(row)
    return rows


def _agent_gpus(body: bytes) -> list[dict]:
    try:
        snap = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise ValueError("its snapshot is not JSON") from None
    if not isinstance(snap, dict) or not isinstance(snap.get("gpus"), list):
        raise ValueError("its snapshot has no list of GPUs")
    if snap.get("error"):  # e.g. no NVML on that host: no readings, not "no GPUs"
        raise ValueError(f"its agent says: {snap['error']}")
    gpus = []
    for g in snap["gpus"]:
        if not isinstance(g, dict):
            raise ValueError("its snapshot lists a GPU that is not an object")
        health = g.get("health") or []
        if type(health) is not list or any(type(h) is not str for h in health):
            raise ValueError("its snapshot has health flags that are not a list of words")
        g["pci_bus_id"] = g.get("pci_bus_id") or f"gpu{g.get('index')}"
        g["health"] = ";".join(health)
        gpus.append(g)
    return gpus


def _dcgm_gpus(body: bytes) -> list[dict]:
    gpus = []
    for g in prometheus.parse(body.decode("utf-8", "replace")):
        volatile = g.values.get("ecc_uncorrected_volatile")
        gpus.append(
            g.values
            | {
                "pci_bus_id": g.pci_bus_id or (f"gpu{g.index}" if g.index else "?"),
                "uuid": g.uuid,
                "serial": g.serial,
                "name": g.model,
                "health": "uncorrectable ECC errors" if volatile else "",
            }
        )
    return gpus


def _row(gpu: dict, node_id: int, now: datetime) -> tuple:
    """One sample row, each value checked against its column."""
    texts = [gpu.get(name) for name in TEXTS]
    for name, value in zip(TEXTS, texts, strict=True):
        if value is not None and (type(value) is not str or len(value) > LIMITS[name]):
            if type(value) is not str:
                raise ValueError(f"a GPU's {name} is {str(value)[:40]!r}, not text")
            raise ValueError(
                f"a GPU reported a {name} of {len(value)} characters (at most {LIMITS[name]} fit)"
            )
    numbers = [gpu.get(name) for name in NUMBERS]
    for name, value in zip(NUMBERS, numbers, strict=True):
        if value is not None and not (
            (type(value) is float and math.isfinite(value))
            or (type(value) is int and abs(value) < 1 << 53)
        ):
            raise ValueError(f"GPU {texts[0]} reported {name} {str(value)[:40]!r}, not a number")
    lost = gpu.get("lost", False)
    if type(lost) is not bool:
        raise ValueError(f"GPU {texts[0]} reported lost {str(lost)[:40]!r}, not true or false")
    return (node_id, *texts, *numbers, gpu["health"], lost, now)


async def _gather(targets, fetch: Fetch, timeout: float, concurrency: int, now: datetime):
    gate = asyncio.Semaphore(concurrency)
    tokens: dict[str, str | UserError] = {}  # each token file read once a round

    def token_for(node) -> str | None:
        default = os.environ.get(TOKEN_ENV) if node["telemetry_kind"] == "agent" else None
        path = node["token_file"] or default
        if not path:
            return None
        if path not in tokens:
            try:
                tokens[path] = read_token(path).decode()
            except UserError as exc:
                tokens[path] = exc
        token = tokens[path]
        if isinstance(token, UserError):
            raise token
        return token

    async def one(node):
        url = node["telemetry_url"] + PAGES[node["telemetry_kind"]]
        async with gate:
            try:
                body = await fetch(url, timeout, token_for(node))
            except (ConnectionError, UserError) as exc:
                return node, None, str(exc) or exc.__class__.__name__
        try:
            return node, _samples(node["telemetry_kind"], body, node["id"], now), None
        except ValueError as exc:
            return node, None, f"{exc}; nothing stored from it"

    return await asyncio.gather(*(one(n) for n in targets))


def poll_once(
    engine: Engine,
    timeout: float = 2.0,
    concurrency: int = 100,
    fetch: Fetch = http_get,
    now: datetime | None = None,
) -> Round:
    """Poll every registered node that is not backing off; store what the good ones said.
    Each node gets the token in its own token file; agents without one get the token in
    $FLEETUI_AGENT_TOKEN_FILE's file, dcgm-exporters none."""
    now = now or datetime.now(UTC)
    result = Round()
    targets = []
    for node in nodes(engine):
        if node["failures"] and node["polled_at"]:
            wait = min(MAX_BACKOFF_S, 2 ** min(node["failures"], 20))
            polled = (
                node["polled_at"]
                if node["polled_at"].tzinfo
                else node["polled_at"].replace(tzinfo=UTC)
            )
            if now < polled + timedelta(seconds=wait):
                result.skipped += 1
                continue
        targets.append(node)
    answers = asyncio.run(_gather(targets, fetch, timeout, concurrency, now))
    result.polled = len(targets)
    ok_ids, rows, marks = [], [], []
    for node, samples, problem in answers:
        if samples is None:
            result.failed.append(f"{node['hostname']}: {problem}")
            marks.append(
                {
                    "b_id": node["id"],
                    "b_failures": node["failures"] + 1,
                    "b_seen": node["last_seen_at"],
                }
            )
            continue
        ok_ids.append(node["id"])
        rows += samples
        marks.append({"b_id": node["id"], "b_failures": 0, "b_seen": now})
    result.answered, result.gpus = len(ok_ids), len(rows)
    _store(engine, ok_ids, rows, marks, now)
    return result


def _store(
    engine: Engine, ok_ids: list[int], rows: list[tuple], marks: list[dict], now: datetime
) -> None:
    hour = now.replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        for start in range(0, len(ok_ids), 500):
            conn.execute(
                delete(sample_t).where(sample_t.c.node_id.in_(ok_ids[start : start + 500]))
            )
        insert_rows(conn, sample_t, SAMPLE_COLUMNS, rows)
        if rows:
            stmt = upsert(conn, hourly_t)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["node_id", "pci_bus_id", "hour"],
                    set_={
                        "samples": hourly_t.c.samples + 1,
                        "util_sum": hourly_t.c.util_sum + stmt.excluded.util_sum,
                        "util_max": _greatest(conn, hourly_t.c.util_max, stmt.excluded.util_max),
                        "power_sum": hourly_t.c.power_sum + stmt.excluded.power_sum,
                    },
                ),
                [
                    {
                        "node_id": r[0],
                        "pci_bus_id": r[1],
                        "hour": hour,
                        "samples": 1,
                        "util_sum": r[5] or 0.0,
                        "util_max": r[5] or 0.0,
                        "power_sum": r[10] or 0.0,
                    }
                    for r in rows
                ],
            )
        if marks:
            conn.execute(
                update(node_t)
                .where(node_t.c.id == bindparam("b_id"))
                .values(
                    failures=bindparam("b_failures"),
                    polled_at=now,
                    last_seen_at=bindparam("b_seen"),
                ),
                marks,
            )
        conn.execute(delete(hourly_t).where(hourly_t.c.hour < now - timedelta(days=RETENTION_DAYS)))


def _greatest(conn, a, b):
    from sqlalchemy import func

    return func.max(a, b) if conn.dialect.name == "sqlite" else func.greatest(a, b)
