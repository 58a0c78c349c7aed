"""A poll round from a metrics store at fleet scale: 80,000 GPUs (10,000 nodes x 8) with a day of
utilization at 15-minute steps in a real VictoriaMetrics on loopback.

    .venv/bin/python bench/metrics_store_scale.py [--nodes N] [--runs 3]

The store runs as its own process (so the CPU measured is the ops box's alone), loaded through
its import API with series in dcgm-exporter's label set. Measured: a full poll round (the
latest values of every DCGM field, the idle window, the write of every GPU's sample and its
node), as wall time and CPU time of the polling process; the first round also registers the
nodes. Baseline in the same run: the same PromQL queries fetched with the same HTTP client
(aiohttp), one after another as a poll asks them, and discarded, its runs in turn with
fleetui's. Each figure is the median [min-max] of --runs runs, each into a fresh database.
Target: a round within 2x the raw fetch, under 2 CPU-seconds. Skipped, saying so, where the
victoria-metrics binary is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import record, spread

GPUS_PER_NODE = 8
BUS = ["18", "2A", "3A", "5D", "9A", "AB", "BA", "DB"]
STEP_S = 900
DAY_S = 24 * 3600


def _lines(nodes: range, now: float) -> bytes:
    """VictoriaMetrics' JSON-lines import: one line per GPU's utilization series."""
    times = [int((now - DAY_S + i * STEP_S) * 1000) for i in range(DAY_S // STEP_S)]
    times.append(int((now - 60) * 1000))  # the latest reading
    out = []
    for node in nodes:
        for i, bus in enumerate(BUS):
            metric = {
                "__name__": "DCGM_FI_DEV_GPU_UTIL",
                "gpu": str(i),
                "UUID": f"GPU-{node:08d}-{i:04d}",
                "pci_bus_id": f"00000000:{bus}:00.0",
                "device": f"nvidia{i}",
                "modelName": "NVIDIA H100 80GB HBM3",
                "Hostname": f"n{node}",
                "DCGM_FI_DRIVER_VERSION": "550.54.15",
                "DCGM_FI_DEV_SERIAL": f"16{node:07d}{i}",
                "job": "dcgm",
                "instance": f"n{node}:9400",
            }
            util = (node * 7 + i) % 100
            values = [(util + k) % 100 for k in range(len(times))]
            out.append(json.dumps({"metric": metric, "values": values, "timestamps": times}))
    return ("\n".join(out) + "\n").encode()


def _start(directory: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [
            "victoria-metrics",
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={directory}",
            "-search.disableCache",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("victoria-metrics did not start")


async def _raw(url: str, queries: list[str]) -> int:
    """The same queries with the same client, one after another as a poll asks them, bodies
    read and dropped; bytes read."""
    from fleetui.telemetry import http

    endpoint = http.Endpoint(url + "/api/v1/query")
    size = 0
    async with http.Client(300.0) as client:
        for query in queries:
            size += len(await client.get(endpoint, {"query": query}, 1 << 30))
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    if shutil.which("victoria-metrics") is None:
        print("metrics_store_scale: skipped, victoria-metrics is not installed")
        return

    from fleetui.store import open_fleet
    from fleetui.telemetry import poller, sources

    gpus = args.nodes * GPUS_PER_NODE
    labels = ("first round (registers)", "next round (replaces)")
    walls: dict[str, list[float]] = {label: [] for label in (*labels, "raw")}
    cpus: dict[str, list[float]] = {label: [] for label in (*labels, "raw")}
    with tempfile.TemporaryDirectory() as tmp:
        process, url = _start(Path(tmp) / "vm")
        try:
            now = time.time()
            started = time.perf_counter()
            for first in range(0, args.nodes, 1000):
                body = _lines(range(first, min(first + 1000, args.nodes)), now)
                urllib.request.urlopen(f"{url}/api/v1/import", body, timeout=600).read()
            urllib.request.urlopen(f"{url}/internal/force_flush", timeout=600).read()
            print(
                f"\nmetrics_store_scale: {args.nodes:,} nodes x {GPUS_PER_NODE} GPUs, "
                f"a day at {STEP_S // 60}-minute steps loaded in "
                f"{time.perf_counter() - started:.1f} s; median [min-max] of {args.runs} runs, "
                "each into a fresh database"
            )
            queries = list(sources.queries('job="dcgm"', poller.IDLE_WINDOW_HOURS).values())
            size = asyncio.run(_raw(url, queries))  # the store's first look at its data
            for run in range(args.runs):
                engine = open_fleet(str(Path(tmp) / f"store-{run}.db"))
                sources.add_source(engine, "vm", url, 'job="dcgm"')
                for label in labels:  # the baseline's runs in turn with fleetui's
                    wall, cpu = time.perf_counter(), time.process_time()
                    asyncio.run(_raw(url, queries))
                    walls["raw"].append(time.perf_counter() - wall)
                    cpus["raw"].append(time.process_time() - cpu)
                    wall, cpu = time.perf_counter(), time.process_time()
                    result = poller.poll_once(engine, store_timeout=300.0)
                    walls[label].append(time.perf_counter() - wall)
                    cpus[label].append(time.process_time() - cpu)
                    assert result.gpus == gpus and not result.failed, result.failed[:3]
                engine.dispose()
        finally:
            process.terminate()
            process.wait()
    raw_wall, raw_cpu = statistics.median(walls["raw"]), statistics.median(cpus["raw"])
    print(
        f"raw fetch of the same {len(queries)} queries ({size / 1e6:.0f} MB), nothing stored: "
        f"{spread(walls['raw'])} wall, {spread(cpus['raw'])} CPU"
    )
    for label in labels:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        verdict = "ok" if wall < 2 * raw_wall and cpu < 2 else "MISSED"
        print(
            f"{label:25s} {spread(walls[label])} wall, {spread(cpus[label])} CPU, "
            f"{gpus:,} GPUs stored; ratio {wall / raw_wall:.2f}x wall, "
            f"{cpu / raw_cpu:.1f}x CPU; target < 2x wall and < 2 CPU-s: {verdict}"
        )
        record(f"metrics store {gpus:,} GPUs, {label}", walls[label], walls["raw"], 2.0)
        record(f"metrics store {gpus:,} GPUs, {label}, CPU", cpus[label], cpus["raw"])


if __name__ == "__main__":
    main()
