"""GPU health as NVIDIA documents it, sick cards to RMA, and fleetui's own /metrics: real
dcgm-exporter pages and a real agent on loopback, the real pynvml module stubbed per device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pynvml
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, select, text, update
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Status
from fleetui.db.tables import Card, Event, GpuModel, GpuSample, HealthEvent, Node, Project, Team
from fleetui.lifecycle import repairs
from fleetui.telemetry import agent, exporter, health, nvml, poller
from fleetui.telemetry.xidlog import XidLog, bus_key
from tests.loopback import dead_url
from tests.test_telemetry import ByArgs, _from_capture, fake_nvml, h100, lost  # noqa: F401

H100 = "NVIDIA H100 80GB HBM3"
TODAY = date(2026, 11, 1)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _labels(index: int, serial: str) -> str:
    """dcgm-exporter's label set for one GPU (3.x, with the serial added by its config)."""
    return (
        f'gpu="{index}",UUID="GPU-{index:08d}-1111-2222-3333-444444444444",'
        f'pci_bus_id="00000000:{0x18 + index:02X}:00.0",device="nvidia{index}",'
        f'modelName="{H100}",Hostname="gpu-node-7",DCGM_FI_DRIVER_VERSION="550.54.15",'
        f'DCGM_FI_DEV_SERIAL="{serial}"'
    )


def dcgm_page(xid79: bool = True, ecc: bool = True) -> str:
    """GPU 0: Xid 79 at 91 °C; GPU 1: hot (91 °C) and healthy; GPU 2: a row remap pending and
    hardware thermal slowdown; GPU 3: double-bit ECC errors (none without `ecc`)."""
    rows = {
        "DCGM_FI_DEV_GPU_TEMP": [91, 91, 84, 60],
        "DCGM_FI_DEV_GPU_UTIL": [0, 100, 97, 40],
        "DCGM_FI_DEV_XID_ERRORS": [79 if xid79 else 0, 0, 0, 0],
        "DCGM_FI_DEV_ROW_REMAP_PENDING": [0, 0, 1, 0],
        "DCGM_FI_DEV_ROW_REMAP_FAILURE": [0, 0, 0, 0],
        "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": [0, 1, 0x40 | 0x1, 1],
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": [0, 0, 0, 2 if ecc else 0],
        "DCGM_FI_DEV_RETIRED_DBE": [0, 0, 0, 0],
        "DCGM_FI_DEV_RETIRED_PENDING": [0, 0, 0, 0],
    }
    lines = []
    for field, values in rows.items():
        lines += [f"# HELP {field} DCGM field.", f"# TYPE {field} gauge"]
        for index, value in enumerate(values):
            extra = ""
            if field == "DCGM_FI_DEV_XID_ERRORS" and value:
                extra = f',err_code="{value}",err_msg="Graphics Engine Exception"'
            lines.append(f"{field}{{{_labels(index, f'S-{index}')}{extra}}} {value}")
    return "\n".join(lines) + "\n"


class _Exporter(BaseHTTPRequestHandler):
    page = dcgm_page()

    def do_GET(self):
        body = type(self).page.encode()
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
def dcgm_node(engine):
    _Exporter.page = dcgm_page()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    poller.add_node(engine, "gpu-node-7", _serve(server), "dcgm")
    yield engine
    server.shutdown()
    server.server_close()


def _team(engine, name: str, project: str) -> tuple[int, int]:
    with engine.begin() as conn:
        team = conn.execute(insert(Team).values(name=name)).inserted_primary_key[0]
        proj = conn.execute(insert(Project).values(team_id=team, name=project))
        return team, proj.inserted_primary_key[0]


def _card(engine, serial: str, node: str | None, bus: str | None, **values) -> None:
    with engine.begin() as conn:
        node_id = conn.execute(select(Node.id).where(Node.hostname == node)).scalar()
        model_id = conn.execute(select(GpuModel.id).where(GpuModel.key == "h100-sxm5-80gb"))
        conn.execute(
            insert(Card).values(
                serial=serial,
                model_id=model_id.scalar(),
                node_id=node_id,
                pci_bus_id=bus,
                **values,
            )
        )


def _bus(index: int) -> str:
    return f"00000000:{0x18 + index:02X}:00.0"


@pytest.fixture
def sick_fleet(dcgm_node):
    team, project = _team(dcgm_node, "LLM", "pretrain")
    for index in range(4):
        _card(
            dcgm_node,
            f"S-{index}",
            "gpu-node-7",
            _bus(index),
            team_id=team,
            project_id=project,
            supplier="Inspur",
            purchase_date=date(2025, 3, 1),
            warranty_end=date(2028, 3, 1),
            price_minor=2_500_000_00,
            currency="USD",
        )
    return dcgm_node


# ---------------------------------------------------------------- item 3: evidence and actions


def test_an_xid_79_at_91_degrees_is_a_node_to_reboot_not_ok(sick_fleet):
    """dcgm-exporter reporting Xid 79 on a hot GPU: before, only ECC counts were read and the
    card showed ok; now it needs a reboot, as NVIDIA's catalogue says, and a hot GPU with no
    evidence stays ok."""
    assert poller.poll_once(sick_fleet, timeout=2.0, now=NOW).answered == 1
    with sick_fleet.connect() as conn:
        flags = dict(conn.execute(select(GpuSample.pci_bus_id, GpuSample.health)).all())
    assert flags[_bus(0)] == "Xid 79: GPU has fallen off the bus (reboot the node)"
    assert flags[_bus(1)] == ""  # 91 °C is no evidence by itself
    sick = {c.serial: c for c in health.sick_cards(sick_fleet, Config(), TODAY)}
    assert set(sick) == {"S-0", "S-2", "S-3"}
    xid = sick["S-0"]
    assert (xid.action, xid.state, xid.team, xid.node, xid.supplier, xid.warranty) == (
        "reboot_node",
        "needs reboot",
        "LLM",
        "gpu-node-7",
        "Inspur",
        "active",
    )
    assert sick["S-2"].action == "inspect" and sick["S-2"].evidence == [
        "throttled: hw_thermal_slowdown (inspect the card; RMA it)",
        "row remapping pending a reset (reset the GPU)",
    ]
    assert sick["S-3"].action == "reset_gpu"
    assert sick["S-3"].evidence == ["uncorrectable ECC errors (reset the GPU)"]


def test_evidence_keeps_when_and_how_often_and_a_recurring_xid_79_is_an_rma(sick_fleet):
    """The Xid goes away and comes back: one piece of evidence with its first and last sighting,
    two occurrences, and NVIDIA's investigatory action (contact support) makes it an RMA."""
    poller.poll_once(sick_fleet, timeout=2.0, now=NOW)
    _Exporter.page = dcgm_page(xid79=False)
    poller.poll_once(sick_fleet, timeout=2.0, now=NOW + timedelta(minutes=1))
    assert "S-0" not in {c.serial for c in health.sick_cards(sick_fleet, Config(), TODAY)}
    _Exporter.page = dcgm_page()
    later = NOW + timedelta(minutes=2)
    poller.poll_once(sick_fleet, timeout=2.0, now=later)
    again = {c.serial: c for c in health.sick_cards(sick_fleet, Config(), TODAY)}["S-0"]
    assert again.action == "inspect"
    assert again.evidence == [
        "Xid 79: GPU has fallen off the bus, 2 times (inspect the card; RMA it)"
    ]
    with sick_fleet.connect() as conn:
        card_id = conn.execute(select(Card.id).where(Card.serial == "S-0")).scalar()
    (event,) = health.timeline(sick_fleet, card_id)
    assert (event["kind"], event["code"], event["occurrences"], event["active"]) == (
        "xid",
        79,
        2,
        True,
    )
    assert event["first_seen"].startswith("2026-11-01T12:00") and event["last_seen"].startswith(
        "2026-11-01T12:02"
    )
    assert event["nvidia"]["immediate"] == "RESTART_BM"


def _cli(db_url: str, *args: str):
    result = CliRunner().invoke(app, ["--db", db_url, *args])
    assert result.exit_code in (0, 1), result.output
    return result


def _second_registration(engine, db_url: str) -> None:
    """Node 'other' registered at gpu-node-7's dcgm-exporter page, as a new user did."""
    with engine.connect() as conn:
        url = conn.execute(
            select(Node.telemetry_url).where(Node.hostname == "gpu-node-7")
        ).scalar_one()
    assert _cli(db_url, "nodes", "add", "other", "--dcgm", url).exit_code == 0


def test_a_gpu_two_registered_nodes_report_is_one_sick_card(sick_fleet, db_url):
    """Two nodes at one exporter page: each sick card is listed, counted and exported once,
    under its worst action, where it was reported last; reconcile shows the second report."""
    _second_registration(sick_fleet, db_url)
    for minutes in range(3):  # Xid 79 comes back: an RMA
        _Exporter.page = dcgm_page(xid79=minutes != 1)
        poller.poll_once(sick_fleet, timeout=2.0, now=NOW + timedelta(minutes=minutes))
    listed = json.loads(_cli(db_url, "health", "--json", "--today", "2026-11-01").stdout)
    assert [(c["serial"], c["action"], c["node"]) for c in listed] == [
        ("S-0", "inspect", "other"),
        ("S-2", "inspect", "other"),
        ("S-3", "reset_gpu", "other"),
    ]
    shown = _cli(db_url, "health", "--today", "2026-11-01").stdout
    assert "3 cards needing a hand" in shown
    sick = {k: v for k, v in _scraped(sick_fleet).items() if k[0] == "fleetui_cards_sick"}
    assert sick == {
        ("fleetui_cards_sick", (("action", "inspect"), ("team", "LLM"))): 2,
        ("fleetui_cards_sick", (("action", "reset_gpu"), ("team", "LLM"))): 1,
    }
    moved = json.loads(_cli(db_url, "reconcile", "--json").stdout)
    assert {(d["kind"], d["node"]) for d in moved} == {("moved", "other")}


def test_a_removed_node_takes_its_readings_and_health_evidence_along(sick_fleet, db_url, tmp_path):
    """README: remove a node holding no cards, its readings go with it. A GPU only it
    reported leaves the health list; a card another node reports keeps its evidence, now at
    that node; the count of sick cards in hand counts cards."""
    _second_registration(sick_fleet, db_url)
    lone = type("_Lone", (_Exporter,), {"page": dcgm_page().replace("S-", "X-")})
    lone.page = lone.page.replace("GPU-0000", "GPU-9999")
    server = ThreadingHTTPServer(("127.0.0.1", 0), lone)
    try:
        assert _cli(db_url, "nodes", "add", "lone", "--dcgm", _serve(server)).exit_code == 0
        poller.poll_once(sick_fleet, timeout=2.0, now=NOW)
    finally:
        server.shutdown()
        server.server_close()
    edited = _cli(db_url, "edit", "S-3", "--status", "repair", "--reason", "RMA", "--yes")
    assert edited.exit_code == 0, edited.output
    listed = json.loads(_cli(db_url, "health", "--all", "--json", "--today", "2026-11-01").stdout)
    assert {c["serial"] for c in listed} == {"S-0", "S-2", "S-3", "X-0", "X-2", "X-3"}
    for host in ("other", "lone"):
        assert _cli(db_url, "nodes", "remove", host).exit_code == 0
    listed = json.loads(_cli(db_url, "health", "--all", "--json", "--today", "2026-11-01").stdout)
    assert [(c["serial"], c["node"]) for c in listed] == [
        ("S-2", "gpu-node-7"),
        ("S-0", "gpu-node-7"),
        ("S-3", "gpu-node-7"),
    ]
    shown = _cli(db_url, "health", "--today", "2026-11-01")
    assert "1 sick card in repair or retired not listed (--all lists them)." in shown.stderr
    assert "2 cards needing a hand" in shown.stdout
    packet = tmp_path / "rma-S-2.md"
    assert _cli(db_url, "rma", "S-2", "--out", str(packet)).exit_code == 0
    assert f"gpu-node-7 {_bus(2)}: row remapping pending a reset" in packet.read_text("utf-8")
    with sick_fleet.connect() as conn:
        nodes = set(conn.execute(select(HealthEvent.node_id).distinct()).scalars())
        kept = set(conn.execute(select(Node.id)).scalars())
    assert nodes <= kept


def test_health_evidence_follows_a_gpu_moved_to_another_slot(sick_fleet, db_url, tmp_path):
    """Card S-3's double-bit ECC errors came twice (an RMA); moved to another slot, it keeps
    that evidence, seen at the new slot, in the list and in its RMA packet."""
    for minutes, ecc in enumerate((True, False, True)):
        _Exporter.page = dcgm_page(ecc=ecc)
        poller.poll_once(sick_fleet, timeout=2.0, now=NOW + timedelta(minutes=minutes))
    _Exporter.page = dcgm_page().replace(_bus(3), "00000000:9A:00.0")
    poller.poll_once(sick_fleet, timeout=2.0, now=NOW + timedelta(minutes=3))
    sick = {c.serial: c for c in health.sick_cards(sick_fleet, Config(), TODAY)}["S-3"]
    assert (sick.action, sick.pci_bus_id) == ("inspect", "00000000:9A:00.0")
    assert sick.evidence == ["uncorrectable ECC errors, 2 times (inspect the card; RMA it)"]
    packet = tmp_path / "rma-S-3.md"
    assert _cli(db_url, "rma", "S-3", "--out", str(packet)).exit_code == 0
    timeline = [x for x in packet.read_text("utf-8").splitlines() if x.startswith("- 2026-11")]
    assert timeline == [
        "- 2026-11-01T12:00:00+00:00 to 2026-11-01T12:03:00+00:00, gpu-node-7 00000000:9A:00.0: "
        "uncorrectable ECC errors, 2 times (inspect the card; RMA it); kind ecc_dbe, code 0, "
        "value 2.0, 2 occurrences"
    ]


def test_upgrading_keeps_one_piece_of_evidence_per_gpu_and_drops_removed_nodes(db_url):
    """Schema 0016 kept evidence per slot: a GPU seen at two slots becomes one piece of evidence
    (first sighting, most occurrences, worst action, where it was seen last); that of a node
    removed since goes."""
    from alembic import command

    from fleetui.db.engine import make_engine, resolve_url
    from fleetui.db.migrate import _alembic_config, migrating
    from fleetui.store import open_fleet

    url = resolve_url(db_url)
    old = make_engine(url)
    cfg = _alembic_config()
    columns = "node_id, pci_bus_id, uuid, kind, code, action, occurrences, first_seen, last_seen"
    with migrating(old, url) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0016")
        conn.execute(text("INSERT INTO node (id, hostname, rack) VALUES (1, 'n1', '')"))
        for values in (
            "1, '00000000:18:00.0', 'GPU-A', 'ecc_dbe', 0, 'inspect', 2, '2026-11-01 12:00', "
            "'2026-11-01 12:01', false",
            "1, '00000000:9A:00.0', 'GPU-A', 'ecc_dbe', 0, 'reset_gpu', 1, '2026-11-01 12:02', "
            "'2026-11-01 12:03', true",
            "99, '00000000:18:00.0', 'GPU-B', 'xid', 79, 'reboot_node', 1, '2026-11-01 12:00', "
            "'2026-11-01 12:03', true",
        ):
            conn.execute(text(f"INSERT INTO health_event ({columns}, active) VALUES ({values})"))
    old.dispose()
    engine = open_fleet(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                HealthEvent.gpu,
                HealthEvent.pci_bus_id,
                HealthEvent.action,
                HealthEvent.occurrences,
                HealthEvent.first_seen,
                HealthEvent.active,
            )
        ).all()
    engine.dispose()
    assert [(r.gpu, r.pci_bus_id, r.action, r.occurrences, r.active) for r in rows] == [
        ("GPU-A", "00000000:9A:00.0", "inspect", 2, True)
    ]
    assert rows[0].first_seen.replace(tzinfo=None) == datetime(2026, 11, 1, 12, 0)


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (13, "restart_app"),
        (31, "restart_app"),
        (32, "restart_app"),
        (43, "none"),
        (45, "none"),
        (48, "reset_gpu"),
        (61, "inspect"),
        (62, "reset_gpu"),
        (63, "none"),
        (64, "reset_gpu"),
        (68, "restart_app"),
        (69, "restart_app"),
        (74, "reset_gpu"),
        (79, "reboot_node"),
        (92, "none"),
        (94, "restart_app"),
        (95, "reset_gpu"),
        (119, "reset_gpu"),
        (120, "reset_gpu"),
        (140, "reset_gpu"),
        (999, "inspect"),  # not in the catalogue: NVIDIA's CONTACT_SUPPORT
    ],
)
def test_the_xid_catalogue_gives_nvidias_action(code, action):
    catalogue = health.catalogue()
    assert (
        catalogue.source == "https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html"
    )
    assert catalogue.version and catalogue.retrieved
    assert catalogue.xid(code).action == action
    assert {row.action for row in catalogue.xids.values()} <= set(health.ACTIONS)


# ---------------------------------------------------------------- the agent: NVML and kernel log


def _xid_line(bus: str, code: int) -> str:
    domain, number, rest = bus.split(":")
    return (
        f"Nov 01 11:59:58 gpu-node-1 kernel: NVRM: Xid (PCI:{int(domain, 16):04x}:{number}:"
        f"{rest.split('.')[0]}): {code}, pid='<unknown>', name=<unknown>, GPU has fallen off "
        "the bus.\n"
    )


def test_the_kernel_log_gives_each_gpu_its_last_xid_and_count(tmp_path):
    log = tmp_path / "kern.log"
    log.write_text(
        "Nov 01 11:00:00 gpu-node-1 kernel: eth0: link up\n"
        "[  966.5] NVRM: Xid (0000:3a:00): 13, Graphics Exception: ESR 0x505648=0x0\n"
        + _xid_line("00000000:18:00.0", 79)
        + "NVRM: Xid (PCI:0000:18:00): 4"  # a line still being written
    )
    xids = XidLog(str(log))
    assert xids.read() == {bus_key("00000000:18:00.0"): (79, 1), bus_key("0000:3A:00"): (13, 1)}
    with log.open("a") as f:
        f.write("8, pid=1, Double Bit ECC Error\n")
    assert xids.read()[bus_key("00000000:18:00.0")] == (48, 2)  # read once, completed
    log.rename(tmp_path / "kern.log.1")  # logrotate: the new file is read from its start
    log.write_text(_xid_line("00000000:18:00.0", 79))
    assert xids.read()[bus_key("00000000:18:00.0")] == (79, 3)
    xids.close()
    with pytest.raises(UserError, match="Cannot read the kernel log"):
        XidLog(str(tmp_path / "nope.log"))


def test_the_agent_reports_xids_retired_pages_remaps_and_a_lost_gpus_identity(
    fake_nvml,  # noqa: F811 (the fixture, imported above)
    engine,
    tmp_path,
):
    real = _from_capture()
    worn = h100(real | {"serial": "1650000000999", "uuid": "GPU-worn", "bus": "00000000:2A:00.0"})
    worn |= {
        "nvmlDeviceGetRetiredPages": ByArgs(
            {(pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,): [0x1000, 0x2000]}
        ),
        "nvmlDeviceGetRemappedRows": (0, 1, 1, 0),
        "nvmlDeviceGetCurrentClocksEventReasons": 0x40,
    }
    fake_nvml(h100(real), worn)
    log = tmp_path / "kern.log"
    log.write_text("")
    xids = XidLog(str(log))
    first = nvml.collect("gpu-node-1", xids=xids)
    assert first.gpus[0].xid is None and first.gpus[1].retired_pages_dbe == 2
    assert first.gpus[1].throttle_reasons == 0x40 and first.gpus[1].remapped_rows_pending
    fake_nvml(lost(), worn)  # GPU 0 falls off the bus; the driver logs it, twice over the day
    log.write_text(_xid_line(real["bus"], 79) + _xid_line(real["bus"], 79))
    gone = nvml.collect("gpu-node-1", xids=xids).gpus[0]
    assert (gone.lost, gone.serial, gone.pci_bus_id, gone.xid, gone.xid_count) == (
        True,
        real["serial"],
        real["bus"],
        79,
        2,
    )
    server = agent.make_server("127.0.0.1", 0, None, lambda: nvml.collect("gpu-node-1", xids=xids))
    poller.add_node(engine, "gpu-node-1", _serve(server), "agent")
    _card(engine, real["serial"], "gpu-node-1", real["bus"], supplier="Supermicro")
    _card(engine, "1650000000999", "gpu-node-1", "00000000:2A:00.0")
    try:
        assert poller.poll_once(engine, timeout=2.0, now=NOW).answered == 1
    finally:
        server.shutdown()
        server.server_close()
    sick = {c.serial: c for c in health.sick_cards(engine, Config(), TODAY)}
    assert sick[real["serial"]].action == "inspect"  # fell off the bus twice: RMA
    assert sick[real["serial"]].evidence[0] == (
        "Xid 79: GPU has fallen off the bus, 2 times (inspect the card; RMA it)"
    )
    assert "GPU lost: fallen off the bus (reboot the node)" in sick[real["serial"]].evidence
    assert sick["1650000000999"].evidence == [
        "throttled: hw_thermal_slowdown (inspect the card; RMA it)",
        "row remapping pending a reset (reset the GPU)",
        "retired pages (none)",
    ]


# ---------------------------------------------------------------- item 4: sick cards to RMA


def test_health_lists_sick_cards_and_rma_opens_the_repair_and_writes_the_packet(
    sick_fleet, db_url, tmp_path
):
    poller.poll_once(sick_fleet, timeout=2.0, now=NOW)
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(app, ["--db", db_url, *args])

    listed = json.loads(cli("health", "--json", "--today", "2026-11-01").stdout)
    assert [c["serial"] for c in listed] == ["S-2", "S-0", "S-3"]  # worst first
    assert {k: listed[1][k] for k in ("team", "node", "action", "warranty", "supplier")} == {
        "team": "LLM",
        "node": "gpu-node-7",
        "action": "reboot_node",
        "warranty": "active",
        "supplier": "Inspur",
    }
    packet = tmp_path / "out" / "rma-S-0.md"
    packet.parent.mkdir()
    ordered = cli("edit", "S-0", "--purchase-order", "PO-7781", "--reason", "order", "--yes")
    assert ordered.exit_code == 0, ordered.output
    done = cli("rma", "S-0", "--out", str(packet), "--today", "2026-11-01", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["serial"], data["pci_bus_id"], data["node"], data["model"]) == (
        "S-0",
        _bus(0),
        "gpu-node-7",
        "H100 SXM5 80GB",
    )
    assert (data["to"], data["warranty_end"], data["purchase_date"]) == (
        "Inspur",
        "2028-03-01",
        "2025-03-01",
    )
    assert data["purchase_order"] == "PO-7781" and data["past_repairs_of_model"] == []
    assert data["health"][0]["code"] == 79 and data["health"][0]["value"] == 79
    text = packet.read_text("utf-8")
    assert "To: Inspur (in warranty until 2028-03-01)" in text
    assert "Xid 79: GPU has fallen off the bus (reboot the node)" in text
    assert "NVIDIA: ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS, immediate RESTART_BM" in text
    assert json.loads(packet.with_suffix(".json").read_text("utf-8"))["serial"] == "S-0"
    assert sorted(p.name for p in packet.parent.iterdir()) == ["rma-S-0.json", "rma-S-0.md"]
    with sick_fleet.connect() as conn:
        assert conn.execute(select(Card.status).where(Card.serial == "S-0")).scalar() == "repair"
        reason = conn.execute(select(Event.reason).where(Event.action == "repair.send")).scalar()
    assert reason == "RMA: Xid 79: GPU has fallen off the bus (reboot the node)"
    again = cli("rma", "S-0", "--out", str(packet))
    assert again.exit_code == 1 and "exists and fleetui never overwrites a file" in again.stderr
    ticket = data["ticket"]  # a second packet the same day: why it stops, and what to do
    assert f"card S-0 is in repair already (ticket {ticket})" in again.stderr
    assert "give another --out" in again.stderr
    # still sick (nothing cleared its Xid), but in hand: no longer on the list to act on,
    # said in a line; --all shows it, with its status
    shown = cli("health", "--today", "2026-11-01")
    assert "S-0" not in shown.stdout and "(status:" not in shown.stdout
    assert "1 sick card in repair or retired not listed (--all lists them)." in shown.stderr
    every = cli("health", "--all", "--today", "2026-11-01").stdout
    assert "S-0" in every and "(status: repair)" in every and every.count("(status:") == 1
    listed = json.loads(cli("health", "--json", "--today", "2026-11-01").stdout)
    assert [c["serial"] for c in listed] == ["S-2", "S-3"]
    assert "occurrence" in packet.read_text("utf-8")  # "1 occurrence", never "1 times"
    assert cli("undo", data["batch"]).exit_code == 0  # an audited batch like any other
    with sick_fleet.connect() as conn:
        assert conn.execute(select(Card.status).where(Card.serial == "S-0")).scalar() == (
            "in_service"
        )
    missing = cli("rma", "NO-SUCH", "--out", str(tmp_path / "x.md"))
    assert (
        missing.exit_code == 1
        and missing.stderr.strip() == "fleetui: No card has serial 'NO-SUCH'."
    )
    assert not (tmp_path / "x.md").exists() and not (tmp_path / "x.json").exists()


def _card_status(engine, serial: str) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Card.status).where(Card.serial == serial)).scalar_one()


def _rma_in_a_terminal(db_url: str, packet: Path, answer: str) -> subprocess.CompletedProcess:
    """`fleetui rma S-1` run with a real terminal as its stdin, `answer` typed to its prompt."""
    leader, follower = os.openpty()
    try:
        os.write(leader, answer.encode() + b"\n")
        fleetui = Path(sys.executable).with_name("fleetui")
        return subprocess.run(
            [fleetui, "--db", db_url, "rma", "S-1", "--out", str(packet)],
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(follower)
        os.close(leader)


def test_rma_of_a_card_without_health_evidence_asks_first(sick_fleet, db_url, tmp_path):
    """A trial's typo in a serial took a healthy card out of service: with no health evidence,
    rma now asks (a terminal), or refuses without --yes, changing nothing."""
    (tmp_path / "out").mkdir()
    packet = tmp_path / "out" / "rma-S-1.md"  # nothing polled: no evidence for any card
    args = ["--db", db_url, "rma", "S-1", "--out", str(packet)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    assert refused.stderr.endswith(
        "Not asking without a terminal: check the card with `fleetui cards S-1`, then pass "
        "--yes to open it.\n"
    )
    assert _card_status(sick_fleet, "S-1") == Status.IN_SERVICE
    assert not list(packet.parent.iterdir())

    kept = _rma_in_a_terminal(db_url, packet, "n")
    assert kept.returncode == 1
    assert "Take S-1 out of service into repair? [y/N]" in kept.stdout
    assert _card_status(sick_fleet, "S-1") == Status.IN_SERVICE
    assert not list(packet.parent.iterdir())

    opened = _rma_in_a_terminal(db_url, packet, "y")
    assert opened.returncode == 0, opened.stderr
    assert "Card S-1: repair opened; packet " in opened.stdout
    assert _card_status(sick_fleet, "S-1") == Status.REPAIR
    assert packet.exists()


def test_rma_with_yes_of_a_card_without_health_evidence_warns_and_opens(
    sick_fleet, db_url, tmp_path
):
    packet = tmp_path / "rma-S-1.md"
    done = CliRunner().invoke(app, ["--db", db_url, "rma", "S-1", "--out", str(packet), "--yes"])
    assert done.exit_code == 0, done.output
    assert done.stderr == (
        "Card S-1 has no health evidence (no reading or Xid of it calls for a hand); "
        "the packet says so.\n"
    )
    assert done.stdout.startswith("Card S-1: repair opened; packet ")
    assert "No health evidence was recorded for this card." in packet.read_text("utf-8")


def test_the_packet_shows_the_card_in_the_repair_the_rma_opened(sick_fleet, db_url, tmp_path):
    """The packet is the card as the RMA leaves it (in repair, under its ticket); a second RMA
    of a card in repair writes that repair's packet and opens no second repair."""

    def cli(*args: str):
        return CliRunner().invoke(app, ["--db", db_url, *args, "--today", "2026-11-01"])

    first = cli("rma", "S-0", "--out", str(tmp_path / "first.md"), "--yes")
    assert first.exit_code == 0, first.output
    packet = json.loads((tmp_path / "first.json").read_text("utf-8"))
    assert (packet["status"], packet["ticket"]) == ("repair", "RMA-S-0-20261101")
    assert packet["history"][-1]["action"] == "repair.send"
    text = (tmp_path / "first.md").read_text("utf-8")
    assert "- Status: repair\n- Repair ticket: RMA-S-0-20261101\n" in text
    second = cli("rma", "S-0", "--out", str(tmp_path / "second.md"), "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["batch"] is None
    again = cli("rma", "S-0", "--out", str(tmp_path / "third.md"))
    assert again.stdout.startswith(
        "Card S-0: already in repair under ticket RMA-S-0-20261101, no second repair opened; "
    )
    with sick_fleet.connect() as conn:
        sent = conn.execute(select(Event.id).where(Event.action == "repair.send")).all()
    assert len(sent) == 1


def test_out_of_warranty_the_packet_shows_what_repairs_of_the_model_cost(sick_fleet, tmp_path):
    from fleetui.telemetry import rma

    config = Config()
    repairs.send(sick_fleet, "S-1", "T-1", "Inspur")
    repairs.receive(sick_fleet, "S-1", "1,200 USD", config, date(2029, 1, 1))
    packet, paths = rma.open_rma(
        sick_fleet, "S-3", config, date(2029, 1, 1), str(tmp_path / "s3.md")
    )
    assert packet.data["to"] is None and packet.data["in_warranty"] is False
    assert packet.data["past_repairs_of_model"] == [
        {"currency": "USD", "repairs": 1, "cost": 1200.0, "average": 1200.0}
    ]
    assert "Out of warranty (warranty end: 2028-03-01)" in packet.text
    assert "- 1 repair job, 1,200.00 USD in all, 1,200.00 USD each" in packet.text
    assert [p.name for p in paths] == ["s3.md", "s3.json"]
    with pytest.raises(UserError, match=r"Cannot write the RMA packet .*; nothing was changed"):
        rma.open_rma(sick_fleet, "S-2", config, TODAY, str(tmp_path / "no-such-dir" / "s2.md"))
    with sick_fleet.connect() as conn:
        assert conn.execute(select(Card.status).where(Card.serial == "S-2")).scalar() == (
            "in_service"
        )


def test_with_no_warranty_end_the_packet_says_warranty_unknown(sick_fleet, tmp_path):
    """No purchase date and no warranty end: the packet neither claims the card out of warranty
    nor addresses the supplier as if it were in warranty."""
    from fleetui.telemetry import rma

    _card(sick_fleet, "S-9", "gpu-node-7", None, supplier="Inspur")
    packet, _paths = rma.open_rma(sick_fleet, "S-9", Config(), TODAY, str(tmp_path / "s9.md"))
    assert (packet.data["warranty_end"], packet.data["to"]) == (None, None)
    assert "Warranty unknown (no warranty end recorded); for the repair decision." in packet.text
    assert "arranty end: unknown" not in packet.text
    assert "Out of warranty" not in packet.text and "To: " not in packet.text


def test_the_packet_gives_the_uuid_and_bus_id_its_gpu_reports_when_none_are_recorded(
    sick_fleet, tmp_path
):
    """A card recorded by serial alone (as most imports record them) still goes to the supplier
    with its UUID and bus id: as its GPU reports them."""
    from fleetui.telemetry import rma

    with sick_fleet.begin() as conn:
        conn.execute(update(Card).where(Card.serial == "S-0").values(pci_bus_id=None, node_id=None))
    poller.poll_once(sick_fleet, timeout=2.0, now=NOW)
    packet, _paths = rma.open_rma(sick_fleet, "S-0", Config(), TODAY, str(tmp_path / "s0.md"))
    assert (packet.data["uuid"], packet.data["pci_bus_id"]) == (
        "GPU-00000000-1111-2222-3333-444444444444",
        _bus(0),
    )
    assert "GPU-00000000-1111-2222-3333-444444444444" in packet.text


# ---------------------------------------------------------------- item 5: fleetui's /metrics


def _get(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return r.read().decode()


def _scraped(engine) -> dict[tuple, float]:
    """One scrape of a fresh exporter's /metrics: value by (name, sorted labels)."""
    server = exporter.make_exporter(engine, Config(), "127.0.0.1", 0, None, lambda: TODAY)
    url = _serve(server) + "/metrics"
    try:
        page = _get(url)
    finally:
        server.shutdown()
        server.server_close()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def test_the_exporter_keeps_a_team_named_none_apart_from_the_unassigned_cards(engine):
    """Cards of no team were labelled team="none": a team named "none" was counted with them.
    They are labelled as fleetui names them everywhere, "(unassigned)" and "(no project)",
    names no team or project may take."""
    team, _ = _team(engine, "none", "none")
    _card(engine, "N-1", None, None, team_id=team, status="spare")
    _card(engine, "U-1", None, None, status="spare")
    _card(engine, "U-2", None, None, status="spare")
    samples = _scraped(engine)
    model = {"model": "H100 SXM5 80GB", "status": "spare"}
    named = {"team": "none", "project": "(no project)", **model}
    nobody = {"team": "(unassigned)", "project": "(no project)", **model}
    assert samples[("fleetui_cards", tuple(sorted(named.items())))] == 1
    assert samples[("fleetui_cards", tuple(sorted(nobody.items())))] == 2


def test_the_exporter_serves_allocation_lifecycle_idle_and_sick_cards(sick_fleet, tmp_path):
    team, _ = _team(sick_fleet, "Ads", "ranking")
    _card(sick_fleet, "S-8", None, None, team_id=team, status="spare", warranty_end=TODAY)
    _card(sick_fleet, "S-9", None, None, purchase_date=date(2019, 1, 1))  # no team, past EOL
    poller.poll_once(sick_fleet, timeout=2.0, now=datetime.now(UTC))
    samples = _scraped(sick_fleet)

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    with sick_fleet.connect() as conn:
        tflops = conn.execute(
            select(GpuModel.fp16_tflops).where(GpuModel.key == "h100-sxm5-80gb")
        ).scalar()
    held = {"team": "LLM", "project": "pretrain", "model": "H100 SXM5 80GB"}
    assert value("fleetui_cards", status="in_service", **held) == 4
    assert value("fleetui_pflops", status="in_service", **held) == pytest.approx(4 * tflops / 1000)
    spare = {"team": "Ads", "project": "(no project)", "model": "H100 SXM5 80GB", "status": "spare"}
    assert value("fleetui_cards", **spare) == 1
    assert value("fleetui_cards_warranty_expiring", team="Ads") == 1
    assert value("fleetui_cards_past_end_of_life", team="(unassigned)") == 1
    assert value("fleetui_cards_idle", team="LLM") == 1  # S-0 at 0%
    assert value("fleetui_cards_sick", team="LLM", action="reboot_node") == 1
    assert value("fleetui_cards_sick", team="LLM", action="inspect") == 1
    assert value("fleetui_cards_sick", team="LLM", action="reset_gpu") == 1
    with sick_fleet.begin() as conn:  # an RMA opened for the Xid 79 card: in hand
        conn.execute(update(Card).where(Card.serial == "S-0").values(status="repair"))
        node = conn.execute(select(Node.id).where(Node.hostname == "gpu-node-7")).scalar_one()
        conn.execute(  # and a GPU no card matches, fallen off the bus: `health` lists it
            insert(HealthEvent).values(
                gpu="GPU-unknown",
                node_id=node,
                pci_bus_id="00000000:F1:00.0",
                uuid="GPU-unknown",
                kind="xid",
                code=79,
                action="reboot_node",
                first_seen=NOW,
                last_seen=NOW,
            )
        )
    sick = {
        labels: v
        for (name, labels), v in _scraped(sick_fleet).items()
        if name == "fleetui_cards_sick"
    }
    assert sick == {
        (("action", "inspect"), ("team", "LLM")): 1,
        (("action", "reset_gpu"), ("team", "LLM")): 1,  # S-0, in repair, is in hand
        (("action", "reboot_node"), ("team", "(unassigned)")): 1,
    }
    listed = health.sick_cards(sick_fleet, Config(), TODAY)  # what `fleetui health` lists
    assert sum(sick.values()) == len(listed) == 3, "the exporter counts the sick as health does"


def test_the_exporters_pflops_carry_no_float_noise(engine):
    """3 x 149.7 TFLOPS is 0.4491 PFLOPS, not 0.44909999999999994: values as exact as the
    catalogue's TFLOPS (0.01), whatever the float arithmetic gives."""
    with engine.begin() as conn:
        for serial, key in (("A-1", "a40"), ("A-2", "a40"), ("A-3", "a40"), ("L-1", "l40")):
            model_id = conn.execute(select(GpuModel.id).where(GpuModel.key == key)).scalar()
            conn.execute(insert(Card).values(serial=serial, model_id=model_id))
    server = exporter.make_exporter(engine, Config(), "127.0.0.1", 0, None, lambda: TODAY)
    try:
        page = _get(_serve(server) + "/metrics")
    finally:
        server.shutdown()
        server.server_close()
    shown = {
        line.split('model="')[1].split('"')[0]: line.rsplit(" ", 1)[1]
        for line in page.splitlines()
        if line.startswith("fleetui_pflops{")
    }
    assert shown == {"A40": "0.4491", "L40 48GB": "0.18105"}


def test_the_exporter_serves_off_loopback_only_with_a_token(engine, db_url, tmp_path):
    with pytest.raises(UserError, match="needs --token-file"):
        exporter.make_exporter(engine, Config(), "0.0.0.0", 0, None)
    refused = CliRunner().invoke(app, ["--db", db_url, "exporter", "--listen", "0.0.0.0:9401"])
    assert refused.exit_code == 1 and "needs --token-file" in refused.stderr
    token = "0123456789abcdef-exporter"
    server = exporter.make_exporter(engine, Config(), "127.0.0.1", 0, token.encode())
    url = _serve(server) + "/metrics"
    try:
        with pytest.raises(urllib.error.HTTPError) as no_token:
            _get(url)
        assert no_token.value.code == 401
        assert "# TYPE fleetui_cards gauge" in _get(url, token)
    finally:
        server.shutdown()
        server.server_close()


def test_health_with_no_telemetry_ever_says_so_instead_of_all_clear(engine, db_url):
    """No node or store ever answered: `health` cannot say that no GPU needs a hand."""
    result = CliRunner().invoke(app, ["--db", db_url, "health"])
    assert result.exit_code == 2
    assert "No node or metrics store has answered a poll yet" in result.stderr
    assert "needs a hand" not in result.output


def test_health_says_plainly_when_a_sick_gpu_is_in_no_card(dcgm_node, db_url):
    """A reported GPU that no card matches showed `(status: None)`."""
    poller.poll_once(dcgm_node, timeout=2.0, now=NOW)
    shown = _cli(db_url, "health", "--today", "2026-11-01").stdout
    assert "None" not in shown
    assert shown.count("(not in the inventory)") == 3, shown


def test_health_says_when_a_node_did_not_answer_its_last_poll(sick_fleet, db_url):
    """Its GPUs' evidence is as last seen: the list is not the whole truth, and says so."""

    dead = dead_url()
    poller.add_node(sick_fleet, "gpu-node-8", dead, "dcgm")
    poller.poll_once(sick_fleet, timeout=2.0, now=NOW)
    result = CliRunner().invoke(app, ["--db", db_url, "health", "--today", "2026-11-01"])
    assert result.exit_code == 0 and "S-0" in result.stdout
    assert "1 node did not answer the last poll: health as last seen." in result.stderr
