"""How fleetui's teams, projects and models are named in the scheduler ([scheduler] in the
config), with defaults derived from the names; the teams fleetui manages there."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from fleetui import catalogue, config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.db.tables import Project, Team, table_of

team_t, project_t = table_of(Team), table_of(Project)
BRANDS = ("geforce", "instinct", "tesla")  # product lines before the family's own name


def family(spec: catalogue.ModelSpec) -> str:
    """A model's GPU family as sites name Slurm GRES types ('A100 SXM4 80GB' -> a100, 'GeForce
    RTX 4090' -> rtx4090): its name without vendor, product line, form factor or memory size."""
    words = map(catalogue.normalize, re.sub(r"\(.*?\)", " ", spec.name).split())
    vendor = catalogue.normalize(spec.vendor)
    return "".join(
        w for w in words if w not in (vendor, *BRANDS) and not catalogue.VARIANT_WORDS.fullmatch(w)
    )


@dataclass(frozen=True)
class Owner:
    """A team or one of its projects, and its name in the scheduler (a Slurm account, a
    ClusterQueue, a namespace)."""

    team: str
    project: str | None
    name: str
    parent: str  # the account above it in Slurm: the configured parent, or its team's account

    @property
    def label(self) -> str:
        return self.team if self.project is None else f"{self.team}/{self.project}"


@dataclass(frozen=True)
class Mapping:
    settings: config.Scheduler
    teams: tuple[Owner, ...]  # the managed teams
    projects: tuple[Owner, ...]  # their projects

    @property
    def owners(self) -> tuple[Owner, ...]:
        return self.teams + self.projects

    def owner(self, team: str, project: str | None) -> Owner | None:
        return next((o for o in self.owners if (o.team, o.project) == (team, project)), None)

    def gres(self, spec: catalogue.ModelSpec) -> str:
        """The Slurm GRES type of a catalogue model: configured, else its GPU family."""
        return self.settings.gres.get(spec.key) or family(spec)

    def product(self, spec: catalogue.ModelSpec) -> str:
        """The `nvidia.com/gpu.product` label of a model's nodes, as GPU Feature Discovery
        writes it (its NVML name, spaces as '-'), unless configured."""
        if spec.key in self.settings.products:
            return self.settings.products[spec.key]
        return (spec.nvml_names or (spec.name,))[0].replace(" ", "-")

    def flavor(self, spec: catalogue.ModelSpec) -> str:
        """A ResourceFlavor's name for the model: its product label as a Kubernetes name."""
        return re.sub(r"[^a-z0-9.-]+", "-", self.product(spec).lower()).strip("-.")

    def as_dict(self, models: list[catalogue.ModelSpec]) -> dict[str, Any]:
        s = self.settings
        return {
            "kind": s.kind or None,
            "cluster": s.cluster or None,
            "parent": s.parent,
            "cohort": s.cohort,
            "teams": {o.label: o.name for o in self.teams},
            "projects": {o.label: o.name for o in self.projects},
            "models": {
                spec.name: {"gres": self.gres(spec), "product": self.product(spec)}
                for spec in models
            },
        }


def slug(name: str) -> str:
    """The default scheduler name of a team or project: lower case, other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def load(engine: Engine, cfg: config.Config) -> Mapping:
    """The mapping in force: the config's names over defaults, for the managed teams. Team and
    project names in the config match ignoring case, as everywhere in fleetui; one that matches
    none is refused (after a rename it would otherwise change a name without a word)."""
    settings = cfg.scheduler
    with engine.connect() as conn:
        teams = {r.id: r.name for r in conn.execute(select(team_t.c.id, team_t.c.name))}
        projects = conn.execute(
            select(project_t.c.team_id, project_t.c.name).order_by(project_t.c.name)
        ).all()
    where = f"{cfg.source}: [scheduler"
    found = _Names(teams.values(), f"{where}] teams names", "a team")
    wanted = sorted(teams.values() if settings.teams is None else set(found(settings.teams)))
    labels = [*teams.values(), *(f"{teams[tid]}/{p}" for tid, p in projects)]
    found = _Names(labels, f"{where}.names] names", "a team or project")
    names = dict(zip(found(settings.names), settings.names.values(), strict=True))
    managed = [Owner(t, None, _name(names, t, slug(t)), settings.parent) for t in wanted]
    by_team = {o.team: o for o in managed}
    subs = [
        Owner(team, p, _name(names, f"{team}/{p}", f"{by_team[team].name}-{slug(p)}"), acct)
        for tid, p in projects
        if (team := teams[tid]) in by_team and (acct := by_team[team].name)
    ]
    _distinct(managed + subs, settings.parent)
    return Mapping(settings, tuple(managed), tuple(subs))


class _Names:
    """Team (or "team/project") names as the config writes them, looked up as written, else
    ignoring case; one naming nothing, or a second naming the same, is refused."""

    def __init__(self, names: Iterable[str], where: str, what: str):
        self.names, self.where, self.what = set(names), where, what
        self.folded = {n.lower(): n for n in sorted(self.names, reverse=True)}

    def __call__(self, written: Iterable[str]) -> list[str]:
        found: dict[str, str] = {}
        for name in written:
            match = name if name in self.names else self.folded.get(name.strip().lower())
            if match is None:
                raise UserError(
                    f"{self.where} {units.quoted(name)}, which is not {self.what} "
                    "(`fleetui teams list`)."
                )
            if match in found:
                raise UserError(
                    f"{self.where} {units.quoted(found[match])} and {units.quoted(name)}, "
                    f"both {units.quoted(match)}."
                )
            found[match] = name
        return list(found)


def _name(names: dict[str, str], label: str, default: str) -> str:
    name = names.get(label, default)
    if not config.NAME.fullmatch(name):
        raise UserError(
            f"{units.quoted(label)} has no name the scheduler accepts (a-z, 0-9 and -, at most "
            f'63 characters); give it one under [scheduler.names] in the config ("{label}" = '
            '"a-name").'
        )
    return name


def _distinct(owners: list[Owner], parent: str) -> None:
    """No two owners share a name, and none takes the parent account's ('root' would make a
    team's limits every account's)."""
    seen: dict[str, Owner] = {}
    for owner in owners:
        if owner.name == parent:
            raise UserError(
                f"{units.quoted(owner.label)} would be {units.quoted(parent)} in the scheduler, "
                "the parent account every team's goes under; name it under [scheduler.names]."
            )
        if owner.name in seen:
            raise UserError(
                f"{units.quoted(seen[owner.name].label)} and {units.quoted(owner.label)} "
                "would both be "
                f"{units.quoted(owner.name)} in the scheduler; name one under [scheduler.names]."
            )
        seen[owner.name] = owner
