"""Reallocation at fleet scale, on the 1,000,000-card demo database (a private copy).

    .venv/bin/python bench/reallocate_scale.py [--cards N]

Measures a planner request for 10,000 cards, committing that move (one batch, 10,000 events),
and undoing it, each the median of --runs runs (each on a fresh plan) with min and max. The
baseline, in the same run, is what any move must write: a raw sqlite3 transaction updating the
same 10,000 rows' team, project and version and appending their 10,000 audit events (before and
after as JSON); bench/report_scale.py compares the planner with the ordered SELECT of its
candidates. Target: each step under 2 s.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, demo_database, report

MOVE = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
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
    ids = [c.id for c in plan.cards]

    def raw_move(team: str) -> float:
        """The same cards to `team`, with one audit event each, in one transaction."""
        with sqlite3.connect(copy) as conn:
            team_id = conn.execute("SELECT id FROM team WHERE name = ?", (team,)).fetchone()[0]
            begin = time.perf_counter()
            now = datetime.now(UTC).isoformat(" ")
            before = conn.execute(
                f"SELECT id, serial, team_id, project_id, version FROM card"
                f" WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchall()
            conn.executemany(
                "UPDATE card SET team_id = ?, project_id = NULL, version = version + 1,"
                " updated_at = ? WHERE id = ?",
                [(team_id, now, i) for i in ids],
            )
            conn.executemany(
                "INSERT INTO event (at, actor, action, card_id, serial, card_version, batch_id,"
                " before, after, reason) VALUES (?, 'bench', 'move', ?, ?, ?, 'raw', ?, ?, '')",
                [
                    (
                        now,
                        i,
                        serial,
                        version + 1,
                        json.dumps({"team_id": t, "project_id": p, "version": version}),
                        json.dumps(
                            {"team_id": team_id, "project_id": None, "version": version + 1}
                        ),
                    )
                    for i, serial, t, p, version in before
                ],
            )
            conn.commit()
            return time.perf_counter() - begin

    print(f"first planner request, on the fresh copy: {planned * 1000:.0f} ms")
    baseline, plans, commits, undos = [], [], [], []
    for _ in range(args.runs):
        baseline += [raw_move("Search"), raw_move("LLM")]
        started = time.perf_counter()
        plan = moves.plan_request(
            engine,
            "Search",
            None,
            count=MOVE,
            from_team="LLM",
            today=date.today(),
            settings=Config(),
        )
        plans.append(time.perf_counter() - started)
        assert sorted(c.id for c in plan.cards) == sorted(ids)
        started = time.perf_counter()
        batch = moves.commit(engine, plan, "bench")
        commits.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = undo(engine, batch)
        undos.append(time.perf_counter() - started)
        assert result.restored == MOVE
    report("planner request (10,000 cards)", plans, baseline, target=2.0)
    report("commit the move (1 batch, 10,000 events)", commits, baseline, target=2.0)
    report("undo the batch", undos, baseline, target=2.0)


if __name__ == "__main__":
    main()
