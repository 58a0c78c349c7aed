"""Reading the audit log: batches, and who held what on a past date (a card's own history is
inventory.events')."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    func,
    or_,
    select,
)

from fleetui.allocation import teams
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import (
    HELD,
    IMPORT_CREATED,
    UNASSIGNED,
    Action,
)
from fleetui.db import audit, holdings
from fleetui.db.tables import BatchSummary, Card, Event, GpuModel, table_of
from fleetui.importing.cells import parse_day
from fleetui.inventory.events import Names, as_utc, changes, field_label

event_t, card_t, model_t, batch_t = (
    table_of(Event),
    table_of(Card),
    table_of(GpuModel),
    table_of(BatchSummary),
)


# ---------------------------------------------------------------- batches


@dataclass(frozen=True)
class Batch:
    batch_id: str
    at: datetime
    actor: str
    action: str
    cards: int
    reason: str
    summary: str
    undone_by: str | None = None  # the batch that undid this one, if it is undone now
    undid: str | None = None  # for an undo: the batch it undid
    redone_by: str | None = None  # the batch that undid its undo: in effect again

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}

    def mark(self) -> str:
        """'undone by 1a2b3c4d' / 'redone by 1a2b3c4d' / 'undid 1a2b3c4d' ('' for other
        batches)."""
        if self.undone_by:
            return f"undone by {self.undone_by[:8]}"
        if self.redone_by:
            return f"redone by {self.redone_by[:8]}"
        return f"undid {self.undid[:8]}" if self.undid else ""


def parse_since(value: str | None, option: str) -> datetime | None:
    """The start (UTC) of the day the date option `option` gives, if any."""
    if value is None:  # given empty, it is refused as a date, not read as none given
        return None
    return datetime.combine(parse_day(value, option), time.min, tzinfo=UTC)


def _team_ids(conn: Connection, name: str) -> list[int]:
    """The team's id; for a team gone since (deleted, or taken away with an undone import),
    every id the log gave that name, so its batches stay findable as card histories name it
    ('NAME (deleted)')."""
    try:
        return [teams.team_id(conn, name)]
    except UserError:
        named = {a: key for a, (table, key) in audit.ROW_EVENTS.items() if table == "team"}
        rows = conn.execute(
            select(event_t.c.action, event_t.c.before, event_t.c.after)
            .where(event_t.c.card_id.is_(None), event_t.c.action.in_(list(named)))
            .with_hint(event_t, "INDEXED BY ix_event_card_id", "sqlite")
        )
        wanted = name.strip().lower()
        gone = {
            side["id"]
            for action, before, after in rows
            for side in (before, after)
            if side and str(side.get(named[action], "")).strip().lower() == wanted
        }
        if not gone:
            raise
        return sorted(gone)


def _own(key: str, ids: list[int]):
    """The batches that changed the team or project itself (`key` team_id or project_id):
    its add, renames, quota and delete, which move no card in or out."""
    table = key.removesuffix("_id")
    actions = [a for a, (t, _) in audit.ROW_EVENTS.items() if t == table]
    before, after = event_t.c.before, event_t.c.after
    quota_of = after["project"].as_string().is_(None)
    return select(event_t.c.batch_id).where(
        event_t.c.card_id.is_(None),  # a batch event, one of few
        or_(
            and_(
                event_t.c.action.in_(actions),
                or_(before["id"].as_integer().in_(ids), after["id"].as_integer().in_(ids)),
            ),
            and_(
                event_t.c.action == Action.QUOTA_SET,
                quota_of if table == "team" else ~quota_of,
                after["id"].as_integer().in_(ids),
            ),
        ),
    )


def batches(
    engine: Engine,
    team: str | None = None,
    project: str | None = None,
    since: str | None = None,
    limit: int = 200,
) -> list[Batch]:
    """Batches newest first; with a team or project, those that moved cards into or out of it
    or changed it (its add, renames, quota, delete)."""
    conditions: list[ColumnElement[bool]] = []
    start = parse_since(since, "--since")
    if start:
        conditions.append(event_t.c.at >= start)
    with engine.connect() as conn:
        if team or project:
            tids = _team_ids(conn, team) if team else []
            key, values = "team_id", tids
            if project:
                tid = tids[0] if tids else None
                key, values = "project_id", [teams.project_id(conn, project, tid)[0]]
            touching = select(event_t.c.batch_id).where(
                or_(
                    event_t.c.before[key].as_integer().in_(values),
                    event_t.c.after[key].as_integer().in_(values),
                )
            )
            conditions.append(event_t.c.batch_id.in_(touching.union(_own(key, values))))
        if conditions:  # the batches of the events that match, grouped
            query = (
                audit.batch_summaries().where(*conditions).order_by(func.max(event_t.c.id).desc())
            )
        else:  # every batch: their summary rows, which need no grouping
            query = select(batch_t).order_by(batch_t.c.last_event_id.desc())
        rows = conn.execute(query.limit(limit)).all()
        ids = [r[0] for r in rows]
        heads = {
            r.batch_id: r
            for r in conn.execute(
                select(event_t.c.batch_id, event_t.c.action, event_t.c.before, event_t.c.after)
                .where(
                    event_t.c.batch_id.in_(ids),
                    event_t.c.card_id.is_(None),
                    event_t.c.action.notin_(IMPORT_CREATED),
                )
                .order_by(event_t.c.id)
                # The batch events (one a batch), not every event of these batches.
                .with_hint(event_t, "INDEXED BY ix_event_card_id", "sqlite")
            )
        }
        # a move's summary names its target as it was named then: its cards name it by id
        moves = [i for i, h in heads.items() if h.action == Action.MOVE_BATCH]
        first_card = _first_card_events([i for i in ids if i not in heads] + moves, conn)
        undone, redone = audit.undo_state(conn, ids)
        shown = [*heads.values(), *first_card.values()]
        logged = [p for e in shown for p in (e.before, e.after)]
        names = Names.load(conn, {k for p in logged for k in p or ()}, logged)
    result = []
    for batch_id, at, actor, action, cards, reason, _ in rows:
        head = heads.get(batch_id)
        action = head.action if head is not None else action
        if not cards and head is not None and isinstance((head.after or {}).get("cards"), int):
            cards = head.after["cards"]  # made its cards without an event each (demo.build)
        if head is not None:
            placed = first_card[batch_id].after if batch_id in first_card else None
            summary = _summary(head.before, head.after, names, cards, placed)
        elif batch_id in first_card:  # a batch of card changes only: its first card's
            e = first_card[batch_id]
            changed = ", ".join(changes(e.before, e.after, names))  # none for a card added
            summary = ": ".join(filter(None, (e.serial, changed)))
            summary += f" and {units.counted(cards - 1, 'more card')}" if cards > 1 else ""
        else:
            summary = ""
        undid = head.after.get("undid") if head is not None and action == Action.UNDO else None
        result.append(
            Batch(
                batch_id,
                as_utc(at),
                actor,
                action,
                cards,
                reason or "",
                summary,
                undone.get(batch_id),
                undid,
                redone.get(batch_id),
            )
        )
    return result


def _first_card_events(batch_ids: list[str], conn: Connection) -> dict[str, Any]:
    """Each batch's first card event. Each is found on its own through the batch's index, in
    id order, stopping at the first: a min(id) over the batch read all its events (history
    of 100 moves of 10,000 cards read the whole million-event log)."""
    if not batch_ids:  # (an empty IN may have SQLite read the whole log)
        return {}
    other = event_t.alias("other")
    first = (
        select(other.c.id)
        .where(other.c.batch_id == batch_t.c.batch_id, other.c.card_id.isnot(None))
        .order_by(other.c.id)
        .limit(1)
        .scalar_subquery()
    )
    ids = conn.execute(select(first).where(batch_t.c.batch_id.in_(batch_ids))).scalars()
    return {  # then found by their ids (a subquery here SQLite may scan for)
        e.batch_id: e
        for e in conn.execute(
            select(event_t.c.batch_id, event_t.c.serial, event_t.c.before, event_t.c.after).where(
                event_t.c.id.in_([i for i in ids if i is not None])
            )
        )
    }


def _summary(
    before: dict | None, after: dict | None, names: Names, cards: int, placed: dict | None = None
) -> str:
    """A batch's summary event as text: a rename's 'team: Ads → LLM', a move's 'to LLM,
    1.2 PFLOPS', an edit's 'status: retired, notes: cracked' (the card count, when the batch's
    own `cards` says it already, left out). `placed`, a moved card's values after the move,
    names its target as card histories do: renamed since by today's name, deleted since as
    'Ads (deleted)'."""
    if before and after:
        changed = ", ".join(changes(before, after, names))
        if "quota_cards" in after:  # whose quota: the names are the same on both sides
            owner = "/".join(str(after[k]) for k in ("team", "project") if after.get(k))
            return f"{owner}: {changed}"
        return changed
    parts = []
    undid = after if after and "undid" in after else {}
    for key, value in (after or before or {}).items():
        if value in (None, [], {}) or key in ("undid", "id") or (key == "cards" and value == cards):
            continue
        if key == "cards":
            parts.append(units.counted(value, "card"))
        elif key == "serials":  # a delete's first cards
            more = cards - len(value)
            parts.append(
                ", ".join(value) + (f" and {units.counted(more, 'more card')}" if more > 0 else "")
            )
        elif key in ("deleted", "restored", "new", "changed") and isinstance(value, int):
            parts += [f"{value:,} {key}"] if value else []
        elif key in ("team", "project", "node") and undid:
            continue  # what an undone import created: said once, below
        elif key == "pflops":
            parts.append(f"{value:,.1f} PFLOPS")
        elif key == "to" and placed is not None and "team_id" in placed:
            target = [names.show("team_id", placed["team_id"], placed)]
            if placed.get("project_id") is not None:
                target.append(names.show("project_id", placed["project_id"], placed))
            parts.append("to " + "/".join(target))
        elif key == "to":
            parts.append(f"to {value}")
        elif key in ("team", "project", "node") and after is None:
            parts.append(f"{key} {value}")
        else:
            parts.append(f"{field_label(key)}: {names.show(key, value, after or {})}")
    removed = [units.counted(n, k) for k in ("team", "project", "node") if (n := undid.get(k))]
    return ", ".join(parts + (["removed " + ", ".join(removed) + " it created"] if removed else []))


# ---------------------------------------------------------------- allocation on a past date


@dataclass
class Allocation:
    team: str
    cards: int
    tflops: float

    def as_dict(self) -> dict[str, Any]:
        return {"team": self.team, "cards": self.cards, "pflops": round(self.tflops / 1000, 3)}


def allocation_as_of(engine: Engine, as_of: str) -> list[Allocation]:
    """Cards and PFLOPS per team at the end of `as_of`: today's holdings less what the batches
    after that day changed (the holdings ledger, fleetui.db.holdings: cards created later do
    not count, cards deleted later do).

    Every card's creation is in the ledger: per batch that created cards (an import, a
    reconcile, an undone delete), or, for the fleet `demo` builds into an empty database, as
    that database's first batch. So before the log's first batch nothing was held."""
    start = parse_since(as_of, "--as-of")
    assert start is not None
    if start.date() > date.today():
        raise UserError(f"{as_of.strip()} is in the future; --as-of shows holdings up to today.")
    end = datetime.combine(start.date(), time.max, tzinfo=UTC)
    with engine.connect() as conn:
        tflops = dict(conn.execute(select(model_t.c.id, model_t.c.fp16_tflops)).all())
        totals: dict[int | None, list] = defaultdict(lambda: [0, 0.0])
        for (team_id, model_id, status), n in holdings.held_at(conn, end).items():
            if status in HELD:
                totals[team_id][0] += n
            totals[team_id][1] += units.computing(status, n) * tflops.get(model_id, 0.0)
        names = Names.load(conn, {"team_id"}, [{"team_id": t} for t in totals])
    rows = [
        Allocation(names.show("team_id", t, {}) if t else UNASSIGNED, c, f)
        for t, (c, f) in totals.items()
        if c or f
    ]
    return sorted(rows, key=lambda a: (-a.tflops, a.team))
