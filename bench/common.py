"""Helpers shared by the benchmarks: a cached 1M-card demo database and timing."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).parent / "out"
TABLE = "FLEETUI_BENCH_TABLE"  # set by bench/run_all.py: the file record() appends rows to


def demo_database(cards: int, seed: int = 7, rebuild: bool = False) -> Path:
    """A demo fleet of `cards` cards under bench/out, built once and reused between runs."""
    from fleetui.admin import demo
    from fleetui.db.migrate import HEAD
    from fleetui.store import open_fleet

    OUT.mkdir(exist_ok=True)
    path = OUT / f"demo-{cards}-{seed}-schema{HEAD}.db"  # a schema change rebuilds the cache
    if path.exists() and not rebuild:
        return path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = open_fleet(str(path))
    started = time.perf_counter()
    demo.build(engine, cards=cards, seed=seed)
    print(f"built {cards:,}-card demo database in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return path


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median seconds of `repeat` calls (the machines are noisy; the median is steadier)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def record(measure: str, value: float | list[float], baseline: float | list[float]) -> None:
    """A row of the table bench/run_all.py prints; a list of runs is kept as median, min, max."""
    if TABLE not in os.environ:
        return
    row = {"measure": measure, "value": _runs(value), "baseline": _runs(baseline)}
    with open(os.environ[TABLE], "a", encoding="utf-8") as table:
        table.write(json.dumps(row) + "\n")


def _runs(value: float | list[float]) -> list[float]:
    values = value if isinstance(value, list) else [value]
    return [statistics.median(values), min(values), max(values)]


def report(name: str, seconds: float, baseline: float, target: float | None = None) -> None:
    record(name, seconds, baseline)
    verdict = ""
    if target is not None:
        verdict = f"  target < {target * 1000:.0f} ms: {'ok' if seconds < target else 'MISSED'}"
    print(
        f"{name:42s} {seconds * 1000:9.1f} ms   baseline {baseline * 1000:8.2f} ms   "
        f"ratio {seconds / baseline:8.1f}x{verdict}"
    )


def events_database(cards: int, batches: int = 100) -> Path:
    """The demo fleet after `batches` moves, every card moved once (`cards` events), dated
    every third day of 2026 from 3 January: a copy of demo_database(cards), built once.

    The events are written set-based in SQL, in the shape fleetui's moves write them (a
    'move' per card with its old and new team and project, one 'move.batch' per batch)."""
    import sqlite3
    import uuid

    from fleetui.db.migrate import HEAD

    path = OUT / f"events-{cards}-{batches}-schema{HEAD}.db"
    if path.exists():
        return path
    source = demo_database(cards)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as db:
        src.backup(db)
        teams = [t for (t,) in db.execute("SELECT id FROM team ORDER BY id")]
        for k in range(batches):
            day = f"{datetime_of(k):%Y-%m-%d %H:%M:%S.%f}"
            to = teams[k % len(teams)]
            batch = uuid.uuid4().hex
            moved = f"id % {batches} = {k} AND coalesce(team_id, -1) != {to}"
            db.execute(
                "INSERT INTO event (at, actor, action, card_id, serial, card_version, batch_id,"
                " before, after, reason) SELECT ?, 'bench', 'move', id, serial, version + 1, ?,"
                " json_object('team_id', team_id, 'project_id', project_id, 'version', version),"
                f" json_object('team_id', {to}, 'project_id', NULL, 'version', version + 1),"
                f" 'bench' FROM card WHERE {moved}",
                (day, batch),
            )
            n = db.execute("SELECT changes()").fetchone()[0]
            db.execute(
                f"UPDATE card SET team_id = {to}, project_id = NULL, version = version + 1"
                f" WHERE {moved}"
            )
            db.execute(
                "INSERT INTO event (at, actor, action, batch_id, after, reason)"
                " VALUES (?, 'bench', 'move.batch', ?, json_object('cards', ?), 'bench')",
                (day, batch, n),
            )
        db.commit()
    partial.rename(path)
    print(f"wrote {batches} moves into a copy in {time.perf_counter() - started:.1f} s")
    return path


def datetime_of(batch: int):
    """When the bench's move number `batch` happened: every third day from 3 January 2026."""
    from datetime import datetime, timedelta

    return datetime(2026, 1, 3, 12) + timedelta(days=3 * batch)
