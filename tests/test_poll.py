"""Polling real loopback endpoints (a fleetui agent, a dcgm-exporter page, a dead port) into
the database, and reconciling what they report with the inventory."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pynvml
import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db.tables import Card, Event, GpuHourly, GpuModel, GpuSample, Node
from fleetui.inventory import cards as inventory
from fleetui.store import open_fleet
from fleetui.telemetry import agent, nvml, poller, reconcile, view
from tests.loopback import dead_url

H100 = "NVIDIA H100 80GB HBM3"
TODAY = date(2026, 11, 1)


def _no_driver() -> None:
    raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)


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
    """dcgm-exporter: its page at /metrics only; remembers the Authorization headers it got."""

    page = DCGM
    authorization: list[str | None] = []

    def do_GET(self):
        type(self).authorization.append(self.headers.get("Authorization"))
        if self.path != "/metrics":
            self.send_error(404)
            return
        body = self.page.encode()
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
    _Dcgm.authorization = []
    servers = [
        agent.make_server("127.0.0.1", 0, None, _snapshot),
        ThreadingHTTPServer(("127.0.0.1", 0), _Dcgm),
    ]
    dead = dead_url()
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
    assert listed["node-c"]["problem"] == result.failed[0].removeprefix("node-c: ")
    assert listed["node-a"]["problem"] == ""
    again = poller.poll_once(fleet, timeout=1.0, now=now + timedelta(seconds=1))
    assert (again.skipped, again.polled) == (1, 2)
    later = poller.poll_once(fleet, timeout=1.0, now=now + timedelta(seconds=5))
    assert later.skipped == 0 and later.polled == 3
    # a round a person asks for (`poll --once`, the Telemetry screen's `r`) asks every node
    asked = poller.poll_once(fleet, timeout=1.0, now=now + timedelta(seconds=6), back_off=False)
    assert (asked.skipped, asked.polled, asked.failed[0][:8]) == (0, 3, "node-c: ")


def test_reconciliation_lists_unknown_moved_model_and_missing(fleet):
    poller.poll_once(fleet, timeout=1.0)
    found = {(d.kind, d.serial): d for d in reconcile.discrepancies(fleet)}
    assert set(found) == {("unknown", "S9"), ("moved", "S2"), ("model", "S1"), ("missing", "S3")}
    assert found[("moved", "S2")].detail == "recorded on node-a"
    assert found[("model", "S1")].detail == "reports H100 SXM5 80GB, recorded as A100 SXM4 80GB"


def test_idle_cards_come_from_the_hourly_rollups(fleet):
    now = datetime.now(UTC)
    for minutes in (0, 10, 20):
        poller.poll_once(fleet, timeout=1.0, now=now + timedelta(minutes=minutes))
    assert reconcile.idle_cards(fleet, below_percent=5, now=now + timedelta(minutes=30)) == ["S4"]


def test_hourly_rollups_add_up_each_rounds_readings(fleet):
    """Each round adds every answering GPU's reading to its hour: samples, sums and peak."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for minutes in (0, 10, 20):
        poller.poll_once(fleet, timeout=1.0, now=hour + timedelta(minutes=minutes))
    with fleet.connect() as conn:
        latest = conn.execute(
            select(GpuSample.node_id, GpuSample.pci_bus_id, GpuSample.util_gpu, GpuSample.power_w)
        ).all()
        rolled = {
            (r.node_id, r.pci_bus_id): r
            for r in conn.execute(select(GpuHourly).where(GpuHourly.hour == hour))
        }
    assert len(latest) == 4 and len(rolled) == 4  # node-c never answered: nothing to roll up
    for node_id, bus, util, power in latest:
        found = rolled[node_id, bus]
        assert (found.samples, found.util_sum, found.util_max) == (3, 3 * util, util)
        assert found.power_sum == pytest.approx(3 * (power or 0.0))


def test_registering_a_node_checks_the_url(engine):
    with pytest.raises(UserError, match="not an http:// or https:// URL"):
        poller.add_node(engine, "n", "ftp://x/metrics", "dcgm")
    with pytest.raises(UserError, match="agent, dcgm"):
        poller.add_node(engine, "n", "http://x", "snmp")


def test_nodes_list_says_why_a_node_failed_until_it_answers(db_url, endpoints):
    """A node that stopped answering shows its reason (literally) in `nodes list` and on the
    Telemetry screen; the reason goes once it answers again."""
    agent_url, _, dead_url = endpoints
    engine = open_fleet(db_url)
    poller.add_node(engine, "node-a", dead_url, "agent")
    now = datetime.now(UTC)
    failed = poller.poll_once(engine, timeout=1.0, now=now).failed[0].removeprefix("node-a: ")
    listed = CliRunner().invoke(app, ["--db", db_url, "nodes", "list"])
    assert listed.exit_code == 0 and "Last problem" in listed.stdout
    assert " ".join(failed.split()[:3]) in " ".join(listed.stdout.split())
    assert view.load(engine).nodes[0].problem == failed
    poller.add_node(engine, "node-a", agent_url, "agent", replace=True)
    poller.poll_once(engine, timeout=1.0, now=now + timedelta(minutes=5))
    assert poller.nodes(engine)[0]["problem"] == "" == view.load(engine).nodes[0].problem
    engine.dispose()


def test_cli_nodes_poll_and_reconcile(db_url, endpoints, monkeypatch):
    runner = CliRunner()
    agent_url, _, _ = endpoints
    # no nodes registered, on a host without an NVIDIA driver (whether or not this one has it)
    monkeypatch.setattr(pynvml, "nvmlInit", _no_driver)
    local = runner.invoke(app, ["--db", db_url, "poll", "--once"])
    assert local.exit_code == 1 and "NVML not available on this host" in local.stderr
    for args in (["gpus"], ["gpus", "--json"]):  # --json exited 0, its error inside
        shown = runner.invoke(app, args)
        assert shown.exit_code == 1 and "NVML not available on this host" in shown.output, args
    assert (
        runner.invoke(
            app, ["--db", db_url, "nodes", "add", "node-a", "--agent", agent_url]
        ).exit_code
        == 0
    )
    listed = json.loads(runner.invoke(app, ["--db", db_url, "nodes", "list", "--json"]).stdout)
    assert listed[0]["hostname"] == "node-a" and listed[0]["telemetry_kind"] == "agent"
    polled = runner.invoke(app, ["--db", db_url, "poll", "--once"])
    assert polled.exit_code == 0 and "1 of 1 node answered, 3 GPUs" in polled.stdout
    found = runner.invoke(app, ["--db", db_url, "reconcile", "--json"])
    assert found.exit_code == 1  # discrepancies listed, as `db check` does with problems
    assert {d["kind"] for d in json.loads(found.stdout)} == {"unknown"}
    assert len(json.loads(found.stdout)) == 3


def test_when_every_node_and_store_refused_nothing_is_claimed(db_url, endpoints):
    """A round where nothing answered fails (exit 1), and reconcile then compares nothing: it
    says so (exit 2) instead of "Telemetry and the inventory agree"."""
    runner = CliRunner()
    _, _, dead_url = endpoints

    def cli(*args: str):
        return runner.invoke(app, ["--db", db_url, *args])

    assert cli("nodes", "add", "node-c", "--agent", dead_url).exit_code == 0
    assert cli("sources", "add", "prom", "--prometheus", dead_url).exit_code == 0
    polled = cli("poll", "--once")
    assert polled.exit_code == 1 and "0 of 1 node answered, 0 of 1 store" in polled.stdout
    assert "node-c: " in polled.stderr and "store prom: " in polled.stderr
    said = (
        "fleetui: No node or metrics store answered its last poll, so nothing was compared; "
        "`fleetui nodes list` and `fleetui sources list` show why, `fleetui poll --once` polls "
        "them again.\n"
    )
    for args in (["reconcile"], ["reconcile", "--json"], ["reconcile", "fix", "--all"]):
        result = cli(*args)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", said)
    again = cli("poll", "--once")  # as the sentence says: within their back-off, asked again
    assert again.exit_code == 1 and "backing off" not in again.stdout
    assert "node-c: " in again.stderr and "store prom: " in again.stderr


def test_a_dcgm_url_works_with_or_without_its_metrics_page(db_url, endpoints, tmp_path):
    """People copy dcgm-exporter's URL with /metrics; the poller adds the page itself. A token
    file given to one node (here a dcgm-exporter behind a proxy) goes to that node only."""
    runner = CliRunner()
    _, dcgm_url, _ = endpoints
    token = _secret(tmp_path, "proxy", "0123456789abcdef-proxy")
    for host, url, extra in (
        ("node-b", f"{dcgm_url}/metrics", ["--token-file", token]),
        ("node-d", f"{dcgm_url}/", []),
    ):
        added = runner.invoke(app, ["--db", db_url, "nodes", "add", host, "--dcgm", url, *extra])
        assert added.exit_code == 0, added.output
    refused = runner.invoke(
        app, ["--db", db_url, "nodes", "add", "node-e", "--dcgm", dcgm_url, "--token-file", "nope"]
    )
    assert refused.exit_code == 1 and "Cannot read the token file" in refused.stderr
    listed = json.loads(runner.invoke(app, ["--db", db_url, "nodes", "list", "--json"]).stdout)
    assert {n["telemetry_url"] for n in listed} == {dcgm_url} and len(listed) == 2
    polled = runner.invoke(app, ["--db", db_url, "poll", "--once"])
    assert "2 of 2 nodes answered, 2 GPUs" in polled.stdout, polled.output
    assert sorted(_Dcgm.authorization, key=str) == ["Bearer 0123456789abcdef-proxy", None]


@pytest.mark.parametrize("flag", ["--agent", "--dcgm"])
def test_an_empty_telemetry_url_is_refused_as_given(db_url, flag):
    """An empty --agent is a URL given, not a missing one: it is refused as the empty text it
    is (it once reached the service as None, a dcgm node without a URL), and adds no node."""
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db_url, "db", "upgrade"]).exit_code == 0  # an empty fleet
    refused = runner.invoke(app, ["--db", db_url, "nodes", "add", "node-x", flag, ""])
    assert refused.exit_code == 1
    assert refused.stderr.strip() == ("fleetui: '' is not an http:// or https:// URL.")
    listed = runner.invoke(app, ["--db", db_url, "nodes", "list", "--json"])
    assert json.loads(listed.stdout) == []


def test_reconcile_fix_is_the_screens_f_from_the_cli(fleet, db_url):
    runner = CliRunner()
    poller.poll_once(fleet, timeout=1.0)

    def cli(*args):
        return runner.invoke(app, ["--db", db_url, *args])

    moved = cli("reconcile", "fix", "S2", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)[0]["done"] == "Card S2 is now recorded on node-b."
    assert cli("reconcile", "fix", "NO-SUCH").exit_code == 1
    assert cli("reconcile", "fix").exit_code == 1  # neither a serial nor --all
    rest = cli("reconcile", "fix", "--all")
    assert rest.exit_code == 1  # the model mismatch needs a person
    assert "Card S9 (H100 SXM5 80GB) added on node-a." in rest.stdout
    assert "model S1: A model mismatch needs a person" in rest.stdout
    left = cli("reconcile", "--json")
    assert left.exit_code == 1 and [d["kind"] for d in json.loads(left.stdout)] == ["model"]
    assert inventory.detail(fleet, "S3", settings=Config()).fields["node"] is None
    actions = {
        e["action"]
        for s in ("S2", "S3", "S9")
        for e in inventory.detail(fleet, s, settings=Config()).events
    }
    assert actions == {"reconcile.move", "reconcile.missing", "reconcile.add"}
    added = json.loads(cli("history", "--json").stdout)[0]  # the newest: S9's
    assert (added["action"], added["summary"]) == ("reconcile.add", "S9")  # not "S9: "


def test_reconcile_with_nothing_registered_says_to_register_and_poll_refuses_a_zero_interval(
    engine, db_url
):
    runner = CliRunner()
    said = runner.invoke(app, ["--db", db_url, "reconcile"])
    assert said.exit_code == 2
    assert said.stderr == (
        "fleetui: No node or metrics store is registered, so nothing was compared; "
        "`fleetui nodes add` or `fleetui sources add` registers them.\n"
    )
    for interval in ("0", "-1"):  # a loop that never waits would hammer every node and store
        refused = runner.invoke(app, ["--db", db_url, "poll", "--interval", interval])
        assert refused.exit_code == 2 and "--interval" in refused.stderr
        assert "Traceback" not in refused.output


def test_a_reconcile_fix_names_its_batch_and_undo_takes_it_back(fleet, db_url):
    """Like every other CLI write, a fix says its batch and the command that undoes it."""
    runner = CliRunner()
    poller.poll_once(fleet, timeout=1.0)

    def cli(*args):
        return runner.invoke(app, ["--db", db_url, *args])

    moved = cli("reconcile", "fix", "S2")
    assert moved.exit_code == 0, moved.output
    said, hint = moved.stdout.strip().split(" Batch ")
    assert said == "Card S2 is now recorded on node-b."
    batch = hint.split()[0]
    assert f"(undo: fleetui undo {batch})" in moved.stdout
    assert inventory.detail(fleet, "S2", settings=Config()).fields["node"] == "node-b"
    assert cli("undo", batch).exit_code == 0
    assert inventory.detail(fleet, "S2", settings=Config()).fields["node"] != "node-b"
    fixed = json.loads(cli("reconcile", "fix", "S2", "--json").stdout)[0]
    assert fixed["batch"] == json.loads(cli("history", "--json").stdout)[0]["batch_id"]


def test_a_cards_history_is_the_same_in_the_cli_and_the_tui(fleet, db_url):
    """Keyed by card: another (deleted) card's events under the same serial belong to neither."""
    poller.poll_once(fleet, timeout=1.0)
    with fleet.begin() as conn:
        conn.execute(
            insert(Event).values(
                action="import.create", actor="x", card_id=99999, serial="S2", batch_id="b" * 36
            )
        )
    reconcile.fix(fleet, reconcile.matching(reconcile.discrepancies(fleet), "S2")[0])
    shown = CliRunner().invoke(app, ["--db", db_url, "history", "--card", "S2", "--json"])
    assert [e["id"] for e in json.loads(shown.stdout)] == [
        e["id"] for e in inventory.detail(fleet, "S2", settings=Config()).events
    ]
    assert len(json.loads(shown.stdout)) == 1


def test_the_planner_takes_idle_cards_before_busy_ones(fleet):
    from fleetui.allocation import moves, teams

    teams.add_team(fleet, "LLM")
    with fleet.begin() as conn:
        from sqlalchemy import update

        conn.execute(update(Card).values(team_id=select(teams.team_t.c.id).scalar_subquery()))
    now = datetime.now(UTC)
    poller.poll_once(fleet, timeout=1.0, now=now)
    teams.add_team(fleet, "Search")
    plan = moves.plan_request(
        fleet, "Search", None, count=1, from_team="LLM", today=TODAY, settings=Config()
    )
    assert [c.serial for c in plan.cards] == ["S4"]  # the idle one (1%), not S1 (97%)
    assert "1 of 1 card is idle." in plan.explanation


async def test_the_telemetry_screen_polls_and_fixes_after_asking(fleet):
    from textual.widgets import DataTable, Static

    from fleetui.app import FleetApp
    from fleetui.screens.dialogs import Confirm
    from fleetui.screens.telemetry import TelemetryScreen

    app = FleetApp(fleet)
    async with app.run_test(size=(130, 50)) as pilot:
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TelemetryScreen)
        assert screen.query_one("#nodes", DataTable).row_count == 3
        assert screen.query_one("#gpus", DataTable).row_count == 4
        status = str(screen.query_one("#telemetry-status", Static).content)
        assert "2 of 3 nodes answered, 4 GPUs; 1 failed: node-c: " in status
        table = screen.query_one("#discrepancies", DataTable)
        for kind in ("moved", "unknown", "missing"):
            row = next(i for i, d in enumerate(screen.found) if d.kind == kind)
            table.focus()
            table.move_cursor(row=row)
            await pilot.press("f")
            await pilot.pause()
            assert isinstance(app.screen, Confirm), "a fix asks before it writes"
            if kind == "moved":
                await pilot.press("n")
                await app.workers.wait_for_complete()
                assert inventory.detail(fleet, "S2", settings=Config()).fields["node"] != "node-b"
                await pilot.press("f")
                await pilot.pause()
            await pilot.press("y")
            for _ in range(3):  # the fix, the FleetChanged it posts, the reload that starts
                await app.workers.wait_for_complete()
                await pilot.pause()
        assert inventory.detail(fleet, "S2", settings=Config()).fields["node"] == "node-b"
        assert inventory.detail(fleet, "S9", settings=Config()).fields["model"] == "H100 SXM5 80GB"
        assert inventory.detail(fleet, "S3", settings=Config()).fields["node"] is None
        assert "missing since" in inventory.detail(fleet, "S3", settings=Config()).fields["notes"]
        assert {d.kind for d in screen.found} == {"model"}
        actions = {
            e["action"]
            for s in ("S2", "S3", "S9")
            for e in inventory.detail(fleet, s, settings=Config()).events
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


def test_a_round_replaces_each_nodes_samples_whole(engine, monkeypatch):
    """After a round a node's samples are what it said, whatever it said before: a GPU seen
    again keeps only this round's readings (one it no longer reports is cleared), a slot whose
    card was swapped shows the new card, a GPU gone is gone and a new one is there."""
    first, second = _snapshot(), _snapshot()
    kept, swapped, gone = second.gpus
    kept.util_gpu, kept.power_w = 12, None  # no power reading this time
    swapped.serial, swapped.uuid, swapped.util_gpu, swapped.power_w = "S7", "GPU-7", 50, 300.0
    second.gpus = [
        kept,
        swapped,
        replace(
            gone, serial="S5", uuid="GPU-5", util_gpu=5, power_w=None, pci_bus_id="00000000:5D:00.0"
        ),
    ]  # 3A gone, 5D new
    snapshots = iter([first, second])
    monkeypatch.setattr(nvml, "collect", lambda: next(snapshots))
    poller.poll_local(engine)
    poller.poll_local(engine)
    s = GpuSample
    with engine.connect() as conn:
        found = conn.execute(
            select(s.pci_bus_id, s.serial, s.uuid, s.util_gpu, s.power_w).order_by(s.pci_bus_id)
        ).all()
    assert [tuple(r) for r in found] == [
        ("00000000:18:00.0", "S1", "GPU-1", 12.0, None),
        ("00000000:2A:00.0", "S7", "GPU-7", 50.0, 300.0),
        ("00000000:5D:00.0", "S5", "GPU-5", 5.0, None),
    ]


def _secret(tmp_path, name: str, token: str) -> str:
    path = tmp_path / name
    path.write_text(token + "\n")
    return str(path)


def test_each_node_gets_only_its_own_token(engine, endpoints, tmp_path, monkeypatch):
    """node-a has its own token file; node-c, an agent without one, gets the default file's;
    node-b, a dcgm-exporter without one, gets no token at all."""
    _, dcgm_url, _ = endpoints
    own, default = "0123456789abcdef-node-a", "fedcba9876543210-default"
    servers = [
        agent.make_server("127.0.0.1", 0, own.encode(), _snapshot),
        agent.make_server("127.0.0.1", 0, default.encode(), _snapshot),
    ]
    urls = [_serve(s) for s in servers]
    try:
        monkeypatch.setenv(poller.TOKEN_ENV, _secret(tmp_path, "default", default))
        poller.add_node(engine, "node-a", urls[0], "agent", _secret(tmp_path, "a", own))
        poller.add_node(engine, "node-b", dcgm_url, "dcgm")
        poller.add_node(engine, "node-c", urls[1], "agent")
        result = poller.poll_once(engine, timeout=1.0)
        assert (result.answered, result.failed) == (3, [])
        assert _Dcgm.authorization == [None]
        listed = {n["hostname"]: n for n in poller.nodes(engine)}
        assert listed["node-a"]["token_file"] == str(tmp_path / "a")  # the path, not the token
        assert own not in json.dumps([str(v) for n in listed.values() for v in n.values()])
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_bad_token_file_is_one_sentence(engine, tmp_path):
    with pytest.raises(UserError, match=r"Cannot read the token file .*missing"):
        poller.add_node(engine, "n", "http://x:9400", "agent", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="one token of visible characters"):
        poller.add_node(
            engine, "n", "http://x:9400", "agent", _secret(tmp_path, "t", "a b\r\nX: y")
        )
    assert poller.nodes(engine) == []


def _bad_gpu(**values) -> nvml.Snapshot:
    snap = _snapshot()
    for name, value in values.items():
        setattr(snap.gpus[0], name, value)
    return snap


@pytest.mark.parametrize(
    "kind, page, why",
    [
        ("agent", _bad_gpu(util_gpu="97%"), "util_gpu '97%', not a number"),
        ("agent", _bad_gpu(serial="S" * 80), "serial of 80 characters (at most 64 fit)"),
        ("agent", _bad_gpu(power_w=float("inf")), "power_w 'inf', not a number"),
        ("agent", _bad_gpu(pci_bus_id="00000000:2A:00.0"), "bus id 00000000:2A:00.0 twice"),
        ("agent", _bad_gpu(name=[[[]]] * 3), "a GPU's name is '[[[]], [[]], [[]]]', not text"),
        ("dcgm", DCGM.replace("} 55", "} busy"), "DCGM_FI_DEV_GPU_UTIL is 'busy', not a number"),
        ("dcgm", DCGM.replace('"S2"', '"' + "7" * 70 + '"'), "serial of 70 characters"),
    ],
    ids=[
        "text-reading",
        "long-serial",
        "infinite",
        "bus-twice",
        "list-name",
        "dcgm-text",
        "dcgm-long-serial",
    ],
)
def test_one_bad_node_does_not_stop_the_poll(engine, endpoints, kind, page, why):
    """The good node's readings are stored; the bad one is reported in a sentence, not stored."""
    from fleetui.telemetry import view

    good_url, _, _ = endpoints
    if kind == "agent":
        server = agent.make_server("127.0.0.1", 0, None, lambda: page)
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), type("Bad", (_Dcgm,), {"page": page}))
    try:
        poller.add_node(engine, "good", good_url, "agent")
        poller.add_node(engine, "bad", _serve(server), kind)
        result = poller.poll_once(engine, timeout=1.0)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.answered, result.gpus) == (1, 3)
    assert result.failed == [f"bad: {result.failed[0][5:]}"] and why in result.failed[0]
    assert result.failed[0].endswith("; nothing stored from it")
    assert {g.node for g in view.load(engine).gpus} == {"good"}


def test_an_agent_without_nvml_is_stale_not_empty(engine, endpoints):
    """Its cards are neither seen (from old readings) nor missing."""
    snap = {"now": _snapshot()}
    server = agent.make_server("127.0.0.1", 0, None, lambda: snap["now"])
    try:
        poller.add_node(engine, "node-a", _serve(server), "agent")
        _card(engine, "S1", "node-a", "00000000:18:00.0")
        _card(engine, "S7", "node-a", "00000000:9A:00.0")
        now = datetime.now(UTC)
        poller.poll_once(engine, timeout=1.0, now=now)
        assert {(d.kind, d.serial) for d in reconcile.discrepancies(engine)} == {
            ("unknown", "S9"),
            ("unknown", "S4"),
            ("missing", "S7"),
        }
        snap["now"] = nvml.Snapshot("node-a", 0.0, error="NVML not available on this host")
        later = poller.poll_once(engine, timeout=1.0, now=now + timedelta(minutes=1))
    finally:
        server.shutdown()
        server.server_close()
    assert later.answered == 0
    assert later.failed == [
        "node-a: its agent says: NVML not available on this host; nothing stored from it"
    ]
    assert reconcile.discrepancies(engine) == []


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


def test_nodes_list_with_none_registered_says_how_to_register_one(engine):
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--db", url, "nodes", "list"])
    assert result.exit_code == 0 and result.stdout == ""
    assert "No node is registered for telemetry: `fleetui nodes add HOST" in result.stderr


def test_a_node_holding_cards_can_stop_being_polled_and_keeps_its_cards(fleet, db_url):
    """`nodes remove` refuses a node that holds cards; `nodes unwatch` stops polling it, its
    readings go, the node and its cards stay."""

    def cli(*args: str):
        return CliRunner().invoke(app, ["--db", db_url, *args])

    poller.poll_once(fleet, timeout=2.0)
    assert cli("nodes", "remove", "node-a").exit_code == 1
    done = cli("nodes", "unwatch", "NODE-A")
    assert done.exit_code == 0 and done.stdout == "Node NODE-A is no longer polled.\n"
    assert "node-a" not in {n["hostname"] for n in poller.nodes(fleet)}
    with fleet.connect() as conn:
        node = conn.execute(select(Node.id).where(Node.hostname == "node-a")).scalar_one()
        assert conn.execute(select(GpuSample.id).where(GpuSample.node_id == node)).first() is None
        held = conn.execute(select(Card.serial).where(Card.node_id == node)).scalars().all()
    assert sorted(held) == ["S1", "S2", "S3", "S4"]
    again = cli("nodes", "unwatch", "node-a")
    assert again.exit_code == 1 and "Node node-a is not polled; nothing changed." in again.stderr
    missing = cli("nodes", "unwatch", "nowhere")
    assert missing.exit_code == 1 and "There is no node 'nowhere'" in missing.stderr


def test_a_gpu_reporting_no_serial_shows_its_cards_serial_found_by_uuid(engine):
    """dcgm-exporter sends no serial unless set to: the Telemetry screen's GPUs all read "-"
    and only the sick list told which card was which (a trial)."""
    from tests.loopback import serving

    labels = f'modelName="{H100}",Hostname="node-d"'
    page = (
        f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="GPU-77",pci_bus_id="00000000:18:00.0",{labels}}} 5\n'
        f'DCGM_FI_DEV_GPU_UTIL{{gpu="1",UUID="GPU-78",pci_bus_id="00000000:2A:00.0",{labels}}} 7\n'
    )
    with engine.begin() as conn:
        model_id = conn.execute(select(GpuModel.id).where(GpuModel.key == "h100-sxm5-80gb"))
        conn.execute(insert(Card).values(serial="S77", uuid="GPU-77", model_id=model_id.scalar()))
    with serving(page) as url:
        poller.add_node(engine, "node-d", url, "dcgm")
        assert poller.poll_once(engine, timeout=2.0).answered == 1
    shown = {g.pci_bus_id: g.serial for g in view.load(engine).gpus}
    assert shown == {"00000000:18:00.0": "S77", "00000000:2A:00.0": None}
