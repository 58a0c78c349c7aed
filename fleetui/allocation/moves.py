"""Reallocating cards between teams and projects: pick the cards, plan (plans.py), commit,
safely.

A plan is computed without writing. Committing it moves exactly the planned cards, in one
transaction and one audit batch, and only if none of them changed since the plan was made:
every card's version is checked, so when two ops boxes move the same cards one wins and the
other is told how many changed, with nothing moved.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, and_, bindparam, case, func, or_, select, update

from fleetui import catalogue, config
from fleetui.allocation import teams
from fleetui.allocation.plans import (
    Plan,
    PlannedCard,
    card_query,
    planned,
    preview,
    resolve_target,
    team_or_pool,
)
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import MOVABLE, NO_PROJECT, UNASSIGNED, Action, Status
from fleetui.db import audit
from fleetui.db.tables import (
    Card,
    Event,
    GpuHourly,
    GpuModel,
    GpuSample,
    Node,
    Project,
    Team,
    table_of,
)
from fleetui.lifecycle import conditions
from fleetui.store import writing
from fleetui.telemetry import reconcile

card_t, model_t, node_t = table_of(Card), table_of(GpuModel), table_of(Node)
team_t, project_t = table_of(Team), table_of(Project)
NODE_SIZE = 8


class MoveConflict(UserError):
    """Cards changed between the preview and the commit; nothing was moved."""


# ---------------------------------------------------------------- plans


def plan_cards(
    engine: Engine,
    serials: list[str],
    to_team: str | None,
    to_project: str | None,
    *,
    settings: config.Config,
) -> Plan:
    """A plan for moving named cards (every serial must exist), whatever their status."""
    if not serials:
        raise UserError("Name at least one serial, or ask by --count or --pflops.")
    with engine.connect() as conn:
        target = resolve_target(conn, to_team, to_project)
        found: dict[str, PlannedCard] = {}
        for start in range(0, len(serials), 500):
            chunk = serials[start : start + 500]
            rows = conn.execute(card_query().where(card_t.c.serial.in_(chunk)))
            found.update({r.serial: planned(settings, r) for r in rows})
        missing = [s for s in serials if s not in found]
        if missing:
            raise UserError(f"No card has serial {units.listed(missing)}.")
        named = [found[s] for s in dict.fromkeys(serials)]
        cards = [c for c in named if (c.team_id, c.project_id) != target.placement()]
        if not cards:
            raise UserError(
                f"Nothing to move: {units.counted(len(named), 'card')} already in {target.label()}."
            )
        explanation = f"{units.counted(len(named), 'named card')}"
        if len(cards) < len(named):
            explanation += f"; {len(named) - len(cards):,} already in {target.label()} stay"
        notes = [f"{explanation}."]
        # named, they move whatever their status (a team's retired cards, before it is
        # deleted); a request by count or PFLOPS never takes them
        if stuck := [c.serial for c in cards if c.status not in MOVABLE]:
            notes.append(
                f"{_are(len(stuck), 'card')} in repair, retired or on order (they move too, "
                f"adding no PFLOPS): {units.listed(stuck)}."
            )
        plan = Plan(target, cards, notes)
        preview(conn, plan)
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
    """Pick cards for "N cards" or "X PFLOPS" of some models, from a team or the whole fleet;
    `from_project` NO_PROJECT (any case) takes the `from_team`'s cards in none of its projects.

    Cards reconcile found missing are never taken (_missing). Order of preference: spare
    before in service (cards of no team before a team's alike), then (with telemetry) idle
    before busy, whole 8-card nodes before splitting one, cards in warranty on `today` (by
    the warranty rules) before the others. `from_team` (and `to_team`) "none" or
    "(unassigned)" is the free pool, the cards of no team.
    """
    if (count is None) == (pflops is None):
        raise UserError("Ask for either --count N or --pflops X.")
    if (count is not None and count < 1) or (pflops is not None and pflops <= 0):
        raise UserError("Ask for a positive number of cards or PFLOPS.")
    with engine.connect() as conn:
        target = resolve_target(conn, to_team, to_project)
        query = card_query().where(card_t.c.status.in_(MOVABLE), ~_missing())
        explanation = []
        if models:
            specs = _models(models, settings.model_aliases)
            ids = conn.execute(
                select(model_t.c.id).where(model_t.c.key.in_([s.key for s in specs]))
            )
            query = query.where(card_t.c.model_id.in_(list(ids.scalars())))
            explanation.append("Models: " + ", ".join(s.name for s in specs) + ".")
        source, tid, pid = "the whole fleet", None, None
        if from_project and from_team and team_or_pool(conn, from_team) is None:
            raise UserError(
                "The free pool has no projects: give --from-team none without --from-project."
            )
        if from_project and from_project.strip().lower() == NO_PROJECT:  # no project's name
            if not from_team:
                raise UserError(
                    f"--from-project {NO_PROJECT} takes a team's cards in none of its projects: "
                    "name the team with --from-team."
                )
            tid = teams.team_id(conn, from_team)
            query = query.where(card_t.c.team_id == tid, card_t.c.project_id.is_(None))
            source = f"{from_team}/{NO_PROJECT}"
        elif from_project:
            tid = teams.team_id(conn, from_team) if from_team else None
            pid, tid = teams.project_id(conn, from_project, tid)
            query = query.where(card_t.c.project_id == pid)
            source = from_project
        elif from_team:
            tid = team_or_pool(conn, from_team)
            pool = tid is None
            query = query.where(card_t.c.team_id.is_(None) if pool else card_t.c.team_id == tid)
            source = UNASSIGNED if pool else from_team
        # cards already where they would go are never picked: a source inside the target
        # would have none to give
        named = from_team or from_project  # else the whole fleet: every team and the pool
        if named and tid == target.team_id and target.project_id in (None, pid):
            raise UserError(
                f"The cards would come from {source} and go to {target.label()}, where they "
                "are already; name another source or destination."
            )
        if target.project_id is not None:
            query = query.where(func.coalesce(card_t.c.project_id, -1) != target.project_id)
        elif target.team_id is None:  # to the free pool
            query = query.where(card_t.c.team_id.isnot(None))
        else:
            query = query.where(func.coalesce(card_t.c.team_id, -1) != target.team_id)
        ranks = (  # spare first; of the whole fleet, the free pool's before a team's
            case((card_t.c.status == Status.SPARE, 0), else_=2)
            + case((card_t.c.team_id.is_(None), 0), else_=1),
            case((card_t.c.serial.in_(reconcile.idle_serials()), 0), else_=1),
            case((_out_of_warranty(conn, settings, today), 1), else_=0),
        )
        chosen = _pick(conn, query, ranks, count, pflops * 1000 if pflops else None, settings)
        picked = [card for _, card in chosen]
        wanted = units.counted(count, "card") if count is not None else f"{pflops:,.2f} PFLOPS"
        have = sum(c.tflops for c in picked)
        short = (count is not None and len(picked) < count) or (
            pflops is not None and have < pflops * 1000
        )
        if short:
            raise UserError(
                f"{source} cannot give {wanted}: only {units.counted(len(picked), 'movable card')} "
                f"({have / 1000:,.1f} PFLOPS) match; a request never takes cards in repair, "
                "retired or on order (name them by serial to move them), nor cards reconcile "
                "found missing."
            )
        plan = Plan(
            target,
            picked,
            [
                f"Asked for {wanted} from {source}"
                + (f"; whole cards give {have / 1000:,.2f} PFLOPS." if pflops is not None else "."),
                *explanation,
                *_explain(conn, query, chosen, today),
            ],
        )
        preview(conn, plan)
    return plan


def _missing():
    """SQL: reconcile found the card missing and took it off its node, and it is on none yet.
    Such a card gives its new team nothing until it is found, so a request never takes it."""
    event_t = table_of(Event)
    marked = select(event_t.c.id).where(
        event_t.c.card_id == card_t.c.id, event_t.c.action == Action.RECONCILE_MISSING
    )
    return and_(card_t.c.node_id.is_(None), marked.exists())


def _out_of_warranty(conn: Connection, cfg: config.Config, today: date):
    """SQL: the card's warranty has ended on `today`, or it is unknown (no dates at all)."""
    unknown = and_(card_t.c.warranty_end.is_(None), card_t.c.purchase_date.is_(None))
    return or_(conditions.warranty_condition(conn, cfg, today, None), unknown)


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


@dataclass
class _Group:
    """Consecutive candidates on one node (or on none) in preference order: a node's cards
    that share their ranks (spare, idle, in warranty), or several such runs of one node."""

    ranks: list[tuple[int, int, int]]
    node_id: int | None
    cards: int
    tflops: float


def _groups(conn: Connection, query, ranks, node_id) -> Iterator[_Group]:
    """The candidates of `query` per node and ranks, in preference order, counted in SQL: one
    row per group, not per card, and no card read."""
    ranked = (
        query.with_only_columns(
            *(r.label(f"r{i}") for i, r in enumerate(ranks)),
            node_id.label("node_id"),
            model_t.c.fp16_tflops.label("tflops"),
        )
        .order_by(None)
        .subquery()
    )
    keys = (ranked.c.r0, ranked.c.r1, ranked.c.r2, ranked.c.node_id)
    rows = conn.execute(
        select(*keys, func.count(), func.sum(ranked.c.tflops))
        .group_by(*keys)
        .order_by(*keys[:3], ranked.c.node_id.nulls_first())  # as SQLite, on every backend
    )
    last: _Group | None = None
    for r0, r1, r2, node, n, tflops in rows:
        # one run of a node's cards, as in the card order, within one class (spare, idle)
        if last is not None and last.node_id == node and last.ranks[-1][:2] == (r0, r1):
            last.ranks.append((r0, r1, r2))
            last.cards += n
            last.tflops += tflops
            continue
        if last is not None:
            yield last
        last = _Group([(r0, r1, r2)], node, n, tflops)
    if last is not None:
        yield last


def _pick(
    conn: Connection,
    query,
    ranks,
    count: int | None,
    tflops: float | None,
    cfg: config.Config,
) -> list[tuple[tuple, PlannedCard]]:
    """Whole runs of a node's cards (those that rank alike: a node's spare cards are a run of
    their own) greedily in preference order; split at most one run for the remainder, the
    first left of the best class (spare, idle) that has one: whole nodes never win over
    spare or idle cards. So a node may give only some of its cards: _explain tells that from
    the cards taken. Each card comes with its ranks and node id.

    The choice is made on per-node counts from SQL (_groups); only the chosen cards are read,
    so the work and memory follow the request, not the size of the source."""
    ordered = query.add_columns(*ranks, card_t.c.node_id).order_by(
        *ranks, card_t.c.node_id.nulls_first(), card_t.c.serial
    )

    def cards_of(where, limit: int | None = None) -> Iterator[tuple[tuple, PlannedCard]]:
        """(its ranks and node id, the card) for the candidates `where` selects, in order."""
        for row in conn.execute(ordered.where(where).limit(limit)):
            yield tuple(row[-4:]), planned(cfg, row[:-4])

    def in_group(group: _Group):
        node = card_t.c.node_id
        on_node = node.is_(None) if group.node_id is None else node == group.node_id
        ranked = (and_(*(r == v for r, v in zip(ranks, key, strict=True))) for key in group.ranks)
        return and_(on_node, or_(*ranked))

    need = float(count if count is not None else tflops or 0)
    picks: list[_Group | tuple[tuple, PlannedCard]] = []  # in preference order
    first_left: _Group | None = None  # the most preferred node that did not fit
    for group in _groups(conn, query, ranks, card_t.c.node_id):
        if need <= 0:
            break
        if first_left is not None and group.ranks[0][:2] != first_left.ranks[0][:2]:
            break  # split a node of a better class (spare, idle) rather than take worse cards
        size = group.cards if count is not None else group.tflops
        if group.node_id is None:  # cards on no node: take them one by one
            for pair in cards_of(in_group(group), int(need) if count is not None else None):
                if need <= 0:
                    break
                picks.append(pair)
                need -= 1 if count is not None else pair[1].tflops
        elif size <= need:
            picks.append(group)
            need -= size
        elif first_left is None:
            first_left = group
    taken = _read_groups(picks, cards_of)
    if need > 0 and first_left is not None:  # the remainder from the first node left
        for pair in cards_of(in_group(first_left)):
            if need <= 0:
                break
            taken.append([pair])
            need -= 1 if count is not None else pair[1].tflops
    if tflops is not None:
        taken = _without_surplus(taken, tflops)
    return [pair for unit in taken for pair in unit]


def _without_surplus(units: list[list], tflops: float) -> list[list]:
    """`units` (a whole run of a node's cards, or one card) less those the request can do
    without. A PFLOPS request's last card may be bigger than what was left to find (an H100
    for the last 0.4 PFLOPS), so that a unit taken before it was not needed at all: each is
    dropped, least preferred first, while what is left still meets the request."""
    total = sum(card.tflops for unit in units for _, card in unit)
    kept = []
    for unit in reversed(units):
        size = sum(card.tflops for _, card in unit)
        if total - size >= tflops - 1e-9:
            total -= size
        else:
            kept.append(unit)
    return kept[::-1]


def _explain(
    conn: Connection, query, chosen: list[tuple[tuple, PlannedCard]], today: date
) -> list[str]:
    """What the plan took, each sentence counted from the chosen cards (with their ranks and
    node ids as _pick gives them), never from what the choice meant to take."""
    cards = [card for _, card in chosen]
    taken = Counter(key[3] for key, _ in chosen)
    on_nodes = [n for n in taken if n is not None]
    movable = _movable_per_node(conn, query, on_nodes)
    whole = [n for n in on_nodes if taken[n] == movable[n]]
    notes = [
        "Preference: spare cards, then idle ones (under 5% utilization over 24 h), then cards "
        "in warranty; cards of no team before a team's; whole nodes rather than split ones."
    ]
    if whole:
        busy = {key[3] for key, card in chosen if card.status != Status.SPARE}
        spare = sum(n not in busy for n in whole)
        notes.append(
            units.counted(len(whole), "whole node")
            + (f" ({spare:,} of them spare)" if spare else "")
            + " taken rather than split."
        )
    host = {key[3]: card.node for key, card in chosen}
    split = [n for n in on_nodes if taken[n] < movable[n]]
    for n in split[:3]:
        notes.append(
            f"Node {host[n]} is split: {taken[n]:,} of its "
            f"{units.counted(movable[n], 'movable card')} taken."
        )
    if len(split) > 3:
        notes.append(f"{units.counted(len(split) - 3, 'more node')} split likewise.")
    if taken[None]:
        notes.append(f"{_are(taken[None], 'card')} on no node.")
    if _has_utilization(conn):
        idle = sum(key[1] == 0 for key, _ in chosen)
        verb = "is" if idle == 1 else "are"
        notes.append(f"{idle:,} of {units.counted(len(chosen), 'card')} {verb} idle.")
    else:
        notes.append("No telemetry yet, so no card is known to be idle.")
    expired = [c.serial for c in cards if c.warranty_end and c.warranty_end < today]
    unknown = [c.serial for c in cards if c.warranty_end is None]
    for serials, state in ((expired, "out of warranty"), (unknown, "without warranty dates")):
        if serials:
            notes.append(f"{_are(len(serials), 'card')} {state}: {units.listed(serials)}.")
    return notes


def _are(n: int, noun: str) -> str:
    """'1 card is', '3 cards are'."""
    return units.counted(n, noun) + (" is" if n == 1 else " are")


def _movable_per_node(conn: Connection, query, nodes: list[int]) -> Counter[int]:
    """The candidates of `query` on each of `nodes`."""
    found: Counter[int] = Counter()
    node = card_t.c.node_id
    for start in range(0, len(nodes), 500):
        per_node = (
            query.with_only_columns(node, func.count())
            .where(node.in_(nodes[start : start + 500]))
            .group_by(node)
            .order_by(None)
        )
        found.update({n: k for n, k in conn.execute(per_node)})
    return found


def _has_utilization(conn: Connection) -> bool:
    """Whether any card's idleness can be known: hourly rollups of polled nodes, or a metrics
    store's idle-window figures (a store's GPUs have no rollups)."""
    sample_t = table_of(GpuSample)
    return (
        conn.execute(select(table_of(GpuHourly).c.node_id).limit(1)).first() is not None
        or conn.execute(
            select(sample_t.c.id).where(sample_t.c.util_window_avg.is_not(None)).limit(1)
        ).first()
        is not None
    )


def _read_groups(picks: list, cards_of) -> list[list[tuple[tuple, PlannedCard]]]:
    """The picked cards with their ranks and node ids, in preference order, as units: a group's
    cards together, a card on no node alone. Each picked node's cards are read with those of up
    to 500 others."""
    nodes = [p.node_id for p in picks if isinstance(p, _Group)]
    found: dict[tuple, list[tuple[tuple, PlannedCard]]] = defaultdict(list)
    for start in range(0, len(nodes), 500):
        for key, card in cards_of(card_t.c.node_id.in_(nodes[start : start + 500])):
            found[key].append((key, card))
    taken: list[list[tuple[tuple, PlannedCard]]] = []
    for pick in picks:
        if isinstance(pick, _Group):
            taken.append([pair for ranks in pick.ranks for pair in found[(*ranks, pick.node_id)]])
        else:
            taken.append([pick])
    return taken


# ---------------------------------------------------------------- commit


def commit(
    engine: Engine, plan: Plan, reason: str, actor: str | None = None, at: datetime | None = None
) -> str:
    """Move the planned cards in one transaction and one audit batch; returns the batch id.
    `at` backdates the record (a move done on paper last week); default now."""
    if not reason.strip():
        raise UserError("Say why: a move needs --reason.")
    now = at or datetime.now(UTC)
    batch = audit.new_batch_id()
    target, moving = plan.target, plan.cards  # a plan holds only cards that move
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
                    audit.Placement(team_id=c.team_id, project_id=c.project_id, version=c.version),
                    audit.Placement(
                        team_id=target.team_id, project_id=target.project_id, version=c.version + 1
                    ),
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
                    audit.MoveSummary(
                        to=target.label(), cards=len(moving), pflops=round(plan.tflops / 1000, 3)
                    ),
                )
            ],
        )
    return batch
