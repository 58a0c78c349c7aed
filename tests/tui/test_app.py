"""The TUI driven through Textual's Pilot on a real demo database."""

from __future__ import annotations

import io
import re
import threading
from contextlib import suppress
from datetime import date, timedelta

from rich.console import Console
from sqlalchemy import event
from textual import events
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerCancelled

from fleetui.app import FleetApp
from fleetui.config import Config
from fleetui.core.vocabulary import HELD
from fleetui.inventory import cards as inventory
from fleetui.inventory import edit
from fleetui.screens.card_detail import CardDetailScreen
from fleetui.screens.dashboard import DashboardScreen
from fleetui.screens.help import HelpScreen
from fleetui.screens.inventory import PAGE_SIZE, InventoryScreen
from fleetui.screens.plain import PlainLabel
from tests.tui.test_work import import_screen_with, opened


async def settle(pilot) -> None:
    """Until no worker runs: a finished one may start another (a reload after a write); a
    modal's worker ends cancelled when its result dismisses it."""
    for _ in range(20):
        with suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            break


def table_serials(screen) -> list[str]:
    table = screen.query_one("#cards", DataTable)
    return [str(key.value) for key in table.rows]


async def test_opens_on_the_dashboard_with_compute_per_team(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        teams = app.screen.query_one("#teams", DataTable)
        names = {str(k.value) for k in teams.rows}
        assert {"LLM", "Ads ranking", "Search", "Cloud rental"} <= names
        totals = str(app.screen.query_one("#totals", Static).render())
        assert "2,000" in totals and "PFLOPS" in totals


async def test_each_models_status_columns_add_up_to_its_cards(demo_engine):
    """Every status has its column (on order too), so a model's row adds up to its total."""
    spare = inventory.cards(demo_engine, "status:spare", 1, "serial", settings=Config())
    serial = next(iter(spare)).serial
    plan = edit.plan_edit(demo_engine, [serial], None, {"status": "on_order"}, settings=Config())
    edit.commit_edit(demo_engine, plan, "ordered again")
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        models = app.screen.query_one("#models", DataTable)
        headings = [str(c.label) for c in models.columns.values()]
        assert headings[1:-1] == ["Cards", "Service", "Spare", "Repair", "Retired", "Ordered"]
        on_order = 0
        for key in models.rows:
            cells = [int(str(c).replace(",", "")) for c in models.get_row(key)[1:-1]]
            assert cells[0] == sum(cells[1:]), (key.value, cells)
            on_order += cells[-1]
        assert on_order >= 1


async def test_the_team_table_says_what_its_cards_leave_out(demo_engine):
    """Teams count held cards; the retired and on-order rest is named, so all add up."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        teams = app.screen.query_one("#teams", DataTable)
        held = sum(int(str(teams.get_row(k)[1]).replace(",", "")) for k in teams.rows)
        other = re.fullmatch(r"\+ ([\d,]+) retired or on order", str(teams.border_subtitle))
        assert other, teams.border_subtitle
        assert held + int(other[1].replace(",", "")) == 2000


async def test_navigate_filter_open_a_card_and_come_back(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InventoryScreen)
        assert len(table_serials(screen)) == PAGE_SIZE

        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"team:llm status:spare")
        await settle(pilot)
        shown = table_serials(screen)
        expected = [
            r.serial
            for r in inventory.cards(demo_engine, "team:llm status:spare", settings=Config())
        ]
        assert shown == expected[:PAGE_SIZE] and shown
        position = str(screen.query_one("#position", Static).render())
        assert f"of {len(expected):,}" in position

        await pilot.press("enter")  # leave the filter box
        await pilot.press("enter")  # open the highlighted card
        await settle(pilot)
        assert isinstance(app.screen, CardDetailScreen)
        assert app.screen.serial == shown[0]
        assert shown[0] in app.screen.query_one("#fields", Static).content.title

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert screen.query_one("#filter", Input).value == "team:llm status:spare"


async def test_page_down_and_up_walk_the_inventory(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        first = table_serials(app.screen)
        await pilot.press("pagedown")
        await settle(pilot)
        second = table_serials(app.screen)
        assert second[0] > first[-1] and len(second) == PAGE_SIZE
        assert "cards 101–200 of 2,000" in str(app.screen.query_one("#position", Static).render())
        await pilot.press("pageup")
        await settle(pilot)
        assert table_serials(app.screen) == first


def door(engine) -> threading.Event:
    """While the door is closed (`clear()`), every query on `engine` waits at it: what the
    screen asks meanwhile is still in flight, as it is on a large fleet. Open: `set()`."""
    door = threading.Event()
    door.set()
    event.listen(engine, "before_cursor_execute", lambda *_args: door.wait(30))
    return door


async def test_every_quick_page_press_turns_one_page(demo_engine):
    """Presses made while a page loads add up: ] x5 from page 1 lands on page 6, [ x3 on 3."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await opened(pilot, "i", InventoryScreen)
        position = app.screen.query_one("#position", Static)
        serials = [
            r.serial for r in inventory.page(demo_engine, limit=2000, settings=Config()).rows
        ]
        queries = door(demo_engine)
        for keys, first in (("]" * 5, 501), ("[" * 3, 201), ("]" * 30, 1901), ("[" * 30, 1)):
            queries.clear()
            await pilot.press(*keys)
            queries.set()
            await settle(pilot)
            assert f"cards {first:,}–" in str(position.render()), keys
            assert table_serials(app.screen)[0] == serials[first - 1]


NAMES = {" ": "space", '"': "quotation_mark", ":": "colon", "/": "slash"}  # Textual's key names


async def test_keys_typed_in_a_burst_into_the_filter_are_applied_in_order(demo_engine):
    """Backspaces, then a new filter, arriving at once (typed quickly while a reload ran, as
    the terminal hands them over): the box holds exactly the new filter, and the cards match it."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        screen = await opened(pilot, "i", InventoryScreen)
        await pilot.press("slash", *"team:llm")
        await settle(pilot)
        typed = 'team:"Ads ranking" status:spare'
        burst = [events.Key("backspace", "\x7f")] * 8 + [
            events.Key(NAMES.get(c, c), c) for c in typed
        ]
        queries = door(demo_engine)
        queries.clear()  # the reloads each key starts are in flight meanwhile
        for key in burst:
            app.post_message(key)
        await pilot.pause()
        queries.set()
        await settle(pilot)
        assert screen.query_one("#filter", Input).value == typed
        assert screen.query_text == typed
        expected = inventory.page(demo_engine, typed, limit=PAGE_SIZE, settings=Config())
        assert table_serials(screen) == [r.serial for r in expected.rows] != []


async def test_a_filter_typed_quickly_after_the_filter_key_goes_into_the_box(demo_engine):
    """`/` then `team:llm` arriving at once: the characters went to the table and on to the
    app's keys (`l` opened the Lifecycle screen) while the box waited for its focus. And `/`
    typed in the box is a character (a team's name may hold one)."""
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        screen = await opened(pilot, "i", InventoryScreen)
        for c in "/team:llm":
            app.post_message(events.Key(NAMES.get(c, c), c))
        await settle(pilot)
        assert app.screen is screen
        box = screen.query_one("#filter", Input)
        assert box.value == "team:llm" and box.has_focus
        await pilot.press("slash", "x")
        assert box.value == "team:llm/x"


async def test_sort_key_and_bad_filter_feedback(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("s")  # serial -> model
        await settle(pilot)
        assert app.screen.sort == "model"
        expected = [
            r.serial
            for r in inventory.cards(demo_engine, "", PAGE_SIZE, "model", settings=Config())
        ]
        assert table_serials(app.screen) == expected
        await pilot.press("slash", *"team:llm")
        await settle(pilot)
        good = table_serials(app.screen)
        await pilot.press("space", "quotation_mark")
        await settle(pilot)
        message = str(app.screen.query_one("#position", Static).render())
        assert "unclosed quote" in message
        assert table_serials(app.screen) == good, "a bad filter keeps the last good page"


async def test_dashboard_row_opens_the_teams_cards(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        teams = app.screen.query_one("#teams", DataTable)
        teams.focus()
        row = [str(k.value) for k in teams.rows].index("Search")
        teams.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        held = ",".join(HELD)  # the cards the row counts
        assert app.screen.query_one("#filter", Input).value == f'team="Search" status:{held}'
        shown = table_serials(app.screen)
        assert shown
        assert {
            inventory.detail(demo_engine, s, settings=Config()).fields["team"] for s in shown
        } == {"Search"}


async def test_help_lists_the_screens_keys(demo_engine):
    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        described = dict(app.screen.keys)
        assert described["/"] == "Filter" and described["d"] == "Dashboard"
        assert "enter" in described and "ctrl+p" in described
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InventoryScreen)


def test_dashboard_snapshot(snap_compare, demo_file, tmp_path):
    from fleetui.store import open_fleet

    app = FleetApp(open_fleet(str(demo_file)), today=lambda: date(2026, 11, 1))

    async def loaded(pilot) -> None:
        app.sub_title = "demo.db"
        for _ in range(50):  # the totals and the alerts, each from its own worker
            await settle(pilot)
            alerts = str(app.screen.query_one("#alerts", Static).render())
            if not alerts.startswith("Checking") and app.screen.query_one("#teams").row_count:
                break
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 34), run_before=loaded)


async def test_import_screen_checks_every_row_then_imports(demo_engine, tmp_path):
    from textual.widgets import Button

    path = tmp_path / "new.csv"
    text = "序列号,型号,部门,状态\nNEW-1,H800 SXM,LLM,在用\nNEW-2,Z999,LLM,备用\n"
    path.write_text(text, "gb18030")
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path)
        mapping = screen.query_one("#mapping", DataTable)
        assert [str(mapping.get_row_at(i)[0]) for i in range(4)] == [
            "序列号",
            "型号",
            "部门",
            "状态",
        ]
        await pilot.press("ctrl+r")
        await settle(pilot)
        errors = screen.query_one("#errors", DataTable)
        assert errors.row_count == 1 and "Z999" in str(errors.get_row_at(0))
        assert screen.query_one("#run", Button).disabled
        assert inventory.count(demo_engine, "serial:NEW", settings=Config()) == 0

        screen.query_one("#skip_invalid").value = True
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "1 new" in str(screen.query_one("#summary", Static).render())
        run = screen.query_one("#run", Button)
        assert not run.disabled
        run.press()
        await settle(pilot)
        assert "Imported: 1 new" in str(screen.query_one("#summary", Static).render())
        assert [
            r.serial for r in inventory.cards(demo_engine, "serial:NEW", settings=Config())
        ] == ["NEW-1"]


async def test_mark_move_then_undo_from_history(demo_engine):
    from textual.widgets import Button, Select

    from fleetui.screens.history import HistoryScreen
    from fleetui.screens.reallocate import ReallocateModal

    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await pilot.press("slash", *"team:search status:in_service", "enter")
        await settle(pilot)
        inventory_screen = app.screen
        chosen = table_serials(inventory_screen)[:2]
        await pilot.press("space", "space", "m")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ReallocateModal) and modal.serials == sorted(chosen)
        modal.query_one("#to_team", Select).value = "LLM"
        await pilot.pause()
        modal.query_one("#to_project", Select).value = "sft"
        modal.query_one("#reason", Input).value = "training run"
        modal.query_one("#preview", Button).press()
        await pilot.pause()  # the Pressed handler starts the planning worker
        await settle(pilot)
        preview = str(modal.query_one("#plan", Static).render())
        assert "Move 2 cards" in preview and "LLM" in preview
        modal.query_one("#move", Button).press()
        await settle(pilot)
        assert app.screen is inventory_screen
        assert {
            inventory.detail(demo_engine, s, settings=Config()).fields["project"] for s in chosen
        } == {"sft"}

        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        batches = app.screen.query_one("#batches", DataTable)
        assert "move.batch" in str(batches.get_row_at(0))
        assert "why: training run" in str(app.screen.query_one("#batch-detail", Static).render())
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert {
            inventory.detail(demo_engine, s, settings=Config()).fields["team"] for s in chosen
        } == {"Search"}


async def test_the_undo_dialog_survives_a_recompose(demo_engine):
    """Textual recomposes a screen inside its own `batch()`; the dialog once stored the batch
    to undo under that name, so a recompose failed with "'Batch' object is not callable"."""
    from fleetui.screens.dialogs import Confirm

    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("u")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, Confirm)
        await dialog.recompose()
        await pilot.pause()
        assert "Undo batch" in str(dialog.query_one(PlainLabel).render())
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)


async def test_teams_screen_lists_holdings_with_projects(demo_engine):
    from fleetui.screens.teams import TeamsScreen

    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, "t", TeamsScreen)
        table = app.screen.query_one("#holdings", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][0] == "LLM" and "  pretrain" in [r[0] for r in rows]
        # each team's project lines, with its cards in no project, add up to the team
        sums: list[list[int]] = []  # per team: its cards, its lines' cards
        for label, cards, *_ in rows:
            if label.startswith("  "):
                sums[-1][1] += int(cards.replace(",", ""))
            else:
                sums.append([int(cards.replace(",", "")), 0])
        assert all(held == parts for held, parts in sums if parts), sums
        assert "  (no project)" in [r[0] for r in rows]


async def test_enter_on_a_teams_screen_line_opens_the_cards_it_holds(demo_engine):
    """Enter on a Teams line did nothing (the dashboard's team lines open their cards): a
    team, a project or the team's "(no project)" line opens the inventory on those cards."""
    from fleetui.screens.teams import TeamsScreen

    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, "t", TeamsScreen)
        table = app.screen.query_one("#holdings", DataTable)
        lines = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        for label in ("LLM", "  pretrain", "  (no project)"):
            await pilot.press("t")
            await settle(pilot)
            row = [line[0] for line in lines].index(label)
            table.move_cursor(row=row)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, InventoryScreen), label
            assert app.screen.total == int(lines[row][1].replace(",", "")), label


async def test_teams_screen_tells_apart_projects_whose_team_and_name_join_alike(
    db_url, engine, tmp_path
):
    """Team "A/B"'s project "C" and team "A"'s project "B/C" both join as "A/B/C": as the
    rows' keys they clashed, and the screen failed to show."""
    from fleetui.screens.teams import TeamsScreen
    from tests.test_teams import MODEL, cli

    cards = tmp_path / "cards.csv"
    rows = [("X-1", "A/B", "C"), ("X-2", "A", "B/C"), ("X-3", "A", "")]
    cards.write_text(
        "serial,model,team,project\n" + "".join(f"{s},{MODEL},{t},{p}\n" for s, t, p in rows)
    )
    assert cli(db_url, "import", str(cards), "--create-missing").exit_code == 0
    app = FleetApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, "t", TeamsScreen)
        table = app.screen.query_one("#holdings", DataTable)
        shown = [(str(r[0]), str(r[1])) for r in map(table.get_row_at, range(table.row_count))]
    assert shown == [
        ("A", "2"),
        ("  B/C", "1"),
        ("  (no project)", "1"),
        ("A/B", "1"),
        ("  C", "1"),
    ]


async def test_teams_screen_names_every_model_a_line_holds_and_no_negative_zero(
    db_url, engine, tmp_path
):
    """A line's models left out one held only in repair, and its (no project) line showed
    "A40 -0.0": the team's PFLOPS less its projects' differed from zero by a float's error."""
    from fleetui.screens.teams import TeamsScreen
    from tests.test_teams import cli

    cards = tmp_path / "cards.csv"
    rows = [("a-1", "A40", "p1", "in_service"), ("a-2", "A40", "p2", "in_service")]
    rows += [("a-3", "A40", "p2", "in_service"), ("a-4", "A40", "", "repair")]
    rows += [("h-1", "H20 96GB", "", "repair")]
    cards.write_text(
        "serial,model,team,project,status\n"
        + "".join(f"{s},{m},T,{p},{st}\n" for s, m, p, st in rows)
    )
    assert cli(db_url, "import", str(cards), "--create-missing").exit_code == 0
    app = FleetApp(engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await opened(pilot, "t", TeamsScreen)
        table = app.screen.query_one("#holdings", DataTable)
        shown = {
            str(r[0]).strip(): str(r[4]) for r in map(table.get_row_at, range(table.row_count))
        }
    assert set(shown["(no project)"].split(", ")) == {"A40 0.0 (1)", "H20 96GB 0.0 (1)"}
    assert shown["T"] == "A40 0.4 (4), H20 96GB 0.0 (1)"
    assert "-0.0" not in " ".join(shown.values())


async def test_teams_screen_marks_a_quota_exceeded_as_teams_list_does(db_url, engine, tmp_path):
    """The quota use shows "(over)" (in red) where a holding exceeds a quota: the CLI's words."""
    from fleetui.screens.teams import TeamsScreen
    from tests.test_teams import over_quota_fleet

    over_quota_fleet(db_url, tmp_path)
    app = FleetApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, "t", TeamsScreen)
        table = app.screen.query_one("#holdings", DataTable)
        quota = {
            str(row[0]).strip(): row[3] for row in map(table.get_row_at, range(table.row_count))
        }
        assert str(quota["LLM"]) == "2/1 card (over)" and quota["LLM"].style == "bold red"
        assert str(quota["Search"]) == "2/2 cards, 2.0/1.5 PFLOPS (over)"
        assert str(quota["pretrain"]) == "2/5 cards" and not quota["pretrain"].style
        assert str(quota["Ads"]) == "1/2 cards, 1.0/1 PFLOPS" and not quota["Ads"].style


async def test_dashboard_alerts_jump_to_the_matching_cards(demo_engine):
    from fleetui.screens.lifecycle import LifecycleScreen

    app = FleetApp(demo_engine)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        alerts = str(app.screen.query_one("#alerts", Static).render())
        expected = inventory.count(demo_engine, "eol:past", settings=Config())
        assert f"{expected:,} in service past end of life" in alerts
        await pilot.press("e")
        await settle(pilot)
        assert app.screen.query_one("#filter", Input).value == "eol:past"
        assert f"of {expected:,}" in str(app.screen.query_one("#position", Static).render())
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LifecycleScreen)
        cliff = app.screen.query_one("#cliff", Static).content
        assert cliff.title.startswith("End of service life per quarter")


async def checked_import(pilot, path):
    """The import screen with every row of `path` checked, and its errors table."""
    await settle(pilot)
    screen = await import_screen_with(pilot, path, checked=True)
    return screen, screen.query_one("#errors", DataTable)


async def test_import_screen_lists_every_row_range_of_an_error(demo_engine, tmp_path):
    models = {2: "Z999", 3: "Z999", 4: "Z999", 9: "Z999", 12: "Z999"}
    lines = ["serial,model,team,status"]
    lines += [f"NEW-{row},{models.get(row, 'H800 SXM')},LLM,spare" for row in range(2, 14)]
    path = tmp_path / "ranges.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        _screen, errors = await checked_import(pilot, path)
        assert errors.row_count == 1
        assert str(errors.get_row_at(0)[0]) == "rows 2-4, 9, 12"


async def test_import_screen_writes_out_the_highlighted_problem_whole(demo_engine, tmp_path):
    """The errors table cuts a long problem at its edge; the line below it gives the
    highlighted one whole, as the CLI prints it."""
    path = tmp_path / "long.csv"
    path.write_text("serial,model,price\nN/A,H800 SXM,100\nP-2,H800 SXM,abc\n", "utf-8")
    app = FleetApp(demo_engine)
    async with app.run_test(size=(80, 44)) as pilot:
        screen, errors = await checked_import(pilot, path)
        assert errors.row_count == 2
        detail = lambda: str(screen.query_one("#error_detail", Static).render())  # noqa: E731
        problem = str(errors.get_row_at(0)[3])
        assert len(problem) > 80  # more than the table can show
        assert detail() == f"row 2, column 'serial', value 'N/A': {problem}"
        errors.move_cursor(row=1)
        await settle(pilot)
        assert detail() == "row 3, column 'price', value 'abc': " + str(errors.get_row_at(1)[3])


async def test_import_screen_lists_a_repeated_serial_beside_the_rows_other_errors(
    demo_engine, tmp_path
):
    path = tmp_path / "repeats.csv"
    path.write_text("serial,model,price\nREP-1,H800 SXM,abc\nREP-1,H800 SXM,100\n", "utf-8")
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        _screen, errors = await checked_import(pilot, path)
        shown = [[str(cell) for cell in errors.get_row_at(i)] for i in range(errors.row_count)]
        assert [row[:3] for row in shown] == [
            ["row 2", "price", "abc"],
            ["row 3", "serial", "REP-1"],
        ]
        assert shown[1][3] == "the same serial is on row 2"


async def test_request_cards_by_count_from_a_key_and_the_palette(demo_engine):
    """`R` (and "Request cards" in ctrl+p) asks for N cards of a model from a team: preview,
    confirm, and the teams' holdings change by exactly those cards."""
    from textual.command import CommandPalette
    from textual.widgets import Button, Select

    from fleetui.allocation import teams
    from fleetui.screens.reallocate import ReallocateModal

    def h800s() -> dict[str, int]:
        return {h.name: h.by_model.get("H800 SXM 80GB", 0) for h in teams.holdings(demo_engine)}

    before = h800s()
    app = FleetApp(demo_engine, today=lambda: date(2026, 11, 1))
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert "R" in shown, "the request key is in the footer"

        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Request cards")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReallocateModal)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("R")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ReallocateModal) and not modal.serials
        modal.query_one("#amount", Input).value = "8"
        modal.query_one("#models", Input).value = "H800 SXM"
        modal.query_one("#from_team", Select).value = "LLM"
        modal.query_one("#to_team", Select).value = "Search"
        await pilot.pause()
        modal.query_one("#reason", Input).value = "new search model"
        modal.query_one("#preview", Button).press()
        await pilot.pause()  # the Pressed handler starts the planning worker
        await settle(pilot)
        preview = str(modal.query_one("#plan", Static).render())
        assert "Move 8 cards" in preview and "Search" in preview
        assert h800s() == before, "a preview moves nothing"
        modal.query_one("#move", Button).press()
        await pilot.pause()  # the Pressed handler starts the move worker
        await settle(pilot)
        assert not isinstance(app.screen, ReallocateModal)
    after = h800s()
    assert after["Search"] == before.get("Search", 0) + 8
    assert after["LLM"] == before["LLM"] - 8


def held(engine, query: str) -> int:
    """The cards `query` finds that compute (in service or spare)."""
    return inventory.count(engine, query + " status:in_service,spare", settings=Config())


async def request_dialog(pilot):
    """The Request dialog, opened with `R` on the dashboard."""
    from fleetui.screens.reallocate import ReallocateModal

    await settle(pilot)
    await pilot.press("R")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ReallocateModal)
    return pilot.app.screen


async def pressed(pilot, modal, button: str) -> str:
    """Press a dialog's button; what the dialog then says below its form ("" once closed)."""
    from textual.widgets import Button

    modal.query_one(button, Button).press()
    await pilot.pause()
    await settle(pilot)
    return str(modal.query_one("#plan", Static).render()) if pilot.app.screen is modal else ""


async def test_request_cards_from_one_project_of_a_team(demo_engine):
    """ "Take 16 cards from Ads' ranking project": the CLI's --from-project, which the Request
    dialog lacked (it took from any of the team's projects)."""
    from textual.widgets import Select

    from fleetui.allocation import teams
    from fleetui.inventory.query import quote

    project = teams.directory(demo_engine)["LLM"][-1]
    source, others = f"team=LLM project={quote(project)}", "team=LLM"
    before = held(demo_engine, source), held(demo_engine, others)
    app = FleetApp(demo_engine, today=lambda: date(2026, 11, 1))
    async with app.run_test(size=(120, 44)) as pilot:
        modal = await request_dialog(pilot)
        modal.query_one("#amount", Input).value = "4"
        modal.query_one("#from_team", Select).value = "LLM"
        await pilot.pause()  # the team's projects are offered
        modal.query_one("#from_project", Select).value = project
        modal.query_one("#to_team", Select).value = "Search"
        await pilot.pause()
        modal.query_one("#reason", Input).value = "ranking needs them"
        await pressed(pilot, modal, "#preview")
        await pressed(pilot, modal, "#move")
        assert app.screen is not modal
    after = held(demo_engine, source), held(demo_engine, others)
    assert after == (before[0] - 4, before[1] - 4)


async def test_request_cards_from_the_free_pool(demo_engine):
    """The dashboard's (unassigned) line is a source too: the cards of no team."""
    from textual.widgets import Select

    before = held(demo_engine, "team:none"), held(demo_engine, "team=Search")
    app = FleetApp(demo_engine, today=lambda: date(2026, 11, 1))
    async with app.run_test(size=(120, 44)) as pilot:
        modal = await request_dialog(pilot)
        modal.query_one("#amount", Input).value = "3"
        modal.query_one("#from_team", Select).value = "(unassigned)"
        await pilot.pause()
        assert modal.query_one("#from_project", Select).is_blank()  # the pool has no projects
        modal.query_one("#to_team", Select).value = "Search"
        modal.query_one("#reason", Input).value = "from the pool"
        await pressed(pilot, modal, "#preview")
        await pressed(pilot, modal, "#move")
        assert app.screen is not modal
        notes = [n.message for n in app._notifications]  # it said "Moved (batch …)."
        assert notes[-1].startswith("Moved 3 cards to Search (batch "), notes
    after = held(demo_engine, "team:none"), held(demo_engine, "team=Search")
    assert after == (before[0] - 3, before[1] + 3)


async def test_marked_cards_go_back_to_the_free_pool(demo_engine):
    """The move dialog offers "(unassigned)" as a destination: the cards leave their team
    and project (only an undo could do that before), and the pool has no projects to offer."""
    from textual.widgets import Select

    from fleetui.screens.reallocate import ReallocateModal

    before = held(demo_engine, "team:none"), held(demo_engine, "team=Search")
    app = FleetApp(demo_engine, today=lambda: date(2026, 11, 1))
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await pilot.press("slash", *"team:search status:in_service", "enter")
        await settle(pilot)
        chosen = table_serials(app.screen)[:2]
        await pilot.press("space", "space", "m")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ReallocateModal)
        modal.query_one("#to_team", Select).value = "(unassigned)"
        await pilot.pause()
        assert modal.query_one("#to_project", Select).is_blank()
        modal.query_one("#reason", Input).value = "Search is done with them"
        said = await pressed(pilot, modal, "#preview")
        assert "Move 2 cards" in said and "(unassigned)" in said
        await pressed(pilot, modal, "#move")
        assert app.screen is not modal
        notes = [n.message for n in app._notifications]  # Textual keeps no public list
        assert notes[-1].startswith("Moved 2 cards to (unassigned) (batch "), notes
    fields = [inventory.detail(demo_engine, s, settings=Config()).fields for s in chosen]
    assert {(f["team"], f["project"]) for f in fields} == {(None, None)}
    after = held(demo_engine, "team:none"), held(demo_engine, "team=Search")
    assert after == (before[0] + 2, before[1] - 2)


async def test_the_request_dialog_names_its_own_fields_not_the_clis_options(demo_engine):
    from textual.widgets import Select

    app = FleetApp(demo_engine, today=lambda: date(2026, 11, 1))
    async with app.run_test(size=(120, 44)) as pilot:
        modal = await request_dialog(pilot)
        modal.query_one("#amount", Input).value = "4"
        said = await pressed(pilot, modal, "#preview")
        assert said == "Say where the cards go: a team to move them to (and a project)."
        modal.query_one("#to_team", Select).value = "Search"
        modal.query_one("#from_team", Select).value = "LLM"
        await pilot.pause()
        modal.query_one("#from_project", Select).value = "(no project)"
        said = await pressed(pilot, modal, "#preview")
        assert "--" not in said, said
        # a preview shown, the move asks for a reason
        assert await pressed(pilot, modal, "#move") == "Say why: a move needs a reason."


async def test_filters_and_card_details_are_judged_on_the_apps_today(demo_engine):
    """The dashboard's alert, the `warranty:` filter it jumps to and a card's warranty state
    all use the day the app was given, never the clock."""
    from fleetui import config
    from fleetui.lifecycle import rules as lifecycle

    day = date(2024, 6, 1)
    groups = lifecycle.snapshot(demo_engine, config.load(), day).groups
    expected = sum(
        g.cards
        for g in groups
        if g.status in HELD and g.warranty_end and day <= g.warranty_end <= day + timedelta(90)
    )
    assert (
        inventory.count(demo_engine, "warranty:90d", today=day, settings=Config()) == expected > 0
    )
    app = FleetApp(demo_engine, today=lambda: day)
    async with app.run_test(size=(110, 36)) as pilot:
        await settle(pilot)
        assert f"{expected:,} within 90 days" in str(app.screen.query_one("#alerts").render())
        await pilot.press("W")
        await settle(pilot)
        assert app.screen.query_one("#filter", Input).value == "warranty:90d"
        assert f"of {expected:,}" in str(app.screen.query_one("#position", Static).render())
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CardDetailScreen)
        shown = Console(file=io.StringIO(), width=200)
        shown.print(app.screen.query_one("#fields", Static).content)
        assert re.search(r"warranty state[\s│]+expiring", shown.file.getvalue())


async def test_a_value_with_line_breaks_shows_them_in_a_one_line_row(demo_engine, demo_url):
    """History showed an edit of notes to "multi\nline" as "notes: multi": a one-line row
    cut the value at its first line break."""
    from fleetui.screens.history import HistoryScreen
    from tests.test_teams import cli

    serial = next(iter(inventory.cards(demo_engine, "", 1, settings=Config()))).serial
    done = cli(demo_url, "edit", serial, "--notes", "multi\nline", "--reason", "r", "--yes")
    assert done.exit_code == 0, done.output
    app = FleetApp(demo_engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await opened(pilot, "h", HistoryScreen)
        batches = app.screen.query_one("#batches", DataTable)
        assert "notes: multi⏎line" in str(batches.get_row_at(0)[4])


async def test_keys_typed_in_a_burst_into_any_text_box_are_applied_in_order(demo_engine):
    """The filter box applied its keys in order, the other text boxes not: in the Request
    dialog, backspace then "16" typed at once over "8" gave "16" only by luck of timing.
    Every text box of every screen is an InOrderInput (checked by reading the screens)."""
    import ast

    from fleetui.screens.reallocate import ReallocateModal
    from tests.tui.test_plain_output import SCREENS

    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        dialog = await opened(pilot, "R", ReallocateModal)
        amount = dialog.query_one("#amount", Input)
        amount.focus()
        await pilot.press(*"8 cards")
        for key in [events.Key("backspace", "\x7f")] * 7 + [events.Key(c, c) for c in "16"]:
            app.post_message(key)
        await settle(pilot)
        assert amount.value == "16"
    bare = [
        f"{path.name}:{node.lineno}"
        for path in sorted(SCREENS.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Input"
    ]
    assert not bare, "use screens.keep.InOrderInput: " + str(bare)
