"""`fleetui sched`: make the scheduler (Slurm accounts, Kueue queues) match the holdings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from fleetui.cli.base import (
    JsonOption,
    confirm,
    open_db,
    out,
    print_json,
    settings,
    subgroup,
)
from fleetui.core import units
from fleetui.core.errors import UserError

sched_app = subgroup(
    "sched", "Make the scheduler (Slurm accounts, Kueue queues) match what each team holds."
)

KueueFile = Annotated[
    Path | None,
    typer.Option("--kueue", help="Compare with this `kubectl get clusterqueues -o json` output."),
]


class CannotCompare(UserError):
    """No comparison was possible: exit 2, which scripts tell from drift (exit 1)."""

    exit_code = 2


@contextmanager
def _comparing() -> Iterator[None]:
    """Reading both sides: a user error there (no scheduler configured, a mapping it refuses,
    sacctmgr or a Kueue file unreadable) means the two could not be compared."""
    try:
        yield
    except UserError as exc:
        raise CannotCompare(str(exc)) from None


def _say(lines: list[str]) -> None:
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def _slurm_only(ctx: typer.Context) -> None:
    from fleetui.scheduler import slurm

    problem = slurm.not_applicable(settings(ctx))
    if problem:
        raise UserError(problem)


@sched_app.command("map")
def map_cmd(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """How teams, projects and models are named in the scheduler (the mapping in force)."""
    from fleetui import catalogue
    from fleetui.scheduler import holdings, mapping

    engine = open_db(ctx)
    found = mapping.load(engine, settings(ctx))
    keys = sorted({k for models in holdings.cards(engine).values() for k in models})
    info = found.as_dict([catalogue.by_key()[k] for k in keys])
    if as_json:
        print_json(info)
        return
    s = found.settings
    _say(
        [
            f"scheduler: {s.kind or 'none configured'}"
            + (f", cluster {s.cluster}" if s.cluster else "")
            + f"; Slurm parent account {s.parent}; Kueue cohort {s.cohort}",
            *(f"team {label} -> {name}" for label, name in info["teams"].items()),
            *(f"project {label} -> {name}" for label, name in info["projects"].items()),
            *(
                f"model {model} -> gres/gpu:{m['gres']}, {m['product']}"
                for model, m in info["models"].items()
            ),
        ]
    )


@sched_app.command("diff")
def diff_cmd(ctx: typer.Context, kueue: KueueFile = None, as_json: JsonOption = False) -> None:
    """Where the scheduler disagrees with the holdings (cards in service and spare per team,
    project and model), both ways. Exit 0 in sync, 1 on drift, 2 when it cannot compare."""
    engine = open_db(ctx)
    with _comparing():
        if kueue is not None:
            from fleetui.scheduler import kueue as kueue_mod

            drift, notes = kueue_mod.diff(engine, settings(ctx), kueue), []
            nouns = ("ClusterQueue", "cohort", "no quota for")
        else:
            from fleetui.scheduler import slurm

            _slurm_only(ctx)
            plan = slurm.preview(engine, settings(ctx))
            drift, notes = plan.drift, plan.unkept()
            nouns = ("account", "parent", "no limit on")
    if as_json:
        print_json([d.as_dict() for d in drift])
    else:
        said = [d.sentence(*nouns) for d in drift] or ["The scheduler matches the holdings."]
        _say([*said, *notes])
    if drift:
        raise typer.Exit(1)


@sched_app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the commands only.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make Slurm match the holdings: shows the sacctmgr commands, runs them, reads the limits
    back and reports what did not take. One audited batch. Exit 1 when a limit did not take,
    2 when it cannot compare."""
    from fleetui.scheduler import slurm

    engine = open_db(ctx)
    cfg = settings(ctx)
    with _comparing():
        _slurm_only(ctx)
        plan = slurm.preview(engine, cfg)
    if not plan.commands:
        if as_json:
            print_json(slurm.Result(None, [], left=[]).as_dict())
        else:
            _say([*plan.notes(), plan.nothing_to_apply()])
        return
    if dry_run:
        if as_json:
            print_json({"commands": plan.lines()})
        else:
            _say([*plan.notes(), *plan.lines()])
        return
    if not as_json:
        _say([*plan.notes(), *plan.lines()])
    confirm(yes, [], "Run these commands?", "review with --dry-run", "apply")
    result = slurm.apply(engine, cfg, plan)
    if as_json:
        print_json(result.as_dict())
    else:
        _say(result.lines())
    if not result.ok:
        raise UserError(result.summary())
    if not as_json:
        _say([result.summary()])


@sched_app.command("export")
def export_cmd(
    ctx: typer.Context,
    kueue: Annotated[
        Path, typer.Option("--kueue", help="Write the Kueue objects into this directory.")
    ],
) -> None:
    """Write Kueue ResourceFlavors, ClusterQueues and LocalQueues for
    `kubectl apply --server-side -f DIR`."""
    from fleetui.scheduler import kueue as kueue_mod

    engine, cfg = open_db(ctx), settings(ctx)
    written, removed = kueue_mod.export(engine, cfg, kueue)
    skipped = kueue_mod.left_out(engine, cfg)
    lines = [f"Wrote {units.counted(len(written), 'object')} to {kueue}; apply them with "
             f"`kubectl apply --server-side -f {kueue}`."]  # fmt: skip
    if removed:
        lines += ["No longer exported (applying deletes nothing); delete them with:", *removed]
    if skipped:
        lines.append(f"Left out, no known Kubernetes device plugin: {', '.join(skipped)}.")
    _say(lines)
