"""Polling registered nodes and metrics stores from the ops box: concurrent, bounded, and never
stuck on one node.

Each node is fetched over HTTP(S) (the fleetui agent's /snapshot, or dcgm-exporter's /metrics)
with a per-node timeout and a limit on how many are in flight, sending credentials only to the
nodes they belong to (telemetry.http). A metrics store answers for all the nodes it reports
(telemetry.sources); its GPUs land where nodes' own readings land. A node or store that does
not answer, answers without GPU readings (an agent without NVML) or answers with values that do
not fit (telemetry.samples checks them at the edge, before the database sees them) is marked
(failures in a row) and skipped for a while that doubles with each failure, up to
MAX_BACKOFF_S (by the rounds that repeat on their own; a round a person asks for asks every
one): a bad node is a stale state, never a crash. One round ends with one write: the
latest sample per GPU, hourly rollups of nodes' own readings (kept RETENTION_DAYS), and each
node's and store's bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.db.bulk import gc_paused, insert_rows, update_rows, upsert
from fleetui.db.tables import (
    GpuHourly,
    GpuSample,
    Node,
    Source,
    inserted_id,
    length_of,
    require_fit,
    table_of,
    unfit,
)
from fleetui.telemetry import health, http, sources
from fleetui.telemetry.samples import READINGS_AT, SAMPLE_COLUMNS, page_rows

node_t, sample_t, hourly_t = table_of(Node), table_of(GpuSample), table_of(GpuHourly)
source_t = table_of(Source)
PAGES = {"agent": "/snapshot", "dcgm": "/metrics"}  # what each kind of node serves
KINDS = tuple(PAGES)
TOKEN_ENV = "FLEETUI_AGENT_TOKEN_FILE"  # the default token file, for agents only
STORE_TIMEOUT_S = 30.0  # a store answers for the whole fleet at once
IDLE_WINDOW_HOURS = 24  # the window a store averages utilization over (reconcile's idle test)
MAX_BACKOFF_S = 600
RETENTION_DAYS = 30


# ---------------------------------------------------------------- nodes


def base_url(url: str) -> str:
    """The endpoint without its page: people copy `http://host:9400/metrics` as often as
    `http://host:9400`, and the poller adds the page its kind serves."""
    url = url.strip().rstrip("/")
    for page in PAGES.values():
        url = url.removesuffix(page)
    return url


def add_node(
    engine: Engine,
    hostname: str,
    url: str,
    kind: str,
    token_file: str | None = None,
    basic_auth_file: str | None = None,
    ca_file: str | None = None,
    replace: bool = False,
) -> None:
    """Register a node's telemetry endpoint (`replace`: re-point a registered one), and the
    files holding the bearer token or the basic auth it wants and the CA bundle its https is
    checked with (stored as the files' paths; without a token file, agents get
    $FLEETUI_AGENT_TOKEN_FILE's)."""
    if kind not in KINDS:
        raise UserError(f"A node's telemetry is one of {', '.join(KINDS)}.")
    endpoint = http.Endpoint(
        http.check_url(url),
        http.file_path(token_file),
        http.file_path(basic_auth_file),
        http.file_path(ca_file),
    )
    http.check_credentials(endpoint)
    require_fit(node_t.c.hostname, hostname, "hostname")
    with engine.begin() as conn:
        if not replace:
            refuse_registered(conn, [hostname])
        found = conn.execute(select(node_t.c.id).where(node_t.c.hostname == hostname)).scalar()
        values = {
            "telemetry_url": base_url(url),
            "telemetry_kind": kind,
            "token_file": endpoint.token_file,
            "basic_auth_file": endpoint.basic_auth_file,
            "ca_file": endpoint.ca_file,
            "source_id": None,  # polled directly from now on
            "failures": 0,
        }
        if found is None:
            conn.execute(insert(node_t).values(hostname=hostname, rack="", **values))
        else:
            conn.execute(update(node_t).where(node_t.c.id == found).values(values))


# why a store's node is stale when a good answer of its store left it out (its exporter stopped)
NOT_IN_STORE = "not in its store"


def unwatch_node(engine: Engine, hostname: str) -> None:
    """Stop polling a node: its endpoint, the paths of its credentials and its readings are
    forgotten; the node and its cards stay (`nodes add` registers it again). A metrics store's
    node is let go only once the store no longer reports it (it would take it back at once):
    a node taken out of the fleet then stops being stale for ever."""
    with engine.begin() as conn:
        found = conn.execute(
            select(node_t.c.id, node_t.c.telemetry_url, node_t.c.problem, source_t.c.name)
            .outerjoin(source_t, source_t.c.id == node_t.c.source_id)
            .where(func.lower(node_t.c.hostname) == hostname.strip().lower())
        ).first()
        if found is None:
            raise UserError(f"There is no node '{hostname.strip()}' (fleetui nodes list).")
        gone = found.name is not None and found.problem == NOT_IN_STORE
        if found.telemetry_url is None and found.name is not None and not gone:
            raise UserError(
                f"Node {hostname.strip()} is not polled itself: metrics store {found.name} "
                "reports it (its --match picks the hosts it reports); nothing changed."
            )
        if found.telemetry_url is None and not gone:
            raise UserError(f"Node {hostname.strip()} is not polled; nothing changed.")
        for readings in (sample_t, hourly_t):
            conn.execute(delete(readings).where(readings.c.node_id == found.id))
        conn.execute(
            update(node_t)
            .where(node_t.c.id == found.id)
            .values(
                telemetry_url=None,
                telemetry_kind=None,
                source_id=None,
                token_file=None,
                basic_auth_file=None,
                ca_file=None,
                failures=0,
                polled_at=None,
                last_seen_at=None,
                problem="",
            )
        )


def refuse_registered(conn: Connection, hostnames: list[str]) -> None:
    """Registering a node whose telemetry is registered already would silently re-point it
    (a node the inventory alone knows is not registered)."""
    found = conn.execute(
        select(node_t.c.hostname)
        .where(node_t.c.hostname.in_(hostnames), node_t.c.telemetry_url.is_not(None))
        .order_by(node_t.c.hostname)
        .limit(5)
    ).scalars()
    names = ", ".join(found)
    if names:
        raise UserError(f"Already registered for telemetry: {names}; pass --replace to re-point.")


def add_nodes_from_csv(engine: Engine, path: str, replace: bool = False) -> int:
    """Register nodes from a CSV with columns hostname, kind (agent or dcgm) and url; all or
    none: any bad row is reported (row number and why), or any node registered already unless
    `replace`, and nothing is registered."""
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
            or not values["url"].startswith(("http://", "https://"))
            or not values["hostname"]
            or unfit(node_t.c.hostname, values["hostname"])
        ):
            problems.append(f"row {row}")
        rows.append(values)
    if problems:
        raise UserError(
            f"Bad node rows ({units.listed(problems, 10)}): each needs a hostname (at most "
            f"{units.counted(length_of(node_t.c.hostname), 'character')}), kind agent or dcgm, "
            "and an http:// or https:// URL; nothing was registered."
        )
    if not replace:
        with engine.connect() as conn:
            refuse_registered(conn, [v["hostname"] for v in rows])
    for values in rows:
        add_node(engine, values["hostname"], values["url"], values["kind"], replace=True)
    return len(rows)


class NoLocalGpus(UserError):
    """Nothing registered to poll, and this host's GPUs cannot be read (no NVML, no driver)."""


def poll_local(engine: Engine, now: datetime | None = None) -> Round:
    """With no nodes registered: this host's GPUs through NVML, stored under its hostname."""
    from fleetui.telemetry import nvml

    now = now or datetime.now(UTC)
    snap = nvml.collect()
    if snap.error:
        raise NoLocalGpus(snap.error + "; register nodes with fleetui nodes add.")
    with engine.begin() as conn:
        node_id = conn.execute(
            select(node_t.c.id).where(node_t.c.hostname == snap.hostname)
        ).scalar()
        if node_id is None:
            node_id = inserted_id(conn, insert(node_t).values(hostname=snap.hostname, rack=""))
    rows = page_rows("agent", json.dumps(snap.as_dict()).encode(), node_id, now)
    _store(engine, [node_id], rows, [{"b_id": node_id, "b_failures": 0, "b_seen": now}], now)
    return Round(polled=1, answered=1, gpus=len(rows))


def listed(engine: Engine) -> list[dict]:
    """The nodes telemetry reaches, by hostname: polled directly, or reported by a metrics store
    (`source`: that store's name, None for a node polled directly)."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(node_t, source_t.c.name.label("source"))
                .outerjoin(source_t, source_t.c.id == node_t.c.source_id)
                .where(node_t.c.telemetry_url.isnot(None) | node_t.c.source_id.isnot(None))
                .order_by(node_t.c.hostname)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


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
    failed: list[str] = field(default_factory=list)  # "host: why", "store NAME: why"
    skipped: int = 0  # backing off
    gpus: int = 0
    stores: int = 0  # metrics stores asked
    stores_answered: int = 0

    def summary(self) -> str:
        """One line for the CLI and the Telemetry screen."""
        line = f"{self.answered:,} of {units.counted(self.polled, 'node')} answered"
        if self.stores:
            line += f", {self.stores_answered:,} of {units.counted(self.stores, 'store')}"
        line += f", {units.counted(self.gpus, 'GPU')}"
        return line + (f", {self.skipped:,} backing off" if self.skipped else "")


def _endpoint(node: dict) -> http.Endpoint:
    """A node's page and credentials: its own files; agents without any get the token in
    $FLEETUI_AGENT_TOKEN_FILE's file, dcgm-exporters none."""
    token = node["token_file"]
    if not token and not node["basic_auth_file"] and node["telemetry_kind"] == "agent":
        token = os.environ.get(TOKEN_ENV) or None
    return http.Endpoint(
        node["telemetry_url"] + PAGES[node["telemetry_kind"]],
        token,
        node["basic_auth_file"],
        node["ca_file"],
    )


async def _gather(
    targets: list[dict],
    stores: list[dict],
    timeout: float,
    store_timeout: float,
    concurrency: int,
    now: datetime,
) -> tuple[list[tuple[dict, list[tuple] | None, str | None]], list[sources.Answer]]:
    async def one(client: http.Client, node: dict) -> tuple[dict, list[tuple] | None, str | None]:
        try:
            body = await client.get(_endpoint(node))
        except (ConnectionError, UserError) as exc:
            return node, None, str(exc) or exc.__class__.__name__
        try:
            return node, page_rows(node["telemetry_kind"], body, node["id"], now), None
        except ValueError as exc:
            return node, None, f"{exc}; nothing stored from it"

    async with http.Client(timeout, concurrency) as client:
        answers = await asyncio.gather(
            asyncio.gather(*(one(client, n) for n in targets)),
            asyncio.gather(
                *(sources.fetch(client, s, IDLE_WINDOW_HOURS, store_timeout) for s in stores)
            ),
        )
    return answers[0], answers[1]


def _backing_off(row: dict, now: datetime) -> bool:
    """A node or store that failed lately waits 2, 4, 8 ... seconds (up to MAX_BACKOFF_S)."""
    if not row["failures"] or not row["polled_at"]:
        return False
    polled = row["polled_at"] if row["polled_at"].tzinfo else row["polled_at"].replace(tzinfo=UTC)
    wait = min(MAX_BACKOFF_S, 2 ** min(row["failures"], 20))
    return now < polled + timedelta(seconds=wait)


def registered(engine: Engine) -> bool:
    """Whether anything is registered to poll: a node or a metrics store."""
    return bool(nodes(engine) or sources.sources(engine))


@gc_paused()  # a round churns through objects per GPU that a collection would only walk
def poll_once(
    engine: Engine,
    timeout: float = 2.0,
    concurrency: int = 100,
    now: datetime | None = None,
    store_timeout: float = STORE_TIMEOUT_S,
    back_off: bool = True,
) -> Round:
    """Poll every registered node and metrics store that is not backing off (every one when
    not `back_off`: a round a person asked for, after fixing one); store what the good ones
    said, in one write."""
    now = now or datetime.now(UTC)
    result = Round()
    targets, stores = [], []
    for node in nodes(engine):
        if back_off and _backing_off(node, now):
            result.skipped += 1
        else:
            targets.append(node)
    for store in sources.sources(engine):
        if back_off and _backing_off(store, now):
            result.skipped += 1
        else:
            stores.append(store)
    answers, store_answers = asyncio.run(
        _gather(targets, stores, timeout, store_timeout, concurrency, now)
    )
    result.polled, result.stores = len(targets), len(stores)
    ok_ids, marks = [], []
    rows: list[Sequence[Any]] = []  # tuples from nodes, lists from stores
    for node, samples, problem in answers:
        if samples is None:
            result.failed.append(f"{node['hostname']}: {problem}")
            marks.append(_mark(node, now, problem))
            continue
        ok_ids.append(node["id"])
        rows += samples
        marks.append(_mark(node, now))
    rolled = list(ok_ids)  # the stores keep their own history: no hourly rollups from them
    store_marks = []
    for store, answer in zip(stores, store_answers, strict=True):
        if answer.problem:
            result.failed.append(f"store {store['name']}: {answer.problem}")
        else:
            result.stores_answered += 1
        store_marks.append(_mark(store, now, answer.problem))
        for node, held, problem in _store_nodes(engine, store, answer, now):
            result.polled += 1  # asked through its store, answered or not
            if held is None:
                result.failed.append(f"{node['hostname']}: {problem}")
                marks.append(_mark(node, now, problem))
            else:
                ok_ids.append(node["id"])
                rows += held
                marks.append(_mark(node, now))
    result.answered, result.gpus = len(ok_ids), len(rows)
    _store(engine, ok_ids, rows, marks, now, rolled, store_marks)
    return result


def _mark(row: dict, now: datetime, problem: str | None = None) -> dict:
    """A node's or store's bookkeeping after a round: failures in a row, last seen, why not."""
    if problem:
        failed = row["failures"] + 1
        return {"b_id": row["id"], "b_failures": failed, "b_seen": row["last_seen_at"]} | {
            "b_problem": problem
        }
    return {"b_id": row["id"], "b_failures": 0, "b_seen": now, "b_problem": ""}


def _store_nodes(
    engine: Engine, store: dict, answer: sources.Answer, now: datetime
) -> list[tuple[dict, list[list] | None, str | None]]:
    """A store's answer per node it reports, like nodes' own answers: hostnames fleetui does
    not know become nodes of this store, and so do known nodes nothing else reports on; a node
    polled directly or reported by another store keeps its own readings. A node of this store
    missing from its answer (or every one, when the store failed) is stale."""
    known = _claim(engine, store["id"], sorted(answer.hosts))
    found: list[tuple[dict, list[list] | None, str | None]] = []
    for node in known:
        rows = answer.hosts.get(node["hostname"]) if not answer.problem else None
        if rows is None:
            why = f"store {store['name']} is stale" if answer.problem else NOT_IN_STORE
            found.append((node, None, why))
        elif isinstance(rows, str):
            found.append((node, None, f"{rows}; nothing stored from it"))
        else:
            node_id = node["id"]
            for row in rows:
                row[0], row[-1] = node_id, now
            found.append((node, rows, None))
    return found


def _claim(engine: Engine, source_id: int, hosts: list[str]) -> list[dict]:
    """This store's nodes after taking on `hosts` (each name checked to fit), with what a
    round's bookkeeping reads of them (_mark): from one read of the nodes, a second only in a
    round that took some on."""
    c = node_t.c
    every = select(c.id, c.hostname, c.source_id, c.telemetry_url, c.failures, c.last_seen_at)
    with engine.begin() as conn:
        rows = conn.execute(every).all()
        by_name = {r.hostname: r for r in rows}
        new = [h for h in hosts if h not in by_name and not unfit(c.hostname, h)]
        if new:
            conn.execute(
                insert(node_t),
                [{"hostname": h, "rack": "", "source_id": source_id} for h in new],
            )
        free = [
            r.id
            for h in hosts
            if (r := by_name.get(h)) is not None and r.source_id is None and r.telemetry_url is None
        ]
        for start in range(0, len(free), 500):
            conn.execute(
                update(node_t)
                .where(c.id.in_(free[start : start + 500]))
                .values(source_id=source_id)
            )
        if new or free:
            rows = conn.execute(every).all()
    return [
        {"id": r.id, "hostname": r.hostname, "failures": r.failures, "last_seen_at": r.last_seen_at}
        for r in rows
        if r.source_id == source_id
    ]


def _store(
    engine: Engine,
    ok_ids: list[int],
    rows: Sequence[Sequence[Any]],
    marks: list[dict],
    now: datetime,
    rolled: list[int] | None = None,
    store_marks: list[dict] | None = None,
) -> None:
    """One write: the latest samples, hourly rollups of the nodes in `rolled` (all that
    answered by default), and the nodes' and stores' bookkeeping."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        _replace_samples(conn, ok_ids, rows)
        health.record(conn, SAMPLE_COLUMNS, rows, ok_ids, now)
        rolled = ok_ids if rolled is None else rolled
        for start in range(0, len(rolled), 500):  # from the rows just written, in SQL
            _roll_up(conn, rolled[start : start + 500], hour)
        seen = [m["b_id"] for m in marks if not m["b_failures"]]  # a statement per 500 nodes
        for start in range(0, len(seen), 500):
            conn.execute(
                update(node_t)
                .where(node_t.c.id.in_(seen[start : start + 500]))
                .values(failures=0, polled_at=now, last_seen_at=now, problem="")
            )
        if failed := [m for m in marks if m["b_failures"]]:
            conn.execute(
                update(node_t)
                .where(node_t.c.id == bindparam("b_id"))
                .values(
                    failures=bindparam("b_failures"),
                    polled_at=now,
                    last_seen_at=bindparam("b_seen"),
                    problem=bindparam("b_problem"),
                ),
                failed,
            )
        if store_marks:
            conn.execute(
                update(source_t)
                .where(source_t.c.id == bindparam("b_id"))
                .values(
                    failures=bindparam("b_failures"),
                    polled_at=now,
                    last_seen_at=bindparam("b_seen"),
                    problem=bindparam("b_problem"),
                ),
                store_marks,
            )
        conn.execute(delete(hourly_t).where(hourly_t.c.hour < now - timedelta(days=RETENTION_DAYS)))


def _replace_samples(conn: Connection, node_ids: list[int], rows: Sequence[Sequence[Any]]) -> None:
    """The nodes' latest samples become `rows`. A GPU seen again with the same identity is
    updated in place, its indexes untouched (most GPUs, most rounds: half the cost of deleting
    and inserting it); a new GPU, or one whose uuid, serial or name changed, is inserted anew,
    and one no longer reported is deleted. When every GPU was seen again (the nodes hold no
    more rows than `rows`) one UPDATE does it all; otherwise the rows held are read to sort
    them out. Counting the nodes' rows takes a statement per 500 nodes; the whole table's
    count is one, and when it equals the rows updated (a store's round, a whole fleet polled)
    the nodes' count need not be asked."""
    matched = update_rows(conn, sample_t, SAMPLE_COLUMNS, rows, keys=SAMPLE_COLUMNS[:READINGS_AT])
    s = sample_t.c
    held: dict[tuple, tuple] = {}  # (node, bus) -> (id, uuid, serial, name)
    chunks = [node_ids[start : start + 500] for start in range(0, len(node_ids), 500)]
    if matched == len(rows):
        count = select(func.count()).select_from(sample_t)
        if conn.execute(count).scalar_one() == matched or (
            sum(conn.execute(count.where(s.node_id.in_(c))).scalar_one() for c in chunks) == matched
        ):
            return
    for chunk in chunks:
        found = select(s.node_id, s.pci_bus_id, s.id, s.uuid, s.serial, s.name)
        for r in conn.execute(found.where(s.node_id.in_(chunk))).all():
            held[r[0], r[1]] = r[2:]
    fresh, gone = [], []
    for row in rows:
        was = held.pop((row[0], row[1]), None)
        if was is None or was[1:] != (row[2], row[3], row[4]):
            fresh.append(row)
            if was is not None:
                gone.append(was[0])
    gone += [was[0] for was in held.values()]
    for start in range(0, len(gone), 500):
        conn.execute(delete(sample_t).where(s.id.in_(gone[start : start + 500])))
    insert_rows(conn, sample_t, SAMPLE_COLUMNS, fresh)


def _roll_up(conn: Connection, node_ids: list[int], hour: datetime) -> None:
    """Add the nodes' latest samples to their GPUs' rollups of `hour`."""
    s = sample_t.c
    stmt = upsert(conn, hourly_t).from_select(
        ["node_id", "pci_bus_id", "hour", "samples", "util_sum", "util_max", "power_sum"],
        select(
            s.node_id,
            s.pci_bus_id,
            literal(hour, hourly_t.c.hour.type),
            literal(1),
            func.coalesce(s.util_gpu, 0.0),
            func.coalesce(s.util_gpu, 0.0),
            func.coalesce(s.power_w, 0.0),
        ).where(s.node_id.in_(node_ids)),
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["node_id", "pci_bus_id", "hour"],
            set_={
                "samples": hourly_t.c.samples + 1,
                "util_sum": hourly_t.c.util_sum + stmt.excluded.util_sum,
                "util_max": _greatest(conn, hourly_t.c.util_max, stmt.excluded.util_max),
                "power_sum": hourly_t.c.power_sum + stmt.excluded.power_sum,
            },
        )
    )


def _greatest(conn, a, b):
    return func.max(a, b) if conn.dialect.name == "sqlite" else func.greatest(a, b)
