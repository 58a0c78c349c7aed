"""How fleetui's teams, projects and models are named in the scheduler ([scheduler] in the
config), with defaults derived from the names; the teams fleetui manages there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from fleetui import catalogue, config
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
    """The mapping in force: the config's names over defaults, for the managed teams."""
    settings = cfg.scheduler
    with engine.connect() as conn:
        teams = {r.id: r.name for r in conn.execute(select(team_t.c.id, team_t.c.name))}
        projects = conn.execute(
            select(project_t.c.team_id, project_t.c.name).order_by(project_t.c.name)
        ).all()
    wanted = settings.teams if settings.teams is not None else sorted(teams.values())
    unknown = [t for t in wanted if t not in teams.values()]
    if unknown:
        raise UserError(
            f"{cfg.source}: [scheduler] teams names {unknown[0]!r}, which is not a team "
            "(`fleetui teams list`)."
        )
    managed = [Owner(t, None, _name(settings, t, slug(t)), settings.parent) for t in sorted(wanted)]
    by_team = {o.team: o for o in managed}
    subs = [
        Owner(team, p, _name(settings, f"{team}/{p}", f"{by_team[team].name}-{slug(p)}"), acct)
        for tid, p in projects
        if (team := teams[tid]) in by_team and (acct := by_team[team].name)
    ]
    _distinct(managed + subs)
    return Mapping(settings, tuple(managed), tuple(subs))


def _name(settings: config.Scheduler, label: str, default: str) -> str:
    name = settings.names.get(label, default)
    if not config.NAME.fullmatch(name):
        raise UserError(
            f"{label!r} has no name the scheduler accepts; give it one under "
            f'[scheduler.names] in the config ("{label}" = "a-name").'
        )
    return name


def _distinct(owners: list[Owner]) -> None:
    seen: dict[str, Owner] = {}
    for owner in owners:
        if owner.name in seen:
            raise UserError(
                f"{seen[owner.name].label!r} and {owner.label!r} would both be "
                f"{owner.name!r} in the scheduler; name one under [scheduler.names]."
            )
        seen[owner.name] = owner
