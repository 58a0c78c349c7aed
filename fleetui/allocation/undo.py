"""Undoing a batch from the audit log: an import, a reallocation, any batch of card changes.

An undo is a write like any other. It takes the inventory's write lock before it reads (as an
import does), checks that none of the batch's cards changed since (each card is at the version
the batch left it at, or at a later one whose changes were all undone: batches are undone newest
first), and writes each card only on the version it checked, so an undo racing any other write
either wins whole or is told and changes nothing. Cards the batch created are deleted;
cards it deleted are re-created with their ids and values (their history stays theirs) unless
their serial is taken again meanwhile; changed cards get their `before` values back under a NEW
version (versions only increase: a preview made before the undo can never be committed after
it), and the undo's events link each card's history on. Teams, projects and nodes an import
created are removed too, unless something uses them now. A batch that changed a team, project or
node (an add, a rename, a quota) is reverted by `teams.revert`; a batch an undo cannot revert is
refused. The undo is itself a batch in the log; a batch can be undone once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)

from fleetui.allocation import teams
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_CREATES, IMPORT_CREATED, Action
from fleetui.db import audit
from fleetui.db.locks import lock_cards_for_writing
from fleetui.db.tables import CARD_DATA_COLUMNS, Card, Event, Node, Project, Team, table_of
from fleetui.inventory.events import Names
from fleetui.store import writing

card_t, event_t = table_of(Card), table_of(Event)
team_t, project_t, node_t = table_of(Team), table_of(Project), table_of(Node)
# The tables of what an import created (IMPORT_CREATED); projects go before their teams.
CREATED = dict(
    zip(IMPORT_CREATED, (table_of(Project), table_of(Team), table_of(Node)), strict=True)
)
CHUNK = 5_000


class UndoConflict(UserError):
    """A card of the batch changed while the undo ran; nothing was undone."""


@dataclass
class UndoResult:
    batch_id: str
    undo_batch_id: str
    deleted: int
    restored: int
    removed: dict[str, int] = field(default_factory=dict)  # "team": 2, "node": 1, ...
    reverted: str = ""  # what it did to a team, project or node, in words

    def summary(self) -> str:
        """One sentence for the CLI and the TUI."""
        done = f" (undo batch {self.undo_batch_id[:8]})."
        if self.reverted:
            return f"Undid batch {self.batch_id[:8]}: {self.reverted}{done}"
        line = (
            f"Undid batch {self.batch_id[:8]}: {units.counted(self.deleted, 'card')} removed, "
            f"{self.restored:,} restored"
        )
        made = [
            units.counted(self.removed[kind], kind)
            for kind in ("team", "project", "node")
            if self.removed.get(kind)
        ]
        if made:
            line += "; removed " + ", ".join(made) + " it created"
        return line + done


def undo(engine: Engine, batch_id: str, actor: str | None = None, reason: str = "") -> UndoResult:
    with writing(engine) as conn:
        lock_cards_for_writing(conn)  # before any read: see db.locks
        batch_id = _resolve(conn, batch_id)
        if conn.execute(
            select(event_t.c.id).where(
                event_t.c.batch_id == batch_id, event_t.c.action == Action.SCHED_APPLY
            )
        ).first():
            raise UserError(
                f"Batch {batch_id[:8]} changed the scheduler, not cards: undo the move it "
                "followed, then `fleetui sched apply` brings the scheduler back."
            )
        _refuse_undone(conn, batch_id)
        named = conn.execute(
            select(event_t.c.action, event_t.c.before, event_t.c.after).where(
                event_t.c.batch_id == batch_id, event_t.c.card_id.is_(None)
            )
        ).first()
        if named is not None and named.action in teams.REVERTIBLE:
            return _revert_named(conn, batch_id, named, actor, reason)
        if named is not None and named.action == Action.UNDO and "reverted" in named.after:
            raise UserError(
                f"Batch {batch_id[:8]} undid a change of a team, project or node "
                f"({named.after['reverted']}); an undo cannot take that back: make the change "
                "again. Nothing was undone."
            )
        if not conn.execute(  # neither cards nor what an import created: nothing to revert
            select(event_t.c.id).where(
                event_t.c.batch_id == batch_id,
                or_(event_t.c.card_id.isnot(None), event_t.c.action.in_(list(CREATED))),
            )
        ).first():
            kind = f" ({named.action})" if named else ""
            raise UserError(
                f"Batch {batch_id[:8]}{kind} is not one an undo can revert; nothing was undone."
            )
        if conn.execute(  # an undo of an import: its log keeps no values to rebuild cards from
            select(event_t.c.id).where(
                event_t.c.batch_id == batch_id,
                event_t.c.card_id.isnot(None),
                event_t.c.card_version.is_(None),
            )
        ).first():
            raise UserError(
                f"Batch {batch_id[:8]} deleted cards, which an undo cannot bring back; "
                "import them again instead."
            )
        _refuse_places_gone(conn, batch_id)
        cards = _cards_of(batch_id)
        changed = select(cards.c.serial).where(~cards.c.unchanged)
        moved = conn.execute(changed.order_by(cards.c.serial).limit(21)).scalars().all()
        if moved:
            total = len(moved)
            if total > 20:
                counting = select(func.count()).select_from(changed.subquery())
                total = conn.execute(counting).scalar_one()
            shown = units.listed(moved, 20, total)
            raise UserError(
                f"Cards changed since batch {batch_id[:8]}: {shown}; nothing was undone. "
                "Undo the batches that changed them first, newest first."
            )
        undo_batch = audit.new_batch_id()
        now = datetime.now(UTC)
        who = actor or audit.current_actor()
        deleted = restored = 0
        events = conn.execute(select(cards))
        while chunk := events.fetchmany(CHUNK):
            creates = [e for e in chunk if _brought(e)]
            # the cards it takes away are logged with their values, as a delete logs a card's
            gone = _values(conn, [e.card_id for e in creates]) if creates else {}
            deletes = [e for e in chunk if _took(e)]
            updates = [e for e in chunk if not _brought(e) and not _took(e) and e.before]
            if deletes:
                conn.execute(card_t.insert(), [_recreated(e, now) for e in deletes])
                restored += len(deletes)
            if creates:
                stmt = delete(card_t).where(
                    card_t.c.id == bindparam("b_id"), card_t.c.version == bindparam("b_version")
                )
                params = [{"b_id": e.card_id, "b_version": e.version} for e in creates]
                deleted += _all_written(conn, stmt, params, batch_id)
            by_columns: defaultdict[tuple[str, ...], list[Row[Any]]] = defaultdict(list)
            for e in updates:  # only real card columns: events may carry other details
                columns = (k for k in e.before if k in card_t.c and k != "version")
                by_columns[tuple(sorted(columns))].append(e)
            for names, group in by_columns.items():
                values: dict[str, Any] = {c: bindparam(f"b_{c}") for c in names}
                change = (
                    update(card_t)
                    .where(
                        card_t.c.id == bindparam("b_id"), card_t.c.version == bindparam("b_version")
                    )
                    .values(values | {"version": card_t.c.version + 1, "updated_at": now})
                )
                params = [
                    {"b_id": e.card_id, "b_version": e.version}
                    | {f"b_{c}": _value(c, e.before[c]) for c in names}
                    for e in group
                ]
                restored += _all_written(conn, change, params, batch_id)
            audit.record(
                conn,
                batch_id=undo_batch,
                action=Action.UNDO_CARD,
                actor=who,
                at=now,
                reason=reason,
                changes=[
                    (
                        e.card_id,
                        gone.get(e.card_id, e.after or {}) | {"version": e.version},
                        _restored(e),
                    )
                    for e in chunk
                ],
                serials=[e.serial for e in chunk],
            )
        removed = _remove_created(conn, batch_id)
        audit.record(
            conn,
            batch_id=undo_batch,
            action=Action.UNDO,
            actor=who,
            at=now,
            reason=reason,
            changes=[
                (
                    None,
                    None,
                    {"undid": batch_id, "deleted": deleted, "restored": restored} | removed,
                )
            ],
        )
    return UndoResult(batch_id, undo_batch, deleted, restored, removed)


# Where an undo may put cards back: the card column, its table, the word for it and the
# action that deletes one (its log names the id).
PLACES = (
    ("team_id", team_t, "team", Action.TEAM_DELETE),
    ("project_id", project_t, "project", Action.PROJECT_DELETE),
    ("node_id", node_t, "node", Action.NODE_REMOVE),
)


def _refuse_undone(conn: Connection, batch_id: str) -> None:
    """UserError for a batch already undone, naming its undo; where that undo was undone in
    turn (the batch is in effect again), the last undo in the chain, which takes it back."""
    chain = [batch_id]
    while undoer := audit.undone_by(conn, [chain[-1]]).get(chain[-1]):
        chain.append(undoer)
    if len(chain) == 1:
        return
    if len(chain) % 2 == 0:
        raise UserError(f"Batch {batch_id[:8]} was already undone (by {chain[1][:8]}).")
    raise UserError(
        f"Batch {batch_id[:8]} is in effect again (its undo {chain[1][:8]} was undone by "
        f"{chain[2][:8]}): undo {chain[-1][:8]} to take it back. Nothing was undone."
    )


def _refuse_places_gone(conn: Connection, batch_id: str) -> None:
    """UserError, before anything is written, when the batch's cards would go back to a team,
    project or node that is gone, or was deleted since (SQLite may have given its id to a new
    one: the cards would land there, and their history with them)."""
    last = select(func.max(event_t.c.id)).where(event_t.c.batch_id == batch_id).scalar_subquery()
    for column, table, word, deletes in PLACES:
        wanted = set(
            conn.execute(
                select(event_t.c.before[column].as_integer())
                .where(event_t.c.batch_id == batch_id, event_t.c.card_id.isnot(None))
                .distinct()
            ).scalars()
        ) - {None}
        if not wanted:
            continue
        held = set(conn.execute(select(table.c.id).where(table.c.id.in_(wanted))).scalars())
        # named as the log last named them (however they went: a delete, an undo of the add)
        names = Names.load(conn, {column}, [{column: i} for i in wanted - held])
        gone = {
            i: f"{word} '{names.show(column, i, {}).removesuffix(' (deleted)')}'"
            for i in wanted - held
        }
        for before in conn.execute(
            select(event_t.c.before).where(event_t.c.action == deletes, event_t.c.id > last)
        ).scalars():
            if before and before.get("id") in wanted:
                gone[before["id"]] = f"{word} '{before.get(word)}'"
        if gone:
            named = ", ".join(gone[i] for i in sorted(gone))
            raise UserError(
                f"Undoing batch {batch_id[:8]} would put cards back in {named}, deleted "
                "since; nothing was undone. Move the cards by serial instead (one made since "
                "under that name is another one)."
            )


def _revert_named(conn: Connection, batch_id: str, event, actor, reason: str) -> UndoResult:
    """Undo a batch that changed a team, project or node, logged as one event."""
    reverted = teams.revert(conn, event.action, event.before, event.after)
    undo_batch = audit.new_batch_id()
    audit.record(
        conn,
        batch_id=undo_batch,
        action=Action.UNDO,
        actor=actor,
        reason=reason,
        changes=[(None, None, {"undid": batch_id, "reverted": reverted})],
    )
    return UndoResult(batch_id, undo_batch, 0, 0, reverted=reverted)


def _all_written(conn: Connection, stmt, params: list[dict], batch_id: str) -> int:
    """Run a write conditional on each card's version; all of them, or nothing at all."""
    written = conn.execute(stmt, params).rowcount
    if written != len(params):
        raise UndoConflict(
            f"Cards of batch {batch_id[:8]} changed while it was being undone; "
            "nothing was undone, try again."
        )
    return written


def _recreated(event, now: datetime) -> dict:
    """The row of a card the batch deleted, as it was, at a new version."""
    values = {c: _value(c, v) for c, v in event.before.items() if c in card_t.c}
    return values | {
        "id": event.card_id,
        "serial": event.serial,
        "version": event.version + 1,
        "updated_at": now,
    }


def _values(conn: Connection, card_ids: list[int]) -> dict[int, dict]:
    """Card id -> the card's values now, as the audit log keeps them."""
    rows = conn.execute(
        select(card_t.c.id, *(card_t.c[c] for c in CARD_DATA_COLUMNS)).where(
            card_t.c.id.in_(card_ids)
        )
    ).mappings()
    return {r["id"]: audit.jsonable({c: r[c] for c in CARD_DATA_COLUMNS}) for r in rows}


def _took(event) -> bool:
    """Whether the batch took the card away: a delete, or an undo of the undo that brought a
    deleted card back (its `after` says so; its `before` keeps the card's values)."""
    return bool((event.after or {}).get("deleted"))


def _brought(event) -> bool:
    """Whether the batch brought the card into the inventory: created it, or (its `before`
    says the card was deleted) an undo re-created it. Undone, the card goes again."""
    return event.action in CARD_CREATES or bool((event.before or {}).get("deleted"))


def _restored(event) -> dict | None:
    """What an undone card's event records as its new state: the values it had before the
    batch, a new version, and which older version it is again the same as (`restores`), so
    that the batch before can be undone next. A card it takes away again is deleted, as a
    delete logs it (so an undo of this undo re-creates it); a created card's log keeps no
    values to rebuild it from (None)."""
    if event.action in CARD_CREATES:
        return None
    if _brought(event):
        return {"deleted": True, "version": event.version + 1}
    return event.before | {"version": event.version + 1, "restores": event.restores}


def _cards_of(batch_id: str):
    """The batch's card events with each card's version now, whether the card is still as the
    batch left it (`unchanged`: at the batch's version, or at a later one that undid every
    change since), and the version its `before` state is canonically (`restores`)."""
    last, prior, other = event_t.alias("last"), event_t.alias("prior"), card_t.alias("other")
    left_at = func.coalesce(event_t.c.after["restores"].as_integer(), event_t.c.card_version)
    unchanged = or_(
        card_t.c.version == event_t.c.card_version,
        and_(last.c.action == Action.UNDO_CARD, last.c.after["restores"].as_integer() == left_at),
    )
    still_deleted = and_(  # a deleted card: still gone, and its serial free
        card_t.c.id.is_(None), ~exists().where(other.c.serial == event_t.c.serial)
    )
    before_version = event_t.c.before["version"].as_integer()
    return (
        select(
            event_t.c.card_id,
            event_t.c.serial,
            event_t.c.action,
            event_t.c.before,
            event_t.c.after,
            # a deleted card's version is the one its delete left
            func.coalesce(card_t.c.version, event_t.c.card_version).label("version"),
            case(
                (event_t.c.after["deleted"].as_boolean().is_(True), still_deleted),
                (unchanged, True),
                else_=False,
            ).label("unchanged"),
            func.coalesce(prior.c.after["restores"].as_integer(), before_version).label("restores"),
        )
        .select_from(
            event_t.outerjoin(card_t, card_t.c.id == event_t.c.card_id)
            .outerjoin(
                last, and_(last.c.card_id == card_t.c.id, last.c.card_version == card_t.c.version)
            )
            .outerjoin(
                prior,
                and_(prior.c.card_id == event_t.c.card_id, prior.c.card_version == before_version),
            )
        )
        .where(
            event_t.c.batch_id == batch_id,
            event_t.c.card_id.isnot(None),
            event_t.c.card_version.isnot(None),
        )
        .subquery()
    )


def _remove_created(conn: Connection, batch_id: str) -> dict[str, int]:
    """Delete the teams, projects and nodes the batch created that nothing refers to now;
    how many of each kind went."""
    made = conn.execute(
        select(event_t.c.action, event_t.c.after).where(
            event_t.c.batch_id == batch_id, event_t.c.action.in_(list(CREATED))
        )
    ).all()
    removed: Counter[str] = Counter()
    for action, table in CREATED.items():
        ids = [after["id"] for a, after in made if a == action]
        unused = [~exists().where(column == table.c.id) for column in _references(table)]
        for start in range(0, len(ids), CHUNK):
            stmt = delete(table).where(table.c.id.in_(ids[start : start + CHUNK]), *unused)
            removed[action.removeprefix("import.")] += conn.execute(stmt).rowcount
    return {kind: n for kind, n in removed.items() if n}


def _references(table: Table) -> list:
    """The columns of every table that refer to `table`'s rows."""
    return [
        fk.parent
        for other in Card.metadata.sorted_tables
        for fk in other.foreign_keys
        if fk.column.table is table
    ]


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
    """JSON gave dates and times back as text; the Date and DateTime columns want them typed."""
    kind = getattr(card_t.c[column].type, "impl", card_t.c[column].type).python_type
    if value is not None and kind in (date, datetime):
        return kind.fromisoformat(value)
    return value
