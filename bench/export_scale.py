"""`fleetui export` at fleet scale, against a plain Python csv + sqlite3 export of the same bytes.

    .venv/bin/python bench/export_scale.py [--cards 100000 1000000] [--runs N]

Both run as whole processes writing the demo fleet's cards to a file, in turn (A B A B ...)
after one warm-up each; each figure is the median of --runs runs (at least 3), with min and max.
The baseline reads the same rows with sqlite3 and writes them with the csv module, the price
and spreadsheet-formula rules applied and the lifecycle columns computed by the default rules
(warranty: the card's end or 12 months from purchase; service life: the card's or 5 years),
memoised per distinct input as fleetui does; the bench checks that the two files are the same
bytes (so it must run with no fleetui config file).
Target (issue 16): within 1.5x, streaming: peak RSS flat in the fleet's size, so it is
measured at two sizes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, PEAK_RSS, demo_database, record, spread

BASELINE = r"""
import calendar, csv, re, sqlite3, sys
from datetime import date
from decimal import Decimal
FORMULA = re.compile(r"'*[=+\-@\t\r]")
def months_on(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
known = {}
def lifecycle(purchased, given, years):
    if (purchased, given, years) not in known:
        bought = purchased and date.fromisoformat(purchased)
        end = given or (bought and months_on(bought, 12).isoformat())
        life = years or 5.0
        eol = bought and months_on(bought, round(life * 12)).isoformat()
        known[purchased, given, years] = [end, life, eol]
    return known[purchased, given, years]
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute(
    "SELECT c.serial, c.uuid, m.name, n.hostname, c.pci_bus_id, t.name, p.name, c.status,"
    " c.purchase_date, c.price_minor, c.currency, c.supplier, c.warranty_end,"
    " c.service_life_years, c.notes, c.asset_tag, c.purchase_order"
    " FROM card c JOIN gpu_model m ON m.id = c.model_id"
    " LEFT JOIN node n ON n.id = c.node_id LEFT JOIN team t ON t.id = c.team_id"
    " LEFT JOIN project p ON p.id = c.project_id ORDER BY c.serial"
)
with open(sys.argv[2], "w", encoding="utf-8", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["serial", "uuid", "model", "node", "pci_bus_id", "team", "project", "status",
                     "purchase_date", "price", "currency", "supplier", "warranty_end",
                     "service_life_years", "notes", "asset_tag", "purchase_order",
                     "effective_warranty_end", "effective_service_life_years", "end_of_life"])
    for row in rows:
        row = list(row) + lifecycle(row[8], row[12], row[13])
        if row[9] is not None:
            row[9] = str(Decimal(row[9]) / 100)
        cells = ["" if v is None else str(v) for v in row]
        writer.writerow(["'" + c if FORMULA.match(c) else c for c in cells])
"""


# Each child says its own peak RSS as its last line on stderr, at exit (bench.common.PEAK_RSS:
# wait4's ru_maxrss would carry over the bench's own peak).
SAYS_PEAK = f"import atexit, sys; atexit.register(lambda: print({PEAK_RSS}, file=sys.stderr))\n"


def fleetui(db: Path, out: Path) -> list[str]:
    """`fleetui --db DB export -o OUT`, run as the installed console script runs it."""
    argv = ["fleetui", "--db", str(db), "export", "-o", str(out)]
    script = f"{SAYS_PEAK}sys.argv = {argv!r}\nfrom fleetui.cli import main\nsys.exit(main())"
    return [sys.executable, "-c", script]


def run_once(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one whole process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    said = process.stderr.read().decode()
    process.stderr.close()
    if status:
        raise SystemExit(f"{command[-1][:200]} failed: {said[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, float(said.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    os.environ.pop("FLEETUI_DB", None)
    peaks = {}
    for cards in args.cards:
        db = demo_database(cards)
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            ours_file, base_file = Path(tmp) / "fleetui.csv", Path(tmp) / "baseline.csv"
            ours_cmd = fleetui(db, ours_file)
            base_cmd = [sys.executable, "-c", SAYS_PEAK + BASELINE, str(db), str(base_file)]
            run_once(ours_cmd), run_once(base_cmd)  # warm-up: the OS file cache, not counted
            if ours_file.read_bytes() != base_file.read_bytes():
                raise SystemExit("fleetui's export and the baseline's differ: fix the baseline")
            ours, base = [], []
            for _ in range(args.runs):
                ours.append(run_once(ours_cmd))
                base.append(run_once(base_cmd))
        peaks[cards] = max(r[2] for r in ours)
        print(f"\nexport {cards:,} cards, median [min-max] of {args.runs} runs")
        for kind, i in (("wall", 0), ("CPU", 1)):
            a, b = [r[i] for r in ours], [r[i] for r in base]
            ratio = statistics.median(a) / statistics.median(b)
            print(
                f"  {kind:4s} fleetui {spread(a)}   baseline {spread(b)}   ratio {ratio:.2f}x"
                f"  target <= 1.5x: {'ok' if ratio <= 1.5 else 'MISSED'}"
            )
            record(f"export {cards:,} cards ({kind})", a, b, 1.5)
        rss, base_rss = [r[2] for r in ours], [r[2] for r in base]
        print(f"  peak RSS fleetui {max(rss):.0f} MiB, baseline {max(base_rss):.0f} MiB")
        record(f"export {cards:,} cards, peak RSS", rss, base_rss, unit="MiB")
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        growth = peaks[large] / peaks[small]
        print(
            f"peak RSS {peaks[small]:.0f} MiB at {small:,} cards, {peaks[large]:.0f} MiB at"
            f" {large:,}: {growth:.2f}x for {large // small}x the cards"
            f" (streaming: {'flat' if growth < 1.2 else 'GROWS'})"
        )


if __name__ == "__main__":
    main()
