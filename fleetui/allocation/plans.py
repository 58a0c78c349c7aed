"""A move's plan: where the cards go, which cards, and each team's and project's holding
before and after (the preview). Computed without writing; moves.py picks the cards and
commits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Connection, func, or_, select

from fleetui import config
from fleetui.allocation import teams
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import COMPUTING, HELD, NO_NAME, UNASSIGNED
from fleetui.db.tables import Card, GpuModel, Node, Project, Team, table_of
from fleetui.lifecycle import rules as lifecycle

card_t, model_t, node_t = table_of(Card), table_of(GpuModel), table_of(Node)
team_t, project_t = table_of(Team), table_of(Project)


# What --from-team and --to-team take for the free pool, the cards of no team (where no team
# has that name): the words filters read as no team, and the pool's own line.
FREE_POOL = (*NO_NAME, UNASSIGNED)


@dataclass(frozen=True)
class Target:
    """Where the cards go: a team, a team's project, or the free pool (team_id None)."""

    team_id: int | None
    team: str
    project_id: int | None = None
    project: str | None = None

    def label(self) -> str:
        return f"{self.team}/{self.project}" if self.project else self.team

    def placement(self) -> tuple[int | None, int | None]:
        """(team id, project id) of a card already here."""
        return self.team_id, self.project_id


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

    def pflops(self, digits: int) -> tuple[float, float]:
        """PFLOPS before and after to `digits` places, each its exact sum rounded only here:
        what teams list and the dashboard show before and after the move."""
        return round(self.tflops_before / 1000, digits), round(self.tflops_after / 1000, digits)

    def __str__(self) -> str:
        before, after = self.pflops(1)
        return (
            f"{self.name} {self.cards_before:,} -> {units.counted(self.cards_after, 'card')}, "
            f"{before:,.1f} -> {after:,.1f} PFLOPS"
        )

    def as_dict(self) -> dict:
        before, after = self.pflops(3)
        return {
            "name": self.name,
            "cards_before": self.cards_before,
            "cards_after": self.cards_after,
            "pflops_before": before,
            "pflops_after": after,
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


def team_or_pool(conn: Connection, name: str) -> int | None:
    """The id of the team `name`; None for the free pool (FREE_POOL)."""
    try:
        return teams.team_id(conn, name)
    except UserError:
        if name.strip().casefold() in FREE_POOL:
            return None
        raise


def resolve_target(conn: Connection, team: str | None, project: str | None) -> Target:
    tid = team_or_pool(conn, team) if team else None
    if team and tid is None:
        if project:
            raise UserError(
                "The free pool has no projects: give --to-team none without --to-project."
            )
        return Target(None, UNASSIGNED)
    if project:
        pid, tid = teams.project_id(conn, project, tid)
        names = conn.execute(select(team_t.c.name).where(team_t.c.id == tid)).scalar_one()
        return Target(
            tid,
            names,
            pid,
            conn.execute(select(project_t.c.name).where(project_t.c.id == pid)).scalar_one(),
        )
    if tid is None:
        raise UserError("Say where the cards go: --to-team and/or --to-project.")
    name = conn.execute(select(team_t.c.name).where(team_t.c.id == tid)).scalar_one()
    return Target(tid, name)


def card_query():
    """PlannedCard's fields, then what the warranty rule needs (see planned)."""
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


def planned(cfg: config.Config, row) -> PlannedCard:
    """A planned card whose warranty end is the rules' (its own, else from its purchase date)."""
    *fields, given, bought, key, supplier = row
    fields.append(lifecycle.warranty_end(cfg, bought, given, key, supplier))
    return PlannedCard(*fields)


def _holdings(
    conn: Connection, column, ids: set[int | None], *where
) -> dict[int | None, tuple[int, float]]:
    """Cards held and their TFLOPS per owner (of those `where` selects); the owner None is the
    cards held by none."""
    if not ids:
        return {}
    owned = column.in_([i for i in ids if i is not None])
    query = (
        select(column, card_t.c.status, func.count(), func.sum(model_t.c.fp16_tflops))
        .select_from(card_t.join(model_t, model_t.c.id == card_t.c.model_id))
        .where(or_(owned, column.is_(None)) if None in ids else owned)
        .where(card_t.c.status.in_(HELD), *where)
        .group_by(column, card_t.c.status)
    )
    out: dict[int | None, list] = defaultdict(lambda: [0, 0.0])
    for owner, status, n, tflops in conn.execute(query):
        out[owner][0] += n
        if status in COMPUTING:
            out[owner][1] += tflops or 0.0
    return {k: (v[0], v[1]) for k, v in out.items()}


def _cards(n: float) -> str:
    return units.counted(int(n), "card")


def _pflops(value: float) -> str:
    return f"{value:,.1f} PFLOPS"


def _held(plan: Plan) -> list[PlannedCard]:
    """The plan's cards that the before-and-after counts count (as `_holdings` and every
    list of holdings do): a retired or ordered card named by serial moves, unheld."""
    return [c for c in plan.cards if c.status in HELD]


def preview(conn: Connection, plan: Plan) -> None:
    """Per team and project: cards and PFLOPS before and after; quotas the move crosses.

    Cards taken from, or given to, no team show as the unassigned pool's line, so the teams'
    lines add up;
    when projects are involved, cards leaving or joining a team's "(no project)" show on that
    line, so the project lines add up too.
    """
    target = plan.target
    team_ids: set[int | None] = {c.team_id for c in plan.cards} | {target.team_id}
    project_ids: set[int | None] = {c.project_id for c in plan.cards if c.project_id}
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
        change: dict[int | None, list] = defaultdict(lambda: [0, 0.0])
        for card in _held(plan):
            tflops = card.tflops if card.status in COMPUTING else 0.0
            source = getattr(card, attr)
            if source == goal:
                continue
            if source in owners:
                change[source][0] -= 1
                change[source][1] -= tflops
            if goal is not None or attr == "team_id":  # a team, or the free pool
                change[goal][0] += 1
                change[goal][1] += tflops
        for owner in sorted(change, key=lambda o: o != goal):
            cards, tflops = before.get(owner, (0, 0.0))
            delta = Delta("", cards, cards + change[owner][0], tflops, tflops + change[owner][1])
            if owner is None:
                plan.deltas.append(replace(delta, name=UNASSIGNED))
                continue
            row = rows[owner]
            name = (
                row.name
                if attr == "team_id"
                else f"{team_rows[row.team_id].name}/{row.name}"
                if row.team_id in team_rows
                else row.name
            )
            delta = replace(delta, name=name)
            plan.deltas.append(delta)
            for quota, was, now, shown in (
                (row.quota_cards, delta.cards_before, delta.cards_after, _cards),
                (row.quota_pflops, delta.tflops_before / 1000, delta.tflops_after / 1000, _pflops),
            ):
                if teams.over_quota(now, quota):  # over after the move, however before
                    goes = "stays over" if teams.over_quota(was, quota) else "goes over"
                    plan.quota_warnings.append(
                        f"{name} {goes} its quota of {shown(quota)} ({shown(now)} after the move)."
                    )
    if project_ids:
        plan.deltas += _outside_projects(conn, plan, team_rows)


def _outside_projects(conn: Connection, plan: Plan, team_rows: dict) -> list[Delta]:
    """Per team, its cards in none of its projects before and after the move: the line that
    the cards leaving or joining no project are counted on. The destination's first."""
    goal = plan.target.team_id if plan.target.project_id is None else None
    change: dict[int, list] = defaultdict(lambda: [0, 0.0])
    for card in _held(plan):
        tflops = card.tflops if card.status in COMPUTING else 0.0
        if card.project_id is None and card.team_id is not None:
            change[card.team_id][0] -= 1
            change[card.team_id][1] -= tflops
        if goal is not None:
            change[goal][0] += 1
            change[goal][1] += tflops
    before = _holdings(conn, card_t.c.team_id, set(change), card_t.c.project_id.is_(None))
    deltas = []
    for team in sorted(change, key=lambda t: t != goal):
        cards, tflops = before.get(team, (0, 0.0))
        name = f"{team_rows[team].name}/{teams.NO_PROJECT}"
        deltas.append(Delta(name, cards, cards + change[team][0], tflops, tflops + change[team][1]))
    return deltas
