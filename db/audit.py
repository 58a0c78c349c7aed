"""The audit log. Every write to cards goes through here, in the caller's transaction."""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, Engine, Select, func, insert, literal, select, update

from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action
from fleetui.db import holdings
from fleetui.db.bulk import upsert
from fleetui.db.tables import BatchSummary, Card, Event, require_fit, table_of

event_t, card_t, batch_t = table_of(Event), table_of(Card), table_of(BatchSummary)


class Stamp(TypedDict):
    """What every event of one batch shares; pass it on as `**stamp` to record()."""

    batch_id: str
    actor: str
    at: datetime
    reason: str


# The before/after payloads of the summary and bookkeeping events, per action family (a card
# event's payload is the card's changed columns, plus its "version").


class Created(TypedDict):
    """`after` of IMPORT_TEAM, IMPORT_PROJECT, IMPORT_NODE: the row an import created."""

    id: int
    name: str


class ImportSummary(TypedDict):
    """`after` of IMPORT."""

    file: str
    new: int
    changed: int
    created: list[tuple[str, Any]]  # (kind, name or count) that --create-missing made


class Placement(TypedDict):
    """`before` and `after` of MOVE: where the card was and went, at which version."""

    team_id: int | None
    project_id: int | None
    version: int


class MoveSummary(TypedDict):
    """`after` of MOVE_BATCH."""

    to: str
    cards: int
    pflops: float


Payload = Mapping[str, Any]  # one of the above, or a card's changed columns

# The events that name one team, project or node by the payload's "id": that row's table, and
# the payload key holding its name then. (quota.set logs an "id" too: its project's, else its
# team's.)
ROW_EVENTS: dict[Action, tuple[str, str]] = {
    Action.TEAM_ADD: ("team", "team"),
    Action.TEAM_RENAME: ("team", "team"),
    Action.TEAM_DELETE: ("team", "team"),
    Action.IMPORT_TEAM: ("team", "name"),
    Action.PROJECT_ADD: ("project", "project"),
    Action.PROJECT_RENAME: ("project", "project"),
    Action.PROJECT_DELETE: ("project", "project"),
    Action.IMPORT_PROJECT: ("project", "name"),
    Action.NODE_RENAME: ("node", "node"),
    Action.NODE_REMOVE: ("node", "node"),
    Action.IMPORT_NODE: ("node", "name"),
}


def undone_by(conn: Connection, batch_ids: list[str]) -> dict[str, str]:
    """Batch id -> the batch that undid it, for those of `batch_ids` that were undone."""
    undid = event_t.c.after["undid"].as_string()
    return dict(
        conn.execute(
            select(undid, event_t.c.batch_id)
            .where(  # an undo's own event: a batch event, one of few
                event_t.c.card_id.is_(None), event_t.c.action == Action.UNDO, undid.in_(batch_ids)
            )
            .with_hint(event_t, "INDEXED BY ix_event_card_id", "sqlite")
        ).all()
    )


def undo_state(conn: Connection, batch_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(undone, redone) for `batch_ids`, as the history marks them: batch -> the undo that
    undid it, for those whose changes do not stand now; batch -> the undo that undid its
    undo, for those undone once and in effect again. A mark from undone_by alone stayed
    'undone' on a batch whose undo was undone."""
    undone = undone_by(conn, batch_ids)
    if not undone:
        return {}, {}
    stands = standing(conn, set(undone))
    again = undone_by(conn, [undone[b] for b in stands])
    return (
        {b: u for b, u in undone.items() if b not in stands},
        {b: again[undone[b]] for b in stands if undone[b] in again},
    )


def standing(conn: Connection, batch_ids: Iterable[str]) -> set[str]:
    """Of `batch_ids`, those whose changes stand: never undone, or undone by an undo that was
    undone in turn (and so on down the chain). What a figure read from the log (a repair's
    cost) counts: an undone repair return cost nothing."""
    batch_ids = set(batch_ids)
    undone = undone_by(conn, list(batch_ids))
    if not undone:
        return batch_ids
    undos = standing(conn, set(undone.values()))
    return {b for b in batch_ids if b not in undone or undone[b] not in undos}


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the audit log's JSON keeps them (dates and times as ISO text)."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def new_batch_id() -> str:
    return uuid.uuid4().hex


def last_event_id(engine: Engine) -> int:
    """The newest audit event's id (0 for none): every write to the fleet, from any process,
    makes it grow, and reading it is one index look-up."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(event_t.c.id))).scalar() or 0


def current_actor() -> str:
    """The OS user running fleetui (FLEETUI_ACTOR overrides, e.g. for shared service accounts)."""
    try:
        return os.environ.get("FLEETUI_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    conn: Connection,
    *,
    batch_id: str,
    action: Action,
    changes: Iterable[tuple[int | None, Payload | None, Payload | None]],
    serials: Iterable[str | None] | None = None,
    actor: str | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> int:
    """Append one event per (card_id, before, after) change; returns how many were written.

    `after` may carry the card's new "version", which is stored in `card_version` for undo.
    """
    stamp = at or datetime.now(UTC)
    who = actor or current_actor()
    require_fit(event_t.c.actor, who, "actor")
    changes = list(changes)
    serial_list = list(serials) if serials is not None else [None] * len(changes)
    rows = [
        {
            "at": stamp,
            "actor": who,
            "action": action,
            "card_id": card_id,
            "serial": serial,
            "card_version": (after or {}).get("version"),
            "batch_id": batch_id,
            "before": before,
            "after": after,
            "reason": reason,
        }
        for (card_id, before, after), serial in zip(changes, serial_list, strict=True)
    ]
    if rows:
        newest = _newest(conn, batch_id)
        conn.execute(event_t.insert(), rows)
        _summarise(conn, batch_id, newest)
    return len(rows)


def record_select(
    conn: Connection,
    rows: Select,
    *,
    batch_id: str,
    action: Action,
    actor: str | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> int:
    """Append one event per row of `rows`, set-based (INSERT ... SELECT: for imports, where a
    batch holds millions). `rows` selects event columns by name: card_id, serial,
    card_version, and optionally before and after. Returns how many were written."""
    who = actor or current_actor()
    require_fit(event_t.c.actor, who, "actor")
    fixed = {
        "at": at or datetime.now(UTC),
        "actor": who,
        "action": action.value,
        "batch_id": batch_id,
        "reason": reason,
    }
    columns: Sequence[str] = [*rows.selected_columns.keys(), *fixed]
    events = rows.add_columns(*(literal(v, event_t.c[k].type).label(k) for k, v in fixed.items()))
    newest = _newest(conn, batch_id)
    written = conn.execute(insert(event_t).from_select(columns, events)).rowcount
    _summarise(conn, batch_id, newest)
    return written


def batch_summaries() -> Select:
    """Per batch id, its `batch` row as its events give it (GROUP BY batch_id)."""
    return select(
        event_t.c.batch_id,
        func.min(event_t.c.at).label("at"),
        func.min(event_t.c.actor).label("actor"),
        func.min(event_t.c.action).label("action"),
        func.count(event_t.c.card_id).label("cards"),
        func.max(event_t.c.reason).label("reason"),
        func.max(event_t.c.id).label("last_event_id"),
    ).group_by(event_t.c.batch_id)


def _newest(conn: Connection, batch_id: str) -> int:
    """The id of `batch_id`'s newest event so far (0 for none): its events after it are new."""
    newest = select(func.max(event_t.c.id)).where(event_t.c.batch_id == batch_id)
    return conn.execute(newest).scalar() or 0


def _summarise(conn: Connection, batch_id: str, after: int) -> None:
    """Add the batch's events after id `after` to its `batch` row, by one upsert that adds to
    the row as it is then (so two writers at once both count), and what they changed to the
    holdings ledger."""
    holdings.record_changes(conn, batch_id, after)
    new = batch_summaries().where(event_t.c.batch_id == batch_id, event_t.c.id > after)
    stmt = upsert(conn, batch_t).from_select(list(new.selected_columns.keys()), new)
    least, greatest = (
        (func.min, func.max) if conn.dialect.name == "sqlite" else (func.least, func.greatest)
    )
    old, added = batch_t.c, stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[old.batch_id],
            set_={
                "at": least(old.at, added.at),
                "actor": least(old.actor, added.actor),
                "action": least(old.action, added.action),
                "cards": old.cards + added.cards,
                "reason": greatest(old.reason, added.reason),
                "last_event_id": greatest(old.last_event_id, added.last_event_id),
            },
        )
    )


def change_card(
    conn: Connection,
    card: Any,
    action: Action,
    values: dict,
    details: dict,
    reason: str = "",
    actor: str | None = None,
) -> str:
    """Set `values` on `card` (a row with id, serial, version and those columns) if nobody
    changed it meanwhile; log it with `details` as one batch; return the batch id."""
    changed = conn.execute(
        update(card_t)
        .where(card_t.c.id == card["id"], card_t.c.version == card["version"])
        .values(values | {"version": card["version"] + 1, "updated_at": datetime.now(UTC)})
    ).rowcount
    if not changed:
        raise UserError(f"Card {card['serial']} changed meanwhile; nothing was done, try again.")
    batch = new_batch_id()
    before = {k: card[k] for k in values} | {"version": card["version"]}
    after = values | {"version": card["version"] + 1} | details
    record(
        conn,
        batch_id=batch,
        action=action,
        actor=actor,
        reason=reason,
        changes=[(card["id"], before, after)],
        serials=[card["serial"]],
    )
    return batch
