"""Reading the audit log: batches and card histories, and who held what on a past date."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from fleetui.allocation import teams
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_CREATES, COMPUTING, HELD, IMPORT_CREATED
from fleetui.db.tables import Card, Event, GpuModel, Team
from fleetui.inventory.summary import UNASSIGNED

event_t, card_t, model_t, team_t = (
    Event.__table__,
    Card.__table__,
    GpuModel.__table__,
    Team.__table__,
)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    at: datetime
    actor: str
    action: str
    cards: int
    reason: str
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}

    def cells(self) -> tuple[str, ...]:
        """One row of a batch table, under BATCH_HEADINGS."""
        return (
            f"{self.at:%Y-%m-%d %H:%M}",
            self.actor,
            self.action,
            f"{self.cards:,}",
            self.reason,
            self.batch_id[:8],
            self.summary,
        )


BATCH_HEADINGS = ("When", "Who", "Action", "Cards", "Reason", "Batch", "Summary")


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"'{value}' is not a date like 2026-01-31.") from None
    return datetime.combine(day, time.min, tzinfo=UTC)


def batches(
    engine: Engine,
    team: str | None = None,
    project: str | None = None,
    since: str | None = None,
    limit: int = 200,
) -> list[Batch]:
    """Batches newest first; with a team or project, those that moved cards into or out of it."""
    conditions = []
    start = parse_since(since)
    if start:
        conditions.append(event_t.c.at >= start)
    with engine.connect() as conn:
        if team or project:
            tid = teams.team_id(conn, team) if team else None
            if project:
                pid, _ = teams.project_id(conn, project, tid)
                key, value = "project_id", pid
            else:
                key, value = "team_id", tid
            touching = select(event_t.c.batch_id).where(
                or_(
                    event_t.c.before[key].as_integer() == value,
                    event_t.c.after[key].as_integer() == value,
                )
            )
            conditions.append(event_t.c.batch_id.in_(touching))
        query = (
            select(
                event_t.c.batch_id,
                func.min(event_t.c.at),
                func.min(event_t.c.actor),
                func.min(event_t.c.action),
                func.count(event_t.c.card_id),
                func.max(event_t.c.reason),
                func.max(event_t.c.id).label("last"),
            )
            .where(and_(*conditions) if conditions else True)
            .group_by(event_t.c.batch_id)
            .order_by(func.max(event_t.c.id).desc())
            .limit(limit)
        )
        rows = conn.execute(query).all()
        heads = {
            r.batch_id: r
            for r in conn.execute(
                select(event_t.c.batch_id, event_t.c.action, event_t.c.after).where(
                    event_t.c.batch_id.in_([r[0] for r in rows]),
                    event_t.c.card_id.is_(None),
                    event_t.c.action.notin_(IMPORT_CREATED),
                )
            )
        }
    result = []
    for batch_id, at, actor, action, cards, reason, _ in rows:
        head = heads.get(batch_id)
        action = head.action if head is not None else action
        summary = _summary(head.after if head is not None else None)
        result.append(Batch(batch_id, _utc(at), actor, action, cards, reason or "", summary))
    return result


def _summary(after: dict | None) -> str:
    if not after:
        return ""
    return ", ".join(f"{k} {v}" for k, v in after.items() if v not in (None, [], {}))


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
    """Every event of one card, newest first: its history, the same in the CLI and the TUI."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(event_t).where(event_t.c.card_id == card_id).order_by(event_t.c.id.desc())
            )
            .mappings()
            .all()
        )
    return [dict(r) | {"at": _utc(r["at"])} for r in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- allocation on a past date


@dataclass
class Allocation:
    team: str
    cards: int
    tflops: float

    def as_dict(self) -> dict[str, Any]:
        return {"team": self.team, "cards": self.cards, "pflops": round(self.tflops / 1000, 3)}


def allocation_as_of(engine: Engine, as_of: str) -> list[Allocation]:
    """Cards and PFLOPS per team at the end of `as_of`, rebuilt from today's state by rolling
    back every logged change made after that day (cards created later do not count)."""
    start = parse_since(as_of)
    assert start is not None
    end = datetime.combine(start.date(), time.max, tzinfo=UTC)
    with engine.connect() as conn:
        tflops = dict(conn.execute(select(model_t.c.id, model_t.c.fp16_tflops)).all())
        names = dict(conn.execute(select(team_t.c.id, team_t.c.name)).all())
        totals: dict[int | None, list] = defaultdict(lambda: [0, 0.0])

        def add(team_id, model_id, status, n) -> None:
            if status in HELD:
                totals[team_id][0] += n
            if status in COMPUTING:
                totals[team_id][1] += n * tflops[model_id]

        for team_id, model_id, status, n in conn.execute(
            select(card_t.c.team_id, card_t.c.model_id, card_t.c.status, func.count()).group_by(
                card_t.c.team_id, card_t.c.model_id, card_t.c.status
            )
        ):
            add(team_id, model_id, status, n)
        first_after: dict[int, Any] = {}
        for event in conn.execute(
            select(event_t.c.card_id, event_t.c.action, event_t.c.before)
            .where(event_t.c.at > end, event_t.c.card_id.isnot(None))
            .order_by(event_t.c.id)
        ):
            first_after.setdefault(event.card_id, event)
        ids = list(first_after)
        for start_at in range(0, len(ids), 5000):
            for card in conn.execute(
                select(card_t.c.id, card_t.c.team_id, card_t.c.model_id, card_t.c.status).where(
                    card_t.c.id.in_(ids[start_at : start_at + 5000])
                )
            ):
                add(card.team_id, card.model_id, card.status, -1)
                event = first_after[card.id]
                if event.action in CARD_CREATES:
                    continue
                before = event.before or {}
                add(
                    before.get("team_id", card.team_id),
                    before.get("model_id", card.model_id),
                    before.get("status", card.status),
                    1,
                )
    rows = [
        Allocation(names.get(t, UNASSIGNED) if t else UNASSIGNED, c, f)
        for t, (c, f) in totals.items()
        if c or f
    ]
    return sorted(rows, key=lambda a: (-a.tflops, a.team))
