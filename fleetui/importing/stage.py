"""The stage of an import: a temporary table of parsed rows, the names its rows resolve to
ids (teams, projects, models, nodes; created with --create-missing), and the checks across
rows, all in SQL."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from fleetui import catalogue
from fleetui.core.vocabulary import Action, unfit_name
from fleetui.db.bulk import insert_columns, insert_rows
from fleetui.db.tables import (
    CARD_DATA_COLUMNS,
    Card,
    GpuModel,
    Node,
    Project,
    Team,
    inserted_id,
    table_of,
)
from fleetui.importing.cells import MISSING, CellError, RowError

card_t = table_of(Card)
team_t, project_t = table_of(Team), table_of(Project)
model_t, node_t = table_of(GpuModel), table_of(Node)
CARD_FIELDS = CARD_DATA_COLUMNS  # the card columns an import can set

_stage_meta = MetaData()
stage_t = Table(
    "fleetui_import_stage",
    _stage_meta,
    Column("row_no", Integer),
    Column("serial", String),
    Column("uuid", String),
    Column("model_id", Integer),
    Column("node_id", Integer),
    Column("pci_bus_id", String),
    Column("team_id", Integer),
    Column("project_id", Integer),
    Column("status", String),
    Column("purchase_date", Date),
    Column("price_minor", Integer),
    Column("currency", String),
    Column("supplier", String),
    Column("warranty_end", Date),
    Column("service_life_years", Float),
    Column("notes", String),
    Column("asset_tag", String),
    Column("purchase_order", String),
    # Whether the row gives its card a UUID it does not have yet: staged as "has a UUID",
    # corrected by the link to the cards (only such rows can clash over a UUID).
    Column("new_uuid", Boolean),
    # True for a row naming no model (a new card needs one), rejected or not.
    Column("no_model", Boolean),
    # True for a row with an error of its own, staged with its KEY_COLUMNS only so that the
    # checks across rows see it; never written.
    Column("rejected", Boolean),
    Column("card_id", Integer),  # the card with this serial, if any (set by the link)
    Column("changes", Boolean),  # whether the row changes that card (set by the link)
    prefixes=["TEMPORARY"],
)
STAGE_COLUMNS = ("row_no", "serial", *CARD_FIELDS, "new_uuid", "no_model", "rejected")
# what a rejected row stages
KEY_COLUMNS = ("row_no", "serial", "uuid", "asset_tag", "new_uuid", "no_model")


def create(conn: Connection) -> None:
    stage_t.drop(conn, checkfirst=True)
    stage_t.create(conn)


def drop(conn: Connection) -> None:
    """Once applied: the pooled connection keeps no stage (ANALYZE would read it too)."""
    stage_t.drop(conn)


def write(conn: Connection, columns: list[list]) -> None:
    """Stage parsed rows, given as columns in STAGE_COLUMNS order (columns with no value in
    any row stage as NULL without being written: insert_columns)."""
    insert_columns(conn, stage_t, STAGE_COLUMNS, columns)


def index_serials(conn: Connection) -> None:
    """Once every row is staged: the index the checks and the link to the cards use."""
    conn.exec_driver_sql(
        "CREATE INDEX fleetui_import_stage_serial ON fleetui_import_stage (serial)"
    )


def total(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(stage_t)).scalar_one()


def remove_rejected(conn: Connection, row_numbers: list[int]) -> None:
    """Unstage the rows with an error of their own and those (`row_numbers`) the checks
    across rows rejected."""
    conn.execute(delete(stage_t).where(stage_t.c.rejected))
    if row_numbers:
        conn.execute(delete(stage_t).where(stage_t.c.row_no.in_(row_numbers)))


def remove_existing(conn: Connection) -> int:
    """Unstage the rows naming a card of the inventory (--on-existing skip); how many."""
    return conn.execute(delete(stage_t).where(stage_t.c.card_id.isnot(None))).rowcount


class ToCreate:
    """A team (team None) or a project of `team` that --create-missing makes once a row that
    is valid otherwise names it."""

    __slots__ = ("id", "label", "name", "team")

    def __init__(self, name: str, team: int | ToCreate | None = None, label: str = "") -> None:
        self.name, self.team, self.label = name, team, label
        self.id: int | None = None


class Names:
    """The inventory's teams, projects, models and nodes by name, loaded once (a fleet has
    thousands), and what --create-missing makes of the names it lacks.

    A team or project is created only once a row valid otherwise names it (`settle`), so a
    rejected row leaves nothing behind; all of it in the import's transaction."""

    def __init__(self, conn: Connection, options: Any) -> None:
        self.conn = conn
        self.create_missing = options.create_missing
        self.aliases = options.config.model_aliases
        # By id, as the fleet spells them (a hint names them so); by lowered name below.
        self.spelt: dict[tuple[str, int], str] = {
            ("team", i): n for i, n in conn.execute(select(team_t.c.id, team_t.c.name))
        }
        self.teams: dict[str, int] = {n.lower(): i for (_, i), n in self.spelt.items()}
        self.projects: dict[tuple[int, str], int] = {}
        for i, t, n in conn.execute(select(project_t.c.id, project_t.c.team_id, project_t.c.name)):
            self.projects[(t, n.lower())] = i
            self.spelt[("project", i)] = n
        self.models: dict[str, int] = dict(conn.execute(select(model_t.c.key, model_t.c.id)).all())
        self.nodes: dict[str, int] = dict(
            conn.execute(select(node_t.c.hostname, node_t.c.id)).all()
        )
        self.nodes_created = 0
        self.created: list[tuple[str, Any]] = []  # what --create-missing made
        self.made: list[tuple[Action, int, str]] = []  # the same, as (audit action, id, name)
        self.pending: dict[tuple, ToCreate] = {}  # what --create-missing may create

    def cards_in_slots(self, slots: Collection[tuple[int, str]]) -> dict[tuple[int, str], str]:
        """The serials of the cards recorded in these (node id, PCI bus id) slots."""
        found = self.conn.execute(
            select(card_t.c.serial, card_t.c.node_id, card_t.c.pci_bus_id).where(
                card_t.c.node_id.in_(sorted({n for n, _ in slots})),
                card_t.c.pci_bus_id.in_(sorted({b for _, b in slots})),
            )
        )
        return {(n, b): s for s, n, b in found if (n, b) in slots}

    def model_id(self, model: str, maker: str, number: str) -> int | None:
        names = [
            c
            for c in (model, f"{maker} {model}" if maker and model else "", number)
            if c and c.lower() not in MISSING
        ]
        if not names:
            return None
        found = next((f for c in names if (f := catalogue.candidates(c, self.aliases))), ())
        if len(found) > 1:  # never picked silently: the site says which it means, once
            fits = ", ".join(f"'{s.name}'" for s in found)
            raise CellError(
                f"ambiguous model: it fits {fits}; write the full name, or set what this "
                f'site means in the config: [models.aliases] "{names[0]}" = "{found[0].name}"'
            )
        if not found:
            close = catalogue.suggest(names[0])
            raise CellError(
                "unknown model"
                + (f"; did you mean '{close}'?" if close else "; see `fleetui models`")
            )
        return self.models[found[0].key]

    def create_nodes(self, names: list[str]) -> None:
        if not names:
            return
        last = self.conn.execute(select(func.coalesce(func.max(node_t.c.id), 0))).scalar_one()
        insert_rows(self.conn, node_t, ("hostname", "rack"), [(n, "") for n in names])
        new = select(node_t.c.hostname, node_t.c.id).where(node_t.c.id > last)
        made = self.conn.execute(new).all()
        self.nodes.update(made)
        self.made += [(Action.IMPORT_NODE, node_id, name) for name, node_id in made]
        self.nodes_created += len(names)

    def team(self, name: str) -> int | ToCreate:
        team_id = self.teams.get(name.lower())
        if team_id is not None:
            return team_id
        if not self.create_missing:
            known = [self.spelt["team", i] for i in self.teams.values()]
            raise CellError(_unknown("team", name, known), missing=True)
        if why := unfit_name(name):
            raise CellError(f"cannot name a new team: {why}")
        return self.pending.setdefault(("team", name.lower()), ToCreate(name))

    def project(self, name: str, team_id, team: str | None) -> int | ToCreate | None:
        if team_id is None:
            if team is not None:
                return None  # the team's own error is reported
            owners = [pid for (t, n), pid in self.projects.items() if n == name.lower()]
            if len(owners) == 1:
                return owners[0]
            raise CellError(
                "unknown project"
                if not owners
                else "that project name exists in several teams; add a team column"
            )
        project_id = self.projects.get((team_id, name.lower()))
        if project_id is not None:
            return project_id
        if not self.create_missing:
            known = [
                self.spelt["project", i] for (t, _), i in self.projects.items() if t == team_id
            ]
            raise CellError(_unknown(f"project of team {team}", name, known), missing=True)
        if why := unfit_name(name):
            raise CellError(f"cannot name a new project: {why}")
        key = ("project", team_id, name.lower())
        return self.pending.setdefault(key, ToCreate(name, team_id, f"{team}/{name}"))

    def settle(self, values: list, numbers: list[int], bad: set[int]) -> list:
        """`values` with each team or project to create replaced by its id, created now if a
        valid row names it; a rejected row creates nothing (and stages nothing)."""
        return [
            (None if row in bad else self._create(v)) if v.__class__ is ToCreate else v
            for row, v in zip(numbers, values, strict=True)
        ]

    def _create(self, item: ToCreate) -> int:
        if item.id is not None:
            return item.id
        now = datetime.now(UTC)
        if item.team is None:
            item.id = inserted_id(self.conn, insert(Team).values(name=item.name, created_at=now))
            self.teams[item.name.lower()] = item.id
            self.spelt["team", item.id] = item.name
            self.created.append(("team", item.name))
            self.made.append((Action.IMPORT_TEAM, item.id, item.name))
        else:
            team_id = self._create(item.team) if isinstance(item.team, ToCreate) else item.team
            item.id = inserted_id(
                self.conn, insert(Project).values(team_id=team_id, name=item.name, created_at=now)
            )
            self.projects[(team_id, item.name.lower())] = item.id
            self.spelt["project", item.id] = item.name
            self.created.append(("project", item.label))
            self.made.append((Action.IMPORT_PROJECT, item.id, item.label))
        return item.id


def _unknown(kind: str, name: str, known: list[str]) -> str:
    """The error for a name not in `known`, suggesting the closest as the fleet spells it."""
    spelt = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(spelt), n=1)
    hint = f"; did you mean '{spelt[close[0]]}'?" if close else ""
    return f"unknown {kind}{hint} (or pass --create-missing)"


# ---------------------------------------------------------------- set-based checks and writes


def link_existing(conn, present: list[str]) -> None:
    """Each staged row's card (by serial), and whether the row changes it or its UUID."""
    conn.execute(
        update(stage_t)
        .where(card_t.c.serial == stage_t.c.serial)
        .values(card_id=card_t.c.id, changes=_changed(present), new_uuid=_new_uuid())
    )


def changes_nothing(conn, present: list[str]) -> bool:
    """Whether every staged row names a card of the inventory and changes nothing of it."""
    differs = or_(card_t.c.id.is_(None), _changed(present), _new_uuid())
    joined = stage_t.outerjoin(card_t, card_t.c.serial == stage_t.c.serial)
    return (
        conn.execute(select(literal(1)).select_from(joined).where(differs).limit(1)).first() is None
    )


def _new_uuid():
    """A staged row gives its (joined) card a UUID the card does not have."""
    return stage_t.c.uuid.isnot(None) & stage_t.c.uuid.is_distinct_from(card_t.c.uuid)


def repeats(conn, column, label: str, header: str, among=True) -> Iterator[RowError]:
    """Rows whose value in `column` an earlier row of the file already has (among the rows
    `among` selects)."""
    key = stage_t.c[column]
    repeated = select(key).where(key.isnot(None), among).group_by(key).having(func.count() > 1)
    if conn.execute(repeated.limit(1)).first() is None:  # the usual case
        return
    first = (
        select(key, func.min(stage_t.c.row_no).label("first"))
        .where(key.in_(repeated), among)
        .group_by(key)
        .subquery()
    )
    for row_no, value, first_row in conn.execute(
        select(stage_t.c.row_no, key, first.c.first)
        .join(first, first.c[column] == key)
        .where(stage_t.c.row_no != first.c.first, among)
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(row_no, header, value, f"the same {label} is on row {first_row}")


def cross_row_errors(
    conn,
    options,
    serial_column: str,
    uuid_column: str,
    uuid_repeats: bool,
    cards: bool,
    tag_column: str | None = None,
) -> Iterator[RowError]:
    """Checks across rows, over every row naming the value, rejected or not (a file is fixed
    in one pass). `uuid_repeats`: whether the file may repeat a UUID (the parser saw one);
    `cards`: whether the inventory had cards before the import; `tag_column`: the file's
    asset tag column, if it has one."""
    yield from repeats(conn, "serial", "serial", serial_column)
    if tag_column is not None:
        yield from repeats(conn, "asset_tag", "asset tag", tag_column)
        if cards:
            yield from _holders(conn, "asset_tag", tag_column, stage_t.c.asset_tag.isnot(None))
    # Only rows that give their card a new UUID can clash: with each other (a repeat in the
    # file) or with the card holding it (probed by a correlated subquery, so the planner
    # cannot turn the join around and scan the whole inventory).
    new_uuid = stage_t.c.new_uuid
    if uuid_repeats:
        yield from repeats(conn, "uuid", "UUID", uuid_column, new_uuid)
    if cards:
        yield from _holders(conn, "uuid", uuid_column, new_uuid)
    for row_no, serial in conn.execute(
        select(stage_t.c.row_no, stage_t.c.serial)
        .where(stage_t.c.card_id.is_(None), stage_t.c.no_model, stage_t.c.serial.isnot(None))
        .order_by(stage_t.c.row_no)
    ):
        yield RowError(
            row_no, serial_column, serial, "a new card needs a model (add a model column)"
        )
    if options.on_existing == "error":
        for row_no, serial in conn.execute(
            select(stage_t.c.row_no, stage_t.c.serial)
            .where(stage_t.c.card_id.isnot(None))
            .order_by(stage_t.c.row_no)
        ):
            yield RowError(
                row_no, serial_column, serial, "already in the inventory (--on-existing error)"
            )


def _holders(conn, column: str, header: str, among) -> Iterator[RowError]:
    """Rows (of those `among` selects) giving their card a UUID or asset tag (`column`) that
    another card of the inventory has."""
    holder = select(card_t.c.serial).where(card_t.c[column] == stage_t.c[column]).scalar_subquery()
    probed = (
        select(stage_t.c.row_no, stage_t.c[column], stage_t.c.serial, holder.label("other"))
        .where(among)
        .subquery()
    )
    what = "UUID" if column == "uuid" else "asset tag"
    for row_no, value, other in conn.execute(
        select(probed.c.row_no, probed.c[column], probed.c.other)
        .where(probed.c.other.isnot(None), probed.c.other != probed.c.serial)
        .order_by(probed.c.row_no)
    ):
        yield RowError(row_no, header, value, f"card {other} already has this {what}")


def _changed(present: list[str]):
    """A staged row changes its card when a non-empty cell differs from the stored value."""
    return or_(*map(_differs, present)) if present else literal(False)


def settle_bare_prices(conn: Connection, currency: str) -> None:
    """Give staged prices that name no currency `currency`."""
    conn.execute(
        update(stage_t)
        .where(stage_t.c.price_minor.isnot(None), stage_t.c.currency.is_(None))
        .values(currency=currency)
    )


def model_changes(conn: Connection) -> tuple[int, list[str]]:
    """The existing cards the import gives another model (never done without saying so): how
    many, and the serials of the first 100."""
    return _changed_cards(conn, _differs("model_id"))


def holder_changes(conn: Connection) -> tuple[int, list[str]]:
    """The existing cards the import moves to another team or project, as a move would (an
    old export imported again undoes the moves made since: never without saying so)."""
    return _changed_cards(conn, or_(_differs("team_id"), _differs("project_id")))


def _differs(field: str):
    """SQL: the row names a `field` (a blank cell keeps the card's) other than the card's."""
    return and_(stage_t.c[field].isnot(None), stage_t.c[field].is_distinct_from(card_t.c[field]))


def _changed_cards(conn: Connection, differs) -> tuple[int, list[str]]:
    """How many changed cards `differs` selects, and the serials of the first 100."""
    differs = and_(stage_t.c.changes, differs)
    joined = stage_t.join(card_t, card_t.c.id == stage_t.c.card_id)
    count = conn.execute(select(func.count()).select_from(joined).where(differs)).scalar_one()
    if not count:
        return 0, []
    first = select(stage_t.c.serial).select_from(joined).where(differs)
    return count, list(conn.execute(first.order_by(stage_t.c.row_no).limit(100)).scalars())


def count(conn: Connection) -> tuple[int, int, int]:
    """How many staged rows are new cards, change their card, leave it unchanged."""
    total, new, changed = conn.execute(
        select(
            func.count(),
            func.count().filter(stage_t.c.card_id.is_(None)),
            func.count().filter(stage_t.c.changes),
        )
    ).one()
    return new, changed, total - new - changed
