"""The demo fleet: realistic, deterministic, and never mixed into real data."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import insert, select

from db.tables import Card, GpuModel
from fleetui import demo, inventory
from fleetui.errors import UserError
from fleetui.summary import fleet_summary


def _fleet(engine):
    with engine.connect() as conn:
        ids = list(conn.execute(select(Card.id).order_by(Card.serial)).scalars())
    return inventory.rows_for(engine, ids)


def test_same_seed_same_fleet_other_seed_other_fleet(new_engine, demo_engine):
    again = new_engine()
    demo.build(again, cards=2000, seed=7)
    assert [r.as_dict() for r in _fleet(again)] == [r.as_dict() for r in _fleet(demo_engine)]
    other = new_engine()
    demo.build(other, cards=2000, seed=8)
    assert [r.serial for r in _fleet(other)] != [r.serial for r in _fleet(demo_engine)]


def test_the_fleet_looks_like_a_real_one(demo_engine):
    rows = _fleet(demo_engine)
    assert len(rows) == 2000
    statuses = {r.status for r in rows}
    assert statuses == {"in_service", "spare", "repair", "retired", "on_order"}
    models = {r.model for r in rows}
    for family in ("A100", "A800", "H100", "H800", "H20", "V100", "T4", "L40S", "Ascend 910B"):
        assert any(m.startswith(family) for m in models), family
    assert {r.team for r in rows} >= {
        "LLM",
        "Ads ranking",
        "Search",
        "Autonomous driving",
        "Cloud rental",
    }
    years = {r.purchase_date.year for r in rows}
    assert min(years) == 2019 and max(years) == 2026
    sites = {r.node.split("-")[0] for r in rows if r.node}
    assert len(sites) == 3
    assert all(r.node is None for r in rows if r.status == "on_order")


def test_nodes_hold_eight_cards_of_one_model_owned_by_one_team(demo_engine):
    by_node = defaultdict(list)
    for r in _fleet(demo_engine):
        if r.node:
            by_node[r.node].append(r)
    assert max(len(cards) for cards in by_node.values()) == 8
    for cards in by_node.values():
        assert len({c.model for c in cards}) == 1
        assert len({c.team for c in cards}) == 1


def test_warranties_run_one_to_three_years(demo_engine):
    for r in _fleet(demo_engine):
        years = (r.warranty_end - r.purchase_date).days / 365.25
        assert 0.99 <= years <= 3.01


def test_team_compute_adds_up_to_the_fleet(demo_engine):
    summary = fleet_summary(demo_engine)
    assert summary.total_cards == 2000
    assert sum(line.tflops for line in summary.teams) == pytest.approx(summary.total_tflops)
    by_model = {line.name: line.cards for line in summary.models}
    assert sum(by_model.values()) == 2000


def test_demo_refuses_a_database_holding_real_cards(engine):
    with engine.begin() as conn:
        model = conn.execute(select(GpuModel.id).limit(1)).scalar()
        conn.execute(insert(Card).values(serial="REAL-1", model_id=model, status="spare"))
    with pytest.raises(UserError, match="never mixes demo data with real data"):
        demo.clear(engine)
    assert [r.serial for r in _fleet(engine)] == ["REAL-1"]


def test_a_demo_database_can_be_cleared_and_rebuilt(demo_engine):
    demo.clear(demo_engine)
    assert demo.card_count(demo_engine) == 0
    assert demo.build(demo_engine, cards=100, seed=1) == 100
