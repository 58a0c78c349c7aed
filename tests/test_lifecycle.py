"""Warranty, service life, book value, repairs and cost, with an injected "today"."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from fleetui import catalogue, config
from fleetui.allocation import teams
from fleetui.allocation.undo import undo
from fleetui.cli import app
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import UNASSIGNED, Status
from fleetui.db.tables import Card, GpuModel, Team
from fleetui.inventory import cards as inventory
from fleetui.inventory import summary
from fleetui.lifecycle import conditions, repairs
from fleetui.lifecycle import rules as lifecycle

DEFAULTS = config.Config()
TODAY = date(2026, 3, 15)


def test_warranty_end_comes_from_the_card_then_model_then_supplier_then_default():
    cfg = config.Config(
        lifecycle=config.Lifecycle(
            warranty_months_by_model={"h800-sxm": 36}, warranty_months_by_supplier={"inspur": 24}
        )
    )
    bought = date(2023, 1, 10)
    assert lifecycle.warranty_end(cfg, bought, date(2024, 6, 1), "h800-sxm", "Inspur") == date(
        2024, 6, 1
    )
    assert lifecycle.warranty_end(cfg, bought, None, "h800-sxm", "Inspur") == date(2026, 1, 10)
    assert lifecycle.warranty_end(cfg, bought, None, "t4", "INSPUR") == date(2025, 1, 10)
    assert lifecycle.warranty_end(cfg, bought, None, "t4", None) == date(2024, 1, 10)
    assert lifecycle.warranty_end(cfg, None, None, "t4", None) is None


def test_leap_days():
    assert lifecycle.warranty_end(DEFAULTS, date(2024, 2, 29), None, "t4", None) == date(
        2025, 2, 28
    )
    assert lifecycle.end_of_life(date(2024, 2, 29), 5) == date(2029, 2, 28)
    assert lifecycle.end_of_life(date(2024, 2, 29), 4) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("end", "state"),
    [
        (None, "unknown"),
        (TODAY - timedelta(days=1), "expired"),
        (TODAY, "expiring"),
        (TODAY + timedelta(days=90), "expiring"),
        (TODAY + timedelta(days=91), "active"),
    ],
)
def test_warranty_state_boundaries(end, state):
    assert lifecycle.warranty_state(end, TODAY, 90) == state


def test_book_value_is_straight_line_down_to_salvage():
    bought, eol = date(2022, 1, 1), date(2027, 1, 1)
    price = 1_000_000
    assert lifecycle.book_value(price, bought, eol, 0.1, bought - timedelta(days=5)) == price
    assert lifecycle.book_value(price, bought, eol, 0.1, bought) == price
    assert lifecycle.book_value(price, bought, eol, 0.1, eol) == 100_000
    assert lifecycle.book_value(price, bought, eol, 0.1, eol + timedelta(days=400)) == 100_000
    half = bought + (eol - bought) / 2
    assert lifecycle.book_value(price, bought, eol, 0.1, half) == pytest.approx(550_000, abs=200)
    assert lifecycle.book_value(price, None, None, 0.1, TODAY) == price


def _add(
    engine,
    serial,
    model_key="h800-sxm",
    *,
    status="in_service",
    team=None,
    bought=None,
    warranty=None,
    life=None,
    supplier=None,
    price=None,
):
    with engine.begin() as conn:
        model = conn.execute(select(GpuModel.id).where(GpuModel.key == model_key)).scalar()
        team_id = None
        if team:
            team_id = (
                conn.execute(select(Team.id).where(Team.name == team)).scalar()
                or conn.execute(insert(Team).values(name=team)).inserted_primary_key[0]
            )
        conn.execute(
            insert(Card).values(
                serial=serial,
                model_id=model,
                status=status,
                team_id=team_id,
                purchase_date=bought,
                warranty_end=warranty,
                service_life_years=life,
                supplier=supplier,
                price_minor=price,
                currency="USD" if price else None,
            )
        )


def test_reports_and_alerts_with_an_injected_today(engine):
    _add(engine, "OLD", "v100-sxm2-32gb", team="Search", bought=date(2019, 3, 1), price=800_000)
    _add(
        engine,
        "MID",
        team="LLM",
        bought=date(2023, 4, 1),
        warranty=TODAY + timedelta(days=20),
        price=3_800_000,
    )
    _add(engine, "NEW", team="LLM", bought=date(2025, 12, 1), price=3_800_000)  # 12 months
    _add(
        engine,
        "FIX",
        team="LLM",
        status="repair",
        bought=date(2024, 1, 1),
        warranty=date(2025, 1, 1),
    )
    _add(engine, "NODATE", team="LLM")
    snap = lifecycle.snapshot(engine, DEFAULTS, TODAY)
    assert inventory.alert_counts(engine, TODAY, settings=DEFAULTS) == {
        "expiring_30d": 1,
        "expiring_90d": 1,
        "past_eol_in_service": 1,
        "in_repair": 1,
    }
    assert [r.label for r in lifecycle.past_end_of_life(snap)] == ["Search / V100 SXM2 32GB"]
    soon = lifecycle.warranty_expiring(snap, 90, "team")
    assert [(r.label, r.cards, r.extra["first_expiry"]) for r in soon] == [
        ("LLM", 1, (TODAY + timedelta(days=20)).isoformat())
    ]
    cliff = lifecycle.retirement_cliff(snap, years=3)
    assert len(cliff) == 12 and cliff[0].label == "2026 Q1"
    q2_2028 = next(r for r in cliff if r.label == "2028 Q2")
    assert q2_2028.cards == 1 and q2_2028.pflops == pytest.approx(0.989)  # MID: 2023-04 + 5y
    book = {r.label: r.extra for r in lifecycle.book_values(snap)}
    assert book["Search"]["book_value"] == pytest.approx(800.00)  # past end of life: salvage
    assert 38_000 * 2 * 0.1 < book["LLM"]["book_value"] < 38_000 * 2


def test_the_inventory_filter_agrees_with_the_reports_at_month_ends(engine, monkeypatch, tmp_path):
    """warranty:Nd and eol:past find the cards the reports count, defaults and clamping included."""
    today = date.today()
    cfg_file = str(tmp_path / "config.toml")
    with open(cfg_file, "w") as handle:
        handle.write(
            "[lifecycle]\nwarranty_months = 12\n"
            '[lifecycle.warranty_months_by_model]\n"H800" = 36\n'
            '[lifecycle.warranty_months_by_supplier]\n"Inspur" = 24\n'
            '[lifecycle.service_life_by_model]\n"V100" = 4\n'
        )
    monkeypatch.setenv("FLEETUI_CONFIG", cfg_file)
    cfg = config.load()
    n = 0
    for months_ago in range(8, 62):
        for day in (28, 29, 30, 31):
            base = today.replace(day=1) - timedelta(days=30 * months_ago)
            try:
                bought = base.replace(day=day)
            except ValueError:
                continue
            for model, supplier in (
                ("h800-sxm", None),
                ("t4", "Inspur"),
                ("t4", None),
                ("v100-sxm2-32gb", None),
            ):
                n += 1
                _add(
                    engine,
                    f"C{n:05d}",
                    model,
                    bought=bought,
                    supplier=supplier,
                    life=4.5 if n % 7 == 0 else None,
                )
    snap = lifecycle.snapshot(engine, cfg, today)
    for days in (0, 30, 90, 365):
        expected = sum(r.cards for r in lifecycle.warranty_expiring(snap, days, "team"))
        assert inventory.count(engine, f"warranty:{days}d", settings=cfg) == expected, days
    past_eol = sum(
        g.cards
        for g in snap.groups
        if g.status == "in_service" and g.end_of_life and g.end_of_life < today
    )
    assert inventory.count(engine, "eol:past", settings=cfg) == past_eol > 0
    expired = sum(g.cards for g in snap.groups if g.warranty_end and g.warranty_end < today)
    assert inventory.count(engine, "warranty:expired", settings=cfg) == expired > 0


def test_repairs_in_and_out_of_warranty(engine):
    _add(engine, "R1", bought=date(2025, 6, 1), warranty=date(2027, 6, 1), price=100)
    _add(engine, "R2", bought=date(2020, 6, 1), warranty=date(2021, 6, 1), price=100)
    sent = repairs.send(engine, "R1", "RMA-7", "Inspur")
    assert inventory.detail(engine, "R1", settings=DEFAULTS).fields["status"] == "repair"
    with pytest.raises(UserError, match="already in repair"):
        repairs.send(engine, "R1", "RMA-8", "Inspur")
    repairs.receive(engine, "R1", None, DEFAULTS, TODAY)
    repairs.send(engine, "R2", "RMA-9", "H3C")
    repairs.receive(engine, "R2", "¥8,000", DEFAULTS, TODAY)
    with pytest.raises(UserError, match="not in repair"):
        repairs.receive(engine, "R2", None, DEFAULTS, TODAY)
    report = {r.currency: r for r in repairs.cost_report(engine)}
    assert report["CNY"].out_of_warranty == 1 and report["CNY"].cost_out_of_warranty == 8000
    assert report["USD"].in_warranty == 1 and report["USD"].cost_in_warranty == 0
    actions = [e["action"] for e in inventory.detail(engine, "R1", settings=DEFAULTS).events]
    assert actions == ["repair.return", "repair.send"]
    assert inventory.detail(engine, "R1", settings=DEFAULTS).events[1]["after"]["ticket"] == "RMA-7"
    with pytest.raises(UserError, match="Cards changed since"):
        undo(engine, sent)  # it came back since


def test_cost_of_ownership_arithmetic(engine):
    _add(engine, "P1", team="LLM", bought=date(2025, 3, 15), price=5_000_000)  # $50,000, 5 y
    cfg = config.Config(
        cost=config.Cost(pue=1.5, tariff_per_kwh=0.2, utilization=0.5, rack_ops_per_node_year=8000)
    )
    row = lifecycle.cost_of_ownership(lifecycle.snapshot(engine, cfg, TODAY))[0].extra
    assert row["purchase_per_year"] == pytest.approx(50_000 * 0.9 / 5, rel=1e-3)
    assert row["power_per_year"] == pytest.approx(700 * 0.5 * 8766 * 1.5 / 1000 * 0.2)
    assert row["rack_ops_per_year"] == pytest.approx(1000)


def test_irreplaceable_share_follows_export_class_and_config(engine):
    _add(engine, "A", "h800-sxm", team="LLM")
    _add(engine, "B", "h20", team="LLM")
    share = lifecycle.irreplaceable_share(lifecycle.snapshot(engine, DEFAULTS, TODAY))[0]
    assert share.extra["share"] == pytest.approx(989 / (989 + 148), abs=1e-4)
    cfg = config.Config(irreplaceable=frozenset({"h20"}))
    share = lifecycle.irreplaceable_share(lifecycle.snapshot(engine, cfg, TODAY))[0]
    assert share.extra["share"] == 1.0


def test_cli_reports_and_repairs(db_url):
    db = db_url
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "demo", "--cards", "300", "--no-launch"]).exit_code == 0
    for args in (
        ["warranty", "--within", "400d", "--by", "model"],
        ["cliff"],
        ["eol"],
        ["book-value"],
        ["cost", "--by", "project"],
        ["irreplaceable"],
    ):
        result = runner.invoke(
            app, ["--db", db, "report", *args, "--json", "--today", "2026-01-01"]
        )
        assert result.exit_code == 0, result.output
        assert isinstance(json.loads(result.stdout), list)
    csv_out = runner.invoke(app, ["--db", db, "report", "cliff", "--csv"]).stdout
    assert csv_out.splitlines()[0] == "quarter,cards,pflops"
    serial = json.loads(
        runner.invoke(
            app, ["--db", db, "cards", "status:in_service", "--json", "--limit", "1"]
        ).stdout
    )[0]["serial"]
    sent = runner.invoke(app, ["--db", db, "repair", serial, "--ticket", "T-1", "--vendor", "X"])
    assert sent.exit_code == 0
    back = runner.invoke(app, ["--db", db, "repair", serial, "--returned", "--cost", "100 USD"])
    assert back.exit_code == 0 and "back from repair" in back.stdout
    logged = runner.invoke(app, ["--db", db, "history", "--card", serial]).stdout
    assert "cost: 100.00 USD" in logged and "cost minor" not in logged  # not 'cost minor: 10000'
    assert re.search(r"in warranty: (yes|no)\n", logged), logged  # not 'in warranty: True'
    bad = runner.invoke(app, ["--db", db, "report", "warranty", "--by", "colour"])
    assert bad.exit_code == 1 and "--by takes team, model or supplier" in bad.stderr


REPORTS = (
    ["warranty", "--within", "36500d"],
    ["cliff"],
    ["eol"],
    ["book-value"],
    ["irreplaceable"],
    ["cost", "--by", "project"],
    ["repairs"],
)


def test_every_report_writes_csv_under_one_header_whether_or_not_it_has_rows(db_url, demo_url):
    """README: the reports take --csv (`report repairs` refused it); a report with no rows
    writes its header alone, the one it writes with rows (it wrote label,cards,pflops, so a
    spreadsheet's columns shifted the day a report came back empty)."""
    runner = CliRunner()

    def csv_of(db: str, args: list[str]) -> list[list[str]]:
        result = runner.invoke(app, ["--db", db, "report", *args, "--csv"])
        assert result.exit_code == 0, result.output
        return list(csv.reader(result.stdout.splitlines()))

    serial = json.loads(
        runner.invoke(app, ["--db", demo_url, "cards", "status:spare", "--json"]).stdout
    )[0]["serial"]
    for args in (["--ticket", "T-1"], ["--returned", "--cost", "100 USD"]):
        assert runner.invoke(app, ["--db", demo_url, "repair", serial, *args]).exit_code == 0
    assert runner.invoke(app, ["--db", db_url, "teams", "add", "Empty"]).exit_code == 0
    for args in REPORTS:
        full, empty = csv_of(demo_url, args), csv_of(db_url, args)
        assert len(full) > 1 and empty[0] == full[0], args
        assert len(empty) == 1 or args == ["cliff"], empty  # the cliff's quarters, at 0
    assert csv_of(demo_url, ["repairs"])[1][:2] == ["USD", "1"]


def test_a_repair_return_undone_costs_nothing_until_its_undo_is_undone(demo_url):
    """`report repairs` counted an undone return: the card back in repair, returned again
    for 500 USD, the report said two repairs and 1,700 USD."""
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["--db", demo_url, *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    def repaired() -> list[tuple[str, int, float]]:
        rows = json.loads(cli("report", "repairs", "--json"))
        return [(r["currency"], r["repairs"], r["cost_in_warranty"] + r["cost_out_of_warranty"])
                for r in rows]  # fmt: skip

    serial = json.loads(cli("cards", "status:spare", "--json"))[0]["serial"]
    cli("repair", serial, "--ticket", "T-1")
    cli("repair", serial, "--returned", "--cost", "1200 USD")
    first = json.loads(cli("history", "--json", "--limit", "1"))[0]["batch_id"]
    assert repaired() == [("USD", 1, 1200.0)]
    cli("undo", first[:8])
    assert repaired() == []
    back = json.loads(cli("history", "--json", "--limit", "1"))[0]["batch_id"]
    cli("undo", back[:8])  # the return stands again
    assert repaired() == [("USD", 1, 1200.0)]
    cli("undo", json.loads(cli("history", "--json", "--limit", "1"))[0]["batch_id"][:8])
    cli("repair", serial, "--returned", "--cost", "500 USD")
    assert repaired() == [("USD", 1, 500.0)]


def test_a_cards_detail_shows_its_warranty_life_and_book_value(engine):
    _add(engine, "D1", bought=date(2024, 2, 29), price=1_000_000)  # no warranty end: 12 months
    fields = inventory.detail(engine, "D1", today=date(2025, 3, 1), settings=DEFAULTS).fields
    assert fields["warranty_end"] == date(2025, 2, 28)
    assert fields["warranty_state"] == "expired"
    assert fields["end_of_life"] == date(2029, 2, 28)
    assert fields["remaining_life_years"] == 4.0
    assert fields["book_value"].endswith("USD")
    assert 800_000 < float(fields["book_value"].split()[0].replace(",", "")) * 100 < 1_000_000


def test_cards_on_order_have_a_book_value_line_of_their_own_at_their_price(db_url, engine):
    """`report book-value` counted cards on order under "(unassigned)", depreciated from their
    order date, though no one holds them yet and cost of ownership does not depreciate them:
    they are on an "(on order)" line (whatever team they are meant for), at their price, and a
    card's detail says the same."""
    bought = date(2025, 3, 15)  # a year before TODAY: a card in service has lost a fifth
    _add(engine, "POOL", bought=bought, price=1_000_000, status="spare")
    _add(engine, "ORD1", bought=bought, price=2_000_000, status="on_order")
    _add(engine, "ORD2", team="LLM", bought=bought, price=3_000_000, status="on_order")
    _add(engine, "LLM1", team="LLM", bought=bought, price=1_000_000)
    book = {
        r.label: (r.cards, r.extra["purchase"], r.extra["book_value"])
        for r in lifecycle.book_values(lifecycle.snapshot(engine, DEFAULTS, TODAY))
    }
    assert book[lifecycle.ON_ORDER] == (2, 50_000.0, 50_000.0)
    assert book[UNASSIGNED][:2] == book["LLM"][:2] == (1, 10_000.0)
    assert book[UNASSIGNED][2] == book["LLM"][2] == pytest.approx(10_000 * (1 - 0.9 / 5), abs=20)
    detail = inventory.detail(engine, "ORD2", today=TODAY, settings=DEFAULTS).fields
    assert detail["book_value"] == "30,000.00 USD"
    shown = CliRunner().invoke(
        app, ["--db", db_url, "report", "book-value", "--today", TODAY.isoformat()]
    )
    assert "(on order)" in shown.stdout and "50,000.00" in shown.stdout


# ---------------------------------------------------------------- one rule, every figure

RULES = (
    "[lifecycle]\nwarranty_months = 12\n"
    '[lifecycle.warranty_months_by_model]\n"H800" = 36\n'
    '[lifecycle.warranty_months_by_supplier]\n"Inspur" = 24\n"Ünicorn" = 30\n'
    '[lifecycle.service_life_by_model]\n"V100" = 4\n"H20" = 3\n'
)


@pytest.fixture
def ruled_demo(demo_engine, tmp_path, monkeypatch):
    """The demo fleet with a config of model and supplier rules, where a third of the cards
    have no warranty end of their own (the rules give it), suppliers are spelt in any case and
    script, and some cards carry their own service life."""
    path = tmp_path / "config.toml"
    path.write_text(RULES, "utf-8")
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    card = Card.__table__
    with demo_engine.begin() as conn:
        conn.execute(update(card).where(card.c.id % 3 == 0).values(warranty_end=None))
        conn.execute(update(card).where(card.c.id % 5 == 1).values(supplier="INSPUR"))
        conn.execute(update(card).where(card.c.id % 7 == 2).values(supplier="ÜNICORN"))
        conn.execute(update(card).where(card.c.id % 11 == 3).values(service_life_years=2.5))
        conn.execute(update(card).where(card.c.id % 13 == 4).values(purchase_date=None))
    return demo_engine


def _every_card(engine) -> list:
    card, model = Card.__table__, GpuModel.__table__
    query = select(
        card.c.serial,
        card.c.status,
        card.c.purchase_date,
        card.c.warranty_end,
        card.c.service_life_years,
        card.c.supplier,
        model.c.key,
    ).select_from(card.join(model, model.c.id == card.c.model_id))
    with engine.connect() as conn:
        return conn.execute(query).all()


def test_cards_lists_the_warranty_end_the_rules_give_on_both_backends(ruled_demo):
    cfg = config.load()
    rule = {
        c.serial: lifecycle.warranty_end(cfg, c.purchase_date, c.warranty_end, c.key, c.supplier)
        for c in _every_card(ruled_demo)
    }
    result = CliRunner().invoke(app, ["--db", str(ruled_demo.url), "cards", "--json"])
    assert result.exit_code == 0, result.output
    listed = {c["serial"]: c["warranty_end"] for c in json.loads(result.stdout)}
    assert listed == {s: end.isoformat() if end else None for s, end in rule.items()}
    assert sum(1 for end in listed.values() if end is None) == sum(
        1 for c in _every_card(ruled_demo) if c.purchase_date is None and c.warranty_end is None
    )
    serial = next(s for s, end in rule.items() if end is not None)
    assert inventory.detail(ruled_demo, serial, settings=cfg).fields["warranty_end"] == rule[serial]


def test_the_exports_lifecycle_columns_are_the_rules_card_by_card(ruled_demo, tmp_path):
    """The export computes its three lifecycle columns through memos; each card's must be what
    the rules give it alone, whatever cards came before it."""
    cfg = config.load()
    expected = {}
    for c in _every_card(ruled_demo):
        life = lifecycle.service_life(cfg, c.service_life_years, c.key)
        end = lifecycle.warranty_end(cfg, c.purchase_date, c.warranty_end, c.key, c.supplier)
        eol = lifecycle.end_of_life(c.purchase_date, life)
        expected[c.serial] = (end and end.isoformat(), str(life), eol and eol.isoformat())
    out = tmp_path / "cards.csv"
    result = CliRunner().invoke(app, ["--db", str(ruled_demo.url), "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as f:
        exported = {
            r["serial"]: (
                r["effective_warranty_end"] or None,
                r["effective_service_life_years"],
                r["end_of_life"] or None,
            )
            for r in csv.DictReader(f)
        }
    assert exported == expected


@pytest.mark.parametrize(
    "today", [date(2023, 2, 28), date(2024, 2, 29), date(2025, 3, 31), date(2026, 11, 30)]
)
def test_the_sql_filters_find_exactly_the_cards_the_python_rules_name(ruled_demo, today):
    """warranty:Nd, warranty:expired and eol:past are SQL twins of warranty_end() and
    end_of_life(); for every card of the demo fleet they must agree."""
    cfg = config.load()
    cards = _every_card(ruled_demo)
    card = Card.__table__
    overrides = sorted({c.service_life_years for c in cards if c.service_life_years})
    with ruled_demo.connect() as conn:

        def matched(condition) -> set[str]:
            return set(conn.execute(select(card.c.serial).where(condition)).scalars())

        for days in (None, 0, 30, 90, 365):
            ends = {
                c.serial: lifecycle.warranty_end(
                    cfg, c.purchase_date, c.warranty_end, c.key, c.supplier
                )
                for c in cards
            }
            if days is None:
                expected = {s for s, end in ends.items() if end and end < today}
            else:
                last = today + timedelta(days=days)
                expected = {s for s, end in ends.items() if end and today <= end <= last}
            assert matched(conditions.warranty_condition(conn, cfg, today, days)) == expected, days
        past_eol = {
            c.serial
            for c in cards
            if c.status == "in_service"
            and (
                eol := lifecycle.end_of_life(
                    c.purchase_date, lifecycle.service_life(cfg, c.service_life_years, c.key)
                )
            )
            and eol < today
        }
        assert matched(conditions.past_eol_condition(cfg, today, overrides)) == past_eol


def test_dashboard_alerts_equal_a_card_by_card_count(engine, monkeypatch, tmp_path):
    """The alert counts (SQL over index ranges) equal the rules applied to every card in
    Python: configured and default warranties, own end dates, service-life overrides, every
    status, month ends and the window edges."""
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text(
        "[lifecycle]\nwarranty_months = 12\n"
        '[lifecycle.warranty_months_by_model]\n"H800" = 36\n'
        '[lifecycle.warranty_months_by_supplier]\n"Inspur" = 24\n'
        '[lifecycle.service_life_by_model]\n"V100" = 4\n'
    )
    monkeypatch.setenv("FLEETUI_CONFIG", str(cfg_file))
    cfg = config.load()
    statuses = ["in_service", "spare", "repair", "retired", "on_order"]
    models = ["h800-sxm", "t4", "v100-sxm2-32gb"]
    for n, days_ago in enumerate((*range(0, 2200, 37), 365 * 4, 365 * 5, 365 * 5 + 1), 1):
        bought = TODAY - timedelta(days=days_ago)
        own_end = TODAY + timedelta(days=(0, 30, 31, 90, 91, -1)[n % 6]) if n % 4 == 0 else None
        _add(
            engine,
            f"A{n:05d}",
            models[n % 3],
            status=statuses[n % 5],
            bought=bought if n % 11 else None,
            warranty=own_end,
            supplier=("Inspur", "inspur", None)[n % 3],
            life=(None, 4.5, 0)[n % 3] if n % 2 else None,
        )
    with engine.connect() as conn:
        cards = conn.execute(
            select(
                Card.status,
                Card.purchase_date,
                Card.warranty_end,
                Card.service_life_years,
                Card.supplier,
                GpuModel.key,
            ).join(GpuModel, GpuModel.id == Card.model_id)
        ).all()
    expected = {"expiring_30d": 0, "expiring_90d": 0, "past_eol_in_service": 0, "in_repair": 0}
    for status, bought, own_end, life, supplier, key in cards:
        end = lifecycle.warranty_end(cfg, bought, own_end, key, supplier)
        if status in ("in_service", "spare", "repair") and end and end >= TODAY:
            expected["expiring_30d"] += (end - TODAY).days <= 30
            expected["expiring_90d"] += (end - TODAY).days <= 90
        eol = lifecycle.end_of_life(bought, lifecycle.service_life(cfg, life, key))
        past = eol is not None and eol < TODAY
        expected["past_eol_in_service"] += status == "in_service" and past
        expected["in_repair"] += status == "repair"
    assert all(expected.values())
    assert inventory.alert_counts(engine, TODAY, settings=cfg) == expected


def test_every_report_counts_the_cards_the_filter_finds_per_team(ruled_demo):
    """Per team: the reports' card counts equal `cards team:X ...` counts, their PFLOPS equal
    the holdings' (compute counts cards in service and spare)."""
    cfg, today = config.load(), date.today()
    snap = lifecycle.snapshot(ruled_demo, cfg, today)
    holdings = {h.name: h.pflops for h in teams.holdings(ruled_demo)}
    dashboard = {line.name: line.tflops / 1000 for line in summary.fleet_summary(ruled_demo).teams}

    def count(text: str) -> int:
        return inventory.count(ruled_demo, text, settings=cfg)

    irreplaceable_models = [s.name for s in catalogue.models() if config.irreplaceable(cfg, s)]
    shares = lifecycle.irreplaceable_share(snap)
    assert shares and all(r.cards > 0 for r in shares)
    for row in shares:
        team = "team:none" if row.label == UNASSIGNED else f'team:"{row.label}"'
        assert row.cards == count(f"{team} status:in_service") + count(f"{team} status:spare")
        assert row.extra["irreplaceable_cards"] == sum(
            count(f'{team} model:"{m}" status:{s}')
            for m in irreplaceable_models
            for s in ("in_service", "spare")
        )
        assert row.pflops == pytest.approx(dashboard[row.label])
        assert row.pflops == pytest.approx(holdings.get(row.label, dashboard[row.label]))
    for row in lifecycle.warranty_expiring(snap, 90, "team"):
        team = "team:none" if row.label == UNASSIGNED else f'team:"{row.label}"'
        assert row.cards == count(f"{team} warranty:90d"), row.label
    expired = sum(
        g.cards
        for g in snap.groups
        if g.status in summary.HELD and g.warranty_end and g.warranty_end < today
    )
    assert count("warranty:expired") == expired > 0
    for row in lifecycle.past_end_of_life(snap):
        name, model = row.label.split(" / ")
        team = "team:none" if name == UNASSIGNED else f'team:"{name}"'
        assert row.cards == count(f'{team} model:"{model}" eol:past'), row.label
    assert sum(r.cards for r in lifecycle.past_end_of_life(snap)) == count("eol:past")


def test_report_irreplaceable_shows_cards_per_team(db_url):
    runner = CliRunner()
    assert (
        runner.invoke(app, ["--db", db_url, "demo", "--cards", "300", "--no-launch"]).exit_code == 0
    )
    rows = json.loads(
        runner.invoke(app, ["--db", db_url, "report", "irreplaceable", "--json"]).stdout
    )
    assert rows and all(r["cards"] > 0 for r in rows)
    assert all(0 <= r["irreplaceable_cards"] <= r["cards"] for r in rows)


@pytest.mark.parametrize("today", [date(2024, 2, 29), date(2026, 11, 30), date(2028, 12, 31)])
def test_each_report_reads_only_its_groups_and_gives_the_whole_fleets_figures(ruled_demo, today):
    """The fast path (report_snapshot: an index range or a shorter GROUP BY) gives every report
    exactly what the straightforward one does: the same report over every card's groups; and
    those groups hold each card with the warranty end and end of life the rules give it."""
    cfg = config.load()
    whole = lifecycle.snapshot(ruled_demo, cfg, today)
    reports = {
        "warranty": lambda snap: lifecycle.warranty_expiring(snap, 90, "supplier"),
        "cliff": lambda snap: lifecycle.retirement_cliff(snap, 3),
        "eol": lifecycle.past_end_of_life,
        "irreplaceable": lifecycle.irreplaceable_share,
        "book-value": lifecycle.book_values,
        "cost": lifecycle.cost_of_ownership,
    }
    windows = {"warranty": 90, "cliff": 3}
    for name, report in reports.items():
        fast = lifecycle.report_snapshot(ruled_demo, cfg, today, name, windows.get(name, 0))
        expected = [r.as_dict() for r in report(whole)]
        assert [r.as_dict() for r in report(fast)] == expected, name
        if name in ("warranty", "cliff", "eol"):
            assert sum(g.cards for g in fast.groups) < sum(g.cards for g in whole.groups)
    assert [r.as_dict() for r in lifecycle.retirement_cliff(whole, 3)] != [
        r.as_dict() for r in lifecycle.retirement_cliff(whole, 1)
    ]
    per_card: dict[tuple, int] = {}
    for c in _every_card(ruled_demo):
        life = lifecycle.service_life(cfg, c.service_life_years, c.key)
        key = (
            c.status,
            c.key,
            lifecycle.warranty_end(cfg, c.purchase_date, c.warranty_end, c.key, c.supplier),
            lifecycle.end_of_life(c.purchase_date, life),
        )
        per_card[key] = per_card.get(key, 0) + 1
    grouped: dict[tuple, int] = {}
    for g in whole.groups:
        key = (g.status, g.model_key, g.warranty_end, g.end_of_life)
        grouped[key] = grouped.get(key, 0) + g.cards
    assert grouped == per_card


def test_reports_read_like_reports(db_url):
    """Real headings, shares as percentages, a sentence when nothing matches, plurals right,
    and `report allocation` about today unless told otherwise."""
    runner = CliRunner(env={"COLUMNS": "200"})

    def report(*args: str) -> str:
        result = runner.invoke(app, ["--db", db_url, "report", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert runner.invoke(app, ["--db", db_url, "db", "upgrade"]).exit_code == 0  # an empty fleet
    empty = report("warranty", "--within", "1d")
    assert empty.strip() == "No held card's warranty ends within 1 day."
    assert "No team held any card at the end of" in report("allocation")
    assert (
        runner.invoke(app, ["--db", db_url, "demo", "--cards", "300", "--no-launch"]).exit_code == 0
    )
    cliff = report("cliff", "--today", "2026-01-01")
    assert "Quarter" in cliff and "label" not in cliff
    share = report("irreplaceable", "--today", "2026-01-01")
    assert "Irreplaceable share" in share and "%" in share
    assert "Team" in report("allocation") and "label" not in report("book-value")


def test_book_values_equal_a_card_by_card_sum_whatever_the_grouping(ruled_demo):
    """Per team and currency: the priced cards not retired, their prices, and their book
    value, each card's price depreciated from its own purchase date to its own end of life;
    the report's groups (fewer keys) and the whole snapshot's give the same figures."""
    card, model, team = Card.__table__, GpuModel.__table__, Team.__table__
    with ruled_demo.begin() as conn:
        conn.execute(update(card).where(card.c.id % 17 == 5).values(price_minor=None))
        rows = conn.execute(
            select(card, model.c.key, team.c.name.label("team_name"))
            .select_from(card.join(model, model.c.id == card.c.model_id).outerjoin(team))
            .where(card.c.status != "retired", card.c.price_minor.isnot(None))
        ).all()
    cfg, today = config.load(), date(2026, 11, 30)
    salvage = cfg.lifecycle.salvage_fraction
    cards: dict[tuple, int] = {}
    prices: dict[tuple, int] = {}
    one_day_one_life: dict[tuple, int] = {}
    each_card: dict[tuple, int] = {}
    for c in rows:
        holder = lifecycle.ON_ORDER if c.status == Status.ON_ORDER else c.team_name or UNASSIGNED
        key = (holder, c.currency or "?")
        start = lifecycle.depreciating_from(c.status, c.purchase_date)
        eol = lifecycle.end_of_life(
            c.purchase_date, lifecycle.service_life(cfg, c.service_life_years, c.key)
        )
        cards[key] = cards.get(key, 0) + 1
        prices[key] = prices.get(key, 0) + c.price_minor
        life = (*key, start, eol)
        one_day_one_life[life] = one_day_one_life.get(life, 0) + c.price_minor
        value = lifecycle.book_value(c.price_minor, start, eol, salvage, today)
        each_card[key] = each_card.get(key, 0) + value
    book: dict[tuple, int] = {}
    for (*key, bought, eol), price in one_day_one_life.items():
        value = lifecycle.book_value(price, bought, eol, salvage, today)
        book[tuple(key)] = book.get(tuple(key), 0) + value
    fast = lifecycle.report_snapshot(ruled_demo, cfg, today, "book-value")
    whole = lifecycle.snapshot(ruled_demo, cfg, today)
    assert len(fast.groups) < len(whole.groups)
    report = lifecycle.book_values(fast)
    assert [r.as_dict() for r in report] == [r.as_dict() for r in lifecycle.book_values(whole)]
    costs = lifecycle.report_snapshot(ruled_demo, cfg, today, "cost")  # (some cards unpriced)
    assert len(fast.groups) < len(costs.groups) < len(whole.groups)
    for by in ("team", "project"):
        assert [r.as_dict() for r in lifecycle.cost_of_ownership(costs, by)] == [
            r.as_dict() for r in lifecycle.cost_of_ownership(whole, by)
        ]
    assert {(r.label, r.extra["currency"]): r.cards for r in report} == cards
    for r in report:
        key = (r.label, r.extra["currency"])
        assert (r.extra["purchase"], r.extra["book_value"]) == (prices[key] / 100, book[key] / 100)
        assert abs(book[key] - each_card[key]) <= cards[key] / 2  # each card rounds its own


def _imported(db_url: str, tmp_path, text: str) -> None:
    """`text` as a CSV file imported into the database, its teams and projects created."""
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(text)
    imported = CliRunner().invoke(app, ["--db", db_url, "import", str(fleet), "--create-missing"])
    assert imported.exit_code == 0, imported.output


def _json(db_url: str, *args: str) -> list[dict]:
    """A command's --json answer."""
    result = CliRunner().invoke(app, ["--db", db_url, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_reports_pflops_counts_only_the_cards_that_compute(db_url, engine, tmp_path):
    """A card in repair is a card, not compute: every report's PFLOPS per team (and the
    cliff's in all) equal `teams list`'s and the dashboard's, while its cards still count."""
    _imported(
        db_url,
        tmp_path,
        "serial,model,node,team,status,purchase_date,price,currency\n"
        "P-1,H20 96GB,n1,A,in_service,2026-06-01,10000,USD\n"
        "P-2,H100 SXM5 80GB,n2,A,in_service,2026-06-01,30000,USD\n"
        "P-3,H100 SXM5 80GB,n2,A,spare,2026-06-01,30000,USD\n"
        "P-4,H100 SXM5 80GB,n2,B,in_service,2026-06-01,30000,USD\n"
        "P-5,Ascend 910B,n3,A,repair,2026-06-01,20000,USD\n",
    )
    listed = {t["name"]: t["pflops"] for t in _json(db_url, "teams", "list")}
    assert listed == {"A": 2.126, "B": 0.989}
    day = ["--today", "2026-07-01"]
    for args in (["warranty", "--within", "400d", *day], ["book-value", *day], ["cost", *day]):
        rows = _json(db_url, "report", *args)
        assert {r["label"]: r["pflops"] for r in rows} == listed, args
        assert sum(r["cards"] for r in rows) == 5, args
    allocation = _json(db_url, "report", "allocation")
    assert {r["team"]: r["pflops"] for r in allocation} == listed
    cliff = _json(db_url, "report", "cliff", "--years", "6", *day)
    assert sum(r["cards"] for r in cliff) == 5
    assert round(sum(r["pflops"] for r in cliff), 3) == round(sum(listed.values()), 3)
    dashboard = summary.fleet_summary(engine).teams
    assert {line.name: round(line.tflops / 1000, 3) for line in dashboard} == listed


def test_reports_by_project_name_a_teams_cards_in_no_project_as_projects_list_does(
    db_url, tmp_path
):
    _imported(
        db_url,
        tmp_path,
        "serial,model,team,project,status\n"
        "Q-1,H100 SXM5 80GB,A,Search,in_service\n"
        "Q-2,H100 SXM5 80GB,A,,in_service\n"
        "Q-3,H20 96GB,A,,spare\n",
    )
    listed = {p["name"]: p["cards"] for p in _json(db_url, "projects", "list")}
    assert listed == {"A/Search": 1, f"A/{teams.NO_PROJECT}": 2}
    by_project = _json(db_url, "report", "cost", "--by", "project")
    assert {r["label"]: r["cards"] for r in by_project} == listed
