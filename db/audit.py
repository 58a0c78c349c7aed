"""The audit log. Every write to cards goes through here, in the caller's transaction."""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from fleetui.db.tables import Event, require_fit

event_t = Event.__table__
# What an import logs, beside its summary, for each team, project and node it created (no card;
# `after` holds the new row's id and name), so that undoing the import can remove them.
IMPORT_CREATED = ("import.project", "import.team", "import.node")


def new_batch_id() -> str:
    return uuid.uuid4().hex


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
    action: str,
    changes: Iterable[tuple[int | None, dict[str, Any] | None, dict[str, Any] | None]],
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
        conn.execute(event_t.insert(), rows)
    return len(rows)
