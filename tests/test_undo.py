"""Undo is a write like any other: checked and written under one lock, on the versions it checked,
versions only increase, and it takes back everything a batch made. On both backends."""

from __future__ import annotations

import itertools
import json
import sqlite3
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from typer.testing import CliRunner

from fleetui.admin import maintenance
from fleetui.allocation import history, moves, teams
from fleetui.allocation.undo import _cards_of, undo
from fleetui.cli import app
from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db import holdings
from fleetui.db.tables import Card, Event, Node, Team
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import edit
from fleetui.inventory.events import card_events
from fleetui.lifecycle import repairs
from fleetui.store import open_fleet
from tests import racer

MODEL = "H100 SXM5 80GB"
TODAY = date(2026, 11, 1)


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def team_of(engine, serial: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(Team.name).join(Card, Card.team_id == Team.id).where(Card.serial == serial)
        ).scalar()


def broken_histories(engine) -> list[str]:
    """Cards whose log does not account for them: each event's `before` version is the one the
    event before it left, versions rise by one, the newest is the card's version, and the team
    the log last gave the card is the card's team."""
    broken = []
    with engine.connect() as conn:
        cards = {r.id: r for r in conn.execute(select(Card.id, Card.version, Card.team_id))}
        events = conn.execute(
            select(Event.card_id, Event.serial, Event.before, Event.after, Event.card_version)
            .where(Event.card_id.in_(list(cards)))
            .order_by(Event.card_id, Event.id)
        )
        for card_id, group in itertools.groupby(events, key=lambda e: e.card_id):
            version, team = None, cards[card_id].team_id  # demo cards start without events
            for event in group:
                left = (event.before or {}).get("version", 0)
                if (version is not None and left != version) or event.card_version != left + 1:
                    break
                version, team = event.card_version, (event.after or {}).get("team_id", team)
            else:
                if (version, team) == (cards[card_id].version, cards[card_id].team_id):
                    continue
            broken.append(event.serial)
    return broken


def test_undo_moves_versions_forward_so_a_stale_preview_stays_stale(demo_engine):
    plan = moves.plan_request(
        demo_engine, "Search", None, count=8, from_team="LLM", today=TODAY, settings=Config()
    )
    batch = moves.commit(demo_engine, plan, "lend")
    serials = [c.serial for c in plan.cards]
    stale = moves.plan_cards(
        demo_engine, serials, "Ads ranking", None, settings=Config()
    )  # made before the undo
    undo(demo_engine, batch)
    assert maintenance.check(demo_engine) == []
    assert {team_of(demo_engine, s) for s in serials} == {"LLM"}
    moves.commit(
        demo_engine,
        moves.plan_cards(demo_engine, serials, "Search", None, settings=Config()),
        "again",
    )
    with pytest.raises(moves.MoveConflict, match="8 of 8 cards changed since your preview"):
        moves.commit(demo_engine, stale, "stale")
    assert {team_of(demo_engine, s) for s in serials} == {"Search"}
    assert broken_histories(demo_engine) == []
    assert maintenance.check(demo_engine) == []


def test_undo_finds_each_cards_events_by_index_in_a_new_demo(demo_file, tmp_path):
    """A new demo's log holds one event when its planner statistics are taken. Kept, that
    figure had SQLite read undo's per-card lookups by scanning the whole log once per card:
    37 s to undo 5,000 cards of a 100,000-card fleet."""
    copy = tmp_path / "fleet.db"
    with sqlite3.connect(demo_file) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    assert undo_scans(copy) == []


def test_the_upgrade_to_schema_0019_drops_the_small_logs_statistics(demo_file, tmp_path):
    copy = tmp_path / "fleet.db"
    with sqlite3.connect(demo_file) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("ANALYZE")  # as fleetui 0018's demo left it, its log one event long
        dst.execute("UPDATE alembic_version SET version_num = '0018'")
    assert undo_scans(copy) == []


def undo_scans(path) -> list[str]:
    """The whole-table reads in the plan of undo's lookups for a 20-card move (then undone)."""
    engine = open_fleet(str(path))
    plan = moves.plan_request(
        engine, "Search", None, count=20, from_team="LLM", today=TODAY, settings=Config()
    )
    batch = moves.commit(engine, plan, "lend")
    with engine.connect() as conn:
        query = select(_cards_of(batch)).compile(conn, compile_kwargs={"literal_binds": True})
        plan_rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
    assert undo(engine, batch).restored == 20
    engine.dispose()
    return [row[-1] for row in plan_rows if row[-1].startswith("SCAN")]


def test_batches_undo_newest_first_and_each_undo_links_the_history_on(demo_engine):
    serials = [
        c.serial
        for c in moves.plan_request(
            demo_engine, "Search", None, count=4, today=TODAY, settings=Config()
        ).cards
    ]
    first = moves.commit(
        demo_engine, moves.plan_cards(demo_engine, serials, "Search", None, settings=Config()), "a"
    )
    second = moves.commit(
        demo_engine, moves.plan_cards(demo_engine, serials, "LLM", None, settings=Config()), "b"
    )
    with pytest.raises(UserError, match=f"Cards changed since batch {first[:8]}"):
        undo(demo_engine, first)
    undo(demo_engine, second)
    assert {team_of(demo_engine, s) for s in serials} == {"Search"}
    undo(demo_engine, first)
    assert broken_histories(demo_engine) == []
    assert maintenance.check(demo_engine) == []
    before_first = {e["before"]["team_id"] for s in serials for e in _moves_of(demo_engine, s)}
    with demo_engine.connect() as conn:
        now = set(conn.execute(select(Card.team_id).where(Card.serial.in_(serials))).scalars())
    assert now == before_first


def _moves_of(engine, serial):
    return [e for e in card_events(engine, serial) if e["action"] == "move"][-1:]


def _csv(tmp_path, name: str, rows: list[tuple]) -> str:
    path = tmp_path / name
    path.write_text("serial,model,team,project,node\n" + "".join(",".join(r) + "\n" for r in rows))
    return str(path)


def test_undoing_an_import_removes_the_teams_projects_and_nodes_it_created(engine, tmp_path):
    made = _csv(
        tmp_path,
        "made.csv",
        [
            ("U-1", MODEL, "Alpha", "p1", "node-a"),
            ("U-2", MODEL, "Beta", "", "node-b"),
        ],
    )
    first = run_import(engine, made, ImportOptions(create_missing=True, config=Config()))
    # a later import uses node-b, so it stays when the first is undone
    later = _csv(tmp_path, "later.csv", [("U-3", MODEL, "", "", "node-b")])
    run_import(engine, later, ImportOptions(config=Config()))
    result = CliRunner().invoke(app, ["--db", url_of(engine), "undo", first.batch_id[:8]])
    assert result.exit_code == 0, result.output
    assert "; removed 2 teams, 1 project, 1 node it created (undo batch" in result.stdout
    with engine.connect() as conn:
        assert conn.execute(select(Team.name)).scalars().all() == []
        assert conn.execute(select(Node.hostname)).scalars().all() == ["node-b"]
    assert [b.action for b in history.batches(engine)][1] == "import"
    assert maintenance.check(engine) == []
    undid = history.batches(engine)[0].batch_id
    with pytest.raises(UserError, match="deleted cards, which an undo cannot bring back"):
        undo(engine, undid)


def test_a_team_used_since_the_import_stays(engine, tmp_path):
    first = run_import(
        engine,
        _csv(tmp_path, "a.csv", [("U-1", MODEL, "Alpha", "", "")]),
        ImportOptions(create_missing=True, config=Config()),
    )
    run_import(
        engine,
        _csv(tmp_path, "b.csv", [("U-2", MODEL, "Alpha", "", "")]),
        ImportOptions(config=Config()),
    )
    result = undo(engine, first.batch_id)
    assert result.removed == {} and "it created" not in result.summary()
    assert team_of(engine, "U-2") == "Alpha"


# ---------------------------------------------------------------- any sequence of writes

SERIALS = [f"M-{n}" for n in range(6)]
TEAMS = ["Red", "Blue", "Green"]
NODES = ["", "nd-0", "nd-1"]


def held_now(conn) -> dict[tuple, int]:
    keys = Card.team_id, Card.model_id, Card.status
    return {tuple(k): n for *k, n in conn.execute(select(*keys, func.count()).group_by(*keys))}


def run_machine(make_engine, tmp_path, examples: int, steps: int) -> None:
    """Moves, repairs, imports, deletes and undos in any order, an undo itself a batch that
    can be undone; after every step `db check` is clean, the histories link up, cards, teams
    and nodes are exactly what the model says, and the holdings ledger gives the holdings
    after every earlier step back (what `report allocation --as-of` reads)."""
    files, made = itertools.count(), itertools.count()

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.engine = make_engine()
            self.cards: dict[str, dict] = {}  # serial -> team, node, status
            # name -> which one: ids are never reused, so a team or node an undo removed and
            # an import made again is another one, and undos of batches before it refused
            self.teams: dict[str, int] = {}
            self.nodes: dict[str, int] = {}
            # serial -> the batch whose result the card's state is (an undo's result is the
            # state before the batch it undid): a batch can be undone while its cards are so
            self.state: dict[str, str | None] = {}
            # id -> before, teams and nodes created, the teams and nodes `before` names (kind,
            # name, which one); in the order made (ids are random)
            self.batches: dict[str, tuple[dict, set, set, set]] = {}
            self.states: dict[str, tuple[dict, dict]] = {}  # id -> states it left, found
            self.undone: set[str] = set()
            self.creating: set[str] = set()  # batches that created cards (imports)
            self.unrebuildable: set[str] = set()  # undos that deleted created cards
            self.held: list[tuple[datetime, dict]] = []  # after each step: when, holdings

        def teardown(self) -> None:
            self.engine.dispose()

        def _done(self, batch: str, before: dict, teams=(), nodes=(), left=None) -> None:
            places = {
                (kind, old[kind], ones.get(old[kind], -1))  # -1: gone
                for old in before.values()
                if old
                for kind, ones in (("team", self.teams), ("node", self.nodes))
                if old[kind]
            }
            self.batches[batch] = (before, set(teams), set(nodes), places)
            found = {serial: self.state.get(serial) for serial in before}
            left = left or dict.fromkeys(before, batch)
            self.states[batch] = (left, found)
            self.state.update(left)

        @rule(data=st.data(), n=st.integers(1, 3))
        def import_cards(self, data, n) -> None:
            rows = {
                data.draw(st.sampled_from(SERIALS)): (
                    data.draw(st.sampled_from(TEAMS)),
                    data.draw(st.sampled_from(NODES)),
                )
                for _ in range(n)
            }
            path = tmp_path / f"i{next(files)}.csv"
            path.write_text(
                "serial,model,team,node\n"
                + "".join(f"{s},{MODEL},{t},{nd}\n" for s, (t, nd) in rows.items())
            )
            result = run_import(
                self.engine, str(path), ImportOptions(create_missing=True, config=Config())
            )
            teams = {t for t, _ in rows.values()} - self.teams.keys()
            nodes = {nd for _, nd in rows.values() if nd} - self.nodes.keys()
            before = {}
            for serial, (team, node) in rows.items():
                old = self.cards.get(serial)
                new = {"team": team, "node": node or (old or {}).get("node", "")}
                new["status"] = old["status"] if old else ("in_service" if node else "spare")
                if old != new:
                    before[serial] = old
                    self.cards[serial] = new
            assert (result.batch_id is not None) == bool(before), result.summary()
            if before:
                self._done(result.batch_id, before, teams, nodes)
            if None in before.values():
                self.creating.add(result.batch_id)
            self.teams |= {t: next(made) for t in teams}
            self.nodes |= {nd: next(made) for nd in nodes}

        @rule(data=st.data())
        def move(self, data) -> None:
            movable = sorted(s for s, c in self.cards.items() if c["status"] != "repair")
            if not movable or not self.teams:
                return
            serials = data.draw(st.lists(st.sampled_from(movable), min_size=1, unique=True))
            team = data.draw(st.sampled_from(sorted(self.teams)))
            moving = [s for s in serials if self.cards[s]["team"] != team]
            if not moving:
                with pytest.raises(UserError, match=r"^Nothing to move: .* already in"):
                    moves.plan_cards(self.engine, serials, team, None, settings=Config())
                return
            plan = moves.plan_cards(self.engine, serials, team, None, settings=Config())
            assert sorted(c.serial for c in plan.cards) == sorted(moving)
            batch = moves.commit(self.engine, plan, "m")
            self._done(batch, {s: dict(self.cards[s]) for s in moving})
            for serial in moving:
                self.cards[serial]["team"] = team

        @rule(data=st.data())
        def repair(self, data) -> None:
            if not self.cards:
                return
            serial = data.draw(st.sampled_from(sorted(self.cards)))
            card = self.cards[serial]
            before = dict(card)
            if card["status"] == "repair":
                batch = repairs.receive(self.engine, serial, None, Config(), date.today())
                card["status"] = "spare"
            else:
                batch = repairs.send(self.engine, serial, "T-1", "vendor")
                card["status"] = "repair"
            self._done(batch, {serial: before})

        @rule(data=st.data())
        def delete(self, data) -> None:
            if not self.cards:
                return
            serial = data.draw(st.sampled_from(sorted(self.cards)))
            batch = edit.commit_delete(self.engine, edit.plan_delete(self.engine, [serial]), "r")
            self._done(batch, {serial: self.cards.pop(serial)})

        @rule(data=st.data(), newest=st.booleans())
        def undo_batch(self, data, newest) -> None:
            """Often the newest batch not undone yet (so undos chain), else any batch."""
            live = [b for b in self.batches if b not in self.undone]
            if not self.batches:
                return
            batch = live[-1] if newest and live else data.draw(st.sampled_from(list(self.batches)))
            before, teams, nodes, places = self.batches[batch]
            if batch in self.undone:
                with pytest.raises(UserError, match="already undone"):
                    undo(self.engine, batch)
                return
            if batch in self.unrebuildable:  # refused first, whatever happened since
                with pytest.raises(UserError, match="deleted cards, which an undo cannot bring"):
                    undo(self.engine, batch)
                return
            now_ones = {"team": self.teams, "node": self.nodes}
            if any(now_ones[kind].get(name) != one for kind, name, one in places):
                with pytest.raises(UserError, match=r"would put cards back in .*, deleted since"):
                    undo(self.engine, batch)
                return
            left, found = self.states[batch]
            if any(self.state.get(s) != left[s] for s in before):
                with pytest.raises(UserError, match="Cards changed since batch"):
                    undo(self.engine, batch)
                return
            done = undo(self.engine, batch)
            self.undone.add(batch)
            now = {serial: self.cards.get(serial) for serial in before}
            if batch in self.creating:
                self.unrebuildable.add(done.undo_batch_id)
            for serial, old in before.items():
                if old is None:
                    del self.cards[serial]
                else:
                    self.cards[serial] = dict(old)
            for kind, made_here, ones in (("team", teams, self.teams), ("node", nodes, self.nodes)):
                for name in made_here - {c[kind] for c in self.cards.values()}:
                    del ones[name]
            self._done(done.undo_batch_id, now, left=found)  # undone in turn, it puts `now` back

        @invariant()
        def consistent(self) -> None:
            assert maintenance.check(self.engine) == []
            assert broken_histories(self.engine) == []
            with self.engine.connect() as conn:
                cards = {
                    r.serial: {"team": r.name, "node": r.hostname or "", "status": r.status}
                    for r in conn.execute(
                        select(Card.serial, Team.name, Node.hostname, Card.status)
                        .outerjoin(Team, Team.id == Card.team_id)
                        .outerjoin(Node, Node.id == Card.node_id)
                    )
                }
                teams = set(conn.execute(select(Team.name)).scalars())
                nodes = set(conn.execute(select(Node.hostname)).scalars())
            assert cards == self.cards
            assert (teams, nodes) == (set(self.teams), set(self.nodes))
            with self.engine.connect() as conn:
                now = held_now(conn)
                for moment, then in self.held:
                    assert holdings.held_at(conn, moment) == then, moment
            self.held.append((datetime.now(UTC), now))

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_any_sequence_of_moves_repairs_imports_and_undos_keeps_the_inventory_consistent(
    backend, new_engine, tmp_path
):
    run_machine(new_engine, tmp_path, examples=25 if backend == "sqlite" else 12, steps=15)


def test_a_delete_undone_and_redone_by_undos_takes_the_card_and_brings_it_back(engine, tmp_path):
    """Undoing the undo of a delete deletes the card again (it said '1 restored' and left the
    card, its log saying deleted); undoing that brings it back, values and history whole."""
    path = _csv(
        tmp_path, "a.csv", [("D-1", MODEL, "Red", "", "nd-0"), ("D-2", MODEL, "Red", "", "")]
    )
    run_import(engine, path, ImportOptions(create_missing=True, config=Config()))
    batch = edit.commit_delete(engine, edit.plan_delete(engine, ["D-1"]), "sold")
    present = lambda: team_of(engine, "D-1")  # noqa: E731
    for expected, removed, restored in (("Red", 0, 1), (None, 1, 0), ("Red", 0, 1)):
        done = undo(engine, batch)
        assert (present(), done.deleted, done.restored) == (expected, removed, restored)
        assert maintenance.check(engine) == [] and broken_histories(engine) == []
        batch = done.undo_batch_id
    newest_first = [e["action"] for e in card_events(engine, "D-1")]
    assert newest_first == ["undo.card"] * 3 + ["card.delete", "import.create"]


def test_a_new_card_never_takes_the_id_of_a_card_an_undo_deleted(engine, tmp_path):
    first = run_import(
        engine,
        _csv(tmp_path, "a.csv", [("U-1", MODEL, "", "", "")]),
        ImportOptions(config=Config()),
    )
    undo(engine, first.batch_id)
    run_import(
        engine,
        _csv(tmp_path, "b.csv", [("U-2", MODEL, "", "", "")]),
        ImportOptions(config=Config()),
    )
    with engine.connect() as conn:
        logged = set(conn.execute(select(Event.card_id).where(Event.serial == "U-1")).scalars())
        assert conn.execute(select(Card.id)).scalar_one() not in logged
    assert maintenance.check(engine) == []


# ---------------------------------------------------------------- two processes at once

ONE_SENTENCE = {
    "move": "changed since your preview; nothing was moved. Preview again.",
    "undo": "; nothing was undone.",
}


@pytest.mark.parametrize("first", ["undo", "move"])
def test_an_undo_and_a_move_of_the_same_cards_at_once_one_wins_the_other_is_told(
    engine, tmp_path, backend, first
):
    """The first holds its transaction open while the second reaches its first write; the
    first must win whole and the second be refused in one sentence, with nothing changed."""
    rows = [(f"R-{n}", MODEL, "Red", "", "") for n in range(8)]
    run_import(
        engine, _csv(tmp_path, "r.csv", rows), ImportOptions(create_missing=True, config=Config())
    )
    run_import(
        engine,
        _csv(tmp_path, "g.csv", [("G-0", MODEL, "Green", "", "")]),
        ImportOptions(create_missing=True, config=Config()),
    )
    serials = [r[0] for r in rows]
    lent = moves.commit(
        engine, moves.plan_cards(engine, serials, "Green", None, settings=Config()), "lend"
    )
    db = ["--db", url_of(engine)]
    commands = {
        "undo": [*db, "undo", lent[:8]],
        "move": [*db, "move", *serials, "--to-team", "Red", "--reason", "back", "--yes"],
    }
    # the first write of each: a move updates cards; an undo takes the write lock
    lock = "^UPDATE alembic_version" if backend == "sqlite" else "^LOCK TABLE card"
    first_write = {"move": "^UPDATE card", "undo": lock}
    second = "move" if first == "undo" else "undo"
    holder = racer.start(commands[first], hold="^INSERT INTO event")
    racer.wait_for(holder, "holding")
    rival = racer.start(commands[second], say=first_write[second])
    racer.wait_for(rival, "writing")
    holder.stdin.write("\n")
    holder.stdin.flush()
    won, lost = holder.communicate(timeout=60), rival.communicate(timeout=60)
    assert holder.returncode == 0, won
    assert rival.returncode == 1, lost
    assert ONE_SENTENCE[second] in lost[1] and lost[1].count("\n") == 1
    assert {team_of(engine, s) for s in serials} == {"Red"}
    assert broken_histories(engine) == []
    assert maintenance.check(engine) == []


def test_undo_reverts_a_quota_change_a_rename_and_an_add_and_refuses_what_it_cannot(engine):
    def cli(*args: str):
        return CliRunner().invoke(app, ["--db", url_of(engine), *args])

    def undo_last():
        return cli("undo", history.batches(engine)[0].batch_id[:8])

    def listed():
        teams = json.loads(cli("teams", "list", "--json").stdout)
        return {t["name"]: (t["quota_cards"], t["quota_pflops"]) for t in teams}

    assert cli("teams", "add", "Search", "--cards", "600").exit_code == 0
    assert cli("teams", "quota", "Search", "--cards", "700", "--pflops", "2").exit_code == 0
    result = undo_last()
    assert result.exit_code == 0, result.output
    assert "the quota of Search is back to 600 cards" in result.stdout
    assert listed() == {"Search": (600, None)}
    assert history.batches(engine)[1].undone_by is not None
    assert cli("teams", "rename", "Search", "Trial3").exit_code == 0
    assert "team 'Trial3' is 'Search' again" in undo_last().stdout
    assert set(listed()) == {"Search"}
    assert cli("teams", "add", "Spare").exit_code == 0
    assert undo_last().exit_code == 0
    assert set(listed()) == {"Search"}
    # a delete's log keeps only the name: refused, and not marked undone
    assert cli("teams", "delete", "Search").exit_code == 0
    deleted = history.batches(engine)[0]
    result = undo_last()
    assert result.exit_code == 1
    assert "(team.delete) is not one an undo can revert; nothing was undone." in result.output
    assert history.batches(engine)[0].batch_id == deleted.batch_id
    assert deleted.undone_by is None


def test_undoing_a_batch_again_says_which_undo_takes_it_back(demo_engine):
    """It said 'already undone' of a move whose undo was undone, so in effect again; and an
    undo of a team's add 'is not one an undo can revert', with no word of what to do."""
    plan = moves.plan_request(
        demo_engine, "Search", None, count=4, from_team="LLM", today=TODAY, settings=Config()
    )
    moved = moves.commit(demo_engine, plan, "lend")
    first = undo(demo_engine, moved).undo_batch_id
    with pytest.raises(
        UserError, match=rf"^Batch {moved[:8]} was already undone \(by {first[:8]}\)\.$"
    ):
        undo(demo_engine, moved)
    second = undo(demo_engine, first).undo_batch_id
    with pytest.raises(UserError) as refused:
        undo(demo_engine, moved)
    assert str(refused.value) == (
        f"Batch {moved[:8]} is in effect again (its undo {first[:8]} was undone by "
        f"{second[:8]}): undo {second[:8]} to take it back. Nothing was undone."
    )
    # the history marks it as it is: in effect again (it stayed 'undone by' the first undo)
    listed = {b.batch_id: b for b in history.batches(demo_engine)}
    assert (listed[moved].undone_by, listed[moved].redone_by) == (None, second)
    assert listed[moved].mark() == f"redone by {second[:8]}"
    assert listed[first].mark() == f"undone by {second[:8]}"
    card = card_events(demo_engine, plan.cards[0].serial)
    assert [e["undone_by"] for e in card if e["batch_id"] == moved] == [None]
    undo(demo_engine, second)
    assert {team_of(demo_engine, c.serial) for c in plan.cards} == {"LLM"}
    listed = {b.batch_id: b for b in history.batches(demo_engine)}
    assert (listed[moved].undone_by, listed[moved].redone_by) == (first, None)
    added = teams.add_team(demo_engine, "Tmp")
    removed = undo(demo_engine, added).undo_batch_id
    with pytest.raises(UserError) as refused:
        undo(demo_engine, removed)
    assert str(refused.value) == (
        f"Batch {removed[:8]} undid a change of a team, project or node (removed the team "
        "'Tmp' it added); an undo cannot take that back: make the change again. Nothing was "
        "undone."
    )


@pytest.mark.parametrize(
    ("reused", "removal"),
    [(False, "delete"), (True, "delete"), (False, "undo")],
    ids=["gone", "id-reused", "add-undone"],
)
def test_undo_never_puts_cards_back_in_a_team_deleted_since(demo_engine, reused, removal):
    """A card moved to Tmp and back; Tmp deleted (and, on SQLite, its id given to a new team),
    or its add undone: undoing the move back is refused in one sentence naming Tmp (not 'team
    (id 8)'), the card stays where it is (it put the card in the new team, or failed on a
    foreign key with a traceback)."""

    def cli(*args: str):
        return CliRunner().invoke(app, ["--db", url_of(demo_engine), *args])

    with demo_engine.connect() as conn:
        serial = conn.execute(
            select(Card.serial).join(Team, Card.team_id == Team.id).where(Team.name == "LLM")
        ).scalar()
    assert cli("teams", "add", "Tmp").exit_code == 0
    added = history.batches(demo_engine)[0].batch_id
    assert cli("move", serial, "--to-team", "Tmp", "--reason", "x", "--yes").exit_code == 0
    assert cli("move", serial, "--to-team", "LLM", "--reason", "back", "--yes").exit_code == 0
    back = history.batches(demo_engine)[0].batch_id
    removed = cli("teams", "delete", "Tmp") if removal == "delete" else cli("undo", added[:8])
    assert removed.exit_code == 0, removed.output
    if reused:
        assert cli("teams", "add", "Other").exit_code == 0
    result = cli("undo", back[:8])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        f"Undoing batch {back[:8]} would put cards back in team 'Tmp', deleted since; "
        "nothing was undone." in result.output
    )
    assert team_of(demo_engine, serial) == "LLM"
    assert maintenance.check(demo_engine) == []


def test_an_undo_into_a_node_an_undo_removed_names_it_though_one_of_its_name_came_since(
    engine, tmp_path
):
    """An import moves a card into a node it made; undoing the import removes the node, and an
    import makes one of that name again. Undoing the undo is refused, naming the node (it said
    'node (id 1)'); the card stays out of the new node of that name, which is another one."""
    options = ImportOptions(create_missing=True, config=Config())
    run_import(engine, _csv(tmp_path, "a.csv", [("U-1", MODEL, "Red", "", "")]), options)
    into = run_import(engine, _csv(tmp_path, "b.csv", [("U-1", MODEL, "Red", "", "nd-9")]), options)
    back = undo(engine, into.batch_id).undo_batch_id
    run_import(engine, _csv(tmp_path, "c.csv", [("U-2", MODEL, "Red", "", "nd-9")]), options)
    with pytest.raises(UserError) as refused:
        undo(engine, back)
    assert str(refused.value) == (
        f"Undoing batch {back[:8]} would put cards back in node 'nd-9', deleted since; "
        "nothing was undone. Move the cards by serial instead (one made since under that name "
        "is another one)."
    )
    with engine.connect() as conn:
        on = dict(conn.execute(select(Card.serial, Card.node_id).order_by(Card.serial)).all())
    assert on["U-1"] is None and on["U-2"] is not None
    assert maintenance.check(engine) == [] and broken_histories(engine) == []


def test_every_cli_write_names_its_batch_and_how_to_undo_it(engine, tmp_path):
    """Each command that logs a batch ends its message with that batch and the command that
    takes it back (`teams add`, `rename` and the like printed neither), and that command does:
    undone newest first, the fleet is as it was. A delete, which an undo cannot revert, says
    so instead of offering an undo that would be refused."""

    def cli(*args: str):
        result = CliRunner().invoke(app, ["--db", url_of(engine), *args])
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    def newest() -> str:
        return history.batches(engine)[0].batch_id[:8]

    rows = [("U-1", MODEL, "", "", "node-a"), ("U-2", MODEL, "", "", "node-a")]
    writes = [
        ("import", _csv(tmp_path, "cards.csv", rows), "--create-missing"),
        ("teams", "add", "Ads"),
        ("teams", "rename", "Ads", "Search"),
        ("teams", "quota", "Search", "--cards", "5"),
        ("projects", "add", "Search", "ctr"),
        ("projects", "rename", "ctr", "ranking", "--team", "Search"),
        ("move", "U-1", "--to-team", "Search", "--to-project", "ranking", "--reason", "r", "--yes"),
        ("edit", "U-1", "--notes", "checked", "--reason", "r", "--yes"),
        ("repair", "U-1", "--ticket", "T-1"),
        ("repair", "U-1", "--returned"),
        ("rma", "U-1", "--out", str(tmp_path / "rma.md"), "--yes"),
        ("nodes", "rename", "node-a", "node-b"),
        ("delete", "U-2", "--reason", "r", "--yes"),
    ]
    done = []
    for args in writes:
        said = cli(*args)
        assert said.rstrip().endswith(f"Batch {newest()} (undo: fleetui undo {newest()})."), said
        done.append(newest())
    for batch in reversed(done):
        cli("undo", batch)
    with engine.connect() as conn:
        assert conn.execute(select(Card.serial)).all() == []
        assert conn.execute(select(Team.name)).all() == []
    cli("teams", "add", "Tmp")
    cli("projects", "add", "Tmp", "p")
    cli("nodes", "add", "node-c", "--agent", "http://127.0.0.1:9")
    for args in (
        ("projects", "delete", "p"),
        ("teams", "delete", "Tmp"),
        ("nodes", "remove", "node-c"),
    ):
        said = cli(*args)
        assert said.rstrip().endswith(
            f"Batch {newest()} (an undo cannot bring back what a delete removed)."
        ), said
        refused = CliRunner().invoke(app, ["--db", url_of(engine), "undo", newest()])
        assert refused.exit_code == 1 and "is not one an undo can revert" in refused.output
    assert maintenance.check(engine) == []
