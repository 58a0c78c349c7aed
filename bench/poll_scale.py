"""One telemetry round at fleet scale: 1,000 simulated nodes x 8 GPUs served from loopback.

    .venv/bin/python bench/poll_scale.py [--nodes N]

A separate process serves every node's agent snapshot (so the CPU measured is the ops box's
alone). Measured: a full poll round of every node, parsing and the database write included,
as wall time and CPU time of the polling process. Baseline in the same run: fetching the same
pages one after another with urllib, nothing parsed or stored. Target: a round under 3 s,
using under 1 CPU-second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import record

BUS = ["18", "2A", "3A", "5D", "9A", "AB", "BA", "DB"]


def _page(node: int) -> bytes:
    gpus = [
        {
            "index": i,
            "name": "NVIDIA H100 80GB HBM3",
            "serial": f"16{node:07d}{i}",
            "uuid": f"GPU-{node:08d}-{i:04d}",
            "pci_bus_id": f"00000000:{bus}:00.0",
            "util_gpu": (node * 7 + i) % 100,
            "util_memory": 40,
            "memory_used_mib": 40000,
            "memory_total_mib": 81559,
            "temperature_c": 60,
            "power_w": 500.0,
            "power_limit_w": 700.0,
            "ecc_uncorrected_volatile": 0,
            "lost": False,
            "health": [],
        }
        for i, bus in enumerate(BUS)
    ]
    return json.dumps({"hostname": f"n{node}", "gpus": gpus}).encode()


def _serve(nodes: int, port_out) -> None:
    pages = {f"/n/{i}/snapshot": _page(i) for i in range(nodes)}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    port_out = context.Queue()
    server = context.Process(target=_serve, args=(args.nodes, port_out), daemon=True)
    server.start()
    port = port_out.get(timeout=30)

    from sqlalchemy import insert

    from fleetui.db.tables import Node
    from fleetui.store import open_fleet
    from fleetui.telemetry import poller

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_fleet(str(Path(tmp) / "poll.db"))
        with engine.begin() as conn:
            conn.execute(
                insert(Node),
                [
                    {
                        "hostname": f"n{i}",
                        "rack": "",
                        "telemetry_kind": "agent",
                        "telemetry_url": f"http://127.0.0.1:{port}/n/{i}",
                    }
                    for i in range(args.nodes)
                ],
            )
        started = time.perf_counter()
        for i in range(args.nodes):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/n/{i}/snapshot") as r:
                r.read()
        baseline = time.perf_counter() - started
        print(f"\npoll_scale: {args.nodes:,} nodes x {len(BUS)} GPUs")
        for label in ("first round (inserts)", "next round (replaces)"):
            wall, cpu = time.perf_counter(), time.process_time()
            result = poller.poll_once(engine, timeout=5.0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert result.answered == args.nodes, result.failed[:3]
            verdict = "ok" if wall < 3 and cpu < 1 else "MISSED"
            print(
                f"{label:24s} {wall * 1000:7.0f} ms wall, {cpu:5.2f} CPU-s, "
                f"{result.gpus:,} GPUs stored; baseline (sequential GETs, nothing stored) "
                f"{baseline * 1000:.0f} ms, ratio {wall / baseline:.2f}x; "
                f"target < 3 s and < 1 CPU-s: {verdict}"
            )
            record(f"poll {args.nodes:,} nodes, {label}", wall, baseline)
    server.terminate()


if __name__ == "__main__":
    main()
