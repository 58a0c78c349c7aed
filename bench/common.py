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


# A child's own peak RSS, in MiB, for the code children run: getrusage's ru_maxrss is not it on
# Linux, which carries the forking parent's peak over into the child past exec (a bench holding
# a 1M-card demo it just built made a trivial app's peak read 219 MiB).
PEAK_RSS = (
    "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]) / 1024"
)


def installed_env() -> dict[str, str]:
    """The environment for a timed child process, with Python's bytecode cached as in an
    installed fleetui (pip compiles it at install time). With PYTHONDONTWRITEBYTECODE set where
    the bench runs, each child would compile every fleetui module again, which no user waits
    for. The cache lives under bench/out, out of the source tree; baselines get the same."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median seconds of `repeat` calls (the machines are noisy; the median is steadier)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def runs(fn: Callable[[], object], repeat: int = 3) -> list[float]:
    """Seconds of each of `repeat` calls, for median [min-max] figures."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def record(
    measure: str,
    value: float | list[float],
    baseline: float | list[float],
    target: float | None = None,
    unit: str = "s",
) -> None:
    """A row of the table bench/run_all.py prints; a list of runs is kept as median, min, max.
    `target`: the highest ratio to the baseline the issue allows; `unit`: "s" or "MiB"."""
    if TABLE not in os.environ:
        return
    row = {
        "measure": measure,
        "value": _runs(value),
        "baseline": _runs(baseline),
        "target": target,
        "unit": unit,
    }
    with open(os.environ[TABLE], "a", encoding="utf-8") as table:
        table.write(json.dumps(row) + "\n")


def _runs(value: float | list[float]) -> list[float]:
    values = value if isinstance(value, list) else [value]
    return [statistics.median(values), min(values), max(values)]


def report(
    name: str,
    seconds: float | list[float],
    baseline: float | list[float],
    target: float | None = None,
    ratio: float | None = None,
) -> None:
    """Print and record a figure; `target` is in seconds, `ratio` the most times the baseline."""
    record(name, seconds, baseline, ratio)
    value, base = _runs(seconds)[0], _runs(baseline)[0]
    verdict = ""
    if target is not None:
        verdict = f"  target < {target * 1000:.0f} ms: {'ok' if value < target else 'MISSED'}"
    if ratio is not None:
        verdict += f"  target <= {ratio:g}x: {'ok' if value <= ratio * base else 'MISSED'}"
    print(
        f"{name:42s} {spread(seconds)}   baseline {spread(baseline)}   "
        f"ratio {value / base:6.2f}x{verdict}"
    )


def spread(seconds: float | list[float]) -> str:
    """median [min-max] in ms."""
    median, low, high = (v * 1000 for v in _runs(seconds))
    return f"{median:8.1f} ms [{low:.0f}-{high:.0f}]" if high > low else f"{median:8.1f} ms"
