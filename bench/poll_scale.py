"""One telemetry round at fleet scale: 1,000 simulated nodes x 8 GPUs served from loopback.

    .venv/bin/python bench/poll_scale.py [--nodes N]

A separate process serves every node's agent snapshot (so the CPU measured is the ops box's
alone). Measured: a full poll round of every node, parsing and the database write included,
as wall time and CPU time of the polling process. Baseline in the same run: the same concurrent
fetch (asyncio, as many connections at once as the poller) of the same pages, nothing parsed
or stored, as the hand-made HTTP/1.0 client fleetui had before aiohttp. A second baseline
fetches them with aiohttp (session.get and read, the client fleetui uses), to tell the
client's cost from fleetui's own (parsing, checking, writing). Each figure is the median of
--runs rounds (a fresh database for each first round), with min and max, the baselines' rounds
in turn with fleetui's. Target: a round under 3 s, using under 1 CPU-second.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import record, spread

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


async def _fetch_all(port: int, paths: list[str], concurrency: int) -> int:
    """GET every path from loopback, `concurrency` at a time, each body read whole; the bytes."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> int:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            body = await reader.read()
            writer.close()
            return len(body)

    return sum(await asyncio.gather(*(one(p) for p in paths)))


async def _fetch_all_aiohttp(port: int, paths: list[str], concurrency: int) -> int:
    """The same with aiohttp, one session for the round as the poller has."""
    import aiohttp

    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one(path: str) -> int:
            async with gate, session.get(f"http://127.0.0.1:{port}{path}") as answer:
                return len(await answer.read())

        return sum(await asyncio.gather(*(one(p) for p in paths)))


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    context = multiprocessing.get_context("spawn")
    port_out = context.Queue()
    server = context.Process(target=_serve, args=(args.nodes, port_out), daemon=True)
    server.start()
    port = port_out.get(timeout=30)

    from sqlalchemy import insert

    from fleetui.db.tables import Node
    from fleetui.store import open_fleet
    from fleetui.telemetry import poller

    paths = [f"/n/{i}/snapshot" for i in range(args.nodes)]
    concurrency = inspect.signature(poller.poll_once).parameters["concurrency"].default

    def baseline() -> None:
        assert asyncio.run(_fetch_all(port, paths, concurrency)) > 0

    def client() -> None:
        assert asyncio.run(_fetch_all_aiohttp(port, paths, concurrency)) > 0

    def fleetui_round(engine) -> None:
        result = poller.poll_once(engine, timeout=5.0)
        assert result.answered == args.nodes, result.failed[:3]

    figures: dict[str, list[tuple[float, float]]] = {
        "first": [],
        "next": [],
        "base": [],
        "client": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            engine = open_fleet(str(Path(tmp) / f"poll-{run}.db"))
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
            figures["base"].append(timed(baseline))
            figures["first"].append(timed(lambda e=engine: fleetui_round(e)))
            figures["base"].append(timed(baseline))
            figures["client"].append(timed(client))
            figures["next"].append(timed(lambda e=engine: fleetui_round(e)))
            figures["client"].append(timed(client))
            engine.dispose()
    server.terminate()
    print(f"\npoll_scale: {args.nodes:,} nodes x {len(BUS)} GPUs, median [min-max] of {args.runs}")
    base, client_only = figures["base"], figures["client"]
    for label, key in (("first round (inserts)", "first"), ("next round (replaces)", "next")):
        ours = figures[key]
        wall, cpu = statistics.median(w for w, _ in ours), statistics.median(c for _, c in ours)
        verdict = "ok" if wall < 3 and cpu < 1 else "MISSED"
        for kind, i in (("wall", 0), ("CPU", 1)):
            a, b = [f[i] for f in ours], [f[i] for f in base]
            print(
                f"{label + ' (' + kind + ')':30s} {spread(a)}   baseline (the same concurrent"
                f" fetch, nothing stored) {spread(b)}   ratio"
                f" {statistics.median(a) / statistics.median(b):.2f}x"
            )
            record(f"poll {args.nodes:,} nodes, {label} ({kind})", a, b)
            c = [f[i] for f in client_only]
            print(
                f"{'':30s} {'':24s}   the same fetch with aiohttp {spread(c)}   ratio"
                f" {statistics.median(a) / statistics.median(c):.2f}x"
            )
        print(f"{'':30s} target < 3 s and < 1 CPU-s: {verdict}")


if __name__ == "__main__":
    main()
