"""The TUI's edit form carries the asset tag and purchase order; the import screen says
plainly when nothing would be imported, and names the columns it leaves out in one line; the
move dialog refuses a move to where the cards are."""

from __future__ import annotations

from sqlalchemy import select
from textual.widgets import Button, Input, Static

from fleetui.app import FleetApp
from fleetui.db.tables import Card
from tests.tui.test_app import settle
from tests.tui.test_work import import_screen_with


async def test_the_edit_form_sets_asset_tag_and_purchase_order(demo_engine):
    from fleetui.screens.edit_cards import EditModal

    with demo_engine.connect() as conn:
        serial = conn.execute(select(Card.serial).order_by(Card.serial).limit(1)).scalar_one()
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        done: list[str | None] = []
        app.push_screen(EditModal(demo_engine, [serial], settings=app.settings), done.append)
        await pilot.pause()
        form = app.screen
        form.query_one("#asset_tag", Input).value = "TAG-77"
        form.query_one("#purchase_order", Input).value = "PO 2025/9"
        form.query_one("#reason", Input).value = "labelled"
        form.query_one("#preview", Button).press()
        await settle(pilot)
        plan = str(form.query_one("#plan", Static).render())
        assert "asset tag TAG-77" in plan and "purchase order PO 2025/9" in plan
        form.query_one("#save", Button).press()
        await settle(pilot)
        assert done and done[0]
    with demo_engine.connect() as conn:
        card = conn.execute(select(Card).where(Card.serial == serial)).mappings().one()
    assert (card["asset_tag"], card["purchase_order"]) == ("TAG-77", "PO 2025/9")


async def test_import_check_with_errors_says_nothing_would_be_imported(demo_engine, tmp_path):
    path = tmp_path / "wide.csv"
    extra = [f"extra {i}" for i in range(5)]
    path.write_text(
        ",".join(["serial", "model", *extra]) + "\nNEW-1,Z999," + ",".join("x" * 5) + "\n"
    )
    app = FleetApp(demo_engine)
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path, checked=True)
        summary = str(screen.query_one("#summary", Static).render())
        assert summary.startswith("1 error; nothing would be imported")
        assert "Would import" not in summary
        assert "5 other columns not imported: extra 0, extra 1, extra 2…" in summary


async def test_any_change_after_a_check_disables_import_until_checked_again(
    demo_engine, demo_url, tmp_path
):
    """A new user's trial: ticked "Skip invalid rows", checked, unticked it, and Import stayed
    enabled; its import wrote nothing and said "Imported: 0 new". Every control voids a check,
    and an import that writes nothing for its errors says so, in the CLI's words."""
    from typer.testing import CliRunner

    from fleetui.cli import app as cli
    from fleetui.screens.import_screen import in_screen_terms

    path = tmp_path / "some-bad.csv"
    path.write_text("serial,model,team\nNEW-1,H800 SXM,LLM\nNEW-2,Z999,LLM\n")
    other = tmp_path / "other.csv"
    other.write_text(path.read_text())
    app = FleetApp(demo_engine)
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot)
        screen = await import_screen_with(pilot, path)
        run = screen.query_one("#run", Button)
        changes = [
            ("#currency", "CNY"),
            ("#date_format", "%d/%m/%Y"),
            ("#on_existing", "skip"),
            ("#create_missing", True),
            ("#path", str(other)),
            ("#skip_invalid", False),  # last: the check below then refuses
        ]
        screen.query_one("#skip_invalid").value = True
        for selector, value in changes:
            await pilot.press("ctrl+r")
            await settle(pilot)
            summary = str(screen.query_one("#summary", Static).render())
            assert "ready to import" in summary and not run.disabled, selector
            screen.query_one(selector).value = value
            await pilot.pause()
            assert run.disabled, selector
            summary = str(screen.query_one("#summary", Static).render())
            assert "check every row again" in summary, selector

        screen.run_import_now()  # what the Import button did when it stayed enabled
        await settle(pilot)
        summary = str(screen.query_one("#summary", Static).render())
    assert "Imported" not in summary
    with demo_engine.connect() as conn:
        assert conn.execute(select(Card.serial).where(Card.serial.like("NEW-%"))).all() == []
    options = ["--on-existing", "skip", "--create-missing", "--currency", "CNY"]
    options += ["--date-format", "%d/%m/%Y"]
    result = CliRunner().invoke(cli, ["--db", demo_url, "import", str(other), *options])
    assert result.exit_code == 1 and result.stdout == ""
    said = "1 error; nothing was written. Fix them, or pass --skip-invalid to write the valid rows."
    assert said in result.stderr
    assert summary == in_screen_terms(said)


async def test_the_move_dialog_refuses_a_move_to_where_the_cards_are(demo_engine):
    """It previews through the planner `plan` and `move` share: the same sentence, not an empty
    preview; to the team without a project, the "(no project)" line the card joins."""
    from textual.widgets import Select

    from fleetui.allocation.teams import NO_PROJECT
    from fleetui.core.vocabulary import Status
    from fleetui.db.tables import Project
    from fleetui.screens.reallocate import ReallocateModal

    with demo_engine.connect() as conn:
        serial = conn.execute(
            select(Card.serial)
            .join(Project, Project.id == Card.project_id)
            .where(Project.name == "ctr-model", Card.status == Status.IN_SERVICE)
            .limit(1)
        ).scalar_one()
    app = FleetApp(demo_engine)
    async with app.run_test(size=(120, 44)) as pilot:
        await settle(pilot)
        app.push_screen(ReallocateModal(demo_engine, [serial], settings=app.settings))
        await pilot.pause()
        modal = app.screen
        modal.query_one("#to_team", Select).value = "Ads ranking"
        await pilot.pause()
        shown = []
        for project in ("ctr-model", NO_PROJECT):
            modal.query_one("#to_project", Select).value = project
            modal.query_one("#preview", Button).press()
            await pilot.pause()
            await settle(pilot)
            shown.append(str(modal.query_one("#plan", Static).render()))
            if project == "ctr-model":
                assert modal.query_one("#move", Button).disabled
    assert shown[0] == "Nothing to move: 1 card already in Ads ranking/ctr-model."
    assert f"  Ads ranking/{NO_PROJECT} " in shown[1]
