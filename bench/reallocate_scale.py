"""Reallocation at fleet scale, on the 1,000,000-card demo database (a private copy).

    .venv/bin/python bench/reallocate_scale.py [--cards N]

Measures a planner request for 10,000 cards, committing that move (one batch, 10,000 events),
and undoing it; the baseline is a raw sqlite3 UPDATE of the same 10,000 rows' team and project
in the same run. Target: each step under 2 s on this machine.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, demo_database, report

MOVE = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    args = parser.parse_args()
    source = demo_database(args.cards)
    copy = OUT / f"reallocate-{args.cards}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)

    from fleetui.allocation import moves
    from fleetui.allocation.undo import undo
    from fleetui.config import Config
    from fleetui.store import open_fleet

    engine = open_fleet(str(copy))
    print(f"\nreallocate_scale: {args.cards:,} cards, moving {MOVE:,} from LLM to Search")
    started = time.perf_counter()
    plan = moves.plan_request(
        engine, "Search", None, count=MOVE, from_team="LLM", today=date.today(), settings=Config()
    )
    planned = time.perf_counter() - started
    assert len(plan.cards) == MOVE
    ids = [(c.id,) for c in plan.cards]

    def raw_update(team: str) -> float:
        with sqlite3.connect(copy) as conn:
            team_id = conn.execute("SELECT id FROM team WHERE name = ?", (team,)).fetchone()[0]
            begin = time.perf_counter()
            conn.executemany(
                f"UPDATE card SET team_id = {team_id}, project_id = NULL WHERE id = ?", ids
            )
            conn.commit()
            return time.perf_counter() - begin

    baseline = raw_update("Search")
    raw_update("LLM")  # put them back, so fleetui moves the same rows from the same state
    report("planner request (10,000 cards)", planned, baseline, target=2.0)
    started = time.perf_counter()
    batch = moves.commit(engine, plan, "bench")
    report(
        "commit the move (1 batch, 10,000 events)",
        time.perf_counter() - started,
        baseline,
        target=2.0,
    )
    started = time.perf_counter()
    result = undo(engine, batch)
    assert result.restored == MOVE
    report("undo the batch", time.perf_counter() - started, baseline, target=2.0)


if __name__ == "__main__":
    main()
