"""Teams, projects and nodes: creating, renaming, deleting, quotas, and what each holds."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import (
    COMPUTING,
    HELD,
    NO_PROJECT,
    Action,
    Status,
    unfit_name,
)
from fleetui.db import audit
from fleetui.db.tables import (
    Card,
    GpuHourly,
    GpuModel,
    GpuSample,
    Node,
    Project,
    Team,
    inserted_id,
    require_fit,
    table_of,
)
from fleetui.telemetry import health

card_t, team_t, project_t, model_t, node_t = (
    table_of(Card),
    table_of(Team),
    table_of(Project),
    table_of(GpuModel),
    table_of(Node),
)
# A node's telemetry goes with it (and its health evidence: health.forget_node); nothing else
# that refers to a row is deleted along.
READINGS = (table_of(GpuSample), table_of(GpuHourly))


@dataclass
class Holding:
    name: str
    team: str | None
    cards: int = 0
    tflops: float = 0.0
    quota_cards: int | None = None
    quota_pflops: float | None = None
    by_model: dict[str, int] = field(default_factory=dict)  # cards per model
    pflops_by_model: dict[str, float] = field(default_factory=dict)

    @property
    def pflops(self) -> float:
        return self.tflops / 1000

    def over_quota(self) -> bool:
        return over_quota(self.cards, self.quota_cards) or over_quota(
            self.pflops, self.quota_pflops
        )

    def quota_use(self) -> str:
        """'310/300 cards (over), 2.1/2.5 PFLOPS': each quota's use, marked where exceeded."""
        parts = []  # a quota of 0 is a quota (none allowed), not "no quota"
        if self.quota_cards is not None:
            parts.append(f"{self.cards:,}/{units.counted(self.quota_cards, 'card')}")
            parts[-1] += " (over)" if over_quota(self.cards, self.quota_cards) else ""
        if self.quota_pflops is not None:
            parts.append(f"{self.pflops:,.1f}/{self.quota_pflops:,g} PFLOPS")
            parts[-1] += " (over)" if over_quota(self.pflops, self.quota_pflops) else ""
        return ", ".join(parts)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "team": self.team,
            "cards": self.cards,
            "pflops": round(self.pflops, 3),
            "quota_cards": self.quota_cards,
            "quota_pflops": self.quota_pflops,
            "by_model": self.by_model,
            "over_quota": self.over_quota(),
        }


def over_quota(held: float, quota: float | None) -> bool:
    """Whether a holding exceeds its quota: the one rule lists mark by and a move's preview
    warns by. No quota is never exceeded; holding the quota exactly (PFLOPS summed in floats
    to within rounding of it) is within it."""
    return quota is not None and held > quota and not math.isclose(held, quota)


def team_id(conn: Connection, name: str) -> int:
    """The id of a team by name, or a UserError naming close ones. Names are unique ignoring
    case (see `_claim`), so case does not matter; a database from before that rule may hold
    names differing only in case, where the exact one wins."""
    rows = conn.execute(select(team_t.c.id, team_t.c.name)).all()
    same = sorted((tname != name.strip(), tid) for tid, tname in rows if _same(tname, name))
    if same:
        return same[0][1]
    close = [n for _, n in rows if name.strip().lower() in n.lower()]
    hint = f"; did you mean {', '.join(repr(c) for c in close[:3])}?" if close else "."
    raise UserError(f"There is no team '{name}'{hint}")


def project_id(conn: Connection, name: str, team: int | None = None) -> tuple[int, int]:
    """(project id, its team id) by name, within a team when given."""
    query = select(project_t.c.id, project_t.c.team_id, project_t.c.name).where(
        func.lower(project_t.c.name) == name.strip().lower()
    )
    if team is not None:
        query = query.where(project_t.c.team_id == team)
    found = conn.execute(query).all()
    if team is not None and len(found) > 1:  # names differing in case, from before `_claim`
        found = [f for f in found if f.name == name.strip()] or found[:1]
    if not found and team is None and "/" in name:  # as lists show it: TEAM/PROJECT
        team_name, _, project = name.partition("/")
        return project_id(conn, project, team_id(conn, team_name))
    if not found and team is not None:
        owner = conn.execute(select(team_t.c.name).where(team_t.c.id == team)).scalar()
        raise UserError(f"Team '{owner}' has no project '{name}' (fleetui projects list).")
    if not found:
        raise UserError(f"There is no project '{name}'.")
    if len(found) > 1:
        raise UserError(f"Several teams have a project '{name}'; name the team too.")
    return found[0][0], found[0][1]


def add_team(
    engine: Engine, name: str, quota_cards: int | None = None, quota_pflops: float | None = None
) -> str:
    """Add a team; the batch id (each write here returns the batch it logged, for undo)."""
    name, (quota_cards, quota_pflops) = _name(name, "team"), _quota(quota_cards, quota_pflops)
    with engine.begin() as conn:
        _claim(conn, team_t, name)
        new_id = _insert(
            conn,
            team_t,
            {"name": name, "quota_cards": quota_cards, "quota_pflops": quota_pflops},
            f"A team '{name}' exists already.",
        )
        return _log(
            conn,
            Action.TEAM_ADD,
            {"team": name, "quota_cards": quota_cards, "quota_pflops": quota_pflops, "id": new_id},
        )


def rename_team(engine: Engine, old: str, new: str) -> str:
    new = _name(new, "team")
    with engine.begin() as conn:
        tid = team_id(conn, old)
        _claim(conn, team_t, new, but=tid)
        try:
            conn.execute(update(team_t).where(team_t.c.id == tid).values(name=new))
        except IntegrityError:
            raise UserError(f"A team '{new}' exists already.") from None
        return _log(conn, Action.TEAM_RENAME, {"team": new, "id": tid}, {"team": old, "id": tid})


def delete_team(engine: Engine, name: str) -> str:
    """Delete a team that holds no cards and no projects."""
    with engine.begin() as conn:
        tid = team_id(conn, name)
        name = conn.execute(select(team_t.c.name).where(team_t.c.id == tid)).scalar_one()
        _delete_unused(conn, team_t, tid, f"team '{name}'")
        return _log(conn, Action.TEAM_DELETE, None, {"team": name.strip(), "id": tid})


def rename_project(engine: Engine, team: str | None, old: str, new: str) -> str:
    new = _name(new, "project")
    with engine.begin() as conn:
        pid, tid = project_id(conn, old, team_id(conn, team) if team else None)
        _claim(conn, project_t, new, but=pid, team=tid)
        try:
            conn.execute(update(project_t).where(project_t.c.id == pid).values(name=new))
        except IntegrityError:
            raise UserError(f"That team has a project '{new}' already.") from None
        return _log(
            conn, Action.PROJECT_RENAME, {"project": new, "id": pid}, {"project": old, "id": pid}
        )


def delete_project(engine: Engine, team: str | None, name: str) -> str:
    """Delete a project that holds no cards."""
    with engine.begin() as conn:
        pid, _ = project_id(conn, name, team_id(conn, team) if team else None)
        name = conn.execute(select(project_t.c.name).where(project_t.c.id == pid)).scalar_one()
        _delete_unused(conn, project_t, pid, f"project '{name}'")
        return _log(conn, Action.PROJECT_DELETE, None, {"project": name.strip(), "id": pid})


def node_id(conn: Connection, hostname: str) -> int:
    found = conn.execute(
        select(node_t.c.id).where(func.lower(node_t.c.hostname) == hostname.strip().lower())
    ).scalar()
    if found is None:
        raise UserError(f"There is no node '{hostname}' (fleetui nodes list shows them).")
    return found


def rename_node(engine: Engine, old: str, new: str) -> str:
    new = new.strip()
    if not new:
        raise UserError("A node needs a hostname.")
    require_fit(node_t.c.hostname, new, "hostname")
    with engine.begin() as conn:
        nid = node_id(conn, old)
        try:
            conn.execute(update(node_t).where(node_t.c.id == nid).values(hostname=new))
        except IntegrityError:
            raise UserError(f"A node '{new}' exists already.") from None
        return _log(conn, Action.NODE_RENAME, {"node": new, "id": nid}, {"node": old, "id": nid})


def remove_node(engine: Engine, hostname: str) -> str:
    """Remove a node that holds no cards, with its telemetry readings and health evidence."""
    with engine.begin() as conn:
        nid = node_id(conn, hostname)
        for readings in READINGS:
            conn.execute(delete(readings).where(readings.c.node_id == nid))
        health.forget_node(conn, nid)
        _delete_unused(conn, node_t, nid, f"node '{hostname.strip()}'")
        return _log(conn, Action.NODE_REMOVE, None, {"node": hostname.strip(), "id": nid})


def _delete_unused(conn: Connection, table: Table, row_id: int, what: str) -> None:
    """Delete one row that no other row refers to, else a UserError saying what still does
    ("team 'Ads' still holds 290 cards (2 retired) and 3 projects"): the cards that lists
    leave out (not HELD) are named by status, so the count agrees with `teams list`."""
    held = []
    for other in sorted(Card.metadata.sorted_tables, key=lambda t: t.name):
        for fk in other.foreign_keys:
            if fk.column.table is table:
                n = conn.execute(
                    select(func.count()).select_from(other).where(fk.parent == row_id)
                ).scalar_one()
                if n:
                    held.append(units.counted(n, other.name.replace("_", " ")))
                if n and other is card_t:
                    held[-1] += _not_held(conn, fk.parent == row_id)
    if held:
        listed = ", ".join(held[:-1]) + (" and " if len(held) > 1 else "") + held[-1]
        raise UserError(f"The {what} still holds {listed}; nothing was deleted.")
    conn.execute(delete(table).where(table.c.id == row_id))


def _not_held(conn: Connection, condition) -> str:
    """' (1 retired, 2 on order)' for the cards matching `condition` that no one holds."""
    by_status: dict[str, int] = {
        status: n
        for status, n in conn.execute(
            select(card_t.c.status, func.count())
            .where(condition, card_t.c.status.not_in(HELD))
            .group_by(card_t.c.status)
        )
    }
    shown = [f"{by_status[s]:,} {s.replace('_', ' ')}" for s in Status if s in by_status]
    return f" ({', '.join(shown)})" if shown else ""


def set_quota(
    engine: Engine, team: str, project: str | None, cards: int | None, pflops: float | None
) -> tuple[str | None, dict]:
    """Set a team's (or its project's) quota: a number given replaces that number, one not
    given is kept; given neither, both are cleared. Returns the batch id (None when nothing
    changed: no batch is logged) and the quota now in force."""
    cards, pflops = _quota(cards, pflops)
    with engine.begin() as conn:
        tid = team_id(conn, team)
        table, key = team_t, tid
        if project:
            table, key = project_t, project_id(conn, project, tid)[0]
        old = conn.execute(
            select(table.c.quota_cards, table.c.quota_pflops).where(table.c.id == key)
        ).one()
        if cards is not None or pflops is not None:
            cards = old.quota_cards if cards is None else cards
            pflops = old.quota_pflops if pflops is None else pflops
        now = {"quota_cards": cards, "quota_pflops": pflops}
        if (cards, pflops) == tuple(old):
            return None, now
        conn.execute(update(table).where(table.c.id == key).values(now))
        named = {"team": team, "project": project, "id": key}
        batch = _log(
            conn,
            Action.QUOTA_SET,
            named | now,
            named | {"quota_cards": old.quota_cards, "quota_pflops": old.quota_pflops},
        )
    return batch, now


# What an undo can revert of what this module logs (see `revert`); a team's, project's or
# node's delete is not among them: its log keeps only the name.
RENAMES = {
    Action.TEAM_RENAME: (team_t, "team", "name"),
    Action.PROJECT_RENAME: (project_t, "project", "name"),
    Action.NODE_RENAME: (node_t, "node", "hostname"),
}
ADDS = {Action.TEAM_ADD: (team_t, "team"), Action.PROJECT_ADD: (project_t, "project")}
REVERTIBLE = (*RENAMES, *ADDS, Action.QUOTA_SET)


def revert(conn: Connection, action: Action, before: dict | None, after: dict) -> str:
    """Undo one logged change of a team, project or node, if it is still as the change left
    it; what it did, as words for a sentence ("team 'Trial3' is 'Trial2' again")."""
    if "id" not in after:
        raise UserError(
            "That change was logged by an older fleetui without what an undo needs; "
            "nothing was undone."
        )
    if action == Action.QUOTA_SET:
        assert before is not None
        table = project_t if after["project"] else team_t
        owner = f"{after['team']}/{after['project']}" if after["project"] else after["team"]
        now = conn.execute(
            select(table.c.quota_cards, table.c.quota_pflops).where(table.c.id == after["id"])
        ).first()
        if now is None or tuple(now) != (after["quota_cards"], after["quota_pflops"]):
            raise UserError(f"The quota of {owner} changed since; nothing was undone.")
        conn.execute(
            update(table)
            .where(table.c.id == after["id"])
            .values(quota_cards=before["quota_cards"], quota_pflops=before["quota_pflops"])
        )
        return f"the quota of {owner} is back to {quota_text(before) or 'none'}"
    table, kind, column = RENAMES.get(action) or (*ADDS[action], "name")
    now = conn.execute(select(table.c[column]).where(table.c.id == after["id"])).scalar()
    if now != after[kind]:
        raise UserError(
            f"The {kind} '{after[kind]}' was renamed or deleted since; nothing was undone."
        )
    if action in ADDS:
        _delete_unused(conn, table, after["id"], f"{kind} '{after[kind]}'")
        return f"removed the {kind} '{after[kind]}' it added"
    old = (before or {})[kind]
    try:
        conn.execute(update(table).where(table.c.id == after["id"]).values({column: old}))
    except IntegrityError:
        raise UserError(f"A {kind} '{old}' exists again; nothing was undone.") from None
    return f"{kind} '{after[kind]}' is '{old}' again"


def quota_text(quota: dict) -> str:
    """'600 cards, 2.5 PFLOPS' ('' for no quota; a quota of 0 is one)."""
    cards, pflops = quota["quota_cards"], quota["quota_pflops"]
    parts = [units.counted(cards, "card")] if cards is not None else []
    return ", ".join(parts + ([f"{pflops:,g} PFLOPS"] if pflops is not None else []))


def add_project(
    engine: Engine,
    team: str,
    name: str,
    quota_cards: int | None = None,
    quota_pflops: float | None = None,
) -> str:
    name, (quota_cards, quota_pflops) = _name(name, "project"), _quota(quota_cards, quota_pflops)
    with engine.begin() as conn:
        tid = team_id(conn, team)
        _claim(conn, project_t, name, team=tid)
        new_id = _insert(
            conn,
            project_t,
            {
                "team_id": tid,
                "name": name,
                "quota_cards": quota_cards,
                "quota_pflops": quota_pflops,
            },
            f"Team '{team}' has a project '{name}' already.",
        )
        return _log(conn, Action.PROJECT_ADD, {"team": team, "project": name, "id": new_id})


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _claim(
    conn: Connection, table: Table, name: str, but: int | None = None, team: int | None = None
) -> None:
    """Refuse a team name (or a project name within `team`) that another row holds already,
    ignoring case: lookups ignore case, so two names differing only in case would be one."""
    query = select(table.c.id, table.c.name)
    if team is not None:
        query = query.where(table.c.team_id == team)
    taken = next((n for i, n in conn.execute(query) if i != but and _same(n, name)), None)
    if taken is not None:
        clash = "That team has a project '{}' already" if team else "A team '{}' exists already"
        case = "; names differing only in case are one name" if taken != name.strip() else ""
        raise UserError(clash.format(taken) + case + ".")


def _insert(conn: Connection, table, values: dict, clash: str) -> int:
    """Insert a named row; a name that is taken is a UserError saying so."""
    try:
        return inserted_id(conn, insert(table).values(values | {"created_at": datetime.now(UTC)}))
    except IntegrityError:
        raise UserError(clash) from None


def holdings(engine: Engine, projects: bool = False, team: str | None = None) -> list[Holding]:
    """Cards (in service, spare, in repair) and PFLOPS (in service and spare) per team, or per
    project, of `team` when given, with quotas and the card count per model."""
    key = card_t.c.project_id if projects else card_t.c.team_id
    # Grouped by the card's own columns, so the GROUP BY reads a covering index in order
    # (ix_card_team_model_status, ix_card_project_model_status) with no join and no sort.
    query = (
        select(key, card_t.c.model_id, card_t.c.status, func.count())
        .where(card_t.c.status.in_(HELD), key.isnot(None))
        .group_by(key, card_t.c.model_id, card_t.c.status)
    )
    with engine.connect() as conn:
        specs = {
            r.id: r
            for r in conn.execute(select(model_t.c.id, model_t.c.name, model_t.c.fp16_tflops))
        }
        teams = {r.id: r for r in conn.execute(select(team_t))}
        only = teams[team_id(conn, team)].name if team else None
        owners = teams if not projects else {r.id: r for r in conn.execute(select(project_t))}
        result = {
            oid: Holding(
                name=o.name if not projects else f"{teams[o.team_id].name}/{o.name}",
                team=None if not projects else teams[o.team_id].name,
                quota_cards=o.quota_cards,
                quota_pflops=o.quota_pflops,
            )
            for oid, o in owners.items()
        }
        by_model: defaultdict[int, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        compute: defaultdict[int, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        for owner, model_id, status, n in conn.execute(query):
            model, tflops = specs[model_id].name, specs[model_id].fp16_tflops
            holding = result[owner]
            holding.cards += n
            by_model[owner][model] += n
            if status in COMPUTING:
                holding.tflops += n * tflops
                compute[owner][model] += n * tflops / 1000
    for owner, models in by_model.items():
        result[owner].by_model = dict(sorted(models.items(), key=lambda kv: -kv[1]))
        result[owner].pflops_by_model = dict(sorted(compute[owner].items(), key=lambda kv: -kv[1]))
    shown = [h for h in result.values() if only is None or (h.team or h.name) == only]
    return sorted(shown, key=lambda h: (-h.tflops, h.name))


def project_lines(engine: Engine, team: str | None = None) -> list[Holding]:
    """The lines of every team (of `team` when given) as team_lines gives them, a team with no
    projects included (its "TEAM/(no project)" line): together they add up to what the teams
    hold."""
    lines = team_lines(
        holdings(engine, team=team), holdings(engine, projects=True, team=team), lone=True
    )
    return [line for _, below in lines for line in below]


def team_lines(
    teams: list[Holding], projects: list[Holding], *, lone: bool = False
) -> list[tuple[Holding, list[Holding]]]:
    """Each team with the lines under it: its projects, then its "TEAM/(no project)" line when
    it holds cards in none of them, so that a team's lines add up to what it holds. A team with
    no projects gets that line, 0 cards too, only when `lone` (a flat list, where the team has
    no line of its own; the Teams screen shows the team itself)."""
    found = []
    for held in teams:
        own = [p for p in projects if p.team == held.name]
        rest = outside_projects(held, own)
        if (own and rest.cards) or (lone and not own):
            own.append(replace(rest, name=f"{held.name}/{rest.name}"))
        found.append((held, own))
    return found


def outside_projects(team: Holding, projects: list[Holding]) -> Holding:
    """What `team` holds in none of its `projects` (the team's, from `holdings`), so that the
    project lines and this one add up to the team. Its models, as `holdings` orders them, most
    first."""
    rest = Holding(NO_PROJECT, team.name, team.cards, team.tflops)
    by_model, pflops = dict(team.by_model), dict(team.pflops_by_model)
    for project in projects:
        rest.cards -= project.cards
        rest.tflops -= project.tflops
        for model, n in project.by_model.items():
            by_model[model] -= n
        for model, x in project.pflops_by_model.items():
            pflops[model] -= x
    # what is left of a sum of floats less its parts: 1e-16 off, and never below zero
    rest.tflops = _settled(rest.tflops)
    rest.by_model = dict(sorted(((m, n) for m, n in by_model.items() if n), key=lambda kv: -kv[1]))
    left = ((m, _settled(x)) for m, x in pflops.items() if m in rest.by_model)
    rest.pflops_by_model = dict(sorted(left, key=lambda kv: -kv[1]))
    return rest


def _settled(x: float) -> float:
    return max(round(x, 9), 0.0) + 0.0


def _name(name: str, kind: str) -> str:
    name = name.strip()
    if not name:
        raise UserError(f"A {kind} needs a name.")
    if why := unfit_name(name):
        raise UserError(f"{units.quoted(name)} cannot name a {kind}: {why}.")
    require_fit((team_t if kind == "team" else project_t).c.name, name, f"{kind} name")
    return name


def _quota(cards: int | None, pflops: float | None) -> tuple[int | None, float | None]:
    """A quota as given, refused in one sentence when negative, not a number (nan, inf: they
    would be stored, printed as `Infinity` in JSON and compared as never exceeded) or too
    large to store."""
    for value, unit in ((cards, "cards"), (pflops, "PFLOPS")):
        if value is not None and not math.isfinite(value):
            raise UserError(f"A quota must be a number of {unit}, not {value}.")
        if value is not None and value < 0:
            raise UserError(f"A quota cannot be negative ({value:g} {unit}).")
    require_fit(team_t.c.quota_cards, cards, "card quota")
    return cards, pflops


def _log(conn: Connection, action: Action, after: dict | None, before: dict | None = None) -> str:
    """One audited change as its own batch; the batch id."""
    batch = audit.new_batch_id()
    audit.record(conn, batch_id=batch, action=action, changes=[(None, before, after)])
    return batch


def directory(engine: Engine) -> dict[str, list[str]]:
    """Team names, each with its project names, alphabetically (for pickers)."""
    with engine.connect() as conn:
        names = dict(conn.execute(select(team_t.c.id, team_t.c.name)).all())
        projects: defaultdict[str, list[str]] = defaultdict(list)
        for team, name in conn.execute(select(project_t.c.team_id, project_t.c.name)):
            projects[names[team]].append(name)
    return {t: sorted(projects[t]) for t in sorted(names.values(), key=str.lower)}
