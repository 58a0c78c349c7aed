"""Work run from the TUI: user errors as literal notifications, a busy database as a notice,
and every screen current after a write made in the app."""

from __future__ import annotations

from contextlib import suppress
from typing import TypeVar

from textual.app import App
from textual.widgets import Button, DataTable, Input, Select, Static
from textual.worker import WorkerCancelled

from fleetui.allocation import moves, teams
from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db import engine as engine_module
from fleetui.db.locks import lock_cards_for_writing
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.history import HistoryScreen
from fleetui.screens.import_screen import ImportScreen
from fleetui.screens.reallocate import ReallocateModal
from fleetui.screens.work import run_service
from fleetui.store import BUSY, open_fleet

MARKED = "SN[b]1[/b]"

S = TypeVar("S")


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish, then the messages they post (FleetChanged) and the reloads those
    start: one round per hop."""
    for _ in range(rounds):
        with suppress(WorkerCancelled):  # one replaced by a newer one (exclusive)
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def opened(pilot, key: str, kind: type[S]) -> S:
    """The screen `key` opens, the app settled before and after."""
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, kind), pilot.app.screen
    return pilot.app.screen


async def import_screen_with(pilot, path, checked: bool = False) -> ImportScreen:
    """The Import screen (key I) with `path` typed into its path box and opened, as a user does;
    `checked`: its rows then checked (ctrl+r) and the check finished."""
    await pilot.press("I")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ImportScreen)
    await pilot.press(*str(path), "enter")
    await pilot.pause()
    if checked:
        await pilot.press("ctrl+r")
        await settle(pilot)
    return screen


def toasts(app) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def team_cards(screen: DashboardScreen, team: str) -> str:
    return str(screen.query_one("#teams", DataTable).get_row(team)[1])


async def test_a_user_error_in_any_worker_is_notified_literally():
    """Even in an app that does not force literal notifications, as FleetApp does."""

    def fails() -> None:
        raise UserError(f"No card {MARKED} at [u]00:AB[/u].")

    app: App[None] = App()
    async with app.run_test(notifications=True) as pilot:
        run_service(app.screen, fails, on_done=lambda _: app.exit())
        await settle(pilot)
        assert toasts(app) == [f"No card {MARKED} at [u]00:AB[/u]."]
        assert app.is_running  # on_done never ran


async def test_a_refused_undo_names_the_card_literally(engine, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(f"serial,model,team\n{MARKED},H100 SXM,Ads\n", "utf-8")
    run_import(engine, str(path), ImportOptions(create_missing=True, config=Config()))
    batches = []
    for team in ("LLM", "Search"):
        teams.add_team(engine, team)
        plan = moves.plan_cards(engine, [MARKED], team, None, settings=Config())
        batches.append(moves.commit(engine, plan, f"to {team}"))
    app = FleetApp(engine)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one("#batches", DataTable)
        table.move_cursor(row=table.get_row_index(batches[0]))  # the move to LLM
        await pilot.press("u", "y")
        await settle(pilot)
        assert any(
            f"Cards changed since batch {batches[0][:8]}: {MARKED};" in t for t in toasts(app)
        )
    assert inventory.detail(engine, MARKED, settings=Config()).fields["team"] == "Search"


async def start_move(pilot, to_team: str) -> tuple[list[str], ReallocateModal]:
    """In the inventory, mark two of Search's cards in service and preview moving them."""
    app = pilot.app
    await pilot.press("i")
    await pilot.press("slash", *"team:search status:in_service", "enter")
    await settle(pilot)
    chosen = [str(key.value) for key in app.screen.query_one("#cards", DataTable).rows][:2]
    await pilot.press("space", "space", "m")
    await pilot.pause()
    modal = app.screen
    assert isinstance(modal, ReallocateModal)
    modal.query_one("#to_team", Select).value = to_team
    await pilot.pause()
    modal.query_one("#reason", Input).value = "training run"
    modal.query_one("#preview", Button).press()
    await settle(pilot)
    assert "Move 2 cards" in str(modal.query_one("#plan", Static).render())
    return chosen, modal


async def test_a_busy_database_is_a_busy_notice_and_moves_nothing(
    demo_engine, demo_url, monkeypatch
):
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(engine_module, "LOCK_TIMEOUT_MS", 200)
    impatient = open_fleet(demo_url)
    app = FleetApp(impatient)
    async with app.run_test(size=(120, 44), notifications=True) as pilot:
        await settle(pilot)
        chosen, modal = await start_move(pilot, "LLM")
        with demo_engine.begin() as other_writer:  # another ops box, holding the cards
            lock_cards_for_writing(other_writer)
            modal.query_one("#move", Button).press()
            await settle(pilot)
        assert app.screen is modal  # still open: nothing was moved
        toast = app.screen.query_one("Toast")
        assert str(toast.render()).startswith("Busy") and BUSY in str(toast.render())
        assert toast.has_class("-warning")
    impatient.dispose()
    assert {inventory.detail(demo_engine, s, settings=Config()).fields["team"] for s in chosen} == {
        "Search"
    }


async def test_after_a_move_the_dashboard_shows_the_new_figures_without_r(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        before = {team: team_cards(dashboard, team) for team in ("LLM", "Search")}
        chosen, modal = await start_move(pilot, "LLM")
        modal.query_one("#move", Button).press()
        await settle(pilot)
        assert {
            inventory.detail(demo_engine, s, settings=Config()).fields["team"] for s in chosen
        } == {"LLM"}
        await pilot.press("d")  # no `r`
        await settle(pilot)
        assert app.screen is dashboard
        after = {team: team_cards(dashboard, team) for team in ("LLM", "Search")}
        assert int(after["LLM"].replace(",", "")) == int(before["LLM"].replace(",", "")) + 2
        assert int(after["Search"].replace(",", "")) == int(before["Search"].replace(",", "")) - 2
