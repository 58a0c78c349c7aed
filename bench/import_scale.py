"""CSV import at fleet scale: 100k and 1M rows, into a fresh database and re-imported.

    .venv/bin/python bench/import_scale.py [--rows 100000 1000000]

Baseline, measured in the same run on the same file: the stdlib csv module parsing it and raw
sqlite3 executemany inserting the same rows as tuples into a table of the same columns with a
unique serial (re-import: INSERT OR REPLACE). Each measurement runs in a fresh child process
(clean peak RSS); each figure is the median of --runs runs (a fresh database each), with min
and max. Targets (issue 16): a fresh import within 1.5x the floor below, a re-import within 2x
the baseline, peak RSS < 500 MB at 1M rows.

After a fresh import the "floor" line times what any importer into this schema must at least
do: copy the imported cards, nodes, teams, projects, audit events, batch summaries and holdings
ledger rows into an empty inventory in SQL (no CSV, no parsing, no checks) and build the ten
card and four event indexes that the inventory screens and the audit history need, then
ANALYZE the tables fleetui keeps statistics for (all but the growing logs) and commit. The
baseline writes one table with one index, so the floor alone can exceed 2x of it.

The fresh-import target is missed (1.9-2.3x) and left so, by judgement: the floor reads no file,
and reading the CSV alone (the stdlib baseline spends about half its time there) puts any
importer at about 1.2x of it, leaving some 0.3x to parse, check and stage every row in Python.
fleetui's checks (row, column and value named for each error, rows against each other and the
stored fleet) run in SQL on a staged copy; meeting 1.5x would take a second, unchecked path into
an empty inventory, or parsing in parallel processes, for a one-time load of about 40 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PEAK_RSS, record, spread
from fleetui.importing.columns import EXPORT_FIELDS

ROOT = Path(__file__).resolve().parents[1]
HEADER = [
    f
    for f in EXPORT_FIELDS
    if f not in ("service_life_years", "notes", "asset_tag", "purchase_order")
]
MODELS = [
    "H800 SXM 80GB",
    "A100 SXM4 80GB",
    "A800 SXM4 80GB",
    "H20 96GB",
    "L40S 48GB",
    "Ascend 910B",
    "H100 SXM5 80GB",
]
TEAMS = {"LLM": ["pretrain", "sft"], "Ads ranking": ["ctr-model"], "Search": ["rerank"]}


def make_file(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            node = n // 8
            team = list(TEAMS)[node % 3]
            bought = date(2021, 1, 1) + timedelta(days=node % 1500)
            writer.writerow(
                [
                    f"BENCH{n:09d}",
                    f"GPU-{rng.getrandbits(128):032x}",
                    MODELS[node % len(MODELS)],
                    f"node-{node:06d}",
                    f"00000000:{n % 8 * 16 + 24:02X}:00.0",
                    team,
                    TEAMS[team][node % len(TEAMS[team])],
                    "in_service",
                    bought.isoformat(),
                    f"{10000 + node % 5000}.00",
                    "USD",
                    "Inspur",
                    (bought + timedelta(days=365 * 3)).isoformat(),
                ]
            )


CHILD_FLEETUI = (
    """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from fleetui.config import Config
from fleetui.store import open_fleet
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
engine = open_fleet(sys.argv[2])
started = time.perf_counter()
result = run_import(engine, sys.argv[3], ImportOptions(create_missing=True, config=Config()))
elapsed = time.perf_counter() - started
assert result.error_count == 0, result.errors[:3]
print(json.dumps({"seconds": elapsed, "summary": result.summary(),
                  "rss_mb": """
    + PEAK_RSS
    + """}))
"""
)

CHILD_BASELINE = (
    """
import csv, json, sqlite3, sys, time
db, path, verb = sys.argv[1], sys.argv[2], sys.argv[3]
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS raw_card (serial TEXT UNIQUE, uuid TEXT, model TEXT, "
             "node TEXT, pci_bus_id TEXT, team TEXT, project TEXT, status TEXT, "
             "purchase_date TEXT, price TEXT, currency TEXT, supplier TEXT, warranty_end TEXT)")
started = time.perf_counter()
with open(path, newline="", encoding="utf-8") as handle:
    reader = csv.reader(handle)
    next(reader)
    rows = [tuple(r) for r in reader]
with conn:
    conn.executemany(f"{verb} INTO raw_card VALUES ({','.join('?' * 13)})", rows)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed,
                  "rss_mb": """
    + PEAK_RSS
    + """}))
"""
)


CHILD_FLOOR = """
import json, sqlite3, sys, time
sys.path.insert(0, sys.argv[1])
from fleetui.db.tables import GROWING_TABLES
from fleetui.store import open_fleet
open_fleet(sys.argv[2]).dispose()  # an empty inventory with fleetui's schema
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("PRAGMA foreign_keys=OFF")
conn.execute("PRAGMA cache_size=-65536")
conn.execute("ATTACH ? AS src", (sys.argv[3],))
started = time.perf_counter()
conn.execute("BEGIN")
indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name IN ('card', 'event') AND sql IS NOT NULL").fetchall()
for name, _ in indexes:
    conn.execute(f"DROP INDEX {name}")
for table in ("node", "team", "project", "card", "event", "batch", "holding_change"):
    conn.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table}")
for _, sql in indexes:
    conn.execute(sql)
tables = conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table' "
                      "AND name NOT LIKE 'sqlite_%'").fetchall()
for (table,) in tables:  # as fleetui does: not the attached source, nor the growing logs
    if table not in GROWING_TABLES:
        conn.execute(f"ANALYZE main.{table}")
conn.execute("COMMIT")
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    out = ROOT / "bench" / "out"  # ignored by git
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        work = Path(tmp)
        for rows in args.rows:
            path = work / f"cards-{rows}.csv"
            started = time.perf_counter()
            make_file(path, rows)
            print(
                f"\nimport_scale: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB "
                f"(written in {time.perf_counter() - started:.1f} s)"
            )
            fig: dict[str, list[float]] = {}
            summary, peak, base_peak = "", 0.0, 0.0
            for run in range(args.runs):
                db, raw = work / f"fleet-{rows}-{run}.db", work / f"raw-{rows}-{run}.db"
                for label, verb in (("fresh", "INSERT"), ("re-import", "INSERT OR REPLACE")):
                    ours = child(CHILD_FLEETUI, str(ROOT), str(db), str(path))
                    base = child(CHILD_BASELINE, str(raw), str(path), verb)
                    fig.setdefault(label, []).append(ours["seconds"])
                    fig.setdefault(f"{label} baseline", []).append(base["seconds"])
                    peak = max(peak, ours["rss_mb"])
                    base_peak = max(base_peak, base["rss_mb"])
                    summary = ours["summary"]
                    if label == "fresh":
                        floor_db = work / f"floor-{rows}-{run}.db"
                        floor = child(CHILD_FLOOR, str(ROOT), str(floor_db), str(db))
                        fig.setdefault("floor", []).append(floor["seconds"])
            print(f"  median [min-max] of {args.runs} runs [{summary}]")
            for label, base, target in (
                ("fresh", "fresh baseline", None),
                ("fresh", "floor", 1.5),
                ("re-import", "re-import baseline", 2),
            ):
                ratio = statistics.median(fig[label]) / statistics.median(fig[base])
                verdict = ""
                if target is not None:
                    verdict = f"target <= {target:g}x: {'ok' if ratio <= target else 'MISSED'}"
                print(
                    f"  {label:10s} {spread(fig[label])}   {base} {spread(fig[base])}"
                    f"   ratio {ratio:.2f}x  {verdict}"
                )
                name = f"import {rows:,} rows, {label}" + (" vs floor" if base == "floor" else "")
                record(name, fig[label], fig[base], target)
            floor_ratio = statistics.median(fig["floor"]) / statistics.median(fig["fresh baseline"])
            print(
                f"  the floor is {floor_ratio:.2f}x the baseline: storing the same cards, audit"
                " events and indexes, copied in SQL with nothing parsed or checked"
            )
            mb = peak * 2**20 / 1e6  # VmHWM is in KiB: the figure is MiB
            print(
                f"  peak RSS {peak:.0f} MiB = {mb:.0f} MB, target < 500 MB: "
                f"{'ok' if mb < 500 else 'MISSED'}"
            )
            record(f"import {rows:,} rows, peak RSS", peak, base_peak, unit="MiB")


if __name__ == "__main__":
    main()
