"""Polling real loopback endpoints (a fleetui agent, a dcgm-exporter page, a dead port) into
the database, and reconciling what they report with the inventory."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from db.tables import Card, GpuModel, Node
from fleetui.cli import app
from fleetui.errors import UserError
from fleetui.telemetry import agent, nvml, poller, reconcile

H100 = "NVIDIA H100 80GB HBM3"
TODAY = date(2026, 11, 1)


def _snapshot() -> nvml.Snapshot:
    return nvml.Snapshot(
        "node-a",
        0.0,
        [
            nvml.GpuSample(
                0,
                name=H100,
                serial="S1",
                uuid="GPU-1",
                pci_bus_id="00000000:18:00.0",
                util_gpu=97,
                power_w=600.0,
            ),
            nvml.GpuSample(
                1,
                name=H100,
                serial="S9",
                uuid="GPU-9",
                pci_bus_id="00000000:2A:00.0",
                util_gpu=0,
                power_w=90.0,
            ),
            nvml.GpuSample(
                2,
                name=H100,
                serial="S4",
                uuid="GPU-4",
                pci_bus_id="00000000:3A:00.0",
                util_gpu=1,
                power_w=95.0,
            ),
        ],
    )


DCGM = (
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-2",pci_bus_id="00000000:18:00.0",'
    f'modelName="{H100}",Hostname="node-b",DCGM_FI_DEV_SERIAL="S2"}} 55\n'
)


class _Dcgm(BaseHTTPRequestHandler):
    def do_GET(self):
        body = DCGM.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(server) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def endpoints():
    servers = [
        agent.make_server("127.0.0.1", 0, None, _snapshot),
        ThreadingHTTPServer(("127.0.0.1", 0), _Dcgm),
    ]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    yield _serve(servers[0]), _serve(servers[1]), dead
    for server in servers:
        server.shutdown()
        server.server_close()


def _card(engine, serial, node, bus, model="h100-sxm5-80gb", status="in_service"):
    with engine.begin() as conn:
        node_id = conn.execute(select(Node.id).where(Node.hostname == node)).scalar()
        model_id = conn.execute(select(GpuModel.id).where(GpuModel.key == model)).scalar()
        conn.execute(
            insert(Card).values(
                serial=serial, model_id=model_id, node_id=node_id, pci_bus_id=bus, status=status
            )
        )


@pytest.fixture
def fleet(engine, endpoints):
    agent_url, dcgm_url, dead_url = endpoints
    poller.add_node(engine, "node-a", agent_url, "agent")
    poller.add_node(engine, "node-b", dcgm_url, "dcgm")
    poller.add_node(engine, "node-c", dead_url, "agent")
    _card(engine, "S1", "node-a", "00000000:18:00.0", model="a100-sxm4-80gb")  # model differs
    _card(engine, "S2", "node-a", "00000000:2A:00.0")  # reported by node-b: moved
    _card(engine, "S3", "node-a", "00000000:5D:00.0")  # not reported: missing
    _card(engine, "S4", "node-a", "00000000:3A:00.0")  # as recorded, idle
    return engine


def test_a_round_stores_what_answered_and_backs_off_from_the_dead(fleet):
    now = datetime.now(UTC)
    result = poller.poll_once(fleet, timeout=1.0, now=now)
    assert (result.polled, result.answered, result.gpus) == (3, 2, 4)
    assert len(result.failed) == 1 and result.failed[0].startswith("node-c: ")
    listed = {n["hostname"]: n for n in poller.nodes(fleet)}
    assert listed["node-c"]["failures"] == 1 and listed["node-a"]["failures"] == 0
    again = poller.poll_once(fleet, timeout=1.0, now=now + timedelta(seconds=1))
    assert (again.skipped, again.polled) == (1, 2)
    later = poller.poll_once(fleet, timeout=1.0, now=now + timedelta(seconds=5))
    assert later.skipped == 0 and later.polled == 3


def test_reconciliation_lists_unknown_moved_model_and_missing(fleet):
    poller.poll_once(fleet, timeout=1.0)
    found = {(d.kind, d.serial): d for d in reconcile.discrepancies(fleet)}
    assert set(found) == {("unknown", "S9"), ("moved", "S2"), ("model", "S1"), ("missing", "S3")}
    assert found[("moved", "S2")].detail == "recorded on node-a"
    assert found[("model", "S1")].detail == "reports H100 SXM5 80GB, recorded as a100-sxm4-80gb"


def test_idle_cards_come_from_the_hourly_rollups(fleet):
    now = datetime.now(UTC)
    for minutes in (0, 10, 20):
        poller.poll_once(fleet, timeout=1.0, now=now + timedelta(minutes=minutes))
    assert reconcile.idle_cards(fleet, below_percent=5, now=now + timedelta(minutes=30)) == ["S4"]


def test_registering_a_node_checks_the_url(engine):
    with pytest.raises(UserError, match="not an http:// URL"):
        poller.add_node(engine, "n", "ftp://x/metrics", "dcgm")
    with pytest.raises(UserError, match="agent, dcgm"):
        poller.add_node(engine, "n", "http://x", "snmp")


def test_cli_nodes_poll_and_reconcile(db_url, endpoints):
    runner = CliRunner()
    agent_url, _, _ = endpoints
    local = runner.invoke(app, ["--db", db_url, "poll", "--once"])  # no nodes, no NVML here
    assert local.exit_code == 1 and "NVML not available on this host" in local.stderr
    assert (
        runner.invoke(
            app, ["--db", db_url, "nodes", "add", "node-a", "--agent", agent_url]
        ).exit_code
        == 0
    )
    listed = json.loads(runner.invoke(app, ["--db", db_url, "nodes", "list", "--json"]).stdout)
    assert listed[0]["hostname"] == "node-a" and listed[0]["telemetry_kind"] == "agent"
    polled = runner.invoke(app, ["--db", db_url, "poll", "--once"])
    assert polled.exit_code == 0 and "1 of 1 nodes answered, 3 GPUs" in polled.stdout
    found = json.loads(runner.invoke(app, ["--db", db_url, "reconcile", "--json"]).stdout)
    assert {d["kind"] for d in found} == {"unknown"} and len(found) == 3


def test_the_planner_takes_idle_cards_before_busy_ones(fleet):
    from fleetui import moves, teams

    teams.add_team(fleet, "LLM")
    with fleet.begin() as conn:
        from sqlalchemy import update

        conn.execute(update(Card).values(team_id=select(teams.team_t.c.id).scalar_subquery()))
    now = datetime.now(UTC)
    poller.poll_once(fleet, timeout=1.0, now=now)
    teams.add_team(fleet, "Search")
    plan = moves.plan_request(fleet, "Search", None, count=1, from_team="LLM", today=TODAY)
    assert [c.serial for c in plan.cards] == ["S4"]  # the idle one (1%), not S1 (97%)
    assert "then idle ones" in plan.explanation[-1]


async def test_the_telemetry_screen_polls_and_fixes_with_one_key(fleet):
    from textual.widgets import DataTable

    from fleetui import inventory
    from fleetui.app import FleetApp
    from screens.telemetry import TelemetryScreen

    app = FleetApp(fleet)
    async with app.run_test(size=(130, 50)) as pilot:
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TelemetryScreen)
        assert screen.query_one("#nodes", DataTable).row_count == 3
        assert screen.query_one("#gpus", DataTable).row_count == 4
        table = screen.query_one("#discrepancies", DataTable)
        for kind in ("moved", "unknown", "missing"):
            row = next(i for i, d in enumerate(screen.found) if d.kind == kind)
            table.focus()
            table.move_cursor(row=row)
            await pilot.press("f")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert inventory.detail(fleet, "S2").fields["node"] == "node-b"
        assert inventory.detail(fleet, "S9").fields["model"] == "H100 SXM5 80GB"
        assert inventory.detail(fleet, "S3").fields["node"] is None
        assert "missing since" in inventory.detail(fleet, "S3").fields["notes"]
        assert {d.kind for d in screen.found} == {"model"}
        actions = {
            e["action"] for s in ("S2", "S3", "S9") for e in inventory.detail(fleet, s).events
        }
        assert actions == {"reconcile.move", "reconcile.missing", "reconcile.add"}


def test_nodes_from_csv_all_or_nothing(engine, tmp_path):
    bad = tmp_path / "nodes.csv"
    bad.write_text("hostname,kind,url\nn1,agent,http://10.0.0.1:9400\nn2,snmp,http://x\n")
    with pytest.raises(UserError, match=r"Bad node rows \(row 3\)"):
        poller.add_nodes_from_csv(engine, str(bad))
    assert poller.nodes(engine) == []
    good = tmp_path / "good.csv"
    good.write_text("hostname,kind,url\nn1,agent,http://10.0.0.1:9400\nn2,dcgm,http://x:9400\n")
    assert poller.add_nodes_from_csv(engine, str(good)) == 2
    assert [n["hostname"] for n in poller.nodes(engine)] == ["n1", "n2"]


def test_poll_reads_this_hosts_gpus_when_no_node_is_registered(engine, monkeypatch):
    monkeypatch.setattr(nvml, "collect", _snapshot)
    result = poller.poll_local(engine)
    assert (result.answered, result.gpus) == (1, 3)
    from fleetui.telemetry import view

    assert {g.node for g in view.load(engine).gpus} == {"node-a"}


def test_agents_behind_a_token_answer_a_poller_that_sends_it(engine, tmp_path, monkeypatch):
    secret = "0123456789abcdef-agent"
    server = agent.make_server("127.0.0.1", 0, secret.encode(), _snapshot)
    url = _serve(server)
    try:
        poller.add_node(engine, "node-a", url, "agent")
        refused = poller.poll_once(engine, timeout=1.0)
        assert refused.answered == 0 and "HTTP 401" in refused.failed[0]
        token_file = tmp_path / "token"
        token_file.write_text(secret + "\n")
        monkeypatch.setenv("FLEETUI_AGENT_TOKEN_FILE", str(token_file))
        later = datetime.now(UTC) + timedelta(seconds=5)  # past the backoff
        assert poller.poll_once(engine, timeout=1.0, now=later).answered == 1
    finally:
        server.shutdown()
        server.server_close()


def test_gpus_reporting_placeholder_identities_are_matched_by_their_slot(engine):
    """nvidia-smi's all-zero serial and UUID (masked boards) identify no card: such GPUs are
    the cards in their node's PCI slots, never one card, never unknown."""
    zero_serial, zero_uuid = "0000000000000", "GPU-00000000-0000-0000-0000-000000000000"
    gpus = [
        nvml.GpuSample(i, name=H100, serial=zero_serial, uuid=zero_uuid, pci_bus_id=bus)
        for i, bus in enumerate(["00000000:18:00.0", "00000000:2A:00.0"])
    ]
    server = agent.make_server("127.0.0.1", 0, None, lambda: nvml.Snapshot("node-a", 0.0, gpus))
    try:
        poller.add_node(engine, "node-a", _serve(server), "agent")
        _card(engine, "S1", "node-a", "00000000:18:00.0")
        _card(engine, "S2", "node-a", "00000000:2A:00.0")
        poller.poll_once(engine, timeout=1.0)
        assert reconcile.discrepancies(engine) == []
    finally:
        server.shutdown()
        server.server_close()
