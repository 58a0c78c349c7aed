"""SQLModel tables. These are storage rows; the application's own types live in `fleetui`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Connection,
    Executable,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    inspect,
    text,
)
from sqlmodel import Field, SQLModel

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Status

# The columns that describe a card (besides its serial and bookkeeping), in one order for
# every bulk writer.
CARD_DATA_COLUMNS = (
    "uuid",
    "model_id",
    "node_id",
    "pci_bus_id",
    "team_id",
    "project_id",
    "status",
    "purchase_date",
    "price_minor",
    "currency",
    "supplier",
    "warranty_end",
    "service_life_years",
    "notes",
    "asset_tag",
    "purchase_order",
)


# PostgreSQL's INTEGER. SQLite stores larger numbers (and longer strings than a VARCHAR's
# length): fleetui checks values against these limits before writing, so both backends accept
# and refuse the same values.
INTEGER_MAX = 2**31 - 1


def unfit(column: Column, value: object) -> str | None:
    """Why `value` does not fit `column` on PostgreSQL (and so is refused on both backends)."""
    length = getattr(column.type, "length", None)
    if isinstance(value, str) and length is not None and len(value) > length:
        return f"longer than {units.counted(length, 'character')}"
    if isinstance(value, int) and isinstance(column.type, Integer) and abs(value) > INTEGER_MAX:
        return f"larger than {INTEGER_MAX:,}"
    return None


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model. Use this, not `model.__table__`, which SQLModel sets
    on each table class without declaring it, so type checkers cannot see it."""
    table = inspect(model).local_table
    assert isinstance(table, Table), model
    return table


def length_of(column: Column) -> int:
    """A text column's length limit (type checkers see `column.type` as a bare TypeEngine)."""
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), column
    return length


def inserted_id(conn: Connection, statement: Executable) -> int:
    """Run a one-row INSERT and return the new row's id."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None, statement
    return key[0]


def utcnow() -> datetime:
    return datetime.now(UTC)


class GpuModel(SQLModel, table=True):
    """One catalogue entry; seeded and kept in sync from the catalogue shipped in the package."""

    __tablename__ = "gpu_model"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=64)
    vendor: str = Field(max_length=64)
    name: str = Field(unique=True, max_length=128)
    nvml_names: str = Field(default="", description="';'-separated names NVML / vendor SMI report")
    aliases: str = Field(default="", description="';'-separated short names people type")
    memory_gb: float | None = None
    mem_bw_gbs: float | None = None
    fp16_tflops: float = Field(description="dense FP16/BF16 tensor TFLOPS")
    fp32_tflops: float | None = None
    fp64_tflops: float | None = None
    tdp_w: int | None = None
    interconnect: str = ""
    launch_year: int | None = None
    list_price_usd: int | None = None
    tpp: int | None = Field(default=None, description="Total Processing Performance (ECCN 3A090)")
    export_class: str = Field(max_length=32)
    controlled_since: date | None = None
    export_note: str = ""
    source: str = ""


class Site(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    location: str = ""


class Node(SQLModel, table=True):
    __table_args__ = ({"sqlite_autoincrement": True},)  # as Team's

    id: int | None = Field(default=None, primary_key=True)
    hostname: str = Field(unique=True, max_length=255)
    site_id: int | None = Field(default=None, foreign_key="site.id", index=True)
    rack: str = ""
    telemetry_url: str | None = None
    telemetry_kind: str | None = Field(default=None, max_length=16)
    token_file: str | None = None  # path of the file holding this node's bearer token
    basic_auth_file: str | None = None  # path of a file holding `user:password`
    ca_file: str | None = None  # path of the PEM bundle its https certificate is checked with
    source_id: int | None = Field(default=None, foreign_key="source.id", index=True)
    last_seen_at: datetime | None = None
    polled_at: datetime | None = None  # last poll attempt
    failures: int = Field(  # failed polls in a row (for backoff); a server default, so bulk
        default=0,  # inserts that do not name it need not bind it
        sa_column=Column(Integer, nullable=False, server_default="0"),
    )
    problem: str = Field(  # why its last poll failed; empty once it answers
        default="", sa_column=Column(String, nullable=False, server_default="")
    )


class Source(SQLModel, table=True):
    """A metrics store (Prometheus, VictoriaMetrics, Thanos) that holds the fleet's DCGM series;
    credentials are the paths of the files holding them. `problem`: why its last poll failed."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    url: str
    match: str = ""  # PromQL label matchers that pick the fleet's series
    token_file: str | None = None
    basic_auth_file: str | None = None
    ca_file: str | None = None
    last_seen_at: datetime | None = None
    polled_at: datetime | None = None
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    problem: str = ""


class Team(SQLModel, table=True):
    # A deleted team's id is never reused: the audit log refers to teams (projects, nodes) by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    quota_cards: int | None = None
    quota_pflops: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_project_team_name"),
        {"sqlite_autoincrement": True},  # as Team's
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    name: str = Field(max_length=128, index=True)
    quota_cards: int | None = None
    quota_pflops: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


# What the lifecycle rules read of a card: the snapshot's GROUP BY keys, in its index's order
# (a report that needs fewer groups by a prefix of them).
LIFECYCLE_KEYS = (
    "team_id",
    "model_id",
    "status",
    "purchase_date",
    "service_life_years",
    "currency",
    "project_id",
    "supplier",
    "warranty_end",
)


class Card(SQLModel, table=True):
    """One physical accelerator. `serial` is the business key; `version` guards concurrent edits."""

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ",".join(f"'{s}'" for s in Status) + ")",
            name="ck_card_status",
        ),
        CheckConstraint("price_minor IS NULL OR price_minor >= 0", name="ck_card_price"),
        # Unique indexes, not constraints: a bulk load into an empty inventory drops and
        # rebuilds them (db.bulk.indexes_deferred), which a constraint's index cannot be.
        Index("ux_card_serial", "serial", unique=True),
        Index("ux_card_uuid", "uuid", unique=True),
        # Unique when given: a blank tag is stored as NULL, and NULLs never clash (both backends).
        Index("ux_card_asset_tag", "asset_tag", unique=True),
        # Covering index: the dashboard's one GROUP BY reads only this index.
        Index("ix_card_team_model_status", "team_id", "model_id", "status"),
        # Covering indexes in GROUP BY order, so these aggregates stream without a sort: the
        # lifecycle reports' groups (fleetui.lifecycle.rules.snapshot) and `projects list`.
        Index("ix_card_lifecycle", *LIFECYCLE_KEYS, "price_minor"),
        Index("ix_card_project_model_status", "project_id", "model_id", "status"),
        # (column, serial): serial is the keyset tiebreak, so each of these serves a filter in
        # the default order and a sort on the column, as plain index ranges.
        Index("ix_card_team_serial", "team_id", "serial"),
        Index("ix_card_model_serial", "model_id", "serial"),
        Index("ix_card_project_serial", "project_id", "serial"),
        Index("ix_card_status_serial", "status", "serial"),
        Index("ix_card_node_serial", "node_id", "serial"),
        Index("ix_card_purchase_serial", "purchase_date", "serial"),
        Index("ix_card_warranty_serial", "warranty_end", "serial"),
        # Covering index: the dashboard's end-of-life alert counts from it alone.
        Index(
            "ix_card_status_purchase", "status", "purchase_date", "model_id", "service_life_years"
        ),
        # The few cards with a life of their own, listed by conditions.life_overrides. Partial
        # on both backends (migration 0012); PostgreSQL's `postgresql_where` is left out here
        # because naming it loads that dialect on every start, SQLite's included.
        Index(
            "ix_card_life_override",
            "service_life_years",
            sqlite_where=text("service_life_years > 0"),
        ),
        # A deleted card's id is never reused: the audit log refers to cards by id.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=64)
    uuid: str | None = Field(default=None, max_length=64)
    model_id: int = Field(foreign_key="gpu_model.id")
    node_id: int | None = Field(default=None, foreign_key="node.id")
    pci_bus_id: str | None = Field(default=None, max_length=32)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    project_id: int | None = Field(default=None, foreign_key="project.id")
    status: str = Field(default=Status.IN_SERVICE.value, max_length=16)
    purchase_date: date | None = None
    price_minor: int | None = Field(default=None, description="price in minor units (cents, fen)")
    currency: str | None = Field(default=None, max_length=3)
    supplier: str | None = Field(default=None, max_length=128)
    warranty_end: date | None = None
    service_life_years: float | None = Field(default=None, description="override of the model's")
    notes: str = ""
    asset_tag: str | None = Field(default=None, max_length=64)
    purchase_order: str | None = Field(default=None, max_length=128)  # PO or invoice number
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """Append-only audit log: one row per changed card, or one per batch for other actions.

    `card_id` has no foreign key on purpose: undoing an import deletes the cards it created,
    and their history must stay. `serial` keeps that history findable; `card_version` is the
    card's version after this change, which undo compares before it reverts anything.
    """

    __table_args__ = (
        Index("ix_event_card_id", "card_id"),
        Index("ix_event_serial", "serial"),
        Index("ix_event_batch_id", "batch_id"),
        Index("ix_event_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    card_id: int | None = None
    serial: str | None = Field(default=None, max_length=64)
    card_version: int | None = None
    batch_id: str = Field(max_length=36)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    reason: str = ""


class BatchSummary(SQLModel, table=True):
    """One row per audit batch, as `history` lists it: what a GROUP BY batch_id over its events
    gives (first `at`, actor and action, cards, reason, newest event id). fleetui.db.audit adds
    to it as it appends events, so the list reads no events; `db check` compares the two."""

    __tablename__ = "batch"
    __table_args__ = (Index("ix_batch_last_event_id", "last_event_id"),)

    batch_id: str = Field(primary_key=True, max_length=36)
    at: datetime
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    cards: int
    reason: str
    last_event_id: int


class HoldingChange(SQLModel, table=True):
    """How many cards one audit batch gave (positive) or took from (negative) one (team,
    model, status). Today's holdings less the changes after a moment are the holdings then:
    `report allocation --as-of` reads these rows, not every card's history since.
    fleetui.db.holdings adds them with the batch's events; `db check` checks they add up to
    today's holdings."""

    __tablename__ = "holding_change"
    __table_args__ = (Index("ix_holding_change_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(max_length=36)
    at: datetime
    team_id: int | None = None  # no foreign keys: a team deleted since held cards then
    model_id: int | None = None
    status: str | None = Field(default=None, max_length=16)
    cards: int


class GpuSample(SQLModel, table=True):
    """The latest reading of one GPU, as its node reported it (one row per node and bus id)."""

    __tablename__ = "gpu_sample"
    __table_args__ = (
        UniqueConstraint("node_id", "pci_bus_id", name="uq_gpu_sample_node_bus"),
        Index("ix_gpu_sample_uuid", "uuid"),
        Index("ix_gpu_sample_serial", "serial"),
    )

    id: int | None = Field(default=None, primary_key=True)
    node_id: int = Field(foreign_key="node.id")
    pci_bus_id: str = Field(max_length=32)
    uuid: str | None = Field(default=None, max_length=64)
    serial: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=128)
    util_gpu: float | None = None
    util_memory: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    ecc_uncorrected_volatile: float | None = None
    # health evidence as reported (fleetui.telemetry.health classifies it)
    xid: float | None = None  # the last Xid
    xid_count: float | None = None  # Xids the node's kernel log holds for it
    retired_pages_dbe: float | None = None
    retired_pages_pending: float | None = None
    remapped_rows_pending: float | None = None
    remapped_rows_failure: float | None = None
    throttle_reasons: float | None = None  # NVML / DCGM clock event reasons bitmask
    util_window_avg: float | None = None  # over the idle window, as a metrics store computed it
    health: str = ""  # ';'-separated flags
    lost: bool = False
    seen_at: datetime = Field(default_factory=utcnow)


class HealthEvent(SQLModel, table=True):
    """One kind of health evidence on one GPU (an Xid code, pending row remaps, ...): when it was
    first and last seen, how often, its last raw value and the action NVIDIA gives for it.
    Kept per GPU (`gpu`: its UUID, else its serial, else its node and bus id), so it follows a
    card moved to another slot or node; `node_id` and `pci_bus_id` are where it was last
    reported. `active` while the GPU keeps reporting it. `card_id` carries no foreign key: the
    evidence is a card's history and outlives a deleted card. A removed node's evidence goes
    with it (fleetui.telemetry.health.forget_node)."""

    __tablename__ = "health_event"
    __table_args__ = (
        UniqueConstraint("gpu", "kind", "code", name="uq_health_event_gpu_evidence"),
        Index("ix_health_event_card", "card_id"),
        Index("ix_health_event_active", "active", "action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    gpu: str = Field(max_length=100)
    node_id: int
    pci_bus_id: str = Field(max_length=32)
    card_id: int | None = None
    serial: str | None = Field(default=None, max_length=64)
    uuid: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=24)
    code: int = 0  # the Xid, or the throttle bits; 0 for the other kinds
    value: float | None = None
    action: str = Field(max_length=16)
    occurrences: int = 1
    first_seen: datetime
    last_seen: datetime
    active: bool = True


class GpuHourly(SQLModel, table=True):
    """Hourly rollup of a GPU's utilization and power, for idle detection (bounded retention)."""

    __tablename__ = "gpu_hourly"
    __table_args__ = (Index("ix_gpu_hourly_hour", "hour"),)

    node_id: int = Field(foreign_key="node.id", primary_key=True)
    pci_bus_id: str = Field(max_length=32, primary_key=True)
    hour: datetime = Field(primary_key=True)
    samples: int = 0
    util_sum: float = 0.0
    util_max: float = 0.0
    power_sum: float = 0.0


# The tables every move, undo or poll appends to, between the bulk writers that refresh the
# planner's statistics (fleetui.db.bulk.refresh_statistics, which keeps none for them).
GROWING_TABLES = tuple(
    str(t.__tablename__) for t in (Event, BatchSummary, HoldingChange, HealthEvent, GpuHourly)
)


def require_fit(column: Column, value: object, what: str) -> None:
    """A UserError naming `what` when `value` does not fit `column` (db.tables.unfit)."""
    problem = unfit(column, value)
    if problem:
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:40]}…"
        raise UserError(f"The {what} '{shown}' is {problem}; nothing was changed.")
