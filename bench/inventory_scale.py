"""Inventory at fleet scale: 1,000,000 cards, measured headless against raw SQL in the same run.

    .venv/bin/python bench/inventory_scale.py [--cards N] [--rebuild]

Measures (targets from the foundation issue, on a 2-core machine):
  process start -> first inventory page on screen   < 1 s
  page down, one filter keystroke                    < 100 ms each
  dashboard aggregates                               < 300 ms
Each is printed with the raw sqlite3 query that fetches the same rows as its baseline.
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

from bench.common import best_of, demo_database, report

PAGE = """
SELECT c.id, c.serial, c.uuid, m.name, n.hostname, t.name, p.name, c.status, c.purchase_date,
       c.warranty_end
FROM card c JOIN gpu_model m ON m.id = c.model_id LEFT JOIN node n ON n.id = c.node_id
LEFT JOIN team t ON t.id = c.team_id LEFT JOIN project p ON p.id = c.project_id
WHERE {where} ORDER BY c.serial LIMIT 100
"""

CHILD = """
import json, sys, time, asyncio
import fleetui.cli  # what `fleetui` loads before it opens the database
from fleetui.store import open_fleet
from fleetui.app import FleetApp
from textual.widgets import DataTable

async def main():
    app = FleetApp(open_fleet(sys.argv[1]), initial_mode="inventory")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#cards", DataTable)
        while table.row_count == 0:
            await asyncio.sleep(0.002)
        await pilot.pause()
        print(json.dumps({"shown": time.time(), "rows": table.row_count}))

asyncio.run(main())
"""


def first_page_from_process_start(path: Path) -> float:
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    shown = json.loads(out.stdout.strip().splitlines()[-1])
    assert shown["rows"] == 100, shown
    return shown["shown"] - started


def raw(path: Path, sql: str, params=()) -> float:
    def run() -> None:
        with sqlite3.connect(path) as conn:
            rows = conn.execute(sql, params).fetchall()
            assert rows is not None

    return best_of(run)


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
    return {k: sorted(v)[len(v) // 2] for k, v in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = demo_database(args.cards, rebuild=args.rebuild)

    from fleetui.inventory.summary import fleet_summary
    from fleetui.store import open_fleet

    with sqlite3.connect(path) as conn:
        llm = conn.execute("SELECT id FROM team WHERE name = 'LLM'").fetchone()[0]
        h800 = conn.execute("SELECT id FROM gpu_model WHERE key = 'h800-sxm'").fetchone()[0]
        serial_100 = conn.execute("SELECT serial FROM card ORDER BY serial LIMIT 1 OFFSET 99")
        after = serial_100.fetchone()[0]

    print(f"\ninventory_scale: {args.cards:,} cards, {path.name}")
    starts = sorted(first_page_from_process_start(path) for _ in range(3))
    report(
        "process start -> first inventory page",
        starts[1],
        raw(path, PAGE.format(where="1")),
        target=1.0,
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
        best_of(lambda: fleet_summary(engine)),
        raw(path, "SELECT team_id, model_id, status, count(*) FROM card GROUP BY 1, 2, 3"),
        target=0.3,
    )


if __name__ == "__main__":
    main()
