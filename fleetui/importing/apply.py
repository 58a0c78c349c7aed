"""Applying a checked stage: changed cards updated, new cards inserted, and an audit event
for each, set-based, in the import's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    update,
)

from fleetui.core.vocabulary import IMPORT_CREATED, Action, Status
from fleetui.db import audit
from fleetui.db.bulk import indexes_deferred
from fleetui.db.sqlfuncs import json_object
from fleetui.db.tables import Card, Node, table_of
from fleetui.importing.outcome import ImportOptions, ImportResult
from fleetui.importing.stage import CARD_FIELDS, Names, stage_t

card_t, node_t = table_of(Card), table_of(Node)
IDS_PER_STATEMENT = 10_000  # bound parameters (SQLite's limit may be 32,766)


def apply(
    conn: Connection,
    result: ImportResult,
    batch_id: str,
    present: list[str],
    options: ImportOptions,
    names: Names,
) -> None:
    """Write the staged rows (`present`: the card columns the file sets) and the events of
    batch `batch_id`."""
    now = datetime.now(UTC)
    actor = options.actor or audit.current_actor()
    stamp = audit.Stamp(batch_id=batch_id, actor=actor, at=now, reason=options.reason)
    audit.record(
        conn,
        action=Action.IMPORT,
        **stamp,
        changes=[
            (
                None,
                None,
                audit.ImportSummary(
                    file=Path(result.file).name,
                    new=result.new,
                    changed=result.changed,
                    created=names.created,
                ),
            )
        ],
    )
    for action in IMPORT_CREATED:
        made = [(i, n) for a, i, n in names.made if a == action]
        if action == Action.IMPORT_NODE:  # thousands of them: set-based, by id
            payload = json_object({"id": node_t.c.id, "name": node_t.c.hostname})
            ids = [i for i, _ in made]
            for start in range(0, len(ids), IDS_PER_STATEMENT):
                part = ids[start : start + IDS_PER_STATEMENT]
                events = select(payload.label("after")).where(node_t.c.id.in_(part))
                audit.record_select(conn, events.order_by(node_t.c.id), action=action, **stamp)
        else:
            changes = [(None, None, audit.Created(id=i, name=n)) for i, n in made]
            audit.record(conn, action=action, **stamp, changes=changes)
    if result.changed:
        joined = stage_t.join(card_t, card_t.c.id == stage_t.c.card_id)
        sets = _new_values(present)
        before = json_object({f: card_t.c[f] for f in sets} | {"version": card_t.c.version})
        after = json_object(sets | {"version": card_t.c.version + 1})
        events = (
            select(
                card_t.c.id.label("card_id"),
                card_t.c.serial,
                (card_t.c.version + 1).label("card_version"),
                before.label("before"),
                after.label("after"),
            )
            .select_from(joined)
            .where(stage_t.c.changes)
        )
        audit.record_select(conn, events, action=Action.IMPORT_UPDATE, **stamp)
        conn.execute(
            update(card_t)
            .where(card_t.c.id == stage_t.c.card_id, stage_t.c.changes)
            .values(sets | {"version": card_t.c.version + 1, "updated_at": now})
        )
    if result.new:
        _insert_new(conn, stamp)


def _new_values(present: list[str]) -> dict[str, ColumnElement[Any]]:
    """SET expressions for changed cards: a non-empty cell replaces the stored value. A card
    that changes team leaves its old team's project unless the row names a project (of the new
    team): a blank project cell kept it, in another team's project (an old export imported
    again after a move)."""
    sets: dict[str, ColumnElement[Any]] = {
        f: func.coalesce(stage_t.c[f], card_t.c[f]) for f in present
    }
    if "team_id" in present:
        team_changes = and_(
            stage_t.c.team_id.isnot(None), stage_t.c.team_id.is_distinct_from(card_t.c.team_id)
        )
        leaves = team_changes
        if "project_id" in present:
            leaves = and_(team_changes, stage_t.c.project_id.is_(None))
        sets["project_id"] = case((leaves, None), else_=sets.get("project_id", card_t.c.project_id))
    return sets


def _insert_new(conn: Connection, stamp: audit.Stamp) -> None:
    """New cards and their events; into an empty inventory the card indexes are built after.

    The new cards are the ones above the highest id before the insert: ids only grow (SQLite
    rowids, PostgreSQL's sequence) and the import holds the inventory's write lock."""
    now = stamp["at"]
    last = conn.execute(select(func.coalesce(func.max(card_t.c.id), 0))).scalar_one()
    with indexes_deferred(conn, card_t):
        new_rows = select(
            stage_t.c.serial,
            *(stage_t.c[f] for f in CARD_FIELDS if f not in ("status", "notes")),
            func.coalesce(
                stage_t.c.status,
                case(
                    (stage_t.c.node_id.is_(None), Status.SPARE.value), else_=Status.IN_SERVICE.value
                ),
            ),
            func.coalesce(stage_t.c.notes, ""),
            literal(1),
            literal(now),
            literal(now),
        ).where(stage_t.c.card_id.is_(None))
        columns = [
            "serial",
            *(f for f in CARD_FIELDS if f not in ("status", "notes")),
            "status",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ]
        conn.execute(insert(card_t).from_select(columns, new_rows))
        events = (
            select(card_t.c.id.label("card_id"), card_t.c.serial, literal(1).label("card_version"))
            .where(card_t.c.id > last)
            .order_by(card_t.c.id)
        )
        audit.record_select(conn, events, action=Action.IMPORT_CREATE, **stamp)
