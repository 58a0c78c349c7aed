"""Keyset paging: every sort order, forwards and backwards, equals one full sort in Python."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, insert, select, update

from fleetui.config import Config
from fleetui.core.errors import UserError
from fleetui.db.tables import Card, GpuModel, Node, Team
from fleetui.inventory import cards as inventory


def _every_card(engine):
    """All cards by one plain SELECT: the reference the paging code is checked against."""
    with engine.connect() as conn:
        ids = list(conn.execute(select(Card.id).order_by(Card.serial)).scalars())
    return inventory.rows_for(engine, ids, settings=Config())


def _expected(rows, sort, descending):
    """Documented order: missing values first ascending, last descending; serial breaks ties."""
    present = [r for r in rows if getattr(r, sort) is not None]
    missing = [r for r in rows if getattr(r, sort) is None]
    present.sort(key=lambda r: (getattr(r, sort), r.serial), reverse=descending)
    missing.sort(key=lambda r: r.serial, reverse=descending)
    ordered = missing + present if not descending else present + missing
    return [r.serial for r in ordered]


def _walk(engine, query, sort, descending, size):
    seen, page = [], inventory.page(engine, query, sort, descending, limit=size, settings=Config())
    seen += [r.serial for r in page.rows]
    while page.more_after:
        page = inventory.page(
            engine, query, sort, descending, after=page.last, limit=size, settings=Config()
        )
        seen += [r.serial for r in page.rows]
    back = [r.serial for r in page.rows]
    while page.more_before:
        page = inventory.page(
            engine, query, sort, descending, before=page.first, limit=size, settings=Config()
        )
        back = [r.serial for r in page.rows] + back
    return seen, back


@pytest.fixture(params=[4000, 3], ids=["walk-plan", "filter-first-plan"])
def plan(request, monkeypatch):
    """Run each paging test with the sort-order walk and with the filter-first fallback."""
    monkeypatch.setattr(inventory, "PROBE_WINDOW", request.param)


@pytest.mark.parametrize("sort", list(inventory.SORTS))
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_paging_every_sort_both_ways_matches_a_full_sort(demo_engine, plan, sort, descending):
    rows = [r for r in _every_card(demo_engine) if r.status == "spare"]
    forward, backward = _walk(demo_engine, "status:spare", sort, descending, size=37)
    expected = _expected(rows, sort, descending)
    assert forward == expected
    assert backward == expected


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("team:llm", lambda r: r.team == "LLM"),
        ('team:"ads ranking"', lambda r: r.team == "Ads ranking"),
        (
            "model:h800 status:in_service",
            lambda r: r.model.startswith("H800") and r.status == "in_service",
        ),
        ("model:a100", lambda r: r.model.startswith("A100")),
        ('model:"A100 80G"', lambda r: r.model == "A100 SXM4 80GB"),
        ("model:h800,a800", lambda r: r.model.startswith(("H800", "A800"))),
        ("team:none", lambda r: r.team is None),
        ("node:sh2-h800", lambda r: (r.node or "").startswith("sh2-h800")),
        ("project:sft", lambda r: r.project == "sft"),
        ("h20", lambda r: r.model.startswith("H20")),
        ("serial:102", lambda r: r.serial.startswith("102")),
        # negated: the cards the term does not match, those with no team or node among them
        ("-team:llm", lambda r: r.team != "LLM"),
        ("-team:none -status:retired", lambda r: r.team is not None and r.status != "retired"),
        (
            "model:a100 -project:pretrain",
            lambda r: r.model.startswith("A100") and r.project != "pretrain",
        ),
        ("-node:sh2", lambda r: "sh2" not in (r.node or "")),
    ],
)
def test_filters_find_exactly_the_matching_cards(demo_engine, plan, query, keep):
    everything = _every_card(demo_engine)
    expected = sorted(r.serial for r in everything if keep(r))
    assert expected, f"the demo fleet should hold cards for {query}"
    found = [r.serial for r in inventory.cards(demo_engine, query, settings=Config())]
    assert found == expected
    assert inventory.count(demo_engine, query, settings=Config()) == len(expected)


def test_a_page_holds_at_most_its_limit_and_says_what_lies_beyond(demo_engine):
    first = inventory.page(demo_engine, limit=50, settings=Config())
    assert len(first.rows) == 50 and first.more_after and not first.more_before
    second = inventory.page(demo_engine, after=first.last, limit=50, settings=Config())
    assert second.more_before and second.rows[0].serial > first.rows[-1].serial


def test_card_detail_has_every_field_and_unknown_serials_are_an_error(demo_engine):
    serial = inventory.page(demo_engine, "status:repair", limit=1, settings=Config()).rows[0].serial
    card = inventory.detail(demo_engine, serial, settings=Config())
    assert card.fields["serial"] == serial and card.fields["status"] == "repair"
    assert {"model", "node", "team", "warranty_end", "price_minor", "export_class"} <= set(
        card.fields
    )
    with pytest.raises(UserError, match="No card has serial 'NOPE'"):
        inventory.detail(demo_engine, "NOPE", settings=Config())


def test_a_model_no_catalogue_entry_has_is_an_error_not_an_empty_list(demo_engine):
    with pytest.raises(UserError, match="No catalogue model is named 'zzz'"):
        inventory.count(demo_engine, "model:h800,zzz", settings=Config())


def test_sorting_by_an_unknown_column_is_a_user_error(demo_engine):
    with pytest.raises(UserError, match="Cannot sort by 'price'"):
        inventory.page(demo_engine, sort="price", settings=Config())


@pytest.fixture
def odd_names(demo_engine):
    """Teams and a node named in other scripts, with accents, LIKE wildcards and punctuation,
    each holding the first cards of the fleet: name -> their serials."""
    team_t, node_t, card_t = Team.__table__, Node.__table__, Card.__table__
    names = ["数据平台", "Équipe Vidéo", "50%_off", "R&D (west)"]
    held: dict[str, list[str]] = {}
    with demo_engine.begin() as conn:
        first = conn.execute(select(card_t.c.id, card_t.c.serial).order_by(card_t.c.serial))
        cards = first.all()[:10]
        for i, name in enumerate(names):
            team_id = conn.execute(insert(team_t).values(name=name)).inserted_primary_key[0]
            pair = cards[2 * i : 2 * i + 2]
            conn.execute(
                update(card_t).where(card_t.c.id.in_([c.id for c in pair])).values(team_id=team_id)
            )
            held[name] = [c.serial for c in pair]
        node_id = conn.execute(select(func.max(node_t.c.id))).scalar_one() + 1  # demo sets ids
        conn.execute(insert(node_t).values(id=node_id, hostname="ÖLAB-ΣΥΣ-01"))
        pair = cards[8:10]
        conn.execute(
            update(card_t).where(card_t.c.id.in_([c.id for c in pair])).values(node_id=node_id)
        )
        held["ÖLAB-ΣΥΣ-01"] = [c.serial for c in pair]
    return held


@pytest.mark.parametrize(
    ("term", "names"),
    [
        ("数据", ["数据平台"]),
        ("数据平台", ["数据平台"]),
        ("équipe", ["Équipe Vidéo"]),  # case folded beyond ASCII
        ("ÉQUIPE", ["Équipe Vidéo"]),
        ("é", ["Équipe Vidéo"]),
        ("%", ["50%_off"]),  # LIKE wildcards are plain characters
        ("_", ["50%_off"]),
        ("0%_o", ["50%_off"]),
        ("&", ["R&D (west)"]),
        ("(west)", ["R&D (west)"]),
        ("öla", ["ÖLAB-ΣΥΣ-01"]),
        ("σύσ", []),  # an accent the name lacks is a different letter
        ("συσ", ["ÖLAB-ΣΥΣ-01"]),
        ("team:%", ["50%_off"]),
        ("team:数据", ["数据平台"]),
        ("node:ölab", ["ÖLAB-ΣΥΣ-01"]),
        ("!", []),
        ("数据 %", []),  # every term must match
    ],
)
def test_free_text_matches_only_what_contains_it(demo_engine, odd_names, term, names):
    expected = sorted(s for name in names for s in odd_names[name])
    assert [r.serial for r in inventory.cards(demo_engine, term, settings=Config())] == expected
    assert inventory.count(demo_engine, term, settings=Config()) == len(expected)


@pytest.mark.parametrize("term", ["X-", "x", "sxm-"])
def test_free_text_names_a_model_only_as_its_name_is_written(demo_engine, term):
    """Punctuation counts in free text: `X-` is not the `x` inside every SXM part's name."""
    folded = term.casefold()
    for row in inventory.cards(demo_engine, term, settings=Config()):
        fields = (row.model, row.team or "", row.project or "", row.node or "")
        assert row.serial.casefold().startswith(folded) or any(
            folded in f.casefold() for f in fields
        ), row


def test_a_filter_whose_matches_sort_late_is_read_from_its_own_index(demo_engine, monkeypatch):
    """A model's serials share a vendor prefix, so the A100s' sort after hundreds of others'.
    When the walk along the sort order finds too few matches, the page must come from the
    filter's own index: SQLite's planner, assuming matches spread evenly, otherwise walks the
    whole serial index again (at 1M cards, `model:h800` took 1.2 s that way)."""
    monkeypatch.setattr(inventory, "PROBE_WINDOW", 3)  # the fleet is small: walk 3 rows, not 4,000
    a100 = _every_card_of(demo_engine, "a100")
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, *_) -> None:
        statements.append((statement, parameters))

    event.listen(demo_engine, "before_cursor_execute", seen)
    try:
        page = inventory.page(demo_engine, "model:a100", limit=20, settings=Config())
    finally:
        event.remove(demo_engine, "before_cursor_execute", seen)
    assert [r.serial for r in page.rows] == a100[:20]
    if demo_engine.dialect.name == "sqlite":
        with demo_engine.connect() as conn:
            plans = [
                [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
                for sql, params in statements
                if "model_id IN" in sql
            ]
        *_, by_filter = plans
        assert any("ix_card_model_serial" in step for step in by_filter), by_filter
        assert not any("ux_card_serial" in step for step in by_filter), by_filter


def _every_card_of(engine, family: str) -> list[str]:
    card, model = Card.__table__, GpuModel.__table__
    query = (
        select(card.c.serial)
        .join(model, model.c.id == card.c.model_id)
        .where(model.c.key.startswith(family))
        .order_by(card.c.serial)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


@pytest.mark.parametrize("sort", ["serial", "node", "project", "warranty_end"])
def test_a_listing_read_in_pages_is_the_listing_in_one(demo_engine, monkeypatch, sort):
    """`cards` into a pipe reads the fleet a page at a time, each page after the last one's
    cursor (its NULL sort values a segment of their own): no card twice, none left out, in the
    order of one read, across page ends that fall inside and between the segments."""
    whole = [
        c.serial for c in inventory.cards(demo_engine, "team:llm", sort=sort, settings=Config())
    ]
    monkeypatch.setattr(inventory, "PAGE", 7)
    paged = [
        c.serial for c in inventory.cards(demo_engine, "team:llm", sort=sort, settings=Config())
    ]
    assert len(whole) > 100 and paged == whole
    limited = inventory.cards(demo_engine, "team:llm", 30, sort=sort, settings=Config())
    assert [c.serial for c in limited] == whole[:30]
