"""SQLite's page cache: each pooled connection keeps its own, so readers get a small one and
only a bulk writer a large one, for as long as it writes: the cache is what a TUI's memory
grows by."""

from __future__ import annotations

from fleetui.config import Config
from fleetui.db.engine import READER_CACHE, WRITER_CACHE
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.store import open_fleet


def test_an_import_leaves_its_pooled_connection_with_the_readers_cache(tmp_path):
    engine = open_fleet(str(tmp_path / "fleet.db"))
    cards = tmp_path / "cards.csv"
    cards.write_text("serial,model,status\nS-1,H800 SXM 80GB,spare\n", encoding="utf-8")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == READER_CACHE
    result = run_import(engine, cards, ImportOptions(config=Config()))
    assert result.new == 1
    pooled = [engine.connect() for _ in range(engine.pool.size())]  # the import's among them
    assert [c.exec_driver_sql("PRAGMA cache_size").scalar() for c in pooled] == [
        READER_CACHE
    ] * len(pooled)
    assert WRITER_CACHE < READER_CACHE < 0
