"""What each screen looks like in its main states, at 80x24 and 160x45, reached by key presses
on a small seeded demo fleet. Deterministic: the app's day is fixed, the log's batch ids, times
and actors are rewritten to fixed values, and each shot waits for the screen's workers (never a
fixed pause). Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look."""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from textual.widgets import DataTable, Input, Select
from textual.worker import WorkerCancelled

from fleetui.admin import demo
from fleetui.allocation import moves
from fleetui.allocation.undo import undo
from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.inventory import cards as inventory
from fleetui.store import open_fleet
from fleetui.telemetry import poller
from tests.loopback import serving

TODAY = date(2026, 11, 1)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])


def fix_history(path: Path) -> None:
    """Batch ids, times and actors as fixed values, in the log's order (they are random and
    the clock's otherwise). The log is append-only: its triggers are lifted for this, then
    put back as they were; the batch summaries are made again from it."""
    start = datetime(2026, 11, 1, 9, 0)
    with sqlite3.connect(path) as conn:
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'event'"
        ).fetchall()
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        rows = conn.execute("SELECT id, batch_id, after FROM event ORDER BY id").fetchall()
        ids: dict[str, str] = {}
        for _, batch_id, _ in rows:
            ids.setdefault(batch_id, f"{len(ids) + 1:08x}" + "0" * 24)
        for event_id, batch_id, after in rows:
            for old, new in ids.items():
                after = after.replace(old, new) if after else after
            n = int(ids[batch_id][:8], 16)
            conn.execute(
                "UPDATE event SET batch_id = ?, at = ?, actor = 'ops', after = ? WHERE id = ?",
                (
                    ids[batch_id],
                    f"{start + timedelta(minutes=n):%Y-%m-%d %H:%M:%S.%f}",
                    after,
                    event_id,
                ),
            )
        for _, sql in triggers:
            conn.execute(sql)
        conn.execute("DELETE FROM batch")  # the summaries of the batches as rewritten
        conn.execute(
            "INSERT INTO batch SELECT batch_id, min(at), min(actor), min(action), count(card_id),"
            " max(reason), max(id) FROM event GROUP BY batch_id"
        )


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "demo.db"
    engine = open_fleet(str(path))
    demo.build(engine, cards=200, seed=7)
    engine.dispose()
    fix_history(path)
    return path


@pytest.fixture
def fleet_file(small_demo, tmp_path) -> Path:
    copy = tmp_path / "demo.db"
    with sqlite3.connect(small_demo) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


@pytest.fixture
def fleet(fleet_file) -> Engine:
    engine = open_fleet(str(fleet_file))
    yield engine
    engine.dispose()


def app_on(engine: Engine) -> FleetApp:
    app = FleetApp(engine, today=lambda: TODAY, clock=lambda: NOW, settings=Config())
    app.sub_title = "demo.db"
    return app


def laid_out(app) -> bool:
    """Whether every table has sized its columns to its rows: DataTable does that on its next
    idle event, which may come after the workers and a pause (an import-errors shot once caught
    the columns at their headers' widths)."""
    return not any(
        getattr(t, "_require_update_dimensions", False) for t in app.screen.query(DataTable)
    )


async def settle(pilot) -> None:
    """Until no worker runs (each finished one may start another: a reload) and
    every table is laid out."""
    for _ in range(20):
        with suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers) and laid_out(pilot.app):
            break
    for screen in pilot.app.screen_stack:  # a blinking cursor is in the picture, or not, by time
        for box in screen.query(Input):
            box.cursor_blink = False
    await pilot.pause()
    for _ in range(50):  # a table refilled meanwhile (a resize: the Telemetry screen's columns
        if laid_out(pilot.app):  # were caught at their headers' widths, under load)
            break
        await pilot.pause()


class Typed(str):
    """Text typed a character at a time (other presses are key names)."""


def keys(*presses: str):
    """A run_before that presses keys, letting every worker finish after each."""

    async def run(pilot) -> None:
        pilot.app.sub_title = "demo.db"
        await settle(pilot)
        for press in presses:
            await pilot.press(*(press if isinstance(press, Typed) else [press]))
            await settle(pilot)

    return run


@SIZES
def test_dashboard(snap_compare, fleet, size):
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=keys())


@SIZES
def test_inventory_filtered(snap_compare, fleet, size):
    run = keys("i", "slash", Typed("team:llm model:h800"), "enter")
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=run)


@SIZES
def test_card_detail(snap_compare, fleet, size):
    run = keys("i", "slash", Typed("team:llm"), "enter", "enter")
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=run)


@SIZES
def test_move_preview(snap_compare, fleet, size):
    async def run(pilot) -> None:
        await keys("i", "space", "space", "m")(pilot)
        pilot.app.screen.query_one("#to_team", Select).value = "Search"
        await settle(pilot)
        pilot.app.screen.query_one("#reason").focus()
        await keys(Typed("new search model"), "enter")(pilot)

    assert snap_compare(app_on(fleet), terminal_size=size, run_before=run)


@SIZES
def test_edit_form(snap_compare, fleet, size):
    run = keys("i", "space", "space", "e", Typed("retired"), "tab", Typed("dead fan"), "enter")
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=run)


@SIZES
def test_history_with_an_undone_batch(snap_compare, fleet, fleet_file, size):
    serials = [r.serial for r in inventory.cards(fleet, "team:search", 3, settings=Config())]
    plan = moves.plan_cards(fleet, serials, "LLM", "sft", settings=Config())
    undo(fleet, moves.commit(fleet, plan, "training run"), reason="wrong team")
    fleet.dispose()
    fix_history(fleet_file)
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=keys("h", "down"))


@SIZES
def test_import_errors(snap_compare, fleet, size, tmp_path, monkeypatch):
    lines = ["serial,model,team,status"]
    lines += [f"NEW-{row},{'Z999' if row % 3 else 'H800 SXM'},LLM,spare" for row in range(2, 12)]
    (tmp_path / "new.csv").write_text("\n".join(lines) + "\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    run = keys("I", Typed("new.csv"), "enter", "ctrl+r")
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=run)


@SIZES
def test_lifecycle_charts(snap_compare, fleet, size):
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=keys("l"))


def dcgm_page(host: str, gpus: list[tuple[str, str, int, int]]) -> str:
    """dcgm-exporter's page for one node: (serial, bus, utilization, Xid) per GPU."""
    lines = []
    for field in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_XID_ERRORS"):
        lines += [f"# HELP {field} DCGM field.", f"# TYPE {field} gauge"]
        for index, (serial, bus, util, xid) in enumerate(gpus):
            value = {"DCGM_FI_DEV_GPU_UTIL": util, "DCGM_FI_DEV_GPU_TEMP": 60 + util // 4}.get(
                field, xid
            )
            lines.append(
                f'{field}{{gpu="{index}",UUID="GPU-{index:08d}-0000-0000-0000-000000000000",'
                f'pci_bus_id="{bus}",modelName="NVIDIA A100-SXM4-80GB",Hostname="{host}",'
                f'DCGM_FI_DEV_SERIAL="{serial}"}} {value}'
            )
    return "\n".join(lines) + "\n"


@SIZES
def test_telemetry_with_discrepancies(snap_compare, fleet, size):
    """One demo node's dcgm-exporter: a card it holds (busy), another falling off the bus
    (Xid 79), one recorded on another node (moved), an unknown serial; the node's other cards
    go unreported (missing). Ages read the app's fixed clock."""
    page = dcgm_page(
        "bj1-a100-000022",
        [
            ("1210000000169", "00000000:18:00.0", 97, 0),
            ("1210000000170", "00000000:2A:00.0", 0, 79),
            ("1210000000193", "00000000:3A:00.0", 40, 0),
            ("1219999999999", "00000000:5D:00.0", 12, 0),
        ],
    )
    with serving(page) as url:
        poller.add_node(fleet, "bj1-a100-000022", url, "dcgm")
        assert snap_compare(app_on(fleet), terminal_size=size, run_before=keys("g"))


@SIZES
def test_help(snap_compare, fleet, size):
    assert snap_compare(app_on(fleet), terminal_size=size, run_before=keys("i", "question_mark"))
