"""The TUI's scheduler dialog (`A`): titled by the scheduler configured, and offering Apply only
over a plan it could read."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Label, Static

from fleetui import config
from fleetui.app import FleetApp
from fleetui.screens.scheduler import SchedulerModal
from tests.scheduler import slurm_cluster
from tests.scheduler.conftest import write_config


async def opened(app: FleetApp, pilot) -> SchedulerModal:
    await app.workers.wait_for_complete()
    await pilot.press("A")
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, SchedulerModal)
    return app.screen


@pytest.mark.parametrize(
    ("kind", "title"),
    [("kueue", "Apply the holdings to Kueue"), ("", "Apply the holdings to a scheduler")],
)
async def test_the_dialog_is_titled_by_the_scheduler_configured(fleet, config_file, kind, title):
    write_config(f'[scheduler]\nkind = "{kind}"\n')
    app = FleetApp(fleet, settings=config.load())
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await opened(app, pilot)
        assert str(dialog.query_one("#title", Label).render()) == title


async def test_no_apply_is_offered_after_sacctmgr_fails(fleet, config_file, tmp_path, monkeypatch):
    """sacctmgr finds no slurmdbd listening (or sacctmgr is not installed): the dialog says so
    and offers nothing to apply."""
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        "ClusterName=gpu\nSlurmctldHost=localhost(127.0.0.1)\n"
        "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
        f"AccountingStoragePort={slurm_cluster._free_port()}\n"
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    write_config('[scheduler]\nkind = "slurm"\n')
    app = FleetApp(fleet, settings=config.load())
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await opened(app, pilot)
        assert str(dialog.query_one("#title", Label).render()) == "Apply the holdings to Slurm"
        shown = str(dialog.query_one("#commands", Static).render())
        assert "sacctmgr" in shown and "Reading" not in shown
        assert not dialog.query_one("#apply", Button).display
