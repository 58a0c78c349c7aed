"""Undoing a batch from the audit log: an import, a reallocation, any batch of card changes.

A batch is undone only if none of its cards changed since (each card's version still equals the
version the batch left it at); otherwise the cards that did are named and nothing changes.
Cards the batch created are deleted; changed cards get their `before` values back, version
included: nothing else touched them in between, so the card is exactly as it was at that version,
and batches can be undone newest first. The undo is itself a batch in the log; a batch can be
undone once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, bindparam, delete, func, select, update

from db.tables import Card, Event
from fleetui import audit
from fleetui.errors import UserError
from fleetui.store import writing

card_t, event_t = Card.__table__, Event.__table__
CREATE_ACTIONS = ("import.create", "reconcile.add")
CHUNK = 5_000


@dataclass
class UndoResult:
    batch_id: str
    undo_batch_id: str
    deleted: int
    restored: int


def undo(engine: Engine, batch_id: str, actor: str | None = None, reason: str = "") -> UndoResult:
    with writing(engine) as conn:
        batch_id = _resolve(conn, batch_id)
        if conn.execute(
            select(event_t.c.id).where(
                event_t.c.action == "undo", event_t.c.after["undid"].as_string() == batch_id
            )
        ).first():
            raise UserError(f"Batch {batch_id[:8]} was already undone.")
        card_events = and_(event_t.c.batch_id == batch_id, event_t.c.card_id.isnot(None))
        moved = (
            conn.execute(
                select(event_t.c.serial)
                .select_from(event_t.join(card_t, card_t.c.id == event_t.c.card_id, isouter=True))
                .where(card_events, func.coalesce(card_t.c.version, -1) != event_t.c.card_version)
                .order_by(event_t.c.serial)
                .limit(21)
            )
            .scalars()
            .all()
        )
        if moved:
            shown = ", ".join(moved[:20]) + (" and more" if len(moved) > 20 else "")
            raise UserError(
                f"Cards changed since batch {batch_id[:8]}: {shown}; nothing was undone."
            )
        undo_batch = audit.new_batch_id()
        now = datetime.now(UTC)
        who = actor or audit.current_actor()
        deleted = restored = 0
        events = conn.execute(
            select(
                event_t.c.card_id,
                event_t.c.serial,
                event_t.c.action,
                event_t.c.before,
                event_t.c.after,
                event_t.c.card_version,
            ).where(card_events)
        )
        while chunk := events.fetchmany(CHUNK):
            creates = [e for e in chunk if e.action in CREATE_ACTIONS]
            updates = [e for e in chunk if e.action not in CREATE_ACTIONS and e.before]
            if creates:
                ids = [e.card_id for e in creates]
                deleted += conn.execute(delete(card_t).where(card_t.c.id.in_(ids))).rowcount
            by_columns = defaultdict(list)
            for e in updates:  # only real card columns: events may carry other details
                by_columns[tuple(sorted(k for k in e.before if k in card_t.c))].append(e)
            for columns, group in by_columns.items():
                values = {c: bindparam(f"b_{c}") for c in columns} | {"updated_at": now}
                if "version" not in columns:
                    values["version"] = card_t.c.version + 1
                stmt = update(card_t).where(card_t.c.id == bindparam("b_id")).values(values)
                params = [
                    {"b_id": e.card_id} | {f"b_{c}": _value(c, e.before[c]) for c in columns}
                    for e in group
                ]
                conn.execute(stmt, params)
                restored += len(group)
            audit.record(
                conn,
                batch_id=undo_batch,
                action="undo.card",
                actor=who,
                at=now,
                reason=reason,
                changes=[(e.card_id, e.after, _restored(e)) for e in chunk],
                serials=[e.serial for e in chunk],
            )
        audit.record(
            conn,
            batch_id=undo_batch,
            action="undo",
            actor=who,
            at=now,
            reason=reason,
            changes=[(None, None, {"undid": batch_id, "deleted": deleted, "restored": restored})],
        )
    return UndoResult(batch_id, undo_batch, deleted, restored)


def _restored(event) -> dict | None:
    """What an undone card's event records as its new state (None: the card was deleted)."""
    if event.action in CREATE_ACTIONS:
        return None
    return {"version": event.card_version + 1} | (event.before or {})


def _resolve(conn, prefix: str) -> str:
    """A full batch id from the first characters of one, as `history` shows them."""
    prefix = prefix.strip().lower()
    if len(prefix) < 6:
        raise UserError("Give at least the first 6 characters of the batch id.")
    found = (
        conn.execute(
            select(event_t.c.batch_id)
            .where(event_t.c.batch_id.startswith(prefix))
            .distinct()
            .limit(2)
        )
        .scalars()
        .all()
    )
    if not found:
        raise UserError(f"No batch {prefix} in the audit log.")
    if len(found) > 1:
        raise UserError(f"More than one batch starts with {prefix}; give more characters.")
    return found[0]


def _value(column: str, value):
    """JSON gave dates back as text; the Date columns want dates."""
    if value is not None and column in ("purchase_date", "warranty_end"):
        return datetime.fromisoformat(value).date()
    return value
