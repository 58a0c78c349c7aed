"""Reports, checks and the planner at fleet scale: 1,000,000 cards and 1,000,000 audit events.

    .venv/bin/python bench/report_scale.py [--cards N] [--runs 3]

Each measure times fleetui's service call in this process (what a command does after start-up;
start-up itself is bench/startup.py's) against a baseline run in the same process: raw sqlite3
reading the same rows (for a report, the cards in its window grouped as it groups them; for
`allocation --as-of`, today's holdings grouped and the holdings ledger's rows after the day; for
the planner, the ordered SELECT that lists every candidate; for history, the newest 200
`batch` summary rows and those batches' own events). Figures are the median [min-max]
of --runs runs. Targets: each report, `db check`, `projects list` and `history` under 1 s and
within 2x its baseline; a 10,003-card planner request under 0.5 s with memory bounded by the
request, not by the source team.

The events: 100 moves of 10,000 cards, every 6 hours from 06:00 on 1 November 2026 (the day the
demo dates its fleet: no card existed before it), written into a copy of the demo database
(cached under bench/out) in the shape fleetui's moves write them, with their holdings ledger rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, demo_database, record

TODAY = date(2026, 11, 30)
AS_OF = "2026-11-13"  # half the moves came after it
BATCHES = 100
HELD = "('in_service', 'spare', 'repair')"
KEYS = (
    "team_id, model_id, status, purchase_date, service_life_years, currency, project_id, "
    "supplier, warranty_end"
)
GROUPS = f"SELECT {KEYS}, count(*), sum(price_minor), count(price_minor) FROM card"
WHOLE = f"{GROUPS} INDEXED BY ix_card_lifecycle"  # as the cliff and eol reports read it
BY_KEYS = " GROUP BY " + KEYS


def events_database(cards: int) -> Path:
    """The demo fleet after BATCHES moves of a range of card ids each, every card moved once:
    a copy, built once."""
    import uuid

    from fleetui.db.migrate import HEAD

    path = OUT / f"events-{cards}-{BATCHES}-6h-schema{HEAD}.db"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    with (
        closing(sqlite3.connect(demo_database(cards))) as src,
        closing(sqlite3.connect(partial)) as db,
    ):
        src.backup(db)
        teams = [t for (t,) in db.execute("SELECT id FROM team ORDER BY id")]
        for k in range(BATCHES):
            at = f"{datetime(2026, 11, 1, 6) + timedelta(hours=6 * k):%Y-%m-%d %H:%M:%S.%f}"
            to, other = teams[k % len(teams)], teams[(k + 1) % len(teams)]
            target = f"CASE WHEN team_id IS {to} THEN {other} ELSE {to} END"
            first, last = k * cards // BATCHES, (k + 1) * cards // BATCHES
            batch = uuid.uuid4().hex
            db.execute(
                "INSERT INTO event (at, actor, action, card_id, serial, card_version, batch_id,"
                " before, after, reason) SELECT ?, 'bench', 'move', id, serial, version + 1, ?,"
                " json_object('team_id', team_id, 'project_id', project_id, 'version', version),"
                f" json_object('team_id', {target}, 'project_id', NULL, 'version', version + 1),"
                " 'bench' FROM card WHERE id > ? AND id <= ?",
                (at, batch, first, last),
            )
            n = db.execute("SELECT changes()").fetchone()[0]
            held = (  # the range's holdings, as fleetui.db.holdings keeps them
                "INSERT INTO holding_change (batch_id, at, team_id, model_id, status, cards)"
                " SELECT ?, ?, team_id, model_id, status, {sign} count(*) FROM card"
                " WHERE id > ? AND id <= ? GROUP BY team_id, model_id, status"
            )
            db.execute(held.format(sign="-"), (batch, at, first, last))
            db.execute(
                f"UPDATE card SET team_id = {target}, project_id = NULL, version = version + 1"
                " WHERE id > ? AND id <= ?",
                (first, last),
            )
            db.execute(held.format(sign=""), (batch, at, first, last))
            db.execute(
                "INSERT INTO event (at, actor, action, batch_id, after, reason)"
                " VALUES (?, 'bench', 'move.batch', ?, json_object('cards', ?), 'bench')",
                (at, batch, n),
            )
            db.execute(  # its summary row, as fleetui.db.audit keeps it
                "INSERT INTO batch (batch_id, at, actor, action, cards, reason, last_event_id)"
                " SELECT batch_id, min(at), min(actor), min(action), count(card_id), max(reason),"
                " max(id) FROM event WHERE batch_id = ? GROUP BY batch_id",
                (batch,),
            )
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    print(f"wrote {BATCHES} moves into a copy in {time.perf_counter() - started:.1f} s")
    return path


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def compare(name: str, ours: Callable, base: Callable, runs: int, target: float) -> None:
    value: list[float] = []
    baseline: list[float] = []
    for _ in range(runs):  # in turn, so that a change in the shared machine's load hits both
        value += timed(ours, 1)
        baseline += timed(base, 1)
    record(name, value, baseline)
    v, b = statistics.median(value), statistics.median(baseline)
    print(
        f"{name:34s} {v * 1000:8.0f} ms [{min(value) * 1000:.0f}-{max(value) * 1000:.0f}]"
        f"  baseline {b * 1000:8.0f} ms  ratio {v / b:5.2f}x"
        f"  target < {target * 1000:.0f} ms: {'ok' if v < target else 'MISSED'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("only", nargs="*", help="measure only those whose name starts so")
    args = parser.parse_args()
    path = events_database(args.cards)

    from fleetui.admin import maintenance
    from fleetui.allocation import history, moves, teams
    from fleetui.config import Config
    from fleetui.lifecycle import conditions, rules
    from fleetui.store import open_fleet

    engine = open_fleet(str(path))
    raw = sqlite3.connect(path)
    cfg = Config()

    def sql(*statements: str, args: tuple = ()) -> Callable[[], object]:
        return lambda: [raw.execute(s, args if "?" in s else ()).fetchall() for s in statements]

    def report(name: str, window: int, fn: Callable) -> Callable[[], object]:
        return lambda: fn(rules.report_snapshot(engine, cfg, TODAY, name, window))

    life = 60  # the default service life, in months; the demo sets no other
    quarters = rules._quarters(TODAY, 3)
    cliff = (
        conditions.purchase_bound(life, quarters[0]),
        conditions.purchase_bound(life, quarters[-1]),
    )
    print(f"\nreport_scale: {args.cards:,} cards, {BATCHES} moves, as of {TODAY}")
    cases = [
        (
            "report warranty",
            report("warranty", 90, lambda s: rules.warranty_expiring(s, 90)),
            sql(
                f"{GROUPS} WHERE status IN {HELD} AND warranty_end BETWEEN ? AND ? {BY_KEYS}",
                args=(TODAY, TODAY + timedelta(days=90)),
            ),
        ),
        (
            "report cliff",
            report("cliff", 3, lambda s: rules.retirement_cliff(s, 3)),
            sql(  # by status, model and end of life, as the report groups them
                "SELECT status, purchase_date, model_id, service_life_years, count(*) FROM card"
                f" INDEXED BY ix_card_status_purchase WHERE status IN {HELD}"
                " AND purchase_date >= ? AND purchase_date < ? GROUP BY 1, 2, 3, 4",
                args=cliff,
            ),
        ),
        (
            "report eol",
            report("eol", 0, rules.past_end_of_life),
            sql(
                f"{WHOLE} WHERE status = 'in_service' AND purchase_date < ? {BY_KEYS}",
                args=(conditions.purchase_bound(life, TODAY),),
            ),
        ),
        (
            "report irreplaceable",
            report("irreplaceable", 0, rules.irreplaceable_share),
            sql(
                "SELECT team_id, model_id, status, count(*) FROM card"
                " WHERE status IN ('in_service', 'spare') GROUP BY 1, 2, 3"
            ),
        ),
        (
            "report book-value",
            report("book-value", 0, rules.book_values),
            sql(  # by the first six keys, as the report groups them
                f"SELECT {KEYS.split(', project_id')[0]}, count(*), sum(price_minor),"
                " count(price_minor) FROM card GROUP BY 1, 2, 3, 4, 5, 6"
            ),
        ),
        (
            "report cost",
            report("cost", 0, rules.cost_of_ownership),
            sql(  # by the first seven keys, as the report groups them
                f"SELECT {KEYS.split(', supplier')[0]}, count(*), sum(price_minor),"
                " count(price_minor) FROM card GROUP BY 1, 2, 3, 4, 5, 6, 7"
            ),
        ),
        (
            f"report allocation --as-of {AS_OF}",
            lambda: history.allocation_as_of(engine, AS_OF),
            sql(  # today's holdings and the ledger's rows after the day
                "SELECT team_id, model_id, status, count(*) FROM card GROUP BY 1, 2, 3",
                "SELECT team_id, model_id, status, cards FROM holding_change WHERE at > ?",
                args=(f"{AS_OF} 23:59:59.999999",),
            ),
        ),
        (
            "projects list",
            lambda: teams.holdings(engine, projects=True),
            sql(
                "SELECT project_id, model_id, status, count(*) FROM card"
                f" WHERE status IN {HELD} AND project_id IS NOT NULL GROUP BY 1, 2, 3"
            ),
        ),
        (
            "history (newest 200 batches)",
            lambda: history.batches(engine),
            sql(  # the newest summary rows and their batch events
                "SELECT * FROM batch ORDER BY last_event_id DESC LIMIT 200",
                "SELECT batch_id, action, before, after FROM event INDEXED BY ix_event_card_id"
                " WHERE card_id IS NULL AND batch_id IN (SELECT batch_id FROM batch"
                " ORDER BY last_event_id DESC LIMIT 200)",
            ),
        ),
        (
            "db check",
            lambda: maintenance.check(engine),
            sql(
                "PRAGMA quick_check",
                "PRAGMA foreign_key_check",
                "SELECT count(*) FROM card JOIN project ON project.id = card.project_id"
                " WHERE coalesce(card.team_id, -1) != project.team_id",
                "SELECT count(*) FROM event JOIN card ON card.id = event.card_id"
                " WHERE event.card_version > card.version",
                "SELECT count(*) FROM (SELECT DISTINCT batch_id FROM event)",
                "SELECT count(*) FROM event WHERE card_id IS NOT NULL",
                "SELECT count(*), sum(cards), max(last_event_id) FROM batch",
                "SELECT team_id, model_id, status, count(*) FROM card GROUP BY 1, 2, 3",
                "SELECT team_id, model_id, status, sum(cards) FROM holding_change GROUP BY 1, 2, 3",
            ),
        ),
    ]
    for name, ours, base in cases:
        if not args.only or name.startswith(tuple(args.only)):
            compare(name, ours, base, args.runs, 1.0)

    llm = raw.execute("SELECT id FROM team WHERE name = 'LLM'").fetchone()[0]
    candidates = sql(
        "SELECT c.id, c.serial, m.name, m.fp16_tflops, n.hostname, c.status, c.team_id,"
        " c.project_id, c.version, c.warranty_end, c.purchase_date, m.key, c.supplier"
        " FROM card c JOIN gpu_model m ON m.id = c.model_id LEFT JOIN node n ON n.id = c.node_id"
        " WHERE c.status IN ('spare', 'in_service') AND c.team_id = ?"
        " ORDER BY c.status != 'spare', c.warranty_end < ?, c.node_id, c.serial",
        args=(llm, TODAY),
    )
    big = min(10_000, args.cards // 100)  # the targets' 10,000 of 1M; a smaller fleet, 1%
    for count in (big + 3, big, 13) if not args.only or "plan" in args.only else ():

        def plan(count: int = count) -> None:
            moves.plan_request(
                engine, "Search", None, count=count, from_team="LLM", today=TODAY, settings=cfg
            )

        compare(f"plan --count {count:,} from LLM", plan, candidates, args.runs, 0.5)
    tracemalloc.start()
    moves.plan_request(
        engine, "Search", None, count=big + 3, from_team="LLM", today=TODAY, settings=cfg
    )
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    print(f"plan --count {big + 3:,}: peak Python memory {peak:.1f} MiB")
    tracemalloc.stop()


if __name__ == "__main__":
    main()
