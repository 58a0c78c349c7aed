"""Reallocation: teams and quotas, the planner, previews, commits, history, undo, races."""

from __future__ import annotations

import json
import multiprocessing
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import groupby

import pytest
from sqlalchemy import case, func, select, update
from typer.testing import CliRunner

from fleetui import presentation
from fleetui.admin import maintenance
from fleetui.allocation import history, moves, plans, teams
from fleetui.allocation.undo import undo
from fleetui.cli import app
from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_CREATES, COMPUTING, HELD, MOVABLE, UNASSIGNED
from fleetui.db.tables import Card, Event, GpuModel, Team
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.inventory import edit
from fleetui.inventory.events import card_events
from fleetui.store import open_fleet

TODAY = date(2026, 11, 1)


def team_of(engine, serial):
    return inventory.detail(engine, serial, settings=Config()).fields["team"]


def test_teams_projects_and_quotas(engine):
    teams.add_team(engine, "LLM", quota_cards=100)
    teams.add_project(engine, "llm", "pretrain")
    with pytest.raises(UserError, match="A team 'LLM' exists already"):
        teams.add_team(engine, "LLM")
    teams.rename_team(engine, "LLM", "Foundation models")
    with pytest.raises(UserError, match="There is no team 'LLM'"):
        teams.add_project(engine, "LLM", "sft")
    held = {h.name: h for h in teams.holdings(engine)}
    assert held["Foundation models"].quota_cards == 100
    assert [h.name for h in teams.holdings(engine, projects=True)] == ["Foundation models/pretrain"]


def test_named_cards_move_with_a_preview_of_every_team_and_project(demo_engine):
    picked = [
        r.serial
        for r in inventory.cards(demo_engine, "team:search status:in_service", 3, settings=Config())
    ]
    before = {h.name: h for h in teams.holdings(demo_engine)}
    plan = moves.plan_cards(demo_engine, picked, "LLM", "sft", settings=Config())
    names = [d.name for d in plan.deltas]
    assert names[0] == "LLM" and "Search" in names and "LLM/sft" in names
    llm = plan.deltas[0]
    assert (llm.cards_before, llm.cards_after) == (before["LLM"].cards, before["LLM"].cards + 3)
    assert str(llm).startswith(
        f"LLM {before['LLM'].cards:,} -> {before['LLM'].cards + 3:,} cards, "
    )
    batch = moves.commit(demo_engine, plan, "needs more", actor="ops1")
    after = {h.name: h for h in teams.holdings(demo_engine)}
    assert after["LLM"].cards == before["LLM"].cards + 3
    assert after["LLM"].tflops == pytest.approx(llm.tflops_after)
    assert all(
        inventory.detail(demo_engine, s, settings=Config()).fields["project"] == "sft"
        for s in picked
    )
    event = inventory.detail(demo_engine, picked[0], settings=Config()).events[0]
    assert (event["action"], event["actor"], event["reason"]) == ("move", "ops1", "needs more")
    assert event["batch_id"] == batch


def test_a_request_by_count_prefers_spare_and_keeps_nodes_whole(demo_engine):
    plan = moves.plan_request(
        demo_engine,
        "LLM",
        None,
        count=16,
        models=["A100 80G"],
        from_team="Ads ranking",
        today=TODAY,
        settings=Config(),
    )
    assert len(plan.cards) == 16
    assert {c.model for c in plan.cards} == {"A100 SXM4 80GB"}
    per_node = Counter(c.node for c in plan.cards)
    assert sorted(per_node.values()) == [8, 8], "two whole 8-card nodes, none split"
    candidates = list(
        inventory.cards(demo_engine, 'team:"ads ranking" model:"A100 80G"', settings=Config())
    )
    spare = [c for c in candidates if c.status == "spare"]
    assert spare, "the demo gives Ads ranking spare A100s"
    assert sum(c.status == "spare" for c in plan.cards) == min(len(spare), 16)
    assert any("whole nodes" in line for line in plan.explanation)


def test_a_spare_card_is_taken_before_a_whole_node_of_one_busy_card(demo_engine):
    """A node holding one in-service card of the team is a whole node, but README's order is
    spare first: one card asked for comes off a node with two spares (split), not that one."""
    card, team = Card.__table__, Team.__table__
    with demo_engine.begin() as conn:
        ids = dict(conn.execute(select(team.c.name, team.c.id)).all())
        llm = card.c.team_id == ids["LLM"]
        conn.execute(update(card).where(llm, card.c.status == "spare").values(status="in_service"))
        busy = select(card.c.node_id).where(llm, card.c.node_id.isnot(None))
        busy = busy.group_by(card.c.node_id)
        lone, pair = conn.execute(busy.having(func.count() >= 3).limit(2)).scalars().all()
        on_lone = conn.execute(select(card.c.id).where(llm, card.c.node_id == lone)).scalars()
        conn.execute(  # all but one of its cards to Search: a whole node of one busy card
            update(card).where(card.c.id.in_(list(on_lone)[1:])).values(team_id=ids["Search"])
        )
        on_pair = conn.execute(select(card.c.id).where(llm, card.c.node_id == pair)).scalars()
        conn.execute(update(card).where(card.c.id.in_(list(on_pair)[:2])).values(status="spare"))
    plan = moves.plan_request(
        demo_engine, "Search", None, count=1, from_team="LLM", today=TODAY, settings=Config()
    )
    assert [c.status for c in plan.cards] == ["spare"]


def test_the_free_pool_gives_first_and_can_be_asked_by_name(demo_engine, demo_url):
    """Of the whole fleet, the cards of no team go first (nobody loses them); `--from-team
    none` or `(unassigned)` asks the free pool alone, and says so."""
    free = [c for c in inventory.cards(demo_engine, "team:none", settings=Config())]
    spare = sum(c.status == "spare" for c in free)
    assert spare >= 2, "the demo keeps spare cards in the free pool"
    fleet = moves.plan_request(
        demo_engine, "Search", None, count=spare, today=TODAY, settings=Config()
    )
    assert {(c.team_id, c.status) for c in fleet.cards} == {(None, "spare")}
    movable = {c.serial for c in free if c.status in MOVABLE}
    for name in ("none", "-", "(unassigned)"):  # `-` as filters read it (it was no team)
        pool = moves.plan_request(
            demo_engine,
            "Search",
            None,
            count=len(movable),
            from_team=name,
            today=TODAY,
            settings=Config(),
        )
        assert {c.serial for c in pool.cards} == movable
        asked = f"Asked for {units.counted(len(movable), 'card')} from {UNASSIGNED}."
        assert pool.explanation[0] == asked
    result = CliRunner().invoke(
        app, ["--db", demo_url, "plan", "--count", "1", "--from-team", "nope", "--to-team", "LLM"]
    )
    assert result.exit_code == 1 and "There is no team 'nope'" in result.output


def test_cards_go_back_to_the_free_pool_and_an_undo_takes_them_out_again(demo_engine, demo_url):
    """`--to-team none` hands cards back to the pool (it was refused: only an undo took a card
    out of its team): they leave team and project, keep node and status, and the preview's
    lines add up; a request to the pool takes only teams' cards; undo puts them back."""

    def cli(*args: str):
        return CliRunner().invoke(app, ["--db", demo_url, *args])

    def count(query: str) -> int:  # the cards a team holds, as the preview counts them
        return inventory.count(demo_engine, f"{query} status:{','.join(HELD)}", settings=Config())

    project = teams.directory(demo_engine)["LLM"][0]
    moving = [
        c.serial
        for c in inventory.cards(demo_engine, f"team=LLM project={project}", settings=Config())
    ][:3]
    was = {s: inventory.detail(demo_engine, s, settings=Config()).fields for s in moving}
    pool, llm = count("team:none"), count("team=LLM")
    shown = json.loads(cli("plan", *moving, "--to-team", "none", "--json").output)
    lines = {d["name"]: (d["cards_before"], d["cards_after"]) for d in shown["deltas"]}
    assert lines[UNASSIGNED] == (pool, pool + 3) and lines["LLM"] == (llm, llm - 3)
    assert lines[f"LLM/{project}"][1] == lines[f"LLM/{project}"][0] - 3
    moved = cli("move", *moving, "--to-team", "none", "--reason", "back", "--yes")
    assert moved.exit_code == 0 and f"Moved 3 cards to {UNASSIGNED}." in moved.output
    for serial in moving:
        now = inventory.detail(demo_engine, serial, settings=Config()).fields
        assert (now["team"], now["project"]) == (None, None), now
        assert (now["node"], now["status"]) == (was[serial]["node"], was[serial]["status"])
    assert (count("team:none"), count("team=LLM")) == (pool + 3, llm - 3)
    assert cli("db", "check").exit_code == 0

    asked = moves.plan_request(demo_engine, "none", None, count=5, today=TODAY, settings=Config())
    assert len(asked.cards) == 5 and None not in {c.team_id for c in asked.cards}
    with pytest.raises(UserError, match=r"^The free pool has no projects: give --to-team none"):
        moves.plan_request(demo_engine, "none", "x", count=1, today=TODAY, settings=Config())
    for source in ("(no project)", "pretrain"):  # it said "There is no team 'none'."
        with pytest.raises(UserError, match=r"^The free pool has no projects: give --from-team"):
            moves.plan_request(
                demo_engine, "LLM", None, 1, from_team="none", from_project=source,
                today=TODAY, settings=Config(),
            )  # fmt: skip

    assert cli("undo", history.batches(demo_engine)[0].batch_id[:8]).exit_code == 0
    for serial in moving:
        now = inventory.detail(demo_engine, serial, settings=Config()).fields
        assert (now["team"], now["project"]) == ("LLM", project)
    assert (count("team:none"), count("team=LLM")) == (pool, llm)
    assert cli("db", "check").exit_code == 0


def test_a_request_never_takes_cards_in_repair_retired_or_on_order(demo_engine):
    plan = moves.plan_request(
        demo_engine, "Search", None, count=200, today=TODAY, settings=Config()
    )
    assert {c.status for c in plan.cards} <= {"spare", "in_service"}
    with pytest.raises(UserError, match=r"cannot give 100,000 cards: only [\d,]+ movable cards"):
        moves.plan_request(
            demo_engine, "Search", None, count=100_000, today=TODAY, settings=Config()
        )


def test_a_request_judges_warranties_by_the_rules_on_the_day_it_is_given(demo_engine):
    """The plan's warranty ends are the rules' (a card without its own end date gets one from
    its purchase date) and "out of warranty" means on the `today` passed in, not the clock."""
    card = Card.__table__
    with demo_engine.begin() as conn:
        conn.execute(update(card).where(card.c.id % 2 == 0).values(warranty_end=None))

    def out_of_warranty(plan) -> str:
        return " ".join(line for line in plan.explanation if "out of warranty" in line)

    for today, expired in ((date(2000, 1, 1), ""), (date(2040, 1, 1), "24 cards are")):
        plan = moves.plan_request(
            demo_engine, "Search", None, count=24, from_team="LLM", today=today, settings=Config()
        )
        for planned in plan.cards:
            assert (
                planned.warranty_end
                == inventory.detail(demo_engine, planned.serial, settings=Config()).fields[
                    "warranty_end"
                ]
            )
            assert planned.warranty_end is not None
        assert out_of_warranty(plan).startswith(expired) and bool(out_of_warranty(plan)) == bool(
            expired
        )


H100 = "H100 SXM5 80GB"


def _llm_h100_request(engine, count: int) -> plans.Plan:
    return moves.plan_request(
        engine,
        "Search",
        None,
        count=count,
        models=[H100],
        from_team="LLM",
        today=date(2026, 11, 30),
        settings=Config(),
    )


def _explained(plan: plans.Plan, start: str) -> list[str]:
    return [line for line in plan.explanation if line.startswith(start)]


def _movable_on(engine, hostname: str) -> int:
    """LLM's movable H100s on a node, as `cards` lists them."""
    query = f'team:LLM model:"{H100}" node:{hostname}'
    return sum(c.status in MOVABLE for c in inventory.cards(engine, query, settings=Config()))


def test_the_explanation_says_of_nodes_what_is_true_of_the_cards_taken(demo_engine):
    """A node counts as taken whole only when all its movable cards are taken, and cards on
    no node count as no node: the planner ranks a node's cards (spare, idle, warranty), and a
    run of one node's cards with one rank that fitted the request was told as a whole node."""
    spare = ["1230000000201", "1230000000049"]  # on two nodes of 8 LLM H100s each
    with demo_engine.begin() as conn:
        conn.execute(update(Card).where(Card.serial.in_(spare)).values(status="spare"))
    two = _llm_h100_request(demo_engine, 2)
    assert [c.serial for c in two.cards] == spare
    assert _explained(two, "Node sh2-h100-000026 is split: 1 of its 8 movable cards taken.")
    assert _explained(two, "Node nm1-h100-000007 is split: 1 of its 8 movable cards taken.")
    assert not _explained(two, "2 whole nodes")
    with demo_engine.begin() as conn:
        conn.execute(
            update(Card).where(Card.serial == "1230000000208").values(node_id=None, pci_bus_id=None)
        )
    three = _llm_h100_request(demo_engine, 3)
    assert [c.serial for c in three.cards] == [*spare, "1230000000208"]
    assert _explained(three, "1 card is on no node.")
    for count in (1, 3, 8, 13, 61):
        plan = _llm_h100_request(demo_engine, count)
        nowhere = sum(c.node is None for c in plan.cards)
        assert bool(_explained(plan, f"{units.counted(nowhere, 'card')} ")) == bool(nowhere)
        taken = Counter(c.node for c in plan.cards if c.node)
        whole = [n for n in taken if taken[n] == _movable_on(demo_engine, n)]
        said = _explained(plan, units.counted(len(whole), "whole node"))
        assert bool(said) == bool(whole), (count, plan.explanation)
        for node in set(taken) - set(whole):
            assert (
                _explained(
                    plan,
                    f"Node {node} is split: {taken[node]} of its "
                    f"{units.counted(_movable_on(demo_engine, node), 'movable card')} taken.",
                )
                or len(set(taken) - set(whole)) > 3
            ), (count, plan.explanation)


def test_both_backends_pick_the_same_cards_around_a_card_on_no_node(demo_engine):
    """A card on no node comes before a node's cards that rank alike on either backend: each
    sorts a missing node id its own way (SQLite first, PostgreSQL last), and on PostgreSQL a
    node's spare card and its busy ones became one run too big to take, so a busy card on no
    node was taken before the spare card."""
    with demo_engine.begin() as conn:
        conn.execute(update(Card).where(Card.serial == "1230000000201").values(status="spare"))
        conn.execute(
            update(Card).where(Card.serial == "1230000000208").values(node_id=None, pci_bus_id=None)
        )
    assert [c.serial for c in _llm_h100_request(demo_engine, 1).cards] == ["1230000000201"]


def test_the_explanation_names_the_cards_out_of_warranty_it_took(demo_engine):
    """Counted from the cards taken, in the singular for one: an earlier sentence said "1 of
    the cards are out of warranty; cards in warranty were preferred" of an idle card taken
    before busy cards in warranty, where being idle comes first."""
    with demo_engine.begin() as conn:
        conn.execute(update(Card).where(Card.serial == "1230000000049").values(status="spare"))
    plan = _llm_h100_request(demo_engine, 1)
    assert [c.serial for c in plan.cards] == ["1230000000049"]  # spare, out of warranty
    assert _explained(plan, "1 card is out of warranty: 1230000000049.")
    assert _explained(plan, "Preference: spare cards, then idle ones")
    assert not [line for line in plan.explanation if "were preferred" in line]


def test_a_request_never_takes_a_card_reconcile_found_missing(demo_engine):
    """reconcile's fix takes a missing card off its node; on no node, a spare card would be
    the first a request takes, though nobody knows where it is."""
    from fleetui.telemetry import reconcile

    with demo_engine.begin() as conn:
        conn.execute(update(Card).where(Card.serial == "1230000000208").values(status="spare"))
    gone = reconcile.Discrepancy("missing", "sh2-h100-000026", None, "1230000000208", "")
    reconcile.fix(demo_engine, gone)
    plan = _llm_h100_request(demo_engine, 8)
    assert "1230000000208" not in {c.serial for c in plan.cards}
    assert not _explained(plan, "1 card is on no node")


def test_a_previews_after_is_what_teams_list_shows_once_the_move_is_made(demo_url):
    """The preview added a rounded change to a rounded total: Ads ranking/ctr-model showed
    30.1 -> 30.7 PFLOPS for two A100s, and 30.8 on every screen once they were moved."""

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", demo_url, *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    def shown() -> dict[str, float]:
        listed = json.loads(cli("teams", "list", "--json"))
        return {
            h["name"]: h["pflops"] for h in listed + json.loads(cli("projects", "list", "--json"))
        }

    move = [
        "1200000000329",
        "1200000000330",
        "--to-team",
        "Ads ranking",
        "--to-project",
        "ctr-model",
    ]
    before = shown()
    text = cli("plan", *move)
    deltas = json.loads(cli("plan", *move, "--json"))["deltas"]
    cli("move", *move, "--reason", "test", "--yes")
    after = shown()
    checked = [d for d in deltas if d["name"] in after]
    assert {d["name"] for d in checked} >= {"LLM", "Ads ranking", "Ads ranking/ctr-model"}
    for d in checked:
        name = d["name"]
        assert (d["pflops_before"], d["pflops_after"]) == (before[name], after[name])
        line = f", {before[name]:,.1f} -> {after[name]:,.1f} PFLOPS"
        assert any(s.strip().startswith(f"{name} ") and s.endswith(line) for s in text.split("\n"))
    assert "30.1 -> 30.8 PFLOPS" in text


def test_a_request_by_compute_reaches_the_pflops(demo_engine):
    plan = moves.plan_request(
        demo_engine,
        "Search",
        None,
        pflops=2,
        models=["H800", "A800"],
        today=TODAY,
        settings=Config(),
    )
    assert plan.tflops >= 2000
    assert plan.tflops - 2000 < max(c.tflops for c in plan.cards)  # no more than needed
    assert {c.model.split()[0] for c in plan.cards} <= {"H800", "A800"}


def test_a_small_request_by_compute_takes_the_one_card_that_meets_it(db_url, tmp_path):
    """`--pflops 0.5` took node n1's H20s whole, then split n2 for an H100 (1.29 PFLOPS): the
    H100 alone was enough. A unit the request can do without is left out."""
    cards = tmp_path / "cards.csv"
    cards.write_text(
        "serial,model,node,team\nP-0,H20 96GB,n1,A\nP-1,H20 96GB,n1,A\nP-2,H100 SXM5 80GB,n2,A\n"
        "P-3,H100 SXM5 80GB,n2,A\nP-4,H100 SXM5 80GB,n2,B\n"
    )
    assert (
        CliRunner()
        .invoke(app, ["--db", db_url, "import", str(cards), "--create-missing"])
        .exit_code
        == 0
    )
    plan = moves.plan_request(
        open_fleet(db_url), "B", None, pflops=0.5, from_team="A", today=TODAY, settings=Config()
    )
    assert [c.serial for c in plan.cards] == ["P-2"]


def test_a_team_ending_over_its_quota_is_warned_whether_or_not_it_was_over_before(demo_engine):
    held = {h.name: h for h in teams.holdings(demo_engine)}
    search = held["Search"].cards
    for quota, goes in ((search + 1, "goes over"), (search - 40, "stays over")):
        teams.set_quota(demo_engine, "Search", None, quota, None)
        plan = moves.plan_request(
            demo_engine, "Search", None, count=8, from_team="LLM", today=TODAY, settings=Config()
        )
        assert plan.quota_warnings == [
            f"Search {goes} its quota of {quota:,} cards ({search + 8:,} cards after the move)."
        ]
    teams.set_quota(demo_engine, "Search", None, search + 8, None)  # ends at its quota
    plan = moves.plan_request(
        demo_engine, "Search", None, count=8, from_team="LLM", today=TODAY, settings=Config()
    )
    assert plan.quota_warnings == []


def test_a_request_from_where_the_cards_would_go_is_refused_saying_so(demo_engine):
    for source, team, project in (
        (("LLM", None), "LLM", None),
        (("llm", "pretrain"), "LLM", None),
        (("LLM", "pretrain"), None, "pretrain"),
    ):
        with pytest.raises(
            UserError, match=r"^The cards would come from .* where they are already"
        ):
            moves.plan_request(
                demo_engine,
                team,
                project,
                count=8,
                from_team=source[0],
                from_project=source[1],
                today=TODAY,
                settings=Config(),
            )
    into_project = moves.plan_request(  # from a team into one of its projects is a move
        demo_engine, "LLM", "pretrain", count=1, from_team="LLM", today=TODAY, settings=Config()
    )
    assert len(into_project.cards) == 1


def test_a_stale_preview_moves_nothing(demo_engine):
    plan = moves.plan_request(
        demo_engine, "Search", None, count=16, from_team="LLM", today=TODAY, settings=Config()
    )
    stale = [c.serial for c in plan.cards[:3]]
    with demo_engine.begin() as conn:
        conn.execute(update(Card).where(Card.serial.in_(stale)).values(version=Card.version + 1))
    with pytest.raises(
        moves.MoveConflict, match="3 of 16 cards changed since your preview; nothing was moved"
    ):
        moves.commit(demo_engine, plan, "race")
    assert all(team_of(demo_engine, c.serial) == "LLM" for c in plan.cards)


def test_history_filters_and_undo_of_a_move(demo_engine):
    plan = moves.plan_request(
        demo_engine,
        "Search",
        None,
        count=8,
        from_team="Cloud rental",
        today=TODAY,
        settings=Config(),
    )
    batch = moves.commit(demo_engine, plan, "rebalance")
    found = history.batches(demo_engine, team="cloud rental")
    assert found[0].batch_id == batch and found[0].cards == 8 and found[0].reason == "rebalance"
    assert history.batches(demo_engine, team="Recommendation") == []
    assert history.batches(demo_engine, since="2999-01-01") == []
    assert [e["action"] for e in card_events(demo_engine, plan.cards[0].serial)] == ["move"]
    result = undo(demo_engine, batch)
    assert result.restored == 8
    assert all(team_of(demo_engine, c.serial) == "Cloud rental" for c in plan.cards)


def test_undo_names_cards_moved_since_and_changes_nothing(demo_engine):
    first = moves.commit(
        demo_engine,
        moves.plan_request(
            demo_engine, "Search", None, count=8, from_team="LLM", today=TODAY, settings=Config()
        ),
        "a",
    )
    serial = card_events(demo_engine, _a_serial_of(demo_engine, first))[0]["serial"]
    moves.commit(
        demo_engine,
        moves.plan_cards(demo_engine, [serial], "Ads ranking", None, settings=Config()),
        "b",
    )
    with pytest.raises(UserError, match=f"Cards changed since batch {first[:8]}: {serial}"):
        undo(demo_engine, first)
    assert team_of(demo_engine, serial) == "Ads ranking"


def test_a_list_a_message_cuts_short_says_how_many_more(demo_engine):
    """The undo said '… and more', a move of retired cards named 5 of 393 and nothing else."""
    plan = moves.plan_request(
        demo_engine, "Search", None, count=30, from_team="LLM", today=TODAY, settings=Config()
    )
    first = moves.commit(demo_engine, plan, "a")
    serials = sorted(c.serial for c in plan.cards)
    again = moves.plan_cards(demo_engine, serials, "Ads ranking", None, settings=Config())
    moves.commit(demo_engine, again, "b")
    with pytest.raises(UserError) as refused:
        undo(demo_engine, first)
    assert str(refused.value) == (
        f"Cards changed since batch {first[:8]}: {', '.join(serials[:20])} and 10 more; "
        "nothing was undone. Undo the batches that changed them first, newest first."
    )
    with demo_engine.connect() as conn:
        retired = (
            conn.execute(
                select(Card.serial).where(Card.status == "retired").order_by(Card.serial).limit(7)
            )
            .scalars()
            .all()
        )
    plan = moves.plan_cards(demo_engine, retired, "Search", None, settings=Config())
    said = f"{', '.join(retired[:5])} and 2 more."
    assert [line for line in plan.explanation if line.endswith(said)], plan.explanation


def test_named_cards_move_whatever_their_status_so_a_team_can_be_emptied(demo_engine):
    """A team holding retired cards could not be deleted: moving them by serial was refused,
    and a user had to edit their status, move them and edit it back (six batches)."""
    teams.add_team(demo_engine, "Tmp")
    plan = moves.plan_request(
        demo_engine, "Tmp", None, count=3, from_team="LLM", today=TODAY, settings=Config()
    )
    moves.commit(demo_engine, plan, "trial")
    serials = [c.serial for c in plan.cards]
    edit.commit_edit(
        demo_engine,
        edit.plan_edit(demo_engine, serials[:2], None, {"status": "retired"}, settings=Config()),
        "worn out",
    )
    with pytest.raises(UserError, match=r"still holds 3 cards \(2 retired\)"):
        teams.delete_team(demo_engine, "Tmp")
    back = moves.plan_cards(demo_engine, serials, "LLM", None, settings=Config())
    assert back.explanation[1] == (
        f"2 cards are in repair, retired or on order (they move too, adding no PFLOPS): "
        f"{', '.join(c.serial for c in back.cards if c.serial in serials[:2])}."
    )
    # the preview's counts are the held cards' counts, as `teams list` gives them after
    held = {h.name: h.cards for h in teams.holdings(demo_engine)}
    moves.commit(demo_engine, back, "trial over")
    after = {h.name: h.cards for h in teams.holdings(demo_engine)}
    assert {d.name: (d.cards_before, d.cards_after) for d in back.deltas} == {
        "LLM": (held["LLM"], after["LLM"]),
        "Tmp": (1, 0),
    }
    assert after["LLM"] == held["LLM"] + 1
    teams.delete_team(demo_engine, "Tmp")
    assert {team_of(demo_engine, s) for s in serials} == {"LLM"}
    assert maintenance.check(demo_engine) == []


def _a_serial_of(engine, batch):
    with engine.connect() as conn:
        return (
            conn.execute(
                Event.__table__.select().where(Event.batch_id == batch, Event.card_id.isnot(None))
            )
            .first()
            .serial
        )


def test_allocation_on_a_past_date_is_rebuilt_from_the_log(demo_engine):
    today = {a.team: a.cards for a in history.allocation_as_of(demo_engine, _today())}
    plan = moves.plan_request(
        demo_engine, "Search", None, count=16, from_team="LLM", today=TODAY, settings=Config()
    )
    moves.commit(demo_engine, plan, "shift", at=datetime.now(UTC) - timedelta(days=7))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    eight_days_ago = (datetime.now(UTC) - timedelta(days=8)).date().isoformat()
    before = {a.team: a.cards for a in history.allocation_as_of(demo_engine, eight_days_ago)}
    after = {a.team: a.cards for a in history.allocation_as_of(demo_engine, yesterday)}
    assert before == today
    assert after["LLM"] == today["LLM"] - 16 and after["Search"] == today["Search"] + 16


def _today() -> str:
    return date.today().isoformat()


def test_allocation_counts_no_card_before_it_was_created(demo_engine, tmp_path):
    """The demo logs its fleet as one event (the database's first), an import one event per
    card: on the day before each, as-of counts none of their cards."""
    with demo_engine.connect() as conn:
        built = conn.execute(select(Event.at).where(Event.action == "demo.build")).scalar_one()
    now = history.allocation_as_of(demo_engine, _today())
    assert history.allocation_as_of(demo_engine, built.date().isoformat()) == now
    assert (
        history.allocation_as_of(demo_engine, (built - timedelta(days=1)).date().isoformat()) == []
    )
    csv = tmp_path / "more.csv"
    csv.write_text("serial,model,team,status\nNEW-1,NVIDIA H800,LLM,spare\n", encoding="utf-8")
    run_import(demo_engine, str(csv), ImportOptions(config=Config()))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert history.allocation_as_of(demo_engine, yesterday) == now
    llm = {a.team: a.cards for a in history.allocation_as_of(demo_engine, _today())}["LLM"]
    assert llm == {a.team: a.cards for a in now}["LLM"] + 1


def test_cli_allocation_refuses_a_future_or_malformed_date_in_one_sentence(db_url):
    runner = CliRunner()
    assert (
        runner.invoke(app, ["--db", db_url, "demo", "--cards", "16", "--no-launch"]).exit_code == 0
    )
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    for value, said in (
        (tomorrow, f"fleetui: {tomorrow} is in the future; --as-of shows holdings up to today.\n"),
        (
            "31/01/2026",
            "fleetui: --as-of '31/01/2026' is not a date: give YYYY-MM-DD or YYYY/MM/DD "
            "(2026-01-31).\n",
        ),
    ):
        result = runner.invoke(app, ["--db", db_url, "report", "allocation", "--as-of", value])
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", said)


DATE_OPTIONS = (
    ("report", "allocation", "--as-of"),
    ("report", "warranty", "--today"),
    ("report", "cliff", "--today"),
    ("report", "eol", "--today"),
    ("report", "book-value", "--today"),
    ("report", "irreplaceable", "--today"),
    ("report", "cost", "--today"),
    ("report", "repairs", "--since"),
    ("history", "--since"),
)


def test_every_date_option_reads_the_iso_forms_an_import_reads_and_says_which(db_url):
    """`import` reads 2023/3/1; so does every date option, and a date it cannot read is
    refused in one sentence naming the option and the forms."""
    runner = CliRunner()
    assert (
        runner.invoke(app, ["--db", db_url, "demo", "--cards", "16", "--no-launch"]).exit_code == 0
    )
    day = date.today() - timedelta(days=1)
    for *command, option in DATE_OPTIONS:
        run = ["--db", db_url, *command, "--json", option]
        iso = runner.invoke(app, [*run, day.isoformat()])
        slashed = runner.invoke(app, [*run, f"{day.year}/{day.month}/{day.day}"])
        assert iso.exit_code == 0, iso.output
        assert (slashed.exit_code, slashed.stdout) == (0, iso.stdout), command
        # a day with anything after it, a time too, was read as the day alone
        for bad in ("31/01/2026", "yesterday", f"{day} garbage", f"{day}T23:59", ""):
            refused = runner.invoke(app, [*run, bad])
            said = f"fleetui: {option} {bad!r} is not a date: give YYYY-MM-DD or YYYY/MM/DD"
            assert (refused.exit_code, refused.stdout) == (1, ""), command
            assert refused.stderr == f"{said} (2026-01-31).\n", command
        for bad, why in (
            ("2026-02-30", "there is no such day (February 2026 has 28 days)"),
            ("2026/13/1", "there is no month 13"),
        ):
            refused = runner.invoke(app, [*run, bad])
            assert refused.stderr == f"fleetui: {option} {bad!r}: {why}.\n", command


def test_the_date_options_tested_are_every_date_option_of_the_cli():
    """A new date option joins DATE_OPTIONS (and so parse_day) or this fails."""
    import pkgutil
    from importlib import import_module

    import typer.main

    import fleetui.cli

    for module in pkgutil.iter_modules(fleetui.cli.__path__):  # as the lazy table loads them
        import_module(f"fleetui.cli.{module.name}")
    found = set()

    def walk(command, path: tuple[str, ...]) -> None:  # typer's own click: duck-typed
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))
        for param in command.params:
            dated = re.search(r"\bdate\b", getattr(param, "help", None) or "", re.I)
            if dated or set(param.opts) & {"--today", "--since", "--as-of", "--until"}:
                found.add((*path, param.opts[0]))

    walk(typer.main.get_group(app), ())
    assert found >= set(DATE_OPTIONS)
    # these take cards or telemetry, and read --today as the reports do (cli.lifecycle._today);
    # a card's warranty end is a value as import reads it, in every form import reads
    assert found - set(DATE_OPTIONS) == {
        ("health", "--today"),
        ("repair", "--today"),
        ("rma", "--today"),
        ("edit", "--warranty-end"),
    }


def _racer(path: str, barrier, results, to_team: str) -> None:
    engine = open_fleet(path)
    plan = moves.plan_request(
        engine,
        to_team,
        None,
        count=16,
        from_team="LLM",
        models=["H800"],
        today=TODAY,
        settings=Config(),
    )
    barrier.wait(timeout=60)
    try:
        moves.commit(engine, plan, f"race to {to_team}")
        results.put(("moved", to_team))
    except UserError as exc:
        results.put(("refused", str(exc)))


def test_two_processes_moving_the_same_cards_one_wins_the_other_moves_nothing(
    demo_engine, tmp_path
):
    path = demo_engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    racers = [
        context.Process(target=_racer, args=(path, barrier, results, team))
        for team in ("Search", "Ads ranking")
    ]
    for p in racers:
        p.start()
    for p in racers:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in racers)
    assert [o[0] for o in outcomes] == ["moved", "refused"]
    assert "16 of 16 cards changed since your preview; nothing was moved" in outcomes[1][1]
    winner = outcomes[0][1]
    moved = [e for e in history.batches(demo_engine) if e.action == "move.batch"]
    assert len(moved) == 1
    serials = [e["serial"] for e in _events(demo_engine, moved[0].batch_id)]
    assert {team_of(demo_engine, s) for s in serials} == {winner}


def _events(engine, batch):
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                Event.__table__.select().where(Event.batch_id == batch, Event.card_id.isnot(None))
            )
        ]


def test_cli_move_needs_a_reason_and_a_terminal_or_yes(db_url):
    db = db_url
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "demo", "--cards", "200", "--no-launch"]).exit_code == 0
    args = ["--db", db, "move", "--count", "8", "--to-team", "Search"]
    no_reason = runner.invoke(app, args)
    assert no_reason.exit_code == 1 and "needs --reason" in no_reason.stderr
    no_tty = runner.invoke(app, [*args, "--reason", "x"])
    assert no_tty.exit_code == 1 and "pass --yes" in no_tty.stderr
    preview = runner.invoke(
        app, ["--db", db, "plan", "--count", "8", "--to-team", "Search", "--json"]
    )
    planned = json.loads(preview.stdout)
    assert planned["count"] == 8 and planned["deltas"][0]["name"] == "Search"
    moved = runner.invoke(app, [*args, "--reason", "x", "--yes", "--json"])
    assert moved.exit_code == 0
    batch = json.loads(moved.stdout)["batch_id"]
    listed = json.loads(runner.invoke(app, ["--db", db, "history", "--json"]).stdout)
    assert listed[0]["batch_id"] == batch and listed[0]["cards"] == 8
    report = json.loads(
        runner.invoke(
            app, ["--db", db, "report", "allocation", "--as-of", _today(), "--json"]
        ).stdout
    )
    assert sum(r["cards"] for r in report) > 0
    for day, rows in ((_today(), report), ("2020-01-01", [])):  # a spreadsheet's columns stay
        csv = runner.invoke(app, ["--db", db, "report", "allocation", "--as-of", day, "--csv"])
        assert csv.stdout.splitlines() == ["team,cards,pflops"] + [
            f"{r['team']},{r['cards']},{r['pflops']}" for r in rows
        ]
    bad = runner.invoke(
        app, ["--db", db, "move", "NOPE-1", "--to-team", "Search", "--reason", "x", "--yes"]
    )
    assert bad.exit_code == 1 and "No card has serial NOPE-1" in bad.stderr


def test_holdings_split_compute_by_model(demo_engine):
    for holding in teams.holdings(demo_engine):
        assert sum(holding.pflops_by_model.values()) == pytest.approx(holding.pflops)
        assert set(holding.pflops_by_model) <= set(holding.by_model)


def _every_candidate_in_order(engine, source: str, target: str, today: date) -> list:
    """The straightforward planner's input: every movable card of `source` not already in
    `target`, in preference order (spare, in warranty, node, serial; no telemetry here)."""
    card, team = Card.__table__, Team.__table__
    with engine.connect() as conn:
        ids = dict(conn.execute(select(team.c.name, team.c.id)).all())
        query = (
            plans.card_query()
            .add_columns(card.c.node_id)
            .where(
                card.c.status.in_(MOVABLE),
                card.c.team_id == ids[source],
                card.c.team_id != ids[target],
            )
            .order_by(
                case((card.c.status == "spare", 0), else_=1),
                case((moves._out_of_warranty(conn, Config(), today), 1), else_=0),
                card.c.node_id.nulls_first(),
                card.c.serial,
            )
        )
        return [(plans.planned(Config(), r[:-1]), r[-1]) for r in conn.execute(query)]


def _straightforward_plan(candidates: list, count: int) -> list[str]:
    """Whole nodes greedily over every candidate; the first node left over gives the rest,
    before any card of a worse class (in service after spare) is taken."""
    taken: list = []
    left, left_class = None, None
    for (spare, node), run in groupby(candidates, key=lambda c: (c[0].status == "spare", c[1])):
        cards = [c for c, _ in run]
        if len(taken) >= count or (left is not None and spare != left_class):
            break
        if node is None:
            taken += cards[: count - len(taken)]
        elif len(cards) <= count - len(taken):
            taken += cards
        elif left is None:
            left, left_class = cards, spare
    if len(taken) < count and left:
        taken += left[: count - len(taken)]
    return [c.serial for c in taken]


def test_the_planner_counting_nodes_in_sql_picks_what_reading_every_candidate_picks(demo_engine):
    """The planner chooses from per-node counts and reads only the cards it takes; on a fleet
    of part-filled nodes, spare cards on no node and mixed warranties it takes exactly the
    cards that reading every candidate in order and choosing the same way takes."""
    card = Card.__table__
    with demo_engine.begin() as conn:
        conn.execute(update(card).where(card.c.id % 7 == 3).values(status="retired"))
        conn.execute(update(card).where(card.c.id % 5 == 1).values(status="spare"))
        conn.execute(update(card).where(card.c.id % 9 == 2).values(warranty_end=date(2020, 1, 1)))
        conn.execute(update(card).where(card.c.id % 23 == 5).values(node_id=None, pci_bus_id=None))
    today = date(2026, 11, 30)
    for count in (1, 3, 8, 13, 61, 150):
        expected = _straightforward_plan(
            _every_candidate_in_order(demo_engine, "LLM", "Search", today), count
        )
        plan = moves.plan_request(
            demo_engine,
            "Search",
            None,
            count=count,
            from_team="LLM",
            today=today,
            settings=Config(),
        )
        assert [c.serial for c in plan.cards] == expected, count


def _held_by_replay(engine, day: date) -> dict[str, tuple[int, float]]:
    """The straightforward allocation on `day`: every card as it is now, then every event
    after that day undone onto it, newest first; cards held and TFLOPS computing per team."""
    card, event, team, model = Card.__table__, Event.__table__, Team.__table__, GpuModel.__table__
    keys = ("team_id", "model_id", "status")
    with engine.connect() as conn:
        names = dict(conn.execute(select(team.c.id, team.c.name)).all())
        tflops = dict(conn.execute(select(model.c.id, model.c.fp16_tflops)).all())
        state = {r.id: dict(r._mapping) for r in conn.execute(select(card.c.id, *card.c[keys]))}
        end = datetime.combine(day, datetime.max.time(), tzinfo=UTC)
        later = conn.execute(
            select(event.c.card_id, event.c.action, event.c.before)
            .where(event.c.at > end, event.c.card_id.isnot(None))
            .order_by(event.c.id.desc())
        ).all()
    for card_id, action, before in later:
        before = before or {}
        if action in CARD_CREATES or before.get("deleted"):
            state.pop(card_id, None)
        else:
            state.setdefault(card_id, {}).update({k: v for k, v in before.items() if k in keys})
    totals: dict[str, list] = {}
    for s in state.values():
        held = totals.setdefault(names.get(s["team_id"], UNASSIGNED), [0, 0.0])
        held[0] += s["status"] in HELD
        held[1] += tflops[s["model_id"]] if s["status"] in COMPUTING else 0.0
    return {t: (n, round(f, 3)) for t, (n, f) in totals.items() if n or f}


def _rebuilt(engine, day: date) -> dict[str, tuple[int, float]]:
    return {
        a.team: (a.cards, round(a.tflops, 3))
        for a in history.allocation_as_of(engine, day.isoformat())
    }


def test_allocation_as_of_equals_undoing_every_later_event_in_turn(demo_engine):
    """Cards edited and then moved, moved twice, deleted, and deleted and brought back after the
    day: each counts where it was at the end of that day."""
    cfg = Config()
    shifted = moves.plan_request(
        demo_engine, "Search", None, count=40, from_team="LLM", today=TODAY, settings=cfg
    )
    moves.commit(demo_engine, shifted, "long ago", at=datetime.now(UTC) - timedelta(days=9))
    some = [c.serial for c in shifted.cards]
    edit.commit_edit(
        demo_engine,
        edit.plan_edit(demo_engine, some[:12], None, {"status": "in_service"}, settings=cfg),
        "busy",
    )
    edit.commit_edit(
        demo_engine,
        edit.plan_edit(demo_engine, some[34:], None, {"status": "retired"}, settings=cfg),
        "old",
    )
    moves.commit(
        demo_engine,
        moves.plan_cards(demo_engine, some[:20], "Ads ranking", None, settings=cfg),
        "again",
    )
    moves.commit(
        demo_engine, moves.plan_cards(demo_engine, some[:6], "LLM", None, settings=cfg), "back"
    )
    edit.commit_delete(demo_engine, edit.plan_delete(demo_engine, some[20:30]), "gone")
    gone = edit.commit_delete(demo_engine, edit.plan_delete(demo_engine, some[30:34]), "oops")
    undo(demo_engine, gone)
    for ago in (10, 5):
        day = (datetime.now(UTC) - timedelta(days=ago)).date()
        assert _rebuilt(demo_engine, day) == _held_by_replay(demo_engine, day), ago


def test_allocation_as_of_takes_each_field_from_the_first_later_event_naming_it(
    demo_engine, tmp_path
):
    """Cards changed several times after the day, each change naming other fields (a move, a
    re-import with another model, a status edit), a card moved and then deleted, and one
    created after the day and then changed: each counts, cards and PFLOPS, as it was that day."""
    cfg = Config()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    taken = [
        c.serial for c in inventory.cards(demo_engine, "team:LLM status:spare", 3, settings=cfg)
    ]
    with demo_engine.connect() as conn:
        model, other = conn.execute(
            select(GpuModel.name).order_by(GpuModel.fp16_tflops.desc()).limit(2)
        ).scalars()
    csv = tmp_path / "cards.csv"
    csv.write_text(f"serial,model,team,status\nNEW-1,{model},LLM,spare\n", encoding="utf-8")
    run_import(demo_engine, str(csv), ImportOptions(config=cfg))
    moves.commit(
        demo_engine,
        moves.plan_cards(demo_engine, [*taken, "NEW-1"], "Search", None, settings=cfg),
        "moved",
    )
    csv.write_text(
        "serial,model,team,status\n"
        + "".join(f"{s},{other},Search,spare\n" for s in (*taken[:2], "NEW-1")),
        encoding="utf-8",
    )
    run_import(demo_engine, str(csv), ImportOptions(config=cfg))
    edit.commit_edit(
        demo_engine,
        edit.plan_edit(demo_engine, [taken[0], "NEW-1"], None, {"status": "retired"}, settings=cfg),
        "old",
    )
    edit.commit_delete(demo_engine, edit.plan_delete(demo_engine, [taken[2]]), "gone")
    with demo_engine.connect() as conn:
        changed = conn.execute(
            select(Card.serial, Card.model_id, Card.status).where(Card.serial.in_(taken))
        ).all()
    assert len(changed) == 2 and {c.status for c in changed} == {"retired", "spare"}
    assert _rebuilt(demo_engine, yesterday) == _held_by_replay(demo_engine, yesterday)
    today = datetime.now(UTC).date()
    assert _rebuilt(demo_engine, today) == _held_by_replay(demo_engine, today)


def test_a_preview_of_cards_from_no_team_shows_the_unassigned_pool_so_the_teams_add_up(
    demo_engine,
):
    taken = list(inventory.cards(demo_engine, "team:none status:spare", 3, settings=Config()))
    assert len(taken) == 3, "the demo keeps unassigned spares"
    pool = sum(
        1 for c in inventory.cards(demo_engine, "team:none", settings=Config()) if c.status in HELD
    )
    plan = moves.plan_cards(demo_engine, [c.serial for c in taken], "LLM", None, settings=Config())
    by_name = {d.name: d for d in plan.deltas}
    assert (by_name[UNASSIGNED].cards_before, by_name[UNASSIGNED].cards_after) == (pool, pool - 3)
    assert sum(d.cards_after - d.cards_before for d in plan.deltas) == 0
    line = f"  {UNASSIGNED} {pool:,} -> {units.counted(pool - 3, 'card')}, "
    assert any(shown.startswith(line) for shown in presentation.describe_move(plan))


def test_plan_refuses_what_move_refuses_with_the_same_sentence(demo_url, demo_engine):
    """A new user's trial: `plan` previewed "Move 1 card" to where the card already was, with
    no change listed, while `move` refused. Planning refuses, so both do, alike."""
    there = next(
        inventory.cards(demo_engine, "project:ctr-model status:in_service", 1, settings=Config())
    )
    elsewhere = next(
        inventory.cards(demo_engine, "team:search status:in_service", 1, settings=Config())
    )
    runner = CliRunner()
    where = ["--to-team", "Ads ranking", "--to-project", "ctr-model"]
    said = "fleetui: Nothing to move: 1 card already in Ads ranking/ctr-model.\n"
    for command in (["plan"], ["move", "--reason", "trial", "--yes"]):
        result = runner.invoke(app, ["--db", demo_url, *command, there.serial, *where])
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", said), command
    both = runner.invoke(app, ["--db", demo_url, "plan", there.serial, elsewhere.serial, *where])
    assert both.exit_code == 0
    assert both.stdout.startswith("Move 1 card (")  # the card already there is not counted
    assert "2 named cards; 1 already in Ads ranking/ctr-model stay." in both.stdout
    assert f"  {elsewhere.serial}  " in both.stdout and f"  {there.serial}  " not in both.stdout


def test_a_preview_of_cards_leaving_or_joining_no_project_adds_up(demo_engine):
    """Cards moved to their team without a project leave their project for the team's
    "(no project)" line, and the reverse: every project line's change adds up to nothing."""
    serial = next(
        inventory.cards(demo_engine, "project:ctr-model status:in_service", 1, settings=Config())
    ).serial
    no_project = f"Ads ranking/{teams.NO_PROJECT}"

    def project_lines(plan) -> dict[str, int]:
        shown = presentation.describe_move(plan)
        lines = {d.name: d.cards_after - d.cards_before for d in plan.deltas if "/" in d.name}
        assert all(any(line.startswith(f"  {d} ") for line in shown) for d in lines)
        assert sum(lines.values()) == 0
        return lines

    plan = moves.plan_cards(demo_engine, [serial], "Ads ranking", None, settings=Config())
    assert [d.name for d in plan.deltas] == ["Ads ranking/ctr-model", no_project]
    assert project_lines(plan) == {"Ads ranking/ctr-model": -1, no_project: 1}
    moves.commit(demo_engine, plan, "out of the project")
    back = moves.plan_cards(demo_engine, [serial], "Ads ranking", "ctr-model", settings=Config())
    assert project_lines(back) == {"Ads ranking/ctr-model": 1, no_project: -1}


def test_a_request_from_a_teams_no_project_takes_only_its_cards_in_no_project(
    demo_url, demo_engine
):
    """The preview prints a team's "(no project)" line: --from-project names it (any case)."""
    with demo_engine.connect() as conn:
        ads = teams.team_id(conn, "Ads ranking")
    runner = CliRunner()
    for spelled in (teams.NO_PROJECT, teams.NO_PROJECT.upper()):
        request = ["--from-team", "Ads ranking", "--from-project", spelled, "--to-team", "LLM"]
        result = runner.invoke(app, ["--db", demo_url, "plan", "--count", "8", *request])
        assert result.exit_code == 0, result.output
        assert f"Asked for 8 cards from Ads ranking/{teams.NO_PROJECT}." in result.stdout
    plan = moves.plan_request(
        demo_engine,
        "LLM",
        None,
        count=8,
        from_team="Ads ranking",
        from_project=teams.NO_PROJECT,
        today=TODAY,
        settings=Config(),
    )
    assert {(c.team_id, c.project_id) for c in plan.cards} == {(ads, None)}
    with pytest.raises(UserError, match=r"name the team with --from-team\.$"):
        moves.plan_request(
            demo_engine,
            "LLM",
            None,
            count=8,
            from_project=teams.NO_PROJECT,
            today=TODAY,
            settings=Config(),
        )
