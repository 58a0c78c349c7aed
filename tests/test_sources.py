"""Metrics stores as a telemetry source, against a real Prometheus and a real VictoriaMetrics
on loopback, loaded with series in dcgm-exporter's label sets: a poll lands where node polling
lands (reconciliation, idle-first planning, the Telemetry screen, `reconcile --json`), nodes and
stores mix, and a store that fails is a stale state with its reason."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db.tables import Card, GpuModel, GpuSample, Node
from fleetui.telemetry import agent, nvml, poller, prometheus, reconcile, samples, sources, view
from tests.loopback import dead_url
from tests.metricstores import KINDS, Series, Store, missing

H100 = "NVIDIA H100 80GB HBM3"
DAY = 24 * 3600


def _gpu(host_label: str, host: str, gpu: int, bus: str, uuid: str, serial: str | None) -> dict:
    """dcgm-exporter's labels for one GPU, as a Prometheus scrape stores them."""
    labels = {
        "gpu": str(gpu),
        "UUID": uuid,
        "pci_bus_id": bus,
        "device": f"nvidia{gpu}",
        "modelName": H100,
        host_label: host,
        "DCGM_FI_DRIVER_VERSION": "550.54.15",
        "job": "fleet",
        "instance": f"{host}:9400",
    }
    if serial:
        labels["DCGM_FI_DEV_SERIAL"] = serial
    return labels


# (labels, utilization over the day, uncorrectable ECC errors)
FLEET = [
    (_gpu("Hostname", "node-a", 0, "00000000:18:00.0", "GPU-1", "S1"), 97, 0),  # older exporter
    (_gpu("Hostname", "node-a", 1, "00000000:2A:00.0", "GPU-9", "S9"), 0, 0),
    (_gpu("Hostname", "node-a", 2, "00000000:3A:00.0", "GPU-4", "S4"), 1, 2),
    (_gpu("hostname", "node-b", 0, "00000000:18:00.0", "GPU-2", "S2"), 55, 0),  # newer exporter
    (_gpu("hostname", "node-new", 0, "00000000:18:00.0", "GPU-7", "S7"), 40, 0),
]


def _series(now: float) -> list[Series]:
    """A day of utilization at 15-minute steps, then every minute for the last half hour (so the
    latest values stay fresh while the tests run), and the latest of the other gauges."""
    times = [now - DAY + i * 900 for i in range(96)] + [now - 1800 + i * 60 for i in range(30)]
    found = []
    for labels, util, ecc in FLEET:
        recent = times[-30:]
        found.append(Series("DCGM_FI_DEV_GPU_UTIL", labels, [(t, util) for t in times]))
        found.append(Series("DCGM_FI_DEV_GPU_TEMP", labels, [(t, 60) for t in recent]))
        found.append(Series("DCGM_FI_DEV_POWER_USAGE", labels, [(t, 500.5) for t in recent]))
        found.append(Series("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", labels, [(t, ecc) for t in recent]))
    unplaced = {k: v for k, v in FLEET[0][0].items() if k != "Hostname"}
    found.append(Series("DCGM_FI_DEV_GPU_UTIL", unplaced, [(t, 5) for t in times]))
    other = FLEET[0][0] | {"job": "other-cluster", "Hostname": "node-z"}
    found.append(Series("DCGM_FI_DEV_GPU_UTIL", other, [(t, 5) for t in times]))
    return found


@pytest.fixture(scope="module", params=KINDS)
def store(request, tmp_path_factory) -> Iterator[Store]:
    if why := missing(request.param):
        pytest.skip(why)
    server = Store(request.param, tmp_path_factory.mktemp(request.param), _series(time.time()))
    yield server
    server.stop()


def _card(engine, serial, node, bus, model="h100-sxm5-80gb") -> None:
    with engine.begin() as conn:
        node_id = conn.execute(select(Node.id).where(Node.hostname == node)).scalar()
        if node_id is None:
            conn.execute(insert(Node).values(hostname=node, rack=""))
            node_id = conn.execute(select(Node.id).where(Node.hostname == node)).scalar()
        model_id = conn.execute(select(GpuModel.id).where(GpuModel.key == model)).scalar()
        conn.execute(
            insert(Card).values(
                serial=serial,
                model_id=model_id,
                node_id=node_id,
                pci_bus_id=bus,
                status="in_service",
            )
        )


def _inventory(engine) -> None:
    """The cards test_poll's fleet has, on nodes the inventory knows (no telemetry URLs)."""
    _card(engine, "S1", "node-a", "00000000:18:00.0", model="a100-sxm4-80gb")  # model differs
    _card(engine, "S2", "node-a", "00000000:2A:00.0")  # reported by node-b: moved
    _card(engine, "S3", "node-a", "00000000:5D:00.0")  # not reported: missing
    _card(engine, "S4", "node-a", "00000000:3A:00.0")  # as recorded, idle


def _cli(db_url: str, *args: str):
    return CliRunner().invoke(app, ["--db", db_url, *args])


def test_adding_a_name_registered_already_is_refused_unless_replace(engine, db_url, tmp_path):
    """`sources add`, `nodes add` and `nodes import` never silently re-point what exists; a
    node the inventory alone knows (no telemetry yet) is simply registered."""
    _inventory(engine)  # node-a and node-b, known from cards only
    add = ("sources", "add", "dc1", "--prometheus")
    assert _cli(db_url, *add, "http://127.0.0.1:1").exit_code == 0
    refused = _cli(db_url, *add, "http://127.0.0.1:2")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "fleetui: A source 'dc1' exists already; pass --replace to re-point it.\n"
    )
    assert _cli(db_url, *add, "http://127.0.0.1:2", "--replace").exit_code == 0
    assert [s["url"] for s in sources.sources(engine)] == ["http://127.0.0.1:2"]

    node = ("nodes", "add", "node-a", "--agent")
    assert _cli(db_url, *node, "http://127.0.0.1:3").exit_code == 0
    refused = _cli(db_url, *node, "http://127.0.0.1:4")
    assert refused.exit_code == 1 and refused.stderr == (
        "fleetui: Already registered for telemetry: node-a; pass --replace to re-point.\n"
    )
    csv = tmp_path / "nodes.csv"
    csv.write_text("hostname,kind,url\nnode-b,agent,http://127.0.0.1:5\nnode-a,dcgm,http://x\n")
    assert _cli(db_url, "nodes", "import", str(csv)).exit_code == 1
    urls = {n["hostname"]: n["telemetry_url"] for n in poller.nodes(engine)}
    assert urls == {"node-a": "http://127.0.0.1:3"}  # node-b was not registered either
    assert _cli(db_url, *node, "http://127.0.0.1:4", "--replace").exit_code == 0
    assert _cli(db_url, "nodes", "import", str(csv), "--replace").exit_code == 0
    urls = {n["hostname"]: n["telemetry_url"] for n in poller.nodes(engine)}
    assert (urls["node-a"], urls["node-b"]) == ("http://x", "http://127.0.0.1:5")


def test_a_store_poll_lands_where_node_polls_land(store, engine, db_url):
    _inventory(engine)
    added = _cli(
        db_url, "sources", "add", "dc1", "--prometheus", store.url, "--match", 'job="fleet"'
    )
    assert added.exit_code == 0, added.output
    polled = _cli(db_url, "poll", "--once")
    assert polled.exit_code == 0, polled.output
    assert "3 of 3 nodes answered, 1 of 1 store, 5 GPUs" in polled.stdout

    found = _cli(db_url, "reconcile", "--json")
    assert found.exit_code == 1
    assert {(d["kind"], d["node"], d["serial"]) for d in json.loads(found.stdout)} == {
        ("model", "node-a", "S1"),
        ("moved", "node-b", "S2"),
        ("missing", "node-a", "S3"),
        ("unknown", "node-a", "S9"),
        ("unknown", "node-new", "S7"),  # a host fleetui did not know: now a node of dc1
    }
    assert reconcile.idle_cards(engine) == ["S4"]  # the store's average over the window

    listed = json.loads(_cli(db_url, "sources", "list", "--json").stdout)
    assert [(s["name"], s["nodes"], s["failures"], s["problem"]) for s in listed] == [
        ("dc1", 3, 0, "")
    ]
    nodes = json.loads(_cli(db_url, "nodes", "list", "--json").stdout)
    assert [(n["hostname"], n["source"]) for n in nodes] == [  # as the Telemetry screen lists
        (h, "dc1") for h in ("node-a", "node-b", "node-new")
    ]
    assert "via dc1" in _cli(db_url, "nodes", "list").stdout
    unwatched = _cli(db_url, "nodes", "unwatch", "node-new")
    assert unwatched.exit_code == 1 and "metrics store dc1 reports it" in unwatched.stderr
    with engine.connect() as conn:
        hosts = set(conn.execute(select(Node.hostname)).scalars())
        sick = conn.execute(
            select(GpuSample.health, GpuSample.temperature_c, GpuSample.util_window_avg).where(
                GpuSample.serial == "S4"
            )
        ).one()
    assert "node-z" not in hosts  # another cluster's series: not matched
    # the store's gauges are classified as a node's are
    assert tuple(sick) == ("uncorrectable (double-bit) ECC errors (reset the GPU)", 60.0, 1.0)
    shown = view.load(engine)
    assert (shown.nodes[0].hostname, shown.nodes[0].kind) == ("dc1", "store")
    assert {(n.hostname, n.kind) for n in shown.nodes[1:]} == {
        (h, "via dc1") for h in ("node-a", "node-b", "node-new")
    }


def test_the_planner_takes_idle_cards_before_busy_ones_from_a_store(store, engine):
    from fleetui.allocation import moves, teams

    _inventory(engine)
    teams.add_team(engine, "LLM")
    with engine.begin() as conn:
        from sqlalchemy import update

        conn.execute(update(Card).values(team_id=select(teams.team_t.c.id).scalar_subquery()))
    sources.add_source(engine, "dc1", store.url, '{job="fleet"}')
    poller.poll_once(engine)
    teams.add_team(engine, "Search")
    plan = moves.plan_request(
        engine, "Search", None, count=1, from_team="LLM", today=date(2026, 11, 1), settings=Config()
    )
    assert [c.serial for c in plan.cards] == ["S4"]  # idle (1%), not S1 (97%)
    # a store keeps no hourly rollups: its window figures are the telemetry the plan tells of
    assert "1 of 1 card is idle." in plan.explanation
    assert not [line for line in plan.explanation if "No telemetry" in line]


def test_nodes_and_stores_mix(store, engine):
    """node-b is polled directly: its own readings are kept, the store's series for it are
    not used; the store's other hosts land beside it."""
    snap = nvml.Snapshot(
        "node-b",
        0.0,
        [nvml.GpuSample(0, name=H100, serial="S2", uuid="GPU-2", pci_bus_id="00000000:9A:00.0")],
    )
    server = agent.make_server("127.0.0.1", 0, None, lambda: snap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        poller.add_node(engine, "node-b", f"http://127.0.0.1:{server.server_address[1]}", "agent")
        sources.add_source(engine, "dc1", store.url, 'job="fleet"')
        result = poller.poll_once(engine)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.answered, result.stores_answered, result.gpus, result.failed) == (3, 1, 5, [])
    with engine.connect() as conn:
        rows = conn.execute(
            select(Node.hostname, GpuSample.pci_bus_id).join(Node, Node.id == GpuSample.node_id)
        ).all()
    assert sorted(rows) == [
        ("node-a", "00000000:18:00.0"),
        ("node-a", "00000000:2A:00.0"),
        ("node-a", "00000000:3A:00.0"),
        ("node-b", "00000000:9A:00.0"),  # the agent's, not the store's 18:00.0
        ("node-new", "00000000:18:00.0"),
    ]


def test_a_store_error_is_a_stale_state_with_its_reason(store, engine, db_url):
    """A query the store refuses (here a bad regular expression) is its reason, shown in
    `sources list`; its nodes turn stale, so their cards are neither seen nor missing."""
    _inventory(engine)
    sources.add_source(engine, "dc1", store.url, 'job="fleet"')
    poller.poll_once(engine)
    sources.add_source(engine, "dc1", store.url, 'job=~"("', replace=True)
    result = poller.poll_once(engine)
    assert result.stores_answered == 0 and result.gpus == 0
    assert result.failed[0].startswith("store dc1: ")
    listed = _cli(db_url, "sources", "list", "--json")
    problem = json.loads(listed.stdout)[0]["problem"]
    assert "(" in problem and problem == result.failed[0].removeprefix("store dc1: ")
    assert reconcile.discrepancies(engine) == []  # every node of dc1 is stale


# ---------------------------------------------------------------- failures without a store


class _Fake(BaseHTTPRequestHandler):
    """A query API that answers with `answer` (status, JSON), or never when `answer` is None."""

    answer: tuple[int, dict] | None = None
    hang = threading.Event()

    def do_GET(self):
        if self.answer is None:
            self.hang.wait()  # until the test ends
            return
        status, body = self.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


OK = {"status": "success", "data": {"resultType": "vector", "result": []}}


class _Joining(_Fake):
    """A query API that answers every query with `series` (labels, value), their labels joined
    as the query's label_join asks, as a store would."""

    series: list[tuple[dict, str]] = []

    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)["query"][0]
        key, sep, *names = re.findall(r'"([^"]*)"', query.rsplit("label_join(", 1)[1])
        assert sep == "\\x1f"
        result = [
            {"metric": {key: "\x1f".join(labels.get(n, "") for n in names)}, "value": [1.0, v]}
            for labels, v in self.series
        ]
        self.answer = (200, OK | {"data": {"resultType": "vector", "result": result}})
        super().do_GET()


@pytest.mark.parametrize(
    "answer, why",
    [
        ((200, OK | {"warnings": ["store 2 of 3 did not answer"]}), "a partial answer: store 2"),
        (
            (422, {"status": "error", "errorType": "execution", "error": "too many samples"}),
            "execution: too many samples",
        ),
        ((200, {"status": "error", "errorType": "timeout", "error": "query timed out"}), "timeout"),
        ((200, {"data": []}), "not a query answer"),
        (None, "no answer in time"),
        (
            (200, OK | {"data": {"resultType": "vector", "result": [{"metric": [], "value": []}]}}),
            "a series of util_gpu is not a label set and a value",
        ),
        (
            (200, OK | {"data": {"resultType": "vector", "result": [{"metric": {}, "value": 7}]}}),
            "a series of util_gpu is not a label set and a value",
        ),
        # a --match that picks nothing (a typo): not a store that answered for no GPU
        ((200, OK), 'it has no DCGM_FI_DEV_GPU_UTIL series matching {job="dcgm"} with a recent'),
    ],
    ids=[
        "warnings",
        "status-422",
        "status-error",
        "not-an-answer",
        "slow",
        "labels",
        "value",
        "no-series",
    ],
)
def test_a_store_that_fails_is_stale_never_a_crash(engine, answer, why):
    handler = type("Fake", (_Fake,), {"answer": answer, "hang": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        sources.add_source(engine, "thanos", url, 'job="dcgm"')
        result = poller.poll_once(engine, store_timeout=3.0)
    finally:
        handler.hang.set()
        server.shutdown()
        server.server_close()
    assert result.stores_answered == 0 and result.failed[0].startswith("store thanos: ")
    assert why in result.failed[0]
    (listed,) = sources.sources(engine)
    assert why in listed["problem"] and listed["failures"] == 1
    assert view.load(engine).nodes[0].problem == listed["problem"]


def test_a_stores_gpus_are_checked_one_node_at_a_time(engine):
    """A GPU whose labels would not fit makes its own node stale with the reason; the store's
    other nodes are stored; a series with no hostname is left out, a NaN is no reading, and
    evidence (here every field reads 42, an Xid among them) is flagged."""
    series = [
        ({"Hostname": "good", "pci_bus_id": "00000000:18:00.0", "UUID": "GPU-1"}, "42"),
        ({"Hostname": "bad", "pci_bus_id": "00000000:18:00.0", "UUID": "G" * 100}, "1"),
        ({"pci_bus_id": "00000000:2A:00.0"}, "5"),
        ({"Hostname": "good", "gpu": "1"}, "NaN"),
        ({"Hostname": "odd\x1fname", "gpu": "2"}, "1"),  # the separator in a label: unplaced
    ]
    handler = type("Fake", (_Joining,), {"series": series})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sources.add_source(engine, "dc1", f"http://127.0.0.1:{server.server_address[1]}")
        polled = poller.poll_once(engine, store_timeout=3.0)
    finally:
        server.shutdown()
        server.server_close()
    assert polled.failed == [
        "bad: a GPU reported a uuid of 100 characters (at most 64 fit); nothing stored from it"
    ]
    with engine.connect() as conn:
        stored = conn.execute(
            select(GpuSample.pci_bus_id, GpuSample.uuid, GpuSample.util_gpu, GpuSample.health)
            .join(Node, Node.id == GpuSample.node_id)
            .order_by(GpuSample.pci_bus_id)
        ).all()
        hosts = set(conn.execute(select(Node.hostname)).scalars())
    assert hosts == {"good", "bad"}
    assert [tuple(r[:3]) for r in stored] == [
        ("00000000:18:00.0", "GPU-1", 42.0),
        ("gpu1", None, None),
    ]
    assert "Xid 42" in stored[0].health and stored[1].health == ""


def test_a_store_that_is_down_backs_off(engine):

    dead = dead_url()
    sources.add_source(engine, "down", dead)
    now = datetime.now(UTC)
    first = poller.poll_once(engine, now=now)
    assert first.failed and "store down: " in first.failed[0]
    again = poller.poll_once(engine, now=now)
    assert (again.stores, again.skipped) == (0, 1)


def test_the_queries_follow_the_dcgm_field_table():
    """Every field in DCGM_FIELDS that a sample keeps is read from a store, grouped by
    dcgm-exporter's labels; a field no sample keeps costs the store no query."""
    asked = sources.queries('job="fleet"', 24)
    kept = {a for a in prometheus.DCGM_FIELDS.values() if a in samples.SAMPLE_COLUMNS}
    assert kept and kept != set(prometheus.DCGM_FIELDS.values())
    for name, attribute in prometheus.DCGM_FIELDS.items():
        if attribute in kept:
            assert name + '{job="fleet"}' in asked[attribute]
            assert asked[attribute].startswith("max by (fleetui_gpu) (label_join(")
        else:
            assert attribute not in asked and name not in " ".join(asked.values())
    place = '"fleetui_gpu", "\\x1f", "Hostname", "hostname", "gpu", "pci_bus_id"'
    assert all(place in query for query in asked.values())
    first = next(iter(asked.values()))
    assert first.endswith(f'{place}, "UUID", "modelName", "DCGM_FI_DEV_SERIAL"))')  # identities
    assert "avg_over_time(DCGM_FI_DEV_GPU_UTIL" in asked["util_window_avg"]
    # never a request per node: one query per attribute, whichever name DCGM gives it, and
    # one for the idle window's average (its peak is read by nothing, so never asked for)
    assert len(asked) == len(kept) + 1
    assert "max_over_time" not in " ".join(asked.values())


def test_sources_cli_add_list_remove(db_url, tmp_path):
    token = tmp_path / "token"
    token.write_text("0123456789abcdef-secret\n")
    bad = [
        (["--prometheus", "ftp://x"], "is not an http:// or https:// URL"),
        (["--prometheus", "http://127.0.0.1:99999"], "the port must be a number from 1 to 65535"),
        (["--prometheus", "http://exa mple.com"], "a host name has no spaces"),
        (["--prometheus", "http://ops:hunter2@prom:9090"], "not in the URL"),
        (["--prometheus", "http://prom:9090/?password=hunter2"], "holds a secret (password)"),
        (["--prometheus", "http://prom:9090/?tenant=a&access_token=hunter2"], "not in the URL"),
        (["--prometheus", "http://x", "--match", "job=dcgm"], "is not a list of label matchers"),
        (["--prometheus", "http://x", "--token-file", str(tmp_path / "no")], "Cannot read"),
        (["--prometheus", "https://x", "--ca-file", str(token)], "not a readable PEM bundle"),
    ]
    for args, why in bad:
        refused = _cli(db_url, "sources", "add", "dc1", *args)
        assert (
            refused.exit_code == 1 and why in refused.stderr and "Traceback" not in refused.output
        )
        assert "hunter2" not in refused.output  # a password given in a URL is never echoed
    added = _cli(
        db_url,
        "sources",
        "add",
        "dc1",
        "--prometheus",
        "https://prom.example:9090/api/v1/query",
        "--match",
        '{job="dcgm", cluster=~"a|b"}',
        "--token-file",
        str(token),
    )
    assert added.exit_code == 0, added.output
    listed = _cli(db_url, "sources", "list", "--json")
    (one,) = json.loads(listed.stdout)
    assert (one["url"], one["match"], one["token_file"]) == (
        "https://prom.example:9090",
        'job="dcgm", cluster=~"a|b"',
        str(token),
    )
    assert "secret" not in listed.stdout and "secret" not in _cli(db_url, "sources", "list").stdout
    removed = _cli(db_url, "sources", "remove", "dc1")
    assert removed.exit_code == 0 and "removed" in removed.stdout
    assert json.loads(_cli(db_url, "sources", "list", "--json").stdout) == []
    gone = _cli(db_url, "sources", "remove", "dc1")
    assert gone.exit_code == 1 and "No source is named 'dc1'." in gone.stderr


def test_removing_a_store_keeps_its_nodes_and_drops_its_readings(store, engine):
    _inventory(engine)
    sources.add_source(engine, "dc1", store.url, 'job="fleet"')
    poller.poll_once(engine)
    assert sources.remove_source(engine, "dc1") == 3
    with engine.connect() as conn:
        assert conn.execute(select(GpuSample.id)).first() is None
        assert {"node-a", "node-b", "node-new"} <= set(
            conn.execute(select(Node.hostname)).scalars()
        )
    assert reconcile.discrepancies(engine) == []
    with pytest.raises(UserError, match="No source is named"):
        sources.remove_source(engine, "dc1")


@pytest.mark.parametrize("kind", KINDS)
def test_a_gpu_with_no_recent_value_is_not_reported_now(kind, engine, tmp_path):
    """An exporter that stopped half an hour ago leaves its 24-hour windows in the store, and no
    latest value: its GPU is not reported now. (It was, made of the windows alone, with no
    identity and no Xid: a card with Xid 79 read as answering with nothing wrong.)"""
    if why := missing(kind):
        pytest.skip(why)
    now = time.time()
    day = [now - DAY + i * 900 for i in range(96)]
    recent = [now - 1800 + i * 60 for i in range(30)]
    live = _gpu("Hostname", "node-live", 0, "00000000:18:00.0", "GPU-L", "SL")
    quiet = _gpu("Hostname", "node-quiet", 0, "00000000:18:00.0", "GPU-Q", "SQ")
    stopped = [t for t in day if t < now - 1800]
    series = [
        Series("DCGM_FI_DEV_GPU_UTIL", live, [(t, 50) for t in day + recent]),
        Series("DCGM_FI_DEV_GPU_UTIL", quiet, [(t, 50) for t in stopped]),
        Series("DCGM_FI_DEV_XID_ERRORS", quiet, [(t, 79) for t in stopped]),
    ]
    server = Store(kind, tmp_path, series)
    try:
        sources.add_source(engine, "dc", server.url, 'job="fleet"')
        polled = poller.poll_once(engine)
    finally:
        server.stop()
    assert (polled.gpus, polled.failed) == (1, [])
    with engine.connect() as conn:
        stored = conn.execute(
            select(Node.hostname, GpuSample.uuid).join(Node, Node.id == GpuSample.node_id)
        ).all()
    assert [tuple(r) for r in stored] == [("node-live", "GPU-L")]


def test_a_node_its_store_no_longer_reports_is_stale_and_keeps_its_readings(engine):
    """A host missing from a good answer (its exporter stopped) is stale, "not in its store",
    and keeps the readings it had: its Xid stays evidence, never cleared by silence."""

    def gpu(host: str, uuid: str) -> tuple[dict, str]:
        return {"Hostname": host, "pci_bus_id": "00000000:18:00.0", "UUID": uuid}, "79"

    handler = type("Fake", (_Joining,), {"series": [gpu("a", "GPU-A"), gpu("b", "GPU-B")]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sources.add_source(engine, "dc1", f"http://127.0.0.1:{server.server_address[1]}")
        first = poller.poll_once(engine, store_timeout=3.0)
        handler.series = [gpu("a", "GPU-A")]
        second = poller.poll_once(engine, store_timeout=3.0, back_off=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (first.gpus, first.failed) == (2, [])
    assert (second.gpus, second.failed) == (1, ["b: not in its store"])
    assert second.summary().startswith("1 of 2 nodes answered")  # b was asked, through dc1
    assert reconcile.not_compared(engine) == 1  # `reconcile` says so under its list
    with engine.connect() as conn:
        kept = conn.execute(
            select(Node.hostname, GpuSample.uuid, GpuSample.xid)
            .join(Node, Node.id == GpuSample.node_id)
            .order_by(Node.hostname)
        ).all()
    assert [tuple(r) for r in kept] == [("a", "GPU-A", 79.0), ("b", "GPU-B", 79.0)]


def test_a_node_its_store_stopped_reporting_can_be_let_go_and_comes_back_if_reported(engine):
    """Taken out of the fleet, a store's node would be stale for ever: `nodes unwatch` lets it
    go once its store no longer reports it (never while it does), and the store takes it back
    if it reports it again."""

    def gpu(host: str) -> tuple[dict, str]:
        return {"Hostname": host, "pci_bus_id": "00000000:18:00.0", "UUID": f"GPU-{host}"}, "5"

    handler = type("Fake", (_Joining,), {"series": [gpu("a"), gpu("b")]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runner = CliRunner()
    url = engine.url.render_as_string(hide_password=False)

    def unwatch(host: str):
        return runner.invoke(app, ["--db", url, "nodes", "unwatch", host])

    try:
        sources.add_source(engine, "dc1", f"http://127.0.0.1:{server.server_address[1]}")
        poller.poll_once(engine, store_timeout=3.0)
        refused = unwatch("b")  # still reported: the store would take it back at once
        assert refused.exit_code == 1 and "metrics store dc1 reports it" in refused.stderr
        handler.series = [gpu("a")]
        assert poller.poll_once(engine, store_timeout=3.0, back_off=False).failed == [
            "b: not in its store"
        ]
        let_go = unwatch("b")
        assert let_go.exit_code == 0, let_go.output
        after = poller.poll_once(engine, store_timeout=3.0, back_off=False)
        assert (after.failed, after.polled) == ([], 1)
        assert [(n.hostname, n.kind) for n in view.load(engine).nodes[1:]] == [("a", "via dc1")]
        handler.series = [gpu("a"), gpu("b")]  # back in the fleet: its store reports it again
        back = poller.poll_once(engine, store_timeout=3.0, back_off=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (back.failed, back.gpus) == ([], 2)
