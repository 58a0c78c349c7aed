"""The holdings ledger (fleetui.db.holdings): per audit batch, how many cards each (team,
model, status) gained or lost, so that `report allocation --as-of` subtracts a few hundred
ledger rows from today's holdings instead of rolling every card changed since back through
the log (3 s at a million events).

The log is replayed backwards once, card by card, from today's cards: a card after an event is
the card before the next one, and before it, that card with the values the event's `before`
names. What the log does not account for (the fleet `demo` writes with one event, cards older
than the log) is added as of the oldest card's creation.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATES = ("import.create", "reconcile.add")
KEYS = ("team_id", "model_id", "status")
CARDS_PER_PASS = 50_000  # bounds the memory one pass holds


def upgrade() -> None:
    holding = op.create_table(
        "holding_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("cards", sa.Integer(), nullable=False),
    )
    op.create_index("ix_holding_change_at", "holding_change", ["at"])
    bind = op.get_bind()
    event = sa.table(
        "event",
        *(sa.column(n) for n in ("id", "batch_id", "action", "card_id")),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("before", sa.JSON()),
    )
    card = sa.table("card", sa.column("id"), sa.column("created_at", sa.DateTime()), *(
        sa.column(k) for k in KEYS
    ))  # fmt: skip
    changes: Counter[tuple] = Counter()
    last = bind.execute(sa.select(sa.func.max(event.c.card_id))).scalar() or 0
    for low in range(0, last + 1, CARDS_PER_PASS):
        high = low + CARDS_PER_PASS
        state: dict[int, tuple | None] = {
            r[0]: tuple(r[1:])
            for r in bind.execute(
                sa.select(card.c.id, *(card.c[k] for k in KEYS)).where(
                    card.c.id >= low, card.c.id < high
                )
            )
        }
        for e in bind.execute(
            sa.select(event)
            .where(event.c.card_id >= low, event.c.card_id < high)
            .order_by(event.c.card_id.desc(), event.c.id.desc())
        ):
            after = state.get(e.card_id)  # None: not in the inventory after the event
            logged = e.before or {}
            before: tuple | None = None
            brought = e.action in CREATES or logged.get("deleted")
            if not brought and (after is not None or "status" in logged):
                known = after or (None,) * len(KEYS)
                before = tuple(logged.get(k, v) for k, v in zip(KEYS, known, strict=True))
            if before != after:
                if after is not None:
                    changes[(e.batch_id, e.at, *after)] += 1
                if before is not None:
                    changes[(e.batch_id, e.at, *before)] -= 1
            state[e.card_id] = before
    columns = ("batch_id", "at", *KEYS)
    rows = [dict(zip(columns, key, strict=True)) | {"cards": n} for key, n in changes.items() if n]
    # What today's cards hold that the replay did not account for.
    held = Counter(
        {
            tuple(r[:-1]): r[-1]
            for r in bind.execute(
                sa.select(*(card.c[k] for k in KEYS), sa.func.count()).group_by(
                    *(card.c[k] for k in KEYS)
                )
            )
        }
    )
    for row in rows:
        held[tuple(row[k] for k in KEYS)] -= row["cards"]
    # As of the oldest card's creation; with no cards left (removed outside fleetui), of the
    # log's first event.
    oldest = bind.execute(sa.select(sa.func.min(card.c.created_at))).scalar()
    oldest = oldest or bind.execute(sa.select(sa.func.min(event.c.at))).scalar()
    rows += [
        dict(zip(KEYS, key, strict=True)) | {"batch_id": "", "at": oldest, "cards": n}
        for key, n in held.items()
        if n
    ]
    for start in range(0, len(rows), 10_000):
        bind.execute(holding.insert(), rows[start : start + 10_000])


def downgrade() -> None:
    op.drop_index("ix_holding_change_at", "holding_change")
    op.drop_table("holding_change")
