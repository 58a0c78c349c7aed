"""Every benchmark in bench/, one after another, then one table of all their figures.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

Each bench runs as its own process with its own output shown as it goes; the figures it
records (bench.common.record) are gathered into one table: measure, value, baseline, ratio,
value and baseline as median [min-max] where the bench ran several times. --quick runs each
on a small fleet (minutes, not the 1M-card figures the targets are set for).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.common import TABLE  # noqa: E402

NOT_BENCHES = {"__init__", "common", "run_all"}
# Small sizes for --quick; a bench not named here runs as it is.
QUICK = {
    "export_scale": ["--cards", "20000", "100000"],
    "import_scale": ["--rows", "20000"],
    "inventory_scale": ["--cards", "20000"],
    "metrics_store_scale": ["--nodes", "1000"],
    "poll_scale": ["--nodes", "100"],
    "reallocate_scale": ["--cards", "100000"],
    "report_scale": ["--cards", "20000"],
    "startup": ["--cards", "20000", "--runs", "5"],
}


def benches() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small fleets, for a quick look")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(benches()))
    args = parser.parse_args()
    if unknown := set(args.names) - set(benches()):
        parser.error(f"no bench named {', '.join(sorted(unknown))}")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "table.jsonl"
        table.touch()
        for name in args.names or benches():
            command = [sys.executable, str(BENCH / f"{name}.py")]
            command += QUICK.get(name, []) if args.quick else []
            print(f"\n=== {' '.join(command[1:])}", flush=True)
            env = {**os.environ, TABLE: str(table)}
            if subprocess.run(command, env=env).returncode != 0:
                failed.append(name)
        rows = [json.loads(line) for line in table.read_text(encoding="utf-8").splitlines()]
    print_table(rows)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


def print_table(rows: list[dict]) -> None:
    """measure, value and baseline as median [min-max], ratio, and the issue's target ratio."""
    width = max([len("measure"), *(len(r["measure"]) for r in rows)])
    print(f"\n{'measure':{width}s}  {'value':>24s}  {'baseline':>24s}  {'ratio':>7s}  target")
    for r in rows:
        ratio = r["value"][0] / r["baseline"][0]
        unit = r.get("unit", "s")
        target = r.get("target")
        verdict = f"<= {target:g}x {'ok' if ratio <= target else 'MISSED'}" if target else ""
        print(
            f"{r['measure']:{width}s}  {_figure(r['value'], unit):>24s}  "
            f"{_figure(r['baseline'], unit):>24s}  {ratio:6.2f}x  {verdict}"
        )


def _figure(runs: list[float], unit: str) -> str:
    """median [min-max]: seconds shown in ms, memory in MiB."""
    scale, shown = (1000, "ms") if unit == "s" else (1, unit)
    median, low, high = (v * scale for v in runs)
    spread = f" [{low:.0f}-{high:.0f}]" if high > low else ""
    return f"{median:.1f} {shown}{spread}"


if __name__ == "__main__":
    main()
