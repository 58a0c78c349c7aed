"""A move lands in a real Slurm (munged, MariaDB, slurmdbd, slurmctld started by the session):
fleetui applies account limits with sacctmgr and reads them back with `sacctmgr -P`."""

from __future__ import annotations

import json
import shlex

from fleetui import config
from fleetui.scheduler import slurm as sacctmgr
from tests.scheduler.conftest import cli

H800, A100 = "gres/gpu:h800", "gres/gpu:a100"
START = {
    # Ads holds 16 H800 (ranking: all of them) and 8 A100; LLM 16 H800 (sft: all of them).
    "ads": ("root", f"{A100}=8,{H800}=16"),
    "ads-ranking": ("ads", f"{A100}=0,{H800}=16"),
    "llm": ("root", f"{A100}=0,{H800}=16"),
    "llm-sft": ("llm", f"{A100}=0,{H800}=16"),
}


def ours(limits: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    return {k: v for k, v in limits.items() if k in START}


def apply(db: str, *args: str):
    return cli("--db", db, "sched", "apply", "--yes", *args)


def test_apply_shows_the_commands_creates_the_accounts_and_a_second_apply_changes_nothing(
    fleet_db, slurm
):
    dry = cli("--db", fleet_db, "sched", "apply", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"sacctmgr -i add account llm parent=root cluster={slurm.cluster}" in dry.stdout
    assert (
        f"sacctmgr -i modify account where name=llm-sft cluster={slurm.cluster} "
        f"set GrpTRES={A100}=0,{H800}=16" in dry.stdout
    )
    assert "llm" not in slurm.limits()  # --dry-run only shows

    done = apply(fleet_db)
    assert done.exit_code == 0, done.output
    assert "read back, Slurm matches the holdings" in done.stdout
    assert ours(slurm.limits()) == START

    again = apply(fleet_db, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["applied"] == []
    assert cli("--db", fleet_db, "sched", "diff").exit_code == 0


def test_a_move_lands_in_slurm_and_undo_then_apply_restores_it(fleet_db, slurm):
    assert apply(fleet_db).exit_code == 0
    moved = cli(
        "--db", fleet_db, "move", "--count", "8", "--model", "H800 SXM 80GB",
        "--from-team", "Ads", "--to-team", "LLM", "--to-project", "sft",
        "--reason", "LLM pretraining", "--yes", "--json",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output
    move_batch = json.loads(moved.stdout)["batch_id"]

    diff = cli("--db", fleet_db, "sched", "diff", "--json")
    assert diff.exit_code == 1
    drift = {(d["name"], d["resource"]): (d["have"], d["want"]) for d in json.loads(diff.stdout)}
    assert drift[("llm", H800)] == (16, 24) and drift[("ads", H800)] == (16, 8)

    assert apply(fleet_db).exit_code == 0
    after = ours(slurm.limits())
    assert after["llm"] == ("root", f"{A100}=0,{H800}=24")
    assert after["llm-sft"] == ("llm", f"{A100}=0,{H800}=24")
    assert after["ads"] == ("root", f"{A100}=8,{H800}=8")
    assert after["ads-ranking"] == ("ads", f"{A100}=0,{H800}=8")

    history = json.loads(cli("--db", fleet_db, "history", "--json").stdout)
    assert history[0]["action"] == "sched.apply"
    assert f"{H800}=16" in history[0]["summary"] and f"{H800}=24" in history[0]["summary"]

    sched_undo = cli("--db", fleet_db, "undo", history[0]["batch_id"])
    assert sched_undo.exit_code == 1 and "changed the scheduler, not cards" in sched_undo.stderr
    assert cli("--db", fleet_db, "undo", move_batch).exit_code == 0
    assert apply(fleet_db).exit_code == 0
    assert ours(slurm.limits()) == START


def test_a_limit_changed_by_hand_shows_in_diff_and_other_accounts_are_never_touched(
    fleet_db, slurm
):
    assert apply(fleet_db).exit_code == 0
    c = f"cluster={slurm.cluster}"
    slurm.sacctmgr("modify", "account", "where", "name=ads", c, "set", f"GrpTRES={H800}=40")
    slurm.sacctmgr("add", "account", "physics", "parent=root", c)
    slurm.sacctmgr("modify", "account", "where", "name=physics", c, "set", f"GrpTRES={H800}=8")

    diff = cli("--db", fleet_db, "sched", "diff")
    assert diff.exit_code == 1
    assert diff.stdout.strip() == f"Ads: account ads allows 40 {H800}, too high: it holds 16"

    assert apply(fleet_db).exit_code == 0
    limits = slurm.limits()
    assert ours(limits) == START and limits["physics"] == ("root", f"{H800}=8")


def test_an_account_fleetui_made_for_a_team_since_renamed_is_drift_with_its_delete_command(
    fleet_db, slurm
):
    """A renamed team gets new accounts; the old ones keep their GPU limits until deleted.
    fleetui marks the accounts it adds (organization=fleetui) and diff names each one no
    managed team or project maps to, children first, with the sacctmgr command deleting it.
    apply creates the new ones and leaves the old to a person (users may still use them);
    accounts made by hand are never named."""
    assert apply(fleet_db).exit_code == 0
    c = f"cluster={slurm.cluster}"
    slurm.sacctmgr("add", "account", "physics", "parent=root", c)
    slurm.sacctmgr("modify", "account", "where", "name=physics", c, "set", f"GrpTRES={H800}=8")
    assert cli("--db", fleet_db, "teams", "rename", "Ads", "Promo").exit_code == 0

    diff = cli("--db", fleet_db, "sched", "diff")
    assert diff.exit_code == 1
    stray = "is fleetui's but maps to no team or project it manages; delete it: "
    delete = f"sacctmgr -i delete account where name={{}} {c}"
    assert diff.stdout.splitlines() == [
        "Promo: account promo is missing",
        "Promo/ranking: account promo-ranking is missing",
        f"account ads-ranking {stray}{delete.format('ads-ranking')}",
        f"account ads {stray}{delete.format('ads')}",
    ]

    done = apply(fleet_db)
    assert done.exit_code == 0, done.output
    assert f"account ads {stray}{delete.format('ads')}" in done.stdout
    assert ours(slurm.limits())["ads"] == ("root", f"{A100}=8,{H800}=16")  # left to a person
    left = cli("--db", fleet_db, "sched", "apply", "--yes")
    assert left.exit_code == 0
    assert left.stdout.splitlines()[-1] == (
        "No limit to apply; apply deletes no account: delete those above by hand."
    )

    found = json.loads(cli("--db", fleet_db, "sched", "diff", "--json").stdout)
    for drift in found:  # in the order given, as a person would
        assert drift["what"] == "stray"
        ran = sacctmgr.run(shlex.split(drift["command"]))
        assert ran.returncode == 0, ran.stderr
    assert cli("--db", fleet_db, "sched", "diff").exit_code == 0
    limits = slurm.limits()
    assert "ads" not in limits and "ads-ranking" not in limits
    assert limits["promo"] == ("root", f"{A100}=8,{H800}=16")
    assert limits["physics"] == ("root", f"{H800}=8")


def test_slurmdbd_stopped_mid_apply_names_what_was_applied_and_the_next_apply_converges(
    fleet_db, fleet, slurm
):
    cfg = config.load()
    plan = sacctmgr.preview(fleet, cfg)
    assert len(plan.commands) == 8  # per account: add, then set its limits
    ran = []

    def slurmdbd_stops_after_four(argv):
        if len(ran) == 4:
            slurm.stop_slurmdbd()
        ran.append(argv)
        return sacctmgr.run(argv)

    try:
        result = sacctmgr.apply(fleet, cfg, plan, slurmdbd_stops_after_four)
    finally:
        slurm.start_slurmdbd()
    assert result.done == plan.commands[:4]
    assert result.failed == plan.commands[4] and result.not_run == plan.commands[5:]
    assert "Connection refused" in result.error and result.left is None
    assert result.summary().startswith("4 of 8 sacctmgr commands applied (batch ")
    assert "Run `fleetui sched apply` again once Slurm answers" in result.summary()

    assert len(sacctmgr.preview(fleet, cfg).commands) == 4  # what is left
    assert apply(fleet_db).exit_code == 0
    assert ours(slurm.limits()) == START


def test_a_gpu_type_slurm_keeps_no_tres_for_is_said_and_the_other_limits_still_apply(
    fleet_db, slurm, tmp_path
):
    """Two L40S cards, whose gres/gpu:l40s is not in AccountingStorageTRES: every account's
    GrpTRES named it, sacctmgr refused the first, and no limit was applied, that day or the
    next (the wrong limits stayed). It is left out, and said; the others are applied."""
    cards = tmp_path / "l40s.csv"
    cards.write_text("serial,model,team\nN000,L40S 48GB,LLM\nN001,L40S 48GB,LLM\n")
    assert cli("--db", fleet_db, "import", str(cards)).exit_code == 0
    said = "Slurm keeps no gres/gpu:l40s (add it to AccountingStorageTRES in slurm.conf"
    done = apply(fleet_db)
    assert done.exit_code == 0, done.output
    assert said in done.stdout and "read back, Slurm matches the holdings" in done.stdout
    assert ours(slurm.limits()) == START
    diff = cli("--db", fleet_db, "sched", "diff")
    assert diff.exit_code == 0 and said in diff.stdout, diff.output


async def settled(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_after_a_move_one_key_in_the_tui_previews_and_applies_it(fleet, fleet_db, slurm):
    from textual.widgets import Static

    from fleetui.app import FleetApp
    from fleetui.screens.scheduler import SchedulerModal

    app = FleetApp(fleet, settings=config.load())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("i")  # from the inventory, where S sorts
        await settled(pilot)
        await pilot.press("A")
        await settled(pilot)
        assert isinstance(app.screen, SchedulerModal)
        shown = str(app.screen.query_one("#commands", Static).render())
        assert "LLM: account llm is missing" in shown
        assert f"sacctmgr -i add account llm parent=root cluster={slurm.cluster}" in shown
        await pilot.click("#apply")
        await settled(pilot)
        shown = str(app.screen.query_one("#commands", Static).render())
        assert "read back, Slurm matches the holdings" in shown
    assert ours(slurm.limits()) == START
