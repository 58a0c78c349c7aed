"""The TUI at fleet scale: 1,000,000 cards, each figure against a same-run baseline.

    .venv/bin/python bench/inventory_scale.py [--cards N] [--runs N] [--rebuild]

Measures (targets from issues 1 and 16, on a 2-core machine):
  process start -> dashboard complete, alerts    <= 4x a trivial Textual app from process start
  included (where the app opens)                    (both headless under app.run_test())
  peak RSS after the dashboard and 20 inventory  < 150 MiB (baseline: the trivial app's)
  pages
  page down, one filter keystroke                < 100 ms each (baseline: the raw sqlite3
  dashboard aggregates                           < 300 ms      query fetching the same rows)
Whole-process figures run in turn with their baseline (A B A B ...); every figure is the median
of --runs runs or more, with min and max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PEAK_RSS, demo_database, installed_env, record, report, runs

PAGE = """
SELECT c.id, c.serial, c.uuid, m.name, n.hostname, t.name, p.name, c.status, c.purchase_date,
       c.warranty_end
FROM card c JOIN gpu_model m ON m.id = c.model_id LEFT JOIN node n ON n.id = c.node_id
LEFT JOIN team t ON t.id = c.team_id LEFT JOIN project p ON p.id = c.project_id
WHERE {where} ORDER BY c.serial LIMIT 100
"""

# What `fleetui` does from process start to a complete dashboard (the totals, the tables and
# the alerts line filled in and painted), then 20 inventory pages; prints when the dashboard
# was complete and the peak RSS after the pages.
CHILD = (
    """
import asyncio, json, sys, time
import fleetui.cli.root  # what `fleetui` loads before it opens the database: typer, the root
from fleetui.cli.base import tui_app
from fleetui.config import load
from fleetui.store import open_fleet

async def until(check):
    while not check():
        await asyncio.sleep(0.002)

async def main():
    app = tui_app(open_fleet(sys.argv[1]), settings=load())  # as `fleetui` starts it
    from textual.widgets import DataTable
    async with app.run_test(size=(120, 40)) as pilot:
        alerts = lambda: str(app.screen.query_one("#alerts").content)
        await until(lambda: app.screen.id != "_default" and hasattr(app.screen, "show_alerts"))
        teams = app.screen.query_one("#teams", DataTable)
        await until(lambda: not alerts().startswith("Checking") and teams.row_count > 0)
        await pilot.pause()
        shown = time.time()
        assert "in repair" in alerts(), alerts()
        await pilot.press("i")
        table = app.screen.query_one("#cards", DataTable)
        await until(lambda: table.row_count > 0)
        for _ in range(20):
            before = app.screen.pages_shown
            await pilot.press("pagedown")
            await until(lambda: app.screen.pages_shown > before)
        await pilot.pause()
    rss = """
    + PEAK_RSS
    + """
    print(json.dumps({"shown": shown, "rss_mib": rss}))

asyncio.run(main())
"""
)

# The baseline: a trivial Textual app, started and shown the same way.
TRIVIAL = (
    """
import asyncio, json, time
from textual.app import App
from textual.widgets import Static

class Trivial(App):
    def compose(self):
        yield Static("hello")

async def main():
    async with Trivial().run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = time.time()
    rss = """
    + PEAK_RSS
    + """
    print(json.dumps({"shown": shown, "rss_mib": rss}))

asyncio.run(main())
"""
)


def from_process_start(code: str, *args: str) -> tuple[float, float]:
    """(seconds from process start until shown, peak RSS in MiB) of one child process."""
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env=installed_env(),
    )
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    shown = json.loads(out.stdout.strip().splitlines()[-1])
    return shown["shown"] - started, shown["rss_mib"]


def raw(path: Path, sql: str, params=()) -> float:
    def run() -> None:
        with sqlite3.connect(path) as conn:
            rows = conn.execute(sql, params).fetchall()
            assert rows is not None

    return runs(run, 5)


async def in_app(path: Path) -> dict[str, float]:
    """Page down and filter keystrokes, each from the key press until the new rows are in the
    table and its visible lines are rendered. Pilot's press() and pause() wait for the app to
    go idle (~20-60 ms of harness time), so the key is sent as a task and the screen polled."""
    from textual.widgets import DataTable

    from fleetui.app import FleetApp
    from fleetui.store import open_fleet

    app = FleetApp(open_fleet(str(path)), initial_mode="inventory")
    timings: dict[str, list[float]] = {"pagedown": [], "filter": [], "filter_model": []}
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#cards", DataTable)

        async def timed(*keys: str) -> float:
            before = screen.pages_shown
            started = time.perf_counter()
            press = asyncio.create_task(pilot.press(*keys))
            while screen.pages_shown == before:
                await asyncio.sleep(0.001)
            assert table.row_count > 0
            for line in range(table.size.height):  # what the next frame paints, counted
                table.render_line(line)
            elapsed = time.perf_counter() - started
            await press
            await app.workers.wait_for_complete()
            return elapsed

        for _ in range(7):
            timings["pagedown"].append(await timed("pagedown"))
        await pilot.press("slash", *"team:ll")
        await app.workers.wait_for_complete()
        for _ in range(5):
            timings["filter"].append(await timed("m"))  # team:ll -> team:llm
            await pilot.press("backspace")
            await app.workers.wait_for_complete()
        await pilot.press(*["backspace"] * 7, *"model:h80")
        await app.workers.wait_for_complete()
        for _ in range(5):
            timings["filter_model"].append(await timed("0"))  # model:h80 -> model:h800
            await pilot.press("backspace")
            await app.workers.wait_for_complete()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    path = demo_database(args.cards, rebuild=args.rebuild)

    from fleetui.inventory.summary import fleet_summary
    from fleetui.store import open_fleet

    with sqlite3.connect(path) as conn:
        llm = conn.execute("SELECT id FROM team WHERE name = 'LLM'").fetchone()[0]
        h800 = conn.execute("SELECT id FROM gpu_model WHERE key = 'h800-sxm'").fetchone()[0]
        serial_100 = conn.execute("SELECT serial FROM card ORDER BY serial LIMIT 1 OFFSET 99")
        after = serial_100.fetchone()[0]

    print(f"\ninventory_scale: {args.cards:,} cards, {path.name}")
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    from_process_start(TRIVIAL)  # warm-ups: the OS file cache and bytecode, not counted
    from_process_start(CHILD, str(path))
    for _ in range(args.runs):
        ours.append(from_process_start(CHILD, str(path)))
        base.append(from_process_start(TRIVIAL))
    report(
        "process start -> dashboard with alerts",
        [t for t, _ in ours],
        [t for t, _ in base],
        ratio=4,
    )
    rss, rss_base = [r for _, r in ours], [r for _, r in base]
    record("TUI peak RSS, dashboard + 20 pages", rss, rss_base, unit="MiB")
    print(
        f"{'TUI peak RSS, dashboard + 20 pages':42s} {max(rss):8.0f} MiB (max of {len(rss)})"
        f"   trivial app {max(rss_base):.0f} MiB   target < 150 MiB: "
        f"{'ok' if max(rss) < 150 else 'MISSED'}"
    )
    timings = asyncio.run(in_app(path))
    report(
        "page down (key -> rows on screen)",
        timings["pagedown"],
        raw(path, PAGE.format(where="c.serial > ?"), (after,)),
        target=0.1,
    )
    report(
        "filter keystroke 'team:llm'",
        timings["filter"],
        raw(path, PAGE.format(where="c.team_id = ?"), (llm,)),
        target=0.1,
    )
    report(
        "filter keystroke 'model:h800'",
        timings["filter_model"],
        raw(path, PAGE.format(where="c.model_id = ?"), (h800,)),
        target=0.1,
    )
    engine = open_fleet(str(path))
    report(
        "dashboard aggregates",
        runs(lambda: fleet_summary(engine), 5),
        raw(path, "SELECT team_id, model_id, status, count(*) FROM card GROUP BY 1, 2, 3"),
        target=0.3,
    )


if __name__ == "__main__":
    main()
