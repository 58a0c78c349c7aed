"""Telemetry without a GPU: the real pynvml module with its functions stubbed per device."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pynvml
import pytest

from fleetui.core.errors import UserError
from fleetui.telemetry import agent, nvml, prometheus
from tests.conftest import SHARED

H100_CAPTURE = (
    SHARED / "fixtures" / "nvidia-smi" / "linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt"
)
MIB = 1 << 20


def _from_capture() -> dict:
    """Name, serial, UUID, bus id and memory of the real H100 capture (or a stand-in)."""
    if not H100_CAPTURE.exists():
        return {
            "name": "NVIDIA H100 80GB HBM3",
            "serial": "1650000000001",
            "uuid": "GPU-11111111-2222-3333-4444-555555555555",
            "bus": "00000000:18:00.0",
            "total_mib": 81559,
        }
    text = H100_CAPTURE.read_text()

    def field(label: str) -> str:
        return re.search(rf"^\s*{label}\s*:\s*(.+)$", text, re.M)[1].strip()

    total = re.search(r"FB Memory Usage\s*\n\s*Total\s*:\s*(\d+) MiB", text)[1]
    return {
        "name": field("Product Name"),
        "serial": field("Serial Number"),
        "uuid": field("GPU UUID"),
        "bus": field("Bus Id"),
        "total_mib": int(total),
    }


def _error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


class ByArgs(dict):
    """One NVML function's values by its arguments after the handle; any other arguments are
    NVML's InvalidArgument, so code that passes the wrong counter or sensor gets nothing."""


UNCORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
CORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED


def ecc(volatile: int, aggregate: int) -> ByArgs:
    return ByArgs(
        {
            (UNCORRECTED, pynvml.NVML_VOLATILE_ECC): volatile,
            (UNCORRECTED, pynvml.NVML_AGGREGATE_ECC): aggregate,
            (CORRECTED, pynvml.NVML_VOLATILE_ECC): 1000 + volatile,
            (CORRECTED, pynvml.NVML_AGGREGATE_ECC): 1000 + aggregate,
        }
    )


def h100(real: dict) -> dict:
    return {
        "nvmlDeviceGetName": real["name"],
        "nvmlDeviceGetSerial": real["serial"],
        "nvmlDeviceGetUUID": real["uuid"],
        "nvmlDeviceGetPciInfo": SimpleNamespace(busId=real["bus"].encode()),
        "nvmlDeviceGetUtilizationRates": SimpleNamespace(gpu=97, memory=61),
        "nvmlDeviceGetMemoryInfo": SimpleNamespace(
            used=40_000 * MIB, total=real["total_mib"] * MIB
        ),
        "nvmlDeviceGetTemperature": ByArgs({(pynvml.NVML_TEMPERATURE_GPU,): 63}),
        "nvmlDeviceGetPowerUsage": 512_345,
        "nvmlDeviceGetEnforcedPowerLimit": 700_000,
        "nvmlDeviceGetTotalEccErrors": ecc(0, 0),
        "nvmlDeviceGetRetiredPagesPendingStatus": 0,
        "nvmlDeviceGetRemappedRows": (0, 0, 0, 0),
        "nvmlDeviceGetRetiredPages": ByArgs(
            {(pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,): []}
        ),
        "nvmlDeviceGetCurrentClocksEventReasons": 0,
        "nvmlDeviceGetMigMode": (0, 0),
    }


def a100_mig_sick() -> dict:
    device = h100(
        {
            "name": "NVIDIA A100-SXM4-80GB",
            "serial": "1321021000002",
            "uuid": "GPU-aaaaaaaa-0000-0000-0000-000000000002",
            "bus": "00000000:2A:00.0",
            "total_mib": 81920,
        }
    )
    device |= {
        "nvmlDeviceGetMigMode": (1, 1),
        "nvmlDeviceGetTotalEccErrors": ecc(volatile=2, aggregate=7),
        "nvmlDeviceGetRemappedRows": (3, 1, 1, 0),
        "nvmlDeviceGetCurrentClocksEventReasons": 0x40 | 0x4,
        "nvmlDeviceGetUtilizationRates": _error(pynvml.NVML_ERROR_NOT_SUPPORTED),
    }
    return device


def lost() -> dict:
    return {"nvmlDeviceGetName": _error(pynvml.NVML_ERROR_GPU_IS_LOST)}


def consumer() -> dict:
    device = h100(
        {
            "name": "NVIDIA GeForce RTX 4090",
            "serial": "",
            "uuid": "GPU-4090",
            "bus": "00000000:65:00.0",
            "total_mib": 24564,
        }
    )
    for fn in (
        "nvmlDeviceGetTotalEccErrors",
        "nvmlDeviceGetRemappedRows",
        "nvmlDeviceGetRetiredPagesPendingStatus",
        "nvmlDeviceGetMigMode",
        "nvmlDeviceGetSerial",
    ):
        device[fn] = _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
    return device


@pytest.fixture
def fake_nvml(monkeypatch):
    """Install devices: each a dict of pynvml function name -> value, NVMLError or ByArgs.
    Handles are opaque objects, as NVML's are: a call with another device's handle, or with an
    index, answers for that device or not at all, never for the one meant."""
    state = {"devices": [], "handles": [], "init": None}

    def install(*devices, init_error: int | None = None):
        state["devices"] = list(devices)
        state["handles"] = [object() for _ in devices]
        state["init"] = init_error

    def init():
        if state["init"] is not None:
            raise pynvml.NVMLError(state["init"])

    def handle_by_index(index):
        if not 0 <= index < len(state["handles"]):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return state["handles"][index]

    def per_device(name):
        def call(handle, *args):
            found = [i for i, h in enumerate(state["handles"]) if h is handle]
            if not found:
                raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            value = state["devices"][found[0]].get(name, _error(pynvml.NVML_ERROR_NOT_SUPPORTED))
            if isinstance(value, ByArgs):
                value = value.get(args, _error(pynvml.NVML_ERROR_INVALID_ARGUMENT))
            elif args and not isinstance(value, Exception):
                raise AssertionError(f"give {name}'s values ByArgs: it takes arguments")
            if isinstance(value, Exception):
                raise value
            return value

        return call

    monkeypatch.setattr(pynvml, "nvmlInit", init)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "590.48.01")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: len(state["devices"]))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", handle_by_index)
    for name in {k for d in (h100(_from_capture()), lost()) for k in d}:
        monkeypatch.setattr(pynvml, name, per_device(name))
    return install


def test_a_healthy_h100_as_the_real_capture_shows_it(fake_nvml):
    real = _from_capture()
    fake_nvml(h100(real))
    snap = nvml.collect("gpu-node-1")
    gpu = snap.gpus[0]
    assert (gpu.name, gpu.serial, gpu.uuid, gpu.pci_bus_id) == (
        real["name"],
        real["serial"],
        real["uuid"],
        real["bus"],
    )
    assert gpu.memory_total_mib == real["total_mib"] and gpu.memory_used_mib == 40_000
    assert (gpu.util_gpu, gpu.temperature_c, gpu.power_w, gpu.power_limit_w) == (
        97,
        63,
        512.345,
        700,
    )
    assert gpu.mig_mode is False and gpu.health() == [] and snap.driver == "590.48.01"


def test_sick_lost_and_limited_gpus_never_crash_the_collector(fake_nvml):
    fake_nvml(h100(_from_capture()), a100_mig_sick(), lost(), consumer())
    snap = nvml.collect()
    sick, gone, game = snap.gpus[1:]
    assert sick.mig_mode is True and sick.util_gpu is None  # NotSupported -> unknown
    assert (sick.ecc_uncorrected_volatile, sick.ecc_uncorrected_aggregate) == (2, 7)
    assert (sick.temperature_c, sick.serial) == (63, "1321021000002")
    assert sick.health() == [
        "uncorrectable ECC errors",
        "page retirement pending (reset needed)",
        "throttled: hw_thermal_slowdown",
    ]
    assert gone.lost and gone.health() == ["gpu lost"]
    assert game.ecc_uncorrected_volatile is None and game.health() == []
    assert json.loads(json.dumps(snap.as_dict()))["gpus"][2]["health"] == ["gpu lost"]


@pytest.mark.parametrize(
    "code", [pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED]
)
def test_no_driver_is_a_clear_state(fake_nvml, code):
    fake_nvml(init_error=code)
    snap = nvml.collect()
    assert snap.gpus == [] and snap.error.startswith("NVML not available on this host")


DCGM_OLD = """# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-5fd5a0c1-1111-2222-3333-444455556666",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-7",DCGM_FI_DEV_SERIAL="1654922001234",pci_bus_id="00000000:18:00.0"} 97
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-5fd5a0c1-1111-2222-3333-444455556666",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-7",pci_bus_id="00000000:18:00.0"} 40211
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-6fd5a0c1-1111-2222-3333-444455556666",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-7",pci_bus_id="00000000:2A:00.0"} 0
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{gpu="1"} 0.5
"""
DCGM_NEW = DCGM_OLD.replace("Hostname=", "hostname=")


@pytest.mark.parametrize("text", [DCGM_OLD, DCGM_NEW], ids=["Hostname", "hostname"])
def test_dcgm_exporter_text_with_its_real_labels(text):
    gpus = {g.pci_bus_id: g for g in prometheus.parse(text)}
    first = gpus["00000000:18:00.0"]
    assert (first.hostname, first.serial, first.model) == (
        "gpu-node-7",
        "1654922001234",
        "NVIDIA H100 80GB HBM3",
    )
    assert first.values == {"util_gpu": 97.0, "memory_used_mib": 40211.0}
    assert gpus["00000000:2A:00.0"].values == {"util_gpu": 0.0}


@pytest.fixture
def serve(fake_nvml):
    servers = []

    def start(token: bytes | None = None) -> str:
        fake_nvml(h100(_from_capture()), a100_mig_sick())
        server = agent.make_server("127.0.0.1", 0, token, lambda: nvml.collect("node-a"))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(url: str, token: str | None = None, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_the_agent_serves_json_and_metrics_over_loopback(serve):
    base = serve()
    status, body = _get(f"{base}/snapshot")
    snapshot = json.loads(body)
    assert status == 200 and snapshot["hostname"] == "node-a" and len(snapshot["gpus"]) == 2
    status, body = _get(f"{base}/metrics")
    scraped = {g.uuid: g for g in prometheus.parse(body.decode())}
    assert status == 200 and scraped[snapshot["gpus"][0]["uuid"]].values["util_gpu"] == 97
    assert scraped[snapshot["gpus"][1]["uuid"]].values["ecc_uncorrected_volatile"] == 2
    assert _get(f"{base}/other")[0] == 404
    assert _get(f"{base}/snapshot", method="POST")[0] == 405
    assert _get(f"{base}/snapshot", method="DELETE")[0] == 405


def _raw(url: str, request: bytes) -> bytes:
    """Send raw request bytes; what the agent answers before it closes the connection."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=agent.TIMEOUT_S) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_the_agent_wants_its_token_as_a_bearer_token(serve):
    secret = "0123456789abcdef-secret"
    base = serve(token=secret.encode())
    assert _get(f"{base}/snapshot")[0] == 401
    assert _get(f"{base}/snapshot", token="wrong-token-wrong-token")[0] == 401
    assert _get(f"{base}/snapshot", token=secret)[0] == 200
    for header in (secret, f"Basic {secret}", f"Bearer{secret}", f"Token {secret}"):
        answer = _raw(base, f"GET /snapshot HTTP/1.0\r\nAuthorization: {header}\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.0 401"), header
    assert _raw(
        base, f"GET /snapshot HTTP/1.0\r\nAuthorization: bearer {secret}\r\n\r\n".encode()
    ).startswith(b"HTTP/1.0 200")


def test_the_agent_bounds_what_it_reads(serve):
    base = serve()
    long_line = b"GET /snapshot?" + b"x" * agent.MAX_LINE + b" HTTP/1.0\r\n\r\n"
    assert _raw(base, long_line).startswith(b"HTTP/1.0 414")
    body = b"GET /snapshot HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"
    assert _raw(base, body).startswith(b"HTTP/1.0 413")
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 1000) for i in range(30))
    big = b"GET /snapshot HTTP/1.0\r\n" + headers + b"\r\n"
    assert len(big) > agent.MAX_REQUEST and _raw(base, big).startswith(b"HTTP/1.0 431")


def test_a_slow_client_is_cut_off_at_the_request_deadline(serve, monkeypatch):
    """Each byte arrives well inside the per-receive timeout; the whole request never does."""
    monkeypatch.setattr(agent, "READ_DEADLINE_S", 0.5)
    base = serve()
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=agent.TIMEOUT_S) as conn:
        conn.sendall(b"GET /snapshot HTTP/1.0\r\n")
        closed = False
        for _ in range(100):  # 100 x 0.05 s: ten times the deadline
            try:
                conn.sendall(b"X")
            except OSError:  # reset: the agent gave up on us
                closed = True
                break
            time.sleep(0.05)
            conn.setblocking(False)
            try:
                closed = conn.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            conn.setblocking(True)
            if closed:
                break
    assert closed


def test_the_agent_serves_200_concurrent_clients_with_a_bounded_pool(fake_nvml):
    """200 clients at once, each within the agent's own timeout; never more than WORKERS
    requests are served at the same time."""
    fake_nvml(h100(_from_capture()))
    lock, busy, most = threading.Lock(), [0], [0]

    def collect():
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        try:
            time.sleep(0.01)  # a request that takes a moment, so requests overlap
            return nvml.collect("node-a")
        finally:
            with lock:
                busy[0] -= 1

    server = agent.make_server("127.0.0.1", 0, None, collect)
    assert server.request_queue_size >= 200  # the backlog holds them while the workers are busy
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/snapshot"
    start, statuses = threading.Barrier(200), []

    def client():
        start.wait()
        try:
            with urllib.request.urlopen(url, timeout=agent.TIMEOUT_S) as response:
                statuses.append(response.status)
        except OSError as exc:
            statuses.append(repr(exc))

    clients = [threading.Thread(target=client) for _ in range(200)]
    try:
        for c in clients:
            c.start()
        for c in clients:
            c.join()
    finally:
        server.shutdown()
        server.server_close()
    assert statuses.count(200) == 200, [s for s in statuses if s != 200][:3]
    assert 1 < most[0] <= agent.WORKERS


def test_binding_off_loopback_needs_a_token(tmp_path):
    with pytest.raises(UserError, match="needs --token-file"):
        agent.make_server("0.0.0.0", 0, None)
    short = tmp_path / "token"
    short.write_text("abc\n")
    with pytest.raises(UserError, match="too short"):
        agent.read_token(str(short))
    with pytest.raises(UserError, match="HOST:PORT"):
        agent.parse_listen("9400")
