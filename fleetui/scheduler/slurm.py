"""Slurm: each managed team is an account under the configured parent, each of its projects a
sub-account, with `GrpTRES=gres/gpu:TYPE=N` per GPU type it holds. fleetui reads and writes them
with Slurm's own `sacctmgr` (the commands are shown before they run) and reads them back."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Engine

from fleetui import config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import Action
from fleetui.db import audit
from fleetui.scheduler.holdings import (
    Drift,
    Present,
    Wanted,
    cards,
    compare,
    strays,
    wanted,
)
from fleetui.scheduler.mapping import Owner, load
from fleetui.store import writing

GPU_TRES = "gres/gpu:"
ORGANIZATION = "fleetui"  # the organization of the accounts fleetui adds: they are its own
MARK = f"organization={ORGANIZATION}"
MARKED = ["show", "account", "format=account,organization"]
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """One Slurm command; its exit status and output, whatever they are."""
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise UserError(
            f"{argv[0]} is not installed on this machine; fleetui runs Slurm's own tools "
            "(Debian: apt-get install slurm-client)."
        ) from None
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", "no answer within 120 s")


def why(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed command said, in one line."""
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


def shown(argv: Sequence[str]) -> str:
    return shlex.join(argv)


class Command(NamedTuple):
    account: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    wants: list[Wanted]
    before: dict[str, Present | None]  # each managed account as Slurm had it
    drift: list[Drift]
    commands: list[Command]
    untracked: list[str] = field(default_factory=list)  # GPU TRES slurmdbd does not keep

    def lines(self) -> list[str]:
        return [shown(c.argv) for c in self.commands]

    def notes(self) -> list[str]:
        """What apply leaves to a person: fleetui's accounts that map to nothing it manages
        (users may still charge jobs to them), and the GPU types Slurm keeps no TRES for."""
        strays = [d.sentence("account", "parent") for d in self.drift if d.what == "stray"]
        return [*strays, *self.unkept()]

    def unkept(self) -> list[str]:
        return [
            f"Slurm keeps no {res} (add it to AccountingStorageTRES in slurm.conf and restart "
            "slurmctld): no limit can be set on it, so its cards are left out."
            for res in self.untracked
        ]

    def nothing_to_apply(self) -> str:
        if self.drift:
            return "No limit to apply; apply deletes no account: delete those above by hand."
        return "Slurm already matches the holdings; nothing to apply."


@dataclass
class Result:
    batch_id: str | None
    done: list[Command]
    failed: Command | None = None
    error: str = ""
    not_run: list[Command] = field(default_factory=list)
    left: list[Drift] | None = None  # after reading back; None: it could not be read back
    read_error: str = ""

    @property
    def ok(self) -> bool:
        return self.failed is None and self.left == []

    def lines(self) -> list[str]:
        """After the commands were shown: on a failure, which ran and which did not; then
        what did not take."""
        out = []
        if self.failed:
            out += [f"applied: {shown(c.argv)}" for c in self.done]
            out.append(f"FAILED:  {shown(self.failed.argv)}: {self.error}")
            out += [f"not run: {shown(c.argv)}" for c in self.not_run]
        if self.left is None:
            out.append(f"Could not read the limits back: {self.read_error}")
        else:
            out += [f"did not take: {d.sentence('account', 'parent')}" for d in self.left]
        return out

    def summary(self) -> str:
        batch = f" (batch {self.batch_id[:8]})" if self.batch_id else ""
        applied = units.counted(len(self.done), "command")
        if self.failed:
            return (
                f"{len(self.done)} of {len(self.done) + 1 + len(self.not_run)} sacctmgr "
                f"commands applied{batch}; `{shown(self.failed.argv)}` failed: {self.error}. "
                "Run `fleetui sched apply` again once Slurm answers: it applies what is left."
            )
        if self.left is None:
            return f"Applied {applied}{batch} but could not read them back."
        if self.left:
            return (
                f"Applied {applied}{batch}; read back, "
                f"{units.counted(len(self.left), 'limit')} did not take (listed above)."
            )
        return f"Applied {applied}{batch}; read back, Slurm matches the holdings."

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "applied": [shown(c.argv) for c in self.done],
            "failed": shown(self.failed.argv) if self.failed else None,
            "error": self.error or None,
            "not_run": [shown(c.argv) for c in self.not_run],
            "did_not_take": None if self.left is None else [d.as_dict() for d in self.left],
        }


def read(settings: config.Scheduler, runner: Runner = run) -> dict[str, Present]:
    """Every account association (no user) Slurm has: its parent, its GPU limits and whether
    fleetui made the account (its organization), read with `sacctmgr -P show assoc` and
    `show account`."""
    where = ["where", f"cluster={settings.cluster}"] if settings.cluster else []
    fields = "format=cluster,account,user,parentname,grptres"
    done = _listed(runner, ["show", "assoc", *where, fields])
    ours = {
        account
        for account, _, org in (line.partition("|") for line in _listed(runner, MARKED))
        if org == ORGANIZATION
    }
    clusters, accounts = set(), {}
    for line in done:
        cols = line.split("|")
        if len(cols) < 5:
            continue
        cluster, account, user, parent, tres = cols[:5]
        clusters.add(cluster)
        if not user:
            accounts[account] = Present(parent, _gpu_limits(tres), account in ours)
    if len(clusters) > 1:
        raise UserError(
            f"slurmdbd keeps the clusters {', '.join(sorted(clusters))}; name the one fleetui "
            "manages in the config ([scheduler] cluster)."
        )
    return accounts


def _listed(runner: Runner, args: list[str]) -> list[str]:
    """The lines `sacctmgr -P -n` lists."""
    done = runner(["sacctmgr", "-P", "-n", *args])
    if done.returncode != 0:
        raise UserError(f"sacctmgr could not read Slurm's accounts: {why(done)}.")
    return done.stdout.splitlines()


def _gpu_limits(tres: str) -> dict[str, int]:
    """'cpu=64,gres/gpu:h800=16' -> {'gres/gpu:h800': 16}: the typed GPU limits only."""
    limits = {}
    for item in filter(None, tres.split(",")):
        name, _, value = item.partition("=")
        if name.startswith(GPU_TRES) and value.lstrip("-").isdigit():
            limits[name] = int(value)
    return limits


def not_applicable(cfg: config.Config) -> str | None:
    """Why there is no Slurm to apply to, and what to do instead; None when there is."""
    if cfg.scheduler.kind == "slurm":
        return None
    if cfg.scheduler.kind == "kueue":
        return (
            "With Kueue, write the objects with `fleetui sched export --kueue DIR` and "
            "`kubectl apply --server-side -f DIR`."
        )
    return (
        f'No Slurm to apply to: set [scheduler] kind = "slurm" in {config.path()}'
        " (for Kubernetes, `fleetui sched export --kueue DIR`)."
    )


def preview(engine: Engine, cfg: config.Config, runner: Runner = run) -> Preview:
    """Where Slurm disagrees with the holdings, and the sacctmgr commands that fix it."""
    mapping = load(engine, cfg)
    wants = wanted(mapping, cards(engine), lambda s: GPU_TRES + mapping.gres(s), _parent)
    have = read(mapping.settings, runner)
    # A limit on a TRES slurmdbd does not keep fails, and with it every command after it
    # (each team's limits name every GPU type): those are left out, and said.
    untracked = sorted({res for w in wants for res in w.limits} - _tracked(runner))
    wants = [
        replace(w, limits={r: n for r, n in w.limits.items() if r not in untracked}) for w in wants
    ]
    drift = compare(wants, have) + strays(wants, have, partial(_delete, mapping.settings))
    return Preview(
        wants,
        {w.owner.name: have.get(w.owner.name) for w in wants},
        drift,
        _commands(mapping.settings, wants, drift),
        untracked,
    )


def _tracked(runner: Runner) -> set[str]:
    """The TRES slurmdbd keeps ('gres/gpu:h800'): AccountingStorageTRES in slurm.conf."""
    listed = _listed(runner, ["show", "tres", "format=type,name"])
    return {f"{kind}/{name}" for kind, _, name in (line.partition("|") for line in listed)}


def _delete(settings: config.Scheduler, account: str) -> str:
    cluster = [f"cluster={settings.cluster}"] if settings.cluster else []
    return shown(["sacctmgr", "-i", "delete", "account", "where", f"name={account}", *cluster])


def _parent(owner: Owner) -> str:
    return owner.parent


def _commands(settings: config.Scheduler, wants: list[Wanted], drift: list[Drift]) -> list[Command]:
    """sacctmgr commands in the order of `wants` (teams before their projects' sub-accounts)."""
    cluster = (f"cluster={settings.cluster}",) if settings.cluster else ()
    commands = []
    for want in wants:
        name = want.owner.name
        mine = [d for d in drift if d.name == name]
        limits = {d.resource: d.want for d in mine if d.what == "limit"}
        if any(d.what == "missing" for d in mine):
            add = ("sacctmgr", "-i", "add", "account", name, f"parent={want.parent}", *cluster)
            commands.append(Command(name, (*add, MARK)))
            limits = dict(want.limits)
        modify = ("sacctmgr", "-i", "modify", "account", "where", f"name={name}", *cluster, "set")
        if any(d.what == "parent" for d in mine):
            commands.append(Command(name, (*modify, f"parent={want.parent}")))
        if limits:
            tres = ",".join(f"{res}={n}" for res, n in sorted(limits.items()))
            commands.append(Command(name, (*modify, f"GrpTRES={tres}")))
    return commands


def apply(
    engine: Engine,
    cfg: config.Config,
    plan: Preview,
    runner: Runner = run,
    actor: str | None = None,
) -> Result:
    """Run the previewed commands in order, stopping at the first that fails; read the
    accounts back; log one audit batch with each touched account before and after (also when
    a command failed: what ran is in Slurm). A later apply previews afresh and converges."""
    if not plan.commands:
        return Result(None, [], left=[])
    result = Result(audit.new_batch_id(), [])
    for i, command in enumerate(plan.commands):
        done = runner(command.argv)
        if done.returncode != 0:
            result.failed, result.error = command, why(done)
            result.not_run = plan.commands[i + 1 :]
            break
        result.done.append(command)
    after: dict[str, Present] | None = None
    try:
        after = read(cfg.scheduler, runner)
        result.left = compare(plan.wants, after)
    except UserError as exc:
        result.read_error = str(exc)
    touched = sorted({c.account for c in plan.commands})
    before = {name: _text(plan.before.get(name)) for name in touched}
    logged: dict[str, Any] = (
        {name: _text(after.get(name)) for name in touched}
        if after is not None
        else {"read back": "failed"}
    )
    if result.failed:
        logged["failed"] = f"{shown(result.failed.argv)}: {result.error}"
    with writing(engine) as conn:
        audit.record(
            conn,
            batch_id=str(result.batch_id),
            action=Action.SCHED_APPLY,
            changes=[(None, before, logged)],
            actor=actor,
        )
    return result


def _text(account: Present | None) -> str | None:
    """An account's GPU limits as the log keeps them; None when it was absent."""
    if account is None:
        return None
    return ",".join(f"{r}={n}" for r, n in sorted(account.limits.items())) or "no GPU limits"
