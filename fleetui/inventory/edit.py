"""One audited, version-checked change to one card (repairs, reconciliation fixes, ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, update

from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action
from fleetui.db import audit
from fleetui.db.tables import Card

card_t = Card.__table__


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
    batch = audit.new_batch_id()
    before = {k: card[k] for k in values} | {"version": card["version"]}
    after = values | {"version": card["version"] + 1} | details
    audit.record(
        conn,
        batch_id=batch,
        action=action,
        actor=actor,
        reason=reason,
        changes=[(card["id"], before, after)],
        serials=[card["serial"]],
    )
    return batch
