"""The holdings ledger: how each audit batch changed the number of cards per (team, model,
status). Today's holdings less the changes after a moment are the holdings at that moment, so
a past day's allocation reads a few hundred ledger rows instead of rolling every card changed
since back through the log."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    insert,
    literal,
    not_,
    select,
    union_all,
)

from fleetui.core.vocabulary import CARD_CREATES
from fleetui.db.tables import Card, Event, HoldingChange, table_of

holding_t, event_t, card_t = table_of(HoldingChange), table_of(Event), table_of(Card)
KEYS = ("team_id", "model_id", "status")


def record_changes(conn: Connection, batch_id: str, after: int) -> None:
    """Add what the card events of `batch_id` after event id `after` changed, in the caller's
    transaction.

    A card's key that an event's payload names has the payload's value; one it does not name
    did not change, so the card row has it, whether the writer changed the row before logging
    the event or after. An event that created the card (or brought a deleted one back) had
    none before; a card not in the inventory now has none after, and had one before only if
    the event logs its values (a delete and an undo that takes a card away do).

    One pass groups the events by (before, after); the few groups come back to be netted.
    Events with no payload (an import's new cards: a million of them) are grouped by the card
    row's keys alone: each more term to group by costs a third more."""
    logged, now = event_t.c.before, event_t.c.after
    brought = event_t.c.action.in_(CARD_CREATES) | logged["deleted"].as_boolean().is_(True)
    there = card_t.c.id.isnot(None)
    held = not_(brought) & (there | _names(conn, logged, "status").isnot(None))
    card = [card_t.c[k] for k in KEYS]

    def state(payload) -> list[ColumnElement]:
        return [
            case((_names(conn, payload, k).isnot(None), _value(payload, k)), else_=card_t.c[k])
            for k in KEYS
        ]

    def grouped(states: list, *where) -> Select:
        """(first stamp, *states, cards), to be grouped by what tells the states apart: one
        record() call's events share one stamp, so they are not grouped by it (a text compare
        per row)."""
        return (
            select(func.min(event_t.c.at), *states, func.count())
            .select_from(event_t.outerjoin(card_t, card_t.c.id == event_t.c.card_id))
            .where(
                event_t.c.batch_id == batch_id,
                event_t.c.id > after,
                event_t.c.card_id.isnot(None),
                *where,
            )
        )

    # An event with no payload changed nothing of the card, so it only matters if it created
    # the card, which then holds what its row does.
    bare = logged.is_(None) & now.is_(None)
    gained = [literal(False), *card, literal(True), *card]
    changed = [held, *state(logged), there, *state(now)]
    changes: Counter[tuple] = Counter()
    for at, was, *keys, n in conn.execute(
        union_all(
            grouped(gained, bare, event_t.c.action.in_(CARD_CREATES), there).group_by(*card),
            grouped(changed, not_(bare)).group_by(*changed),
        )
    ):
        before, is_, later = keys[:3], keys[3], keys[4:]
        if was:
            changes[(at, *before)] -= n
        if is_:
            changes[(at, *later)] += n
    rows = [
        {"batch_id": batch_id, "at": at} | dict(zip(KEYS, keys, strict=True)) | {"cards": n}
        for (at, *keys), n in changes.items()
        if n
    ]
    if rows:
        conn.execute(insert(holding_t), rows)


def record_balance(conn: Connection, batch_id: str, at: datetime) -> None:
    """Add, as batch `batch_id`'s at `at`, what today's holdings have that the ledger does not
    account for: a fleet written without card events (`demo` builds one, and logs it as one
    batch)."""
    conn.execute(
        insert(holding_t).from_select(
            ["batch_id", "at", *KEYS, "cards"],
            select(
                literal(batch_id, String),
                literal(at, holding_t.c.at.type),
                *unaccounted().subquery().c,
            ),
        )
    )


def unaccounted() -> Select:
    """Per (team, model, status), cards today less the ledger's sum, where they differ: none,
    when the ledger adds up (`db check` asks)."""
    kept = select(*(holding_t.c[k] for k in KEYS), (-func.sum(holding_t.c.cards)).label("n"))
    both = union_all(_held(), kept.group_by(*(holding_t.c[k] for k in KEYS))).subquery()
    keys = [both.c[k] for k in KEYS]
    return select(*keys, func.sum(both.c.n)).group_by(*keys).having(func.sum(both.c.n) != 0)


def held_at(conn: Connection, moment: datetime) -> dict[tuple, int]:
    """(team_id, model_id, status) -> how many cards it held at `moment`: today's cards less
    what the batches after it gave."""
    held: Counter[tuple] = Counter({tuple(key): n for *key, n in conn.execute(_held())})
    keys = [holding_t.c[k] for k in KEYS]
    for *key, n in conn.execute(
        select(*keys, func.sum(holding_t.c.cards)).where(holding_t.c.at > moment).group_by(*keys)
    ):
        held[tuple(key)] -= n
    return {key: n for key, n in held.items() if n}


def _held() -> Select:
    """Today's cards per (team, model, status)."""
    keys = [card_t.c[k] for k in KEYS]
    return select(*keys, func.count().label("n")).group_by(*keys)


def _names(conn: Connection, payload, key: str) -> ColumnElement[str]:
    """The payload's value of `key` as JSON text ('null' too); NULL where it names no `key`
    (SQLAlchemy's own JSON accessors read both as NULL)."""
    path = f"$.{key}" if conn.dialect.name == "sqlite" else key
    return cast(payload.op("->")(literal(path, String)), Text)


def _value(payload, key: str) -> ColumnElement:
    return payload[key].as_string() if key == "status" else payload[key].as_integer()
