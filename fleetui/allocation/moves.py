"""Reallocating cards between teams and projects: plan, preview, commit, safely.

A plan is computed without writing. Committing it moves exactly the planned cards, in one
transaction and one audit batch, and only if none of them changed since the plan was made:
every card's version is checked, so when two ops boxes move the same cards one wins and the
other is told how many changed, with nothing moved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import groupby

from sqlalchemy import Connection, Engine, and_, bindparam, case, func, or_, select, update

from fleetui import catalogue, config
from fleetui.allocation import teams
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import COMPUTING, HELD, MOVABLE, Action, Status
from fleetui.db import audit
from fleetui.db.tables import Card, GpuHourly, GpuModel, Node, Project, Team
from fleetui.lifecycle import rules as lifecycle
from fleetui.store import writing
from fleetui.telemetry import reconcile

card_t, model_t, node_t = Card.__table__, GpuModel.__table__, Node.__table__
team_t, project_t = Team.__table__, Project.__table__
NODE_SIZE = 8


class MoveConflict(UserError):
    """Cards changed between the preview and the commit; nothing was moved."""


@dataclass(frozen=True)
class Target:
    team_id: int
    team: str
    project_id: int | None = None
    project: str | None = None

    def label(self) -> str:
        return f"{self.team}/{self.project}" if self.project else self.team


@dataclass(frozen=True)
class PlannedCard:
    id: int
    serial: str
    model: str
    tflops: float
    node: str | None
    status: str
    team_id: int | None
    project_id: int | None
    version: int
    warranty_end: date | None

    def as_dict(self) -> dict:
        return {
            "serial": self.serial,
            "model": self.model,
            "node": self.node,
            "status": self.status,
            "warranty_end": self.warranty_end.isoformat() if self.warranty_end else None,
        }


@dataclass(frozen=True)
class Delta:
    """A team's or project's holding before and after the move."""

    name: str
    cards_before: int
    cards_after: int
    tflops_before: float
    tflops_after: float

    def __str__(self) -> str:
        return (
            f"{self.name} {self.cards_before:,} -> {units.counted(self.cards_after, 'card')}, "
            f"{self.tflops_before / 1000:,.1f} -> {self.tflops_after / 1000:,.1f} PFLOPS"
        )

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "cards_before": self.cards_before,
            "cards_after": self.cards_after,
            "pflops_before": round(self.tflops_before / 1000, 3),
            "pflops_after": round(self.tflops_after / 1000, 3),
        }


@dataclass
class Plan:
    target: Target
    cards: list[PlannedCard]
    explanation: list[str] = field(default_factory=list)
    deltas: list[Delta] = field(default_factory=list)
    quota_warnings: list[str] = field(default_factory=list)

    @property
    def tflops(self) -> float:
        return sum(c.tflops for c in self.cards if c.status in COMPUTING)

    def as_dict(self) -> dict:
        return {
            "target": self.target.label(),
            "cards": [c.as_dict() for c in self.cards],
            "count": len(self.cards),
            "pflops": round(self.tflops / 1000, 3),
            "explanation": self.explanation,
            "deltas": [d.as_dict() for d in self.deltas],
            "quota_warnings": self.quota_warnings,
        }


# ---------------------------------------------------------------- targets and plans


def resolve_target(conn: Connection, team: str | None, project: str | None) -> Target:
    if not team and not project:
        raise UserError("Say where the cards go: --to-team and/or --to-project.")
    tid = teams.team_id(conn, team) if team else None
    if project:
        pid, tid = teams.project_id(conn, project, tid)
        names = conn.execute(select(team_t.c.name).where(team_t.c.id == tid)).scalar_one()
        return Target(
            tid,
            names,
            pid,
            conn.execute(select(project_t.c.name).where(project_t.c.id == pid)).scalar_one(),
        )
    name = conn.execute(select(team_t.c.name).where(team_t.c.id == tid)).scalar_one()
    return Target(tid, name)


def _card_query():
    """PlannedCard's fields, then what the warranty rule needs (see _planned)."""
    return select(
        card_t.c.id,
        card_t.c.serial,
        model_t.c.name,
        model_t.c.fp16_tflops,
        node_t.c.hostname,
        card_t.c.status,
        card_t.c.team_id,
        card_t.c.project_id,
        card_t.c.version,
        card_t.c.warranty_end,
        card_t.c.purchase_date,
        model_t.c.key,
        card_t.c.supplier,
    ).select_from(
        card_t.join(model_t, model_t.c.id == card_t.c.model_id).outerjoin(
            node_t, node_t.c.id == card_t.c.node_id
        )
    )


def _planned(cfg: config.Config, row) -> PlannedCard:
    """A planned card whose warranty end is the rules' (its own, else from its purchase date)."""
    *fields, given, bought, key, supplier = row
    return PlannedCard(*fields, lifecycle.warranty_end(cfg, bought, given, key, supplier))


def plan_cards(
    engine: Engine,
    serials: list[str],
    to_team: str | None,
    to_project: str | None,
    *,
    settings: config.Config,
) -> Plan:
    """A plan for moving named cards (every serial must exist and be movable)."""
    if not serials:
        raise UserError("Name at least one serial, or ask by --count or --pflops.")
    with engine.connect() as conn:
        target = resolve_target(conn, to_team, to_project)
        found: dict[str, PlannedCard] = {}
        for start in range(0, len(serials), 500):
            chunk = serials[start : start + 500]
            rows = conn.execute(_card_query().where(card_t.c.serial.in_(chunk)))
            found.update({r.serial: _planned(settings, r) for r in rows})
        missing = [s for s in serials if s not in found]
        if missing:
            raise UserError(
                f"No card has serial {', '.join(missing[:5])}"
                + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
                + "."
            )
        stuck = [c.serial for c in found.values() if c.status not in MOVABLE]
        if stuck:
            raise UserError(
                f"Cards in repair, retired or on order are not moved: {', '.join(stuck[:5])}."
            )
        cards = [found[s] for s in dict.fromkeys(serials)]
        plan = Plan(target, cards, [f"{units.counted(len(cards), 'named card')}."])
        _preview(conn, plan)
    return plan


def plan_request(
    engine: Engine,
    to_team: str | None,
    to_project: str | None,
    count: int | None = None,
    pflops: float | None = None,
    models: list[str] | None = None,
    from_team: str | None = None,
    from_project: str | None = None,
    *,
    today: date,
    settings: config.Config,
) -> Plan:
    """Pick cards for "N cards" or "X PFLOPS" of some models, from a team or the whole fleet.

    Order of preference: spare before in service, then (with telemetry) idle before busy,
    whole 8-card nodes before splitting one, cards in warranty on `today` (by the warranty
    rules) before the others.
    """
    if (count is None) == (pflops is None):
        raise UserError("Ask for either --count N or --pflops X.")
    if (count is not None and count < 1) or (pflops is not None and pflops <= 0):
        raise UserError("Ask for a positive number of cards or PFLOPS.")
    with engine.connect() as conn:
        target = resolve_target(conn, to_team, to_project)
        query = _card_query().where(card_t.c.status.in_(MOVABLE))
        explanation = []
        if models:
            specs = _models(models, settings.model_aliases)
            ids = conn.execute(
                select(model_t.c.id).where(model_t.c.key.in_([s.key for s in specs]))
            )
            query = query.where(card_t.c.model_id.in_(list(ids.scalars())))
            explanation.append("Models: " + ", ".join(s.name for s in specs) + ".")
        source = "the whole fleet"
        if from_project:
            tid = teams.team_id(conn, from_team) if from_team else None
            pid, tid = teams.project_id(conn, from_project, tid)
            query = query.where(card_t.c.project_id == pid)
            source = from_project
        elif from_team:
            query = query.where(card_t.c.team_id == teams.team_id(conn, from_team))
            source = from_team
        if target.project_id is not None:
            query = query.where(func.coalesce(card_t.c.project_id, -1) != target.project_id)
        else:
            query = query.where(func.coalesce(card_t.c.team_id, -1) != target.team_id)
        query = query.order_by(
            case((card_t.c.status == Status.SPARE, 0), else_=1),
            case((card_t.c.serial.in_(reconcile.idle_serials()), 0), else_=1),
            case((_out_of_warranty(conn, settings, today), 1), else_=0),
            card_t.c.node_id,
            card_t.c.serial,
        )
        rows = (_planned(settings, r) for r in conn.execute(query))
        picked, notes = _pick(rows, count, pflops * 1000 if pflops else None, today)
        wanted = units.counted(count, "card") if count is not None else f"{pflops:,.2f} PFLOPS"
        have = sum(c.tflops for c in picked)
        short = (count is not None and len(picked) < count) or (
            pflops is not None and have < pflops * 1000
        )
        if short:
            raise UserError(
                f"{source} cannot give {wanted}: only {units.counted(len(picked), 'movable card')} "
                f"({have / 1000:,.1f} PFLOPS) match; cards in repair, retired or on order "
                "are never moved."
            )
        plan = Plan(
            target,
            picked,
            [
                f"From {source}: {wanted}.",
                *explanation,
                *notes,
                _idle_note(conn),
            ],
        )
        _preview(conn, plan)
    return plan


def _out_of_warranty(conn: Connection, cfg: config.Config, today: date):
    """SQL: the card's warranty has ended on `today`, or it is unknown (no dates at all)."""
    unknown = and_(card_t.c.warranty_end.is_(None), card_t.c.purchase_date.is_(None))
    return or_(lifecycle.warranty_condition(conn, cfg, today, None), unknown)


def _idle_note(conn: Connection) -> str:
    if conn.execute(select(GpuHourly.node_id).limit(1)).first() is None:
        return "No telemetry yet, so idle cards are not known; spare cards come first."
    return "Spare cards come first, then idle ones (under 5% utilization over 24 h)."


def _models(names: list[str], aliases: dict[str, str]) -> list[catalogue.ModelSpec]:
    specs = []
    for name in names:
        found = catalogue.matching(name, aliases)
        if not found:
            close = catalogue.suggest(name)
            raise UserError(
                f"Unknown model '{name}'" + (f"; did you mean '{close}'?" if close else ".")
            )
        specs += found
    return list(dict.fromkeys(specs))


def _pick(
    rows, count: int | None, tflops: float | None, today: date
) -> tuple[list[PlannedCard], list[str]]:
    """Whole nodes greedily in preference order; split at most one node for the remainder."""

    def need(taken: list[PlannedCard]) -> float:
        if count is not None:
            return count - len(taken)
        return (tflops or 0) - sum(c.tflops for c in taken)

    def size(group: list[PlannedCard]) -> float:
        return len(group) if count is not None else sum(c.tflops for c in group)

    taken: list[PlannedCard] = []
    partial: list[list[PlannedCard]] = []
    whole = spare = 0
    for node, group in groupby(rows, key=lambda c: c.node):
        group = list(group)
        if need(taken) <= 0:
            break
        if node is None:  # cards on no node: take them one by one
            for card in group:
                if need(taken) > 0:
                    taken.append(card)
            continue
        if size(group) <= need(taken):
            taken += group
            whole += 1
            spare += all(c.status == Status.SPARE for c in group)
        else:
            partial.append(group)
    notes = []
    if need(taken) > 0 and partial:
        node = partial[0]  # the remainder comes from the most preferred node left
        part = []
        for card in node:
            if need(taken) <= 0:
                break
            taken.append(card)
            part.append(card)
        if len(part) < len(node):
            notes.append(
                f"Node {node[0].node} is split: {len(part)} of its "
                f"{units.counted(len(node), 'movable card')} were needed."
            )
        else:
            whole += 1
            spare += all(c.status == Status.SPARE for c in node)
    if whole:
        notes.insert(
            0,
            units.counted(whole, "whole node")
            + (f" ({spare:,} of them spare)" if spare else "")
            + " taken rather than split.",
        )
    expired = sum(1 for c in taken if c.warranty_end and c.warranty_end < today)
    if expired:
        notes.append(
            f"{expired:,} of the cards are out of warranty; cards in warranty were "
            "preferred where there was a choice."
        )
    return taken, notes


# ---------------------------------------------------------------- preview


def _holdings(conn: Connection, column, ids: set[int]) -> dict[int, tuple[int, float]]:
    if not ids:
        return {}
    query = (
        select(column, card_t.c.status, func.count(), func.sum(model_t.c.fp16_tflops))
        .select_from(card_t.join(model_t, model_t.c.id == card_t.c.model_id))
        .where(column.in_(list(ids)), card_t.c.status.in_(HELD))
        .group_by(column, card_t.c.status)
    )
    out: dict[int, list] = defaultdict(lambda: [0, 0.0])
    for owner, status, n, tflops in conn.execute(query):
        out[owner][0] += n
        if status in COMPUTING:
            out[owner][1] += tflops or 0.0
    return {k: (v[0], v[1]) for k, v in out.items()}


def _preview(conn: Connection, plan: Plan) -> None:
    """Per team and project: cards and PFLOPS before and after; quotas the move crosses."""
    target = plan.target
    team_ids = {c.team_id for c in plan.cards if c.team_id} | {target.team_id}
    project_ids = {c.project_id for c in plan.cards if c.project_id}
    if target.project_id:
        project_ids.add(target.project_id)
    team_rows = {
        r.id: r for r in conn.execute(select(team_t).where(team_t.c.id.in_(list(team_ids))))
    }
    project_rows = {
        r.id: r
        for r in conn.execute(select(project_t).where(project_t.c.id.in_(list(project_ids))))
    }
    for owners, column, rows, attr, goal in (
        (team_ids, card_t.c.team_id, team_rows, "team_id", target.team_id),
        (project_ids, card_t.c.project_id, project_rows, "project_id", target.project_id),
    ):
        before = _holdings(conn, column, owners)
        change: dict[int, list] = defaultdict(lambda: [0, 0.0])
        for card in plan.cards:
            tflops = card.tflops if card.status in COMPUTING else 0.0
            source = getattr(card, attr)
            if source == goal:
                continue
            if source is not None:
                change[source][0] -= 1
                change[source][1] -= tflops
            if goal is not None:
                change[goal][0] += 1
                change[goal][1] += tflops
        for owner in sorted(change, key=lambda o: o != goal):
            cards, tflops = before.get(owner, (0, 0.0))
            row = rows[owner]
            name = (
                row.name
                if attr == "team_id"
                else f"{team_rows[row.team_id].name}/{row.name}"
                if row.team_id in team_rows
                else row.name
            )
            delta = Delta(name, cards, cards + change[owner][0], tflops, tflops + change[owner][1])
            plan.deltas.append(delta)
            if (
                row.quota_cards is not None
                and delta.cards_after > row.quota_cards >= delta.cards_before
            ):
                plan.quota_warnings.append(
                    f"{name} goes over its quota of {units.counted(row.quota_cards, 'card')} "
                    f"({delta.cards_after:,} after the move)."
                )
            if (
                row.quota_pflops is not None
                and delta.tflops_after / 1000 > row.quota_pflops >= delta.tflops_before / 1000
            ):
                plan.quota_warnings.append(
                    f"{name} goes over its quota of {row.quota_pflops:,.1f} PFLOPS "
                    f"({delta.tflops_after / 1000:,.1f} after the move)."
                )


def describe(plan: Plan, limit: int = 20) -> list[str]:
    """The preview as lines of text (the CLI prints them; the TUI shows them)."""
    lines = [
        f"Move {units.counted(len(plan.cards), 'card')} ({units.compute(plan.tflops)}) "
        f"to {plan.target.label()}.",
        *plan.explanation,
        "",
    ]
    lines += [f"  {d}" for d in plan.deltas]
    lines += [f"  ! {w}" for w in plan.quota_warnings]
    lines.append("")
    for card in plan.cards[:limit]:
        lines.append(f"  {card.serial}  {card.model}  {card.node or '-'}  {card.status}")
    if len(plan.cards) > limit:
        lines.append(f"  … and {units.counted(len(plan.cards) - limit, 'more card')}")
    return lines


# ---------------------------------------------------------------- commit


def commit(
    engine: Engine, plan: Plan, reason: str, actor: str | None = None, at: datetime | None = None
) -> str:
    """Move the planned cards in one transaction and one audit batch; returns the batch id.
    `at` backdates the record (a move done on paper last week); default now."""
    if not reason.strip():
        raise UserError("Say why: a move needs --reason.")
    target = plan.target
    now = at or datetime.now(UTC)
    batch = audit.new_batch_id()
    moving = [
        c for c in plan.cards if (c.team_id, c.project_id) != (target.team_id, target.project_id)
    ]
    if not moving:
        raise UserError(
            f"Nothing to move: {units.counted(len(plan.cards), 'card')} already in "
            f"{target.label()}."
        )
    return _commit(engine, plan, moving, reason, actor, now, batch)


def _commit(
    engine,
    plan: Plan,
    moving: list[PlannedCard],
    reason: str,
    actor: str | None,
    now: datetime,
    batch: str,
) -> str:
    target = plan.target
    with writing(engine) as conn:
        # The first statement writes, so SQLite takes the write lock now (waiting out another
        # writer) instead of failing later on a stale read snapshot.
        stmt = (
            update(card_t)
            .where(
                and_(card_t.c.id == bindparam("b_id"), card_t.c.version == bindparam("b_version"))
            )
            .values(
                team_id=target.team_id,
                project_id=target.project_id,
                version=card_t.c.version + 1,
                updated_at=now,
            )
        )
        result = conn.execute(stmt, [{"b_id": c.id, "b_version": c.version} for c in moving])
        if result.rowcount != len(moving):
            changed = len(moving) - max(result.rowcount, 0)
            raise MoveConflict(
                f"{changed:,} of {units.counted(len(moving), 'card')} changed since your preview; "
                "nothing was moved. Preview again."
            )
        audit.record(
            conn,
            batch_id=batch,
            action=Action.MOVE,
            actor=actor,
            reason=reason.strip(),
            at=now,
            changes=[
                (
                    c.id,
                    {"team_id": c.team_id, "project_id": c.project_id, "version": c.version},
                    {
                        "team_id": target.team_id,
                        "project_id": target.project_id,
                        "version": c.version + 1,
                    },
                )
                for c in moving
            ],
            serials=[c.serial for c in moving],
        )
        audit.record(
            conn,
            batch_id=batch,
            action=Action.MOVE_BATCH,
            actor=actor,
            reason=reason.strip(),
            at=now,
            changes=[
                (
                    None,
                    None,
                    {
                        "to": target.label(),
                        "cards": len(moving),
                        "pflops": round(plan.tflops / 1000, 3),
                    },
                )
            ],
        )
    return batch
