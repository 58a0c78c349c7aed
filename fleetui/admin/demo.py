"""A realistic demo fleet: 8-card nodes across three sites, teams with projects, 2019-2026 stock.

The same seed always builds the same fleet (dates do not depend on today). Prices are
illustrative street prices in USD, not quotes. Bulk rows go in through SQLAlchemy Core in chunks.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, create_engine, func, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel, col

from fleetui import catalogue
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action, Status
from fleetui.db import audit, holdings
from fleetui.db.bulk import (
    bulk_cache,
    foreign_keys_trusted,
    gc_paused,
    indexes_deferred,
    insert_rows,
    refresh_statistics,
)
from fleetui.db.engine import redact, sqlite_path
from fleetui.db.tables import (
    CARD_DATA_COLUMNS,
    Card,
    Event,
    GpuHourly,
    GpuModel,
    GpuSample,
    Node,
    Project,
    Site,
    Team,
    inserted_id,
    table_of,
)
from fleetui.store import database_url, open_fleet

SITES = (
    ("BJ1", "Beijing Yizhuang"),
    ("SH2", "Shanghai Lingang"),
    ("NM1", "Ulanqab, Inner Mongolia"),
)
TEAMS = {
    "LLM": ("pretrain", "sft", "inference"),
    "Ads ranking": ("ctr-model", "feature-store"),
    "Search": ("embedding", "rerank"),
    "Autonomous driving": ("perception", "simulation"),
    "Cloud rental": ("tenant-pool-a", "tenant-pool-b"),
    "Recommendation": ("feed-ranking",),
}


@dataclass(frozen=True)
class Stock:
    key: str
    short: str
    weight: int
    years: tuple[int, int]
    price_usd: int
    teams: tuple[str, ...]  # who buys this model


STOCK = (
    Stock(
        "v100-sxm2-32gb",
        "v100",
        7,
        (2019, 2020),
        8_000,
        ("Search", "Ads ranking", "Autonomous driving"),
    ),
    Stock("t4", "t4", 5, (2019, 2021), 2_200, ("Search", "Ads ranking", "Recommendation")),
    Stock(
        "a100-sxm4-80gb",
        "a100",
        18,
        (2020, 2022),
        12_500,
        ("LLM", "Ads ranking", "Search", "Autonomous driving", "Recommendation"),
    ),
    Stock(
        "a800-sxm4-80gb",
        "a800",
        14,
        (2022, 2023),
        14_000,
        ("LLM", "Cloud rental", "Autonomous driving"),
    ),
    Stock("h100-sxm5-80gb", "h100", 6, (2023, 2023), 32_500, ("LLM",)),
    Stock("h800-sxm", "h800", 14, (2023, 2023), 38_000, ("LLM", "Cloud rental")),
    Stock("h20", "h20", 13, (2024, 2025), 12_500, ("LLM", "Cloud rental", "Ads ranking")),
    Stock(
        "l40s",
        "l40s",
        9,
        (2023, 2025),
        8_000,
        ("Ads ranking", "Autonomous driving", "Recommendation", "Cloud rental"),
    ),
    Stock("ascend-910b", "910b", 14, (2024, 2026), 15_000, ("LLM", "Search", "Cloud rental")),
)
SUPPLIERS = ("Inspur", "Sugon", "H3C", "Lenovo", "Supermicro", "Dell")
BUS_IDS = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")  # an HGX board's eight GPUs
CARDS_PER_NODE = 8
CHUNK = 20_000
LAST_DAY = date(2026, 10, 31)  # newest purchase date; keeps a seed's fleet independent of today

card_t, node_t, event_t = table_of(Card), table_of(Node), table_of(Event)
# Tables that hold someone's data (the catalogue and the schema revision are fleetui's own).
DATA_TABLES = tuple(
    table_of(t) for t in (Card, Event, Team, Project, Site, Node, GpuSample, GpuHourly)
)


def rebuild(
    db: str,
    cards: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    opened: Callable[[Engine], None] | None = None,
) -> tuple[Engine, int]:
    """Build the demo fleet at `db` (see _open_target); returns its engine and how many cards
    were written. Every option is checked before `db` is cleared, so a refused demo leaves
    the demo it replaces as it was. `opened` sees the engine before the build starts."""
    check_options(cards, seed)
    engine = _open_target(db)
    if opened:
        opened(engine)
    return engine, build(engine, cards, seed, progress)


def check_options(cards: int, seed: int) -> None:
    """Refuse options the build cannot use (a UserError naming the option)."""
    if cards < 1:
        raise UserError("--cards must be at least 1.")
    if seed < 0:  # random.Random(-n) is random.Random(n): a negative seed repeats another's fleet
        raise UserError("--seed must be 0 or more.")


def _open_target(db: str) -> Engine:
    """An empty fleet database at `db` for a demo build: a new or empty one, or one demo built
    and nothing else wrote cards to (cleared first). Anything else is refused before it is
    opened, migrated or written, so it is left exactly as it was."""
    url = database_url(db)
    path = sqlite_path(url)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        return open_fleet(url)
    probe = create_engine(url)  # a plain connection: no pragmas, no migrations
    try:
        with probe.connect() as conn:
            built = check_target(conn, str(path or redact(url)))
    except SQLAlchemyError as exc:
        reason = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
        raise UserError(f"Cannot read the database {path or redact(url)}: {reason}.") from None
    finally:
        probe.dispose()
    if built and path is not None:  # a new file is faster than deleting a million rows
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    engine = open_fleet(url)
    if built and path is None:
        clear(engine)
    return engine


def check_target(conn: Connection, shown: str) -> bool:
    """True for a database demo built that holds only demo cards, False for one that holds no
    data at all; a UserError for anything else."""
    tables = set(inspect(conn).get_table_names())
    if not tables:
        return False
    if "alembic_version" in tables and tables >= {t.name for t in DATA_TABLES}:
        mark = conn.execute(
            select(event_t.c.after)
            .where(event_t.c.action == Action.DEMO_BUILD)
            .order_by(event_t.c.id.desc())
            .limit(1)
        ).scalar()
        if mark is not None:
            last = mark.get("last_card_id", mark["cards"])  # demo's cards are the first ids
            if conn.execute(select(card_t.c.id).where(card_t.c.id > last).limit(1)).first() is None:
                return True
        elif all(conn.execute(select(t).limit(1)).first() is None for t in DATA_TABLES):
            return False
    raise UserError(
        f"{shown} holds data that demo did not create; demo never mixes demo data with real "
        "data. Point --db at a new file or an empty database instead."
    )


def card_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(card_t)).scalar_one()


def clear(engine: Engine) -> None:
    """Empty a demo database for a rebuild (refuses anything that holds real cards).

    The audit log refuses deletes, so the demo's tables are dropped and the schema rebuilt."""
    from fleetui.db.migrate import upgrade

    with engine.begin() as conn:
        if not check_target(conn, redact(str(engine.url))):
            return  # nothing in it to clear
        SQLModel.metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS fleetui_event_append_only()")
    upgrade(engine, str(engine.url))
    catalogue.sync(engine)


def build(
    engine: Engine,
    cards: int = 2000,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fill an empty fleet database with about `cards` cards; returns how many were written."""
    check_options(cards, seed)
    rng = random.Random(seed)
    batch = audit.new_batch_id()
    stamp = datetime(2026, 11, 1, tzinfo=UTC)
    with (
        gc_paused(),
        engine.connect() as conn,
        foreign_keys_trusted(conn),  # every id below comes from rows it just wrote
        bulk_cache(conn),
        conn.begin(),
        indexes_deferred(conn, card_t),
    ):
        if check_target(conn, redact(str(engine.url))):
            raise UserError("That database holds a demo fleet already; clear it first.")
        model_ids = dict(conn.execute(select(col(GpuModel.key), col(GpuModel.id))).all())
        site_ids = [
            inserted_id(conn, insert(Site).values(name=code, location=where))
            for code, where in SITES
        ]
        team_ids, project_ids = {}, {}
        for team, projects in TEAMS.items():
            tid = inserted_id(conn, insert(Team).values(name=team, created_at=stamp))
            team_ids[team] = tid
            project_ids[team] = [
                inserted_id(conn, insert(Project).values(team_id=tid, name=p, created_at=stamp))
                for p in projects
            ]
        weights = [s.weight for s in STOCK]
        written = node_no = 0
        node_rows: list[tuple] = []
        card_rows: list[tuple] = []
        while written + len(card_rows) < cards:
            stock = rng.choices(STOCK, weights)[0]
            node_no += 1
            n = min(CARDS_PER_NODE, cards - written - len(card_rows))
            site = rng.randrange(len(SITES))
            bought = _purchase_date(rng, stock)
            on_order = bought > LAST_DAY - timedelta(days=60) and rng.random() < 0.6
            retired = bought.year <= 2019 and rng.random() < 0.35
            spare_node = not retired and not on_order and rng.random() < 0.05
            pooled = on_order or (spare_node and rng.random() < 0.5)  # the rest: a team's spares
            holder = None if pooled else rng.choice(stock.teams)
            project = rng.choice(project_ids[holder]) if holder and rng.random() < 0.9 else None
            warranty_end = _add_years(bought, rng.choice((1, 1, 2, 3)))
            node_id = None
            if not on_order:
                node_id = node_no
                host = f"{SITES[site][0].lower()}-{stock.short}-{node_no:06d}"
                rack = f"R{(node_no - 1) // 4 + 1:04d}"
                node_rows.append((node_no, host, site_ids[site], rack))
            price = int(stock.price_usd * 100 * rng.uniform(0.9, 1.1))
            supplier = "Huawei" if stock.key.startswith("ascend") else rng.choice(SUPPLIERS)
            base = (
                Status.RETIRED
                if retired
                else Status.ON_ORDER
                if on_order
                else Status.SPARE
                if spare_node
                else None
            )
            for slot in range(n):
                status = base or (Status.REPAIR if rng.random() < 0.02 else Status.IN_SERVICE)
                serial_no = written + len(card_rows) + 1
                card_rows.append(
                    (
                        _serial(stock, bought, serial_no),
                        None if stock.key.startswith("ascend") else _uuid(rng),
                        model_ids[stock.key],
                        node_id,
                        f"00000000:{BUS_IDS[slot]}:00.0" if node_id else None,
                        team_ids[holder] if holder else None,
                        project,
                        status,
                        bought,
                        price,
                        "USD",
                        supplier,
                        warranty_end,
                        None,  # service life: the model's default
                        "",
                        None,  # asset tag
                        None,  # purchase order
                        1,
                        stamp,
                        stamp,
                    )
                )
            if len(card_rows) >= CHUNK:
                written += _flush(conn, node_rows, card_rows)
                if progress:
                    progress(written, cards)
        written += _flush(conn, node_rows, card_rows)
        if progress:
            progress(written, cards)
        last = conn.execute(select(func.max(card_t.c.id))).scalar()
        audit.record(
            conn,
            batch_id=batch,
            action=Action.DEMO_BUILD,
            actor="demo",
            at=stamp,
            changes=[(None, None, {"cards": written, "seed": seed, "last_card_id": last})],
            reason="demo fleet",
        )
        holdings.record_balance(conn, batch, stamp)  # its cards have no events of their own
    with engine.begin() as conn:
        refresh_statistics(conn)
    return written


CARD_COLUMNS = ("serial", *CARD_DATA_COLUMNS, "version", "created_at", "updated_at")
NODE_COLUMNS = ("id", "hostname", "site_id", "rack")


def _flush(conn, node_rows: list[tuple], card_rows: list[tuple]) -> int:
    insert_rows(conn, node_t, NODE_COLUMNS, node_rows)
    insert_rows(conn, card_t, CARD_COLUMNS, card_rows)
    n = len(card_rows)
    node_rows.clear()
    card_rows.clear()
    return n


def _purchase_date(rng: random.Random, stock: Stock) -> date:
    first = date(stock.years[0], 1, 1)
    last = min(date(stock.years[1], 12, 31), LAST_DAY)
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _serial(stock: Stock, bought: date, n: int) -> str:
    if stock.key.startswith("ascend"):
        return f"102{bought.year % 100:02d}{n:09d}"  # Huawei-style board serial
    return f"1{bought.year % 100:02d}{n:010d}"  # NVIDIA-style 13-digit serial


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
