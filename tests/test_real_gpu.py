"""This host's real GPUs through the real NVML: what `fleetui gpus`, the agent and a poll report
must be what the driver's own `nvidia-smi` reports for the same GPUs. Skipped, with one line,
on a host without an NVIDIA driver (the rest of the suite stubs NVML per device)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pynvml
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.core.errors import UserError
from fleetui.telemetry import agent, nvml
from fleetui.telemetry.xidlog import XidLog
from tests.loopback import served


def _nvml_starts() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


if not (_nvml_starts() and shutil.which("nvidia-smi")):
    pytest.skip(
        "no NVIDIA GPU here (NVML or nvidia-smi absent): the real-GPU checks need one",
        allow_module_level=True,
    )

FIELDS = "index,name,serial,uuid,pci.bus_id,memory.total,enforced.power.limit,temperature.gpu"


def _smi() -> list[dict[str, str | None]]:
    """nvidia-smi's own reading, one dict per GPU; "[N/A]" and the like as None."""
    text = subprocess.run(
        ["nvidia-smi", f"--query-gpu={FIELDS}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in text.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        rows.append(
            {
                k: (None if v.startswith("[") else v)
                for k, v in zip(FIELDS.split(","), values, strict=True)
            }
        )
    return rows


def _same_as_smi(gpus: list[dict], smi: list[dict[str, str | None]]) -> None:
    assert len(gpus) == len(smi) > 0
    for gpu, row in zip(gpus, smi, strict=True):
        assert gpu["index"] == int(row["index"] or -1)
        assert (gpu["name"], gpu["serial"], gpu["uuid"]) == (
            row["name"],
            row["serial"],
            row["uuid"],
        )
        assert gpu["pci_bus_id"].lower() == (row["pci.bus_id"] or "").lower()
        assert gpu["memory_total_mib"] == int(row["memory.total"] or -1)
        if row["enforced.power.limit"] is not None:
            assert gpu["power_limit_w"] == pytest.approx(float(row["enforced.power.limit"]), abs=1)
        if row["temperature.gpu"] is not None:
            assert abs(gpu["temperature_c"] - int(row["temperature.gpu"])) <= 5
        assert "gpu lost" not in gpu["health"]


def test_fleetui_gpus_reads_what_nvidia_smi_reads():
    shown = CliRunner().invoke(app, ["gpus", "--json"])
    assert shown.exit_code == 0, shown.output
    snap = json.loads(shown.stdout)
    assert snap["error"] is None and snap["driver"]
    _same_as_smi(snap["gpus"], _smi())
    table = CliRunner().invoke(app, ["gpus"])
    assert table.exit_code == 0 and f"driver {snap['driver']}" in table.stdout


@pytest.fixture
def agent_url() -> Iterator[str]:
    with served(agent.make_server("127.0.0.1", 0, None)) as url:
        yield url


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read().decode()


def test_the_agent_serves_this_hosts_gpus_as_json_and_prometheus_text(agent_url):
    smi = _smi()
    _same_as_smi(json.loads(_get(agent_url + "/snapshot"))["gpus"], smi)
    labelled = {
        sample.labels.get("UUID")
        for family in text_string_to_metric_families(_get(agent_url + "/metrics"))
        for sample in family.samples
    }
    assert {row["uuid"] for row in smi} <= labelled


def test_the_agent_answers_many_requests_at_once(agent_url):
    """NVML is started and stopped per snapshot, from many worker threads at once: each answer
    must still hold every GPU."""
    from concurrent.futures import ThreadPoolExecutor

    uuids = {row["uuid"] for row in _smi()}
    with ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(lambda _: _get(agent_url + "/snapshot"), range(96)))
    for answer in answers:
        snap = json.loads(answer)
        assert snap["error"] is None and {g["uuid"] for g in snap["gpus"]} == uuids


def test_the_agent_reads_xids_from_the_kernel_log_without_waiting():
    """With /dev/kmsg (no Xid in it on a healthy host) a snapshot comes at once: the read stops
    at the log's end instead of waiting for the next kernel message."""
    try:
        xids = XidLog("/dev/kmsg")
    except UserError as exc:
        pytest.skip(str(exc))
    started = time.monotonic()
    snap = nvml.collect(xids=xids)
    again = nvml.collect(xids=xids)
    assert time.monotonic() - started < 10
    assert snap.gpus and again.gpus and snap.error is None
    assert all(g.xid_count is None or g.xid_count >= 1 for g in snap.gpus)


def test_a_poll_of_the_agent_finds_the_gpus_and_fixing_adds_them_as_cards(agent_url, tmp_path):
    db = str(tmp_path / "fleet.db")
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["--db", db, *args])

    count = len(_smi())
    assert cli("nodes", "add", "gpu-host", "--agent", agent_url).exit_code == 0
    polled = cli("poll", "--once")
    assert polled.exit_code == 0, polled.output
    assert f"1 of 1 node answered, {count} GPU" in polled.stdout
    found = cli("reconcile", "--json")
    assert found.exit_code == 1
    unknown = json.loads(found.stdout)
    assert [d["kind"] for d in unknown] == ["unknown"] * count
    assert {d["node"] for d in unknown} == {"gpu-host"}
    fixed = cli("reconcile", "fix", "--all")
    assert fixed.exit_code == 0, fixed.output
    cli("poll", "--once")
    agreed = cli("reconcile")
    assert agreed.exit_code == 0 and "agree" in agreed.stdout
    cards = json.loads(cli("cards", "--json").stdout)
    assert len(cards) == count and {c["node"] for c in cards} == {"gpu-host"}


def test_a_poll_with_no_node_registered_reads_this_host(tmp_path):
    db = str(tmp_path / "fleet.db")
    polled = CliRunner().invoke(app, ["--db", db, "poll", "--once"])
    assert polled.exit_code == 0, polled.output
    assert f"{len(_smi())} GPU" in polled.stdout


LOAD = """
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print("ready", flush=True)
end = time.monotonic() + 8
while time.monotonic() < end:
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
"""


def test_utilization_and_memory_follow_real_work():
    """A GPU busy with matrix products reads busy, with its memory in use (NVML's utilization
    is over a sample period, so it is read a few times)."""
    pytest.importorskip("torch")
    work = subprocess.Popen([sys.executable, "-c", LOAD], stdout=subprocess.PIPE, text=True)
    try:
        assert work.stdout is not None and work.stdout.readline().strip() == "ready"
        readings = []
        for _ in range(10):
            time.sleep(0.5)
            readings.append(nvml.collect().gpus[0])
    finally:
        work.kill()
        work.wait()
    assert max(g.util_gpu or 0 for g in readings) >= 50
    assert max(g.memory_used_mib or 0 for g in readings) >= 128  # the 128 MiB matrix at least
