"""CLI start-up: whole processes, each against the plain Python process that does the same work.

    .venv/bin/python bench/startup.py [--cards N] [--runs N]

  fleetui --help                                 vs  python -c pass
  fleetui --db D cards --limit 50 --json         vs  python + sqlite3 running the same SELECT on D
                                                     and printing the rows as JSON

Targets (issue 16): --help within 3x, the query within 5x. One more line compares the query with
a process that only imports the libraries it cannot start without (typer and SQLModel, the design
card's ORM): how far fleetui is from that floor. (--help needs no library: at 80 columns or more
fleetui prints the root page without typer, whose import alone took 3x a bare Python.) The two
commands of a pair run in turn (A B A B ...) after one warm-up each, so a drift in the machine's
speed hits both; each figure is the median of --runs runs (at least 5), with min and max. Wall time
is what users wait for; CPU time (user + sys of the child, from the OS) is printed too, as it is
steadier on a shared machine. Output is read through a pipe and discarded, the same for both.

Run it from a regular install (`pip install .`): an editable install's import hook slows every
Python start, the baseline's too, and flatters the ratios; the bench says when it sees one.
"""

from __future__ import annotations

import argparse
import os
import resource
import site
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import demo_database, installed_env, record

# What `cards --limit 50 --json` reads: the first 50 cards by serial with the names of their
# model, node, team and project (fleetui also reads the model key and supplier for the
# warranty rules).
BASELINE_QUERY = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute(
    "SELECT c.serial, c.uuid, m.name, n.hostname, t.name, p.name, c.status, c.purchase_date,"
    " c.warranty_end, m.key, c.supplier FROM card c JOIN gpu_model m ON m.id = c.model_id"
    " LEFT JOIN node n ON n.id = c.node_id LEFT JOIN team t ON t.id = c.team_id"
    " LEFT JOIN project p ON p.id = c.project_id ORDER BY c.serial LIMIT 50"
)
names = ("serial", "uuid", "model", "node", "team", "project", "status", "purchase_date",
         "warranty_end")
print(json.dumps([dict(zip(names, row)) for row in rows], indent=2))
"""


def fleetui() -> list[str]:
    """The installed `fleetui` script next to this Python (what users run)."""
    script = Path(sys.executable).with_name("fleetui")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from fleetui.cli import main; main()"]


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, env=installed_env())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pair(name: str, ours: list[str], baseline: list[str], runs: int, target: float | None) -> None:
    run_once(ours), run_once(baseline)  # warm-up: the OS file cache and bytecode, not counted
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "base": []}
    for _ in range(runs):
        times["ours"].append(run_once(ours))
        times["base"].append(run_once(baseline))
    for kind, index in (("wall", 0), ("CPU", 1)):
        a = [t[index] for t in times["ours"]]
        b = [t[index] for t in times["base"]]
        ratio = statistics.median(a) / statistics.median(b)
        verdict = "(the floor)"
        if target is not None:
            verdict = f"target <= {target:g}x: {'ok' if ratio <= target else 'MISSED'}"
        print(
            f"{name + ' (' + kind + ')':44s} {_spread(a)}   baseline {_spread(b)}   "
            f"ratio {ratio:5.2f}x  {verdict}"
        )
        if target is not None:
            record(f"{name} ({kind})", a, b, target)


def _spread(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"{statistics.median(ms):7.1f} ms [{ms[0]:.0f}-{ms[-1]:.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    db = demo_database(args.cards)
    os.environ.pop("FLEETUI_DB", None)
    print(f"\nstartup: whole processes, median [min-max] of {args.runs} runs, {db.name}")
    if any(any(Path(p).glob("__editable__*fleetui*")) for p in site.getsitepackages()):
        print("note: fleetui is an editable install here; the ratios come out lower than users'")
    help_command = [*fleetui(), "--help"]
    cards = [*fleetui(), "--db", str(db), "cards", "--limit", "50", "--json"]
    pair("fleetui --help", help_command, [sys.executable, "-c", "pass"], args.runs, 3)
    pair(
        "cards --limit 50 --json",
        cards,
        [sys.executable, "-c", BASELINE_QUERY, str(db)],
        args.runs,
        5,
    )
    pair("cards vs import typer, sqlmodel", cards, importing("typer, sqlmodel"), args.runs, None)


def importing(modules: str) -> list[str]:
    return [sys.executable, "-c", f"import {modules}"]


if __name__ == "__main__":
    main()
