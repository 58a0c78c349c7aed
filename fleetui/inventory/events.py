"""Reading the audit log as text: what events changed, in names people know, and a card's
history (the same in the CLI and the TUI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, or_, select

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_CREATES, NO_PROJECT, UNASSIGNED, Action
from fleetui.db import audit
from fleetui.db.tables import (
    CARD_DATA_COLUMNS,
    Card,
    Event,
    GpuModel,
    Node,
    Project,
    Team,
    table_of,
)

event_t, card_t, model_t, team_t, project_t, node_t = (
    table_of(Event),
    table_of(Card),
    table_of(GpuModel),
    table_of(Team),
    table_of(Project),
    table_of(Node),
)

# How an event's keys read: ids become the names they refer to (ID_TABLES).
LABELS = {
    "team_id": "team",
    "project_id": "project",
    "node_id": "node",
    "model_id": "model",
    "pci_bus_id": "slot",
    "price_minor": "price",
    "cost_minor": "cost",  # a repair's
}
MONEY = ("price_minor", "cost_minor")  # amounts in cents, in the event's currency
# Bookkeeping in events, never shown as a change.
UNSHOWN = ("version", "restores", "deleted", "undid", "created_at", "currency")


@dataclass(frozen=True)
class Names:
    """The names of teams, projects, nodes and models by id, as the log's ids are shown."""

    by_key: dict[str, dict[int, str]]

    @classmethod
    def load(
        cls,
        conn: Connection,
        keys: set[str] | None = None,
        logged: Iterable[Mapping[str, Any] | None] = (),
    ) -> Names:
        """The names of every table, or of those `keys` name (a million cards' nodes are many).
        An id in `logged` (the before and after of the events shown) whose row is gone is named
        as the log last named it: 'Ads (deleted)' (ids are never reused, so it is that row)."""
        tables = {
            "team_id": (team_t.c.id, team_t.c.name),
            "project_id": (project_t.c.id, project_t.c.name),
            "node_id": (node_t.c.id, node_t.c.hostname),
            "model_id": (model_t.c.id, model_t.c.name),
        }
        wanted = [k for k in tables if keys is None or k in keys]
        by_key = {
            k: dict(conn.execute(select(*tables[k])).all()) if k in wanted else {} for k in tables
        }
        payloads = [p for p in logged if p]
        gone = {
            k: {p[k] for p in payloads if isinstance(p.get(k), int)} - by_key[k].keys()
            for k in wanted
        }
        for key, names in _deleted_names(conn, gone).items():
            by_key[key] |= names
        return cls(by_key)

    def show(self, key: str, value: Any, values: dict[str, Any]) -> str:
        """One value as people read it; `values` is the dict it came from (a price's currency)."""
        if value is None or value == "":
            # the pool and a team's cards in none of its projects, as the tables call them
            return {"team_id": UNASSIGNED, "project_id": NO_PROJECT}.get(key, "none")
        if key in self.by_key:
            return self.by_key[key].get(value, f"#{value} (deleted)")
        if key in MONEY:
            return units.money(value, values.get("currency"))
        if isinstance(value, bool):  # a repair's 'in warranty'
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, dict):
            return ", ".join(f"{v} {k}" for k, v in value.items())
        if isinstance(value, list):  # an import's [["nodes", 2], ...], or other lists
            return ", ".join(_counted(p) for p in value)
        return str(value)


def _deleted_names(conn: Connection, gone: dict[str, set[int]]) -> dict[str, dict[int, str]]:
    """Per key ("team_id"), the ids in `gone` as the newest event naming that row by its id
    (an add, rename, delete, or the import that created it) named it, marked deleted."""
    ids = set().union(*gone.values())
    if not ids:
        return {}
    found: dict[str, dict[int, str]] = {}
    for action, before, after in conn.execute(
        select(event_t.c.action, event_t.c.before, event_t.c.after)
        .where(
            event_t.c.card_id.is_(None),  # a batch event, one of few
            event_t.c.action.in_(list(audit.ROW_EVENTS)),
            or_(
                event_t.c.before["id"].as_integer().in_(ids),
                event_t.c.after["id"].as_integer().in_(ids),
            ),
        )
        .order_by(event_t.c.id)
        .with_hint(event_t, "INDEXED BY ix_event_card_id", "sqlite")
    ):
        table, name = audit.ROW_EVENTS[action]
        payload = after or before
        row_id, shown = payload.get("id"), payload.get(name)
        if row_id in gone.get(f"{table}_id", ()) and shown:
            found.setdefault(f"{table}_id", {})[row_id] = f"{shown} (deleted)"
    return found


def _counted(item: Any) -> str:
    """["nodes", 2] as '2 nodes' ('1 node'); anything else as it reads."""
    if isinstance(item, list) and len(item) == 2:
        noun, n = item
        if isinstance(noun, str) and isinstance(n, int):
            return units.counted(n, noun.removesuffix("s"))
        return f"{n} {noun}"
    return str(item)


def field_label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " "))


def changes(before: dict | None, after: dict | None, names: Names) -> list[str]:
    """'status: in_service → retired', one per changed field (a field logged on both sides that
    reads the same, like a move's 'project: none', is no change); details an action logged
    beside them (a repair ticket) as 'ticket: T-1'."""
    before, after = before or {}, after or {}
    keys = [k for k in dict.fromkeys([*before, *after]) if k not in UNSHOWN]
    if "currency" in after and not set(MONEY) & set(keys):  # a currency alone changed
        keys.append("currency")
    lines = []
    for key in keys:
        new = names.show(key, after.get(key), after)
        if key in before:
            old = names.show(key, before[key], before)
            if old != new:
                lines.append(f"{field_label(key)}: {old} → {new}")
        elif key in after:
            lines.append(f"{field_label(key)}: {new}")
    return lines


def card_values(values: dict[str, Any], names: Names) -> list[str]:
    """A card's stored values ('model: H100 SXM5 80GB', ...), those it has."""
    return [
        f"{field_label(k)}: {names.show(k, values[k], values)}"
        for k in CARD_DATA_COLUMNS
        if k != "currency" and values.get(k) not in (None, "")
    ]


# ---------------------------------------------------------------- a card's history


def card_events(engine: Engine, serial: str) -> list[dict[str, Any]]:
    """The history of the card a serial names: the card holding it now, else the last one that
    held it (a card deleted by undoing its import keeps its history)."""
    with engine.connect() as conn:
        found = conn.execute(select(card_t.c.id).where(card_t.c.serial == serial)).scalar()
        if found is None:
            found = conn.execute(
                select(event_t.c.card_id)
                .where(event_t.c.serial == serial, event_t.c.card_id.isnot(None))
                .order_by(event_t.c.id.desc())
                .limit(1)
            ).scalar()
    if found is None:
        raise UserError(f"No card or history has serial '{serial}'.")
    return events_of_card(engine, found)


def events_of_card(engine: Engine, card_id: int) -> list[dict[str, Any]]:
    """Every event of one card, newest first: its history, the same in the CLI and the TUI.
    Each has `changes` as text ('team: Ads → LLM'; a creation or deletion as the card's values)
    and `undone_by`, the batch that undid it, if it is undone now."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(event_t).where(event_t.c.card_id == card_id).order_by(event_t.c.id.desc())
            )
            .mappings()
            .all()
        )
        now = conn.execute(select(card_t).where(card_t.c.id == card_id)).mappings().first()
        undone, _ = audit.undo_state(conn, list({r["batch_id"] for r in rows}))
        names = Names.load(conn, logged=[p for r in rows for p in (r["before"], r["after"])])
    values = dict(now or {})  # the card's values after each event, walking back in time
    events = []
    for r in rows:
        after, before = r["after"] or {}, r["before"] or {}
        if r["action"] in CARD_CREATES:
            text = ["created: " + ", ".join(card_values(values, names))]
        elif after.get("deleted"):
            text = ["deleted: " + ", ".join(card_values(before, names))]
        elif before.get("deleted"):
            text = ["re-created: " + ", ".join(card_values(after, names))]
        elif r["action"] == Action.UNDO_CARD and r["after"] is None:
            text = ["removed: the batch that created it was undone"]
        else:
            text = changes(r["before"], r["after"], names)
        values.update({k: v for k, v in before.items() if k in card_t.c})
        events.append(
            dict(r)
            | {"at": as_utc(r["at"]), "changes": text, "undone_by": undone.get(r["batch_id"])}
        )
    return events


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
