"""What the scheduler should allow: each managed team's and project's cards in service and spare
per model, as limits per scheduler resource; and where the scheduler disagrees, both ways."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from fleetui import catalogue
from fleetui.core.vocabulary import COMPUTING
from fleetui.db.tables import Card, GpuModel, Project, Team, table_of
from fleetui.scheduler.mapping import Mapping, Owner

card_t, model_t = table_of(Card), table_of(GpuModel)
team_t, project_t = table_of(Team), table_of(Project)


@dataclass(frozen=True)
class Wanted:
    owner: Owner
    parent: str  # the account above it (Slurm) or its cohort (Kueue)
    limits: dict[str, int]  # resource (a TRES, a flavor) -> cards


@dataclass(frozen=True)
class Present:
    """An account or queue as the scheduler has it: its parent (or cohort), its GPU limits (a
    resource without a limit is absent), and whether fleetui made it (marked so when made)."""

    parent: str
    limits: dict[str, int] = field(default_factory=dict)
    ours: bool = False


@dataclass(frozen=True)
class Drift:
    owner: str  # "LLM" or "LLM/sft"
    name: str  # the account or queue
    what: str  # "missing", "parent", "limit" or "stray"
    resource: str = ""
    want: int | str | None = None  # a limit, or the parent
    have: int | str | None = None  # None: no limit set
    command: str = ""  # a stray's: the command that deletes it

    def sentence(self, noun: str, parent_noun: str, unset: str = "no limit on") -> str:
        if self.what == "stray":
            return (
                f"{noun} {self.name} is fleetui's but maps to no team or project it manages; "
                f"delete it: {self.command}"
            )
        head = f"{self.owner}: {noun} {self.name}"
        if self.what == "missing":
            return f"{head} is missing"
        if self.what == "parent":
            return f"{head} has {parent_noun} {self.have or 'none'}, not {self.want}"
        if self.have is None:
            return f"{head} has {unset} {self.resource}; it holds {self.want}"
        word = "too high" if int(self.have) > int(self.want or 0) else "too low"
        return f"{head} allows {self.have} {self.resource}, {word}: it holds {self.want}"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def cards(engine: Engine) -> dict[tuple[str, str | None], dict[str, int]]:
    """(team, project or None) -> catalogue key -> cards in service and spare."""
    query = (
        select(team_t.c.name, project_t.c.name, model_t.c.key, func.count())
        .select_from(
            card_t.join(team_t, team_t.c.id == card_t.c.team_id)
            .join(model_t, model_t.c.id == card_t.c.model_id)
            .outerjoin(project_t, project_t.c.id == card_t.c.project_id)
        )
        .where(card_t.c.status.in_(COMPUTING))
        .group_by(team_t.c.name, project_t.c.name, model_t.c.key)
    )
    held: defaultdict[tuple[str, str | None], dict[str, int]] = defaultdict(dict)
    with engine.connect() as conn:
        for team, project, key, n in conn.execute(query):
            held[(team, project)][key] = n
    return dict(held)


def wanted(
    mapping: Mapping,
    held: dict[tuple[str, str | None], dict[str, int]],
    resource: Callable[[catalogue.ModelSpec], str],
    parent: Callable[[Owner], str],
) -> list[Wanted]:
    """Each managed owner's limit per resource: a team counts all its cards, a project its
    own; every owner gets a limit on every resource any of them holds (0 for none held)."""
    specs = catalogue.by_key()
    totals: defaultdict[Owner, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (team, project), models in held.items():
        owners = [mapping.owner(team, None), mapping.owner(team, project) if project else None]
        for owner in filter(None, owners):
            for key, n in models.items():
                totals[owner][resource(specs[key])] += n
    every = sorted({r for limits in totals.values() for r in limits})
    return [Wanted(o, parent(o), {r: totals[o].get(r, 0) for r in every}) for o in mapping.owners]


def compare(
    wants: list[Wanted], have: dict[str, Present], absent: int | None = None
) -> list[Drift]:
    """Where the scheduler disagrees with the holdings: a missing account or queue, a wrong
    parent, a limit too low or absent (fleetui holds more), or too high (the scheduler allows
    more than the team holds, including resources it holds none of). `absent` is what the
    scheduler makes of a resource with no limit: None for no limit (Slurm), 0 for none (Kueue)."""
    drift = []
    for want in wants:
        owner, present = want.owner, have.get(want.owner.name)
        if present is None:
            drift.append(Drift(owner.label, owner.name, "missing"))
            continue
        if present.parent != want.parent:
            drift.append(
                Drift(owner.label, owner.name, "parent", want=want.parent, have=present.parent)
            )
        for res in sorted({*want.limits, *present.limits}):
            limit, holds = present.limits.get(res), want.limits.get(res, 0)
            if (absent if limit is None else limit) != holds:
                drift.append(Drift(owner.label, owner.name, "limit", res, holds, limit))
    return drift


def strays(
    wants: list[Wanted], have: dict[str, Present], delete: Callable[[str], str]
) -> list[Drift]:
    """The accounts or queues fleetui made that no managed owner maps to any more (its team
    renamed, deleted or no longer managed): their limits stay live until deleted, with the
    command `delete` gives. Children before their parents, so each can go in turn."""
    mapped = {want.owner.name for want in wants}

    def depth(name: str) -> int:
        seen = []
        while name in have and name not in seen:
            seen.append(name)
            name = have[name].parent
        return len(seen)

    found = sorted((-depth(n), n) for n, p in have.items() if p.ours and n not in mapped)
    return [Drift("", name, "stray", command=delete(name)) for _, name in found]
