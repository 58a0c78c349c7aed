"""Kubernetes with Kueue: a ResourceFlavor per GPU model (selecting nodes by GPU Feature
Discovery's `nvidia.com/gpu.product` label), a ClusterQueue per managed team with a
`nominalQuota` of `nvidia.com/gpu` per flavor, all teams in one cohort (idle quota can be
borrowed), and a LocalQueue in each project's namespace. fleetui writes the objects for
`kubectl apply --server-side` and reads `kubectl get clusterqueues -o json` back."""

from __future__ import annotations

import json
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from fleetui import catalogue, config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.scheduler.holdings import Drift, Present, Wanted, cards, compare, strays, wanted
from fleetui.scheduler.mapping import Mapping, load

API = "kueue.x-k8s.io/v1beta1"  # served by every Kueue release since v0.3
GPU = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
KINDS = ("ResourceFlavor", "ClusterQueue", "LocalQueue")
MANAGED_BY = {"app.kubernetes.io/managed-by": "fleetui"}
# Huawei's Ascend Device Plugin advertises huawei.com/Ascend910 (910 and 910B alike) on nodes
# labelled accelerator=huawei-Ascend910 (hiascend.com, MindCluster's node labels).
ASCEND = ("huawei.com/Ascend910", "accelerator", "huawei-Ascend910")
RESOURCES = (GPU, ASCEND[0])


def device(mapping: Mapping, spec: catalogue.ModelSpec) -> tuple[str, str, str] | None:
    """A model's device plugin resource and the node label selecting it (label, value); None
    for vendors whose plugin names fleetui does not know."""
    if spec.vendor == "NVIDIA":
        return GPU, PRODUCT_LABEL, mapping.product(spec)
    if spec.vendor == "Huawei":
        return ASCEND
    return None


def left_out(engine: Engine, cfg: config.Config) -> list[str]:
    """The models held that the Kueue objects leave out (no known device plugin)."""
    mapping, specs = load(engine, cfg), catalogue.by_key()
    held = {key for models in cards(engine).values() for key in models}
    return sorted(specs[k].name for k in held if device(mapping, specs[k]) is None)


def _held(mapping: Mapping, engine: Engine) -> dict[tuple[str, str | None], dict[str, int]]:
    specs = catalogue.by_key()
    return {
        owner: {k: n for k, n in models.items() if device(mapping, specs[k])}
        for owner, models in cards(engine).items()
    }


def _wants(mapping: Mapping, held: dict[tuple[str, str | None], dict[str, int]]) -> list[Wanted]:
    team_wants = wanted(mapping, held, mapping.flavor, lambda _: mapping.settings.cohort)
    return [w for w in team_wants if w.owner.project is None]


def objects(engine: Engine, cfg: config.Config) -> list[dict[str, Any]]:
    """The Kueue objects that give each managed team its holdings as quota."""
    mapping = load(engine, cfg)
    held = _held(mapping, engine)
    wants = _wants(mapping, held)
    specs = {
        mapping.flavor(spec): spec
        for (team, _), models in held.items()
        if mapping.owner(team, None)
        for spec in map(catalogue.by_key().__getitem__, models)
    }
    devices = {name: device(mapping, spec) or ASCEND for name, spec in specs.items()}
    found: list[dict[str, Any]] = [
        _object("ResourceFlavor", name, {"nodeLabels": {label: value}})
        for name, (_, label, value) in sorted(devices.items())
    ]
    for want in wants:
        spec: dict[str, Any] = {"cohort": mapping.settings.cohort, "namespaceSelector": {}}
        groups = [  # one group per resource: a flavor covers all its group's resources
            {
                "coveredResources": [res],
                "flavors": [
                    {"name": flavor, "resources": [{"name": res, "nominalQuota": n}]}
                    for flavor, n in want.limits.items()
                    if devices[flavor][0] == res
                ],
            }
            for res in RESOURCES
        ]
        if want.limits:
            spec["resourceGroups"] = [g for g in groups if g["flavors"]]
        found.append(_object("ClusterQueue", want.owner.name, spec))
    queues = {o.team: o.name for o in mapping.teams}
    found += [
        _object("LocalQueue", queues[p.team], {"clusterQueue": queues[p.team]}, namespace=p.name)
        for p in mapping.projects
    ]
    return found


def _object(kind: str, name: str, spec: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY)}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


def file_name(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}." if "namespace" in meta else ""
    return f"{obj['kind'].lower()}-{where}{meta['name']}.json"


def delete(kind: str, name: str, namespace: str = "") -> str:
    """The kubectl command deleting one of fleetui's objects."""
    return f"kubectl delete {kind.lower()} {name}" + (f" -n {namespace}" if namespace else "")


def _deleted(old: Path) -> str:
    """The command deleting the object an earlier export wrote into `old` (named by file_name)."""
    kind, _, rest = old.name.removesuffix(".json").partition("-")
    namespace, _, name = rest.partition(".") if kind == "localqueue" else ("", "", rest)
    return delete(kind, name, namespace)


def export(engine: Engine, cfg: config.Config, directory: Path) -> tuple[list[Path], list[str]]:
    """Write the objects into `directory`, one JSON file each (kubectl reads JSON as YAML),
    replacing the files an earlier export wrote there; a directory holding anything else is
    refused, untouched. The files are written into a new directory beside it, which then takes
    its place: a failure (a full disk) leaves the earlier export as it was. Returns the files
    written and the kubectl commands deleting what the earlier export had and this one has not
    (`kubectl apply -f` deletes nothing)."""
    found = objects(engine, cfg)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} is a file, not a directory; nothing was written.")
    ours = tuple(f"{kind.lower()}-" for kind in KINDS)
    old = sorted(directory.iterdir()) if directory.exists() else []
    others = [p.name for p in old if not (p.is_file() and p.name.startswith(ours))]
    if others:
        raise UserError(
            f"{directory} holds files fleetui did not write ({units.listed(others, 3)}); "
            "give an empty or new directory. Nothing was written."
        )
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            for obj in found:
                text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
                (staging / file_name(obj)).write_text(text, "utf-8")
            _swap_in(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already unless something failed
    except OSError as exc:
        kept = "the earlier export there is unchanged" if old else "nothing was written"
        raise UserError(
            f"Could not write the Kueue objects into {directory} ({exc.strerror}); {kept}."
        ) from None
    written = [directory / file_name(obj) for obj in found]
    return written, [_deleted(p) for p in old if directory / p.name not in written]


def _swap_in(staging: Path, directory: Path) -> None:
    """`staging` renamed to `directory`; an existing `directory` is put back if that fails."""
    if not directory.exists():
        staging.rename(directory)
        return
    retired = staging.with_name(f"{staging.name}-old")
    directory.rename(retired)
    try:
        staging.rename(directory)
    except OSError:
        retired.rename(directory)
        raise
    shutil.rmtree(retired)


def read(file: Path) -> dict[str, Present]:
    """The ClusterQueues in `kubectl get clusterqueues -o json` output (or one queue's,
    `kubectl get clusterqueue NAME -o json`): cohort, the `nvidia.com/gpu` nominalQuota per
    flavor (a flavor absent from a queue is no quota) and whether fleetui's label is on it."""
    try:
        data = json.loads(file.read_text("utf-8"))
    except OSError as exc:
        raise UserError(f"Cannot read {file}: {exc.strerror}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(
            f"{file} is not JSON; give the output of `kubectl get clusterqueues -o json`."
        ) from None
    single = isinstance(data, dict) and data.get("kind") == "ClusterQueue"
    items = [data] if single else data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UserError(
            f"{file} holds no list of items; give the output of "
            "`kubectl get clusterqueues -o json`."
        )
    queues = {}
    for item in items:
        if not isinstance(item, dict) or item.get("kind") != "ClusterQueue":
            continue
        metadata, spec = item.get("metadata", {}), item.get("spec", {})
        name, labels = metadata.get("name", ""), metadata.get("labels") or {}
        limits = {}
        for group in spec.get("resourceGroups", []):
            for flavor in group.get("flavors", []):
                for res in flavor.get("resources", []):
                    if res.get("name") in RESOURCES:
                        limits[flavor.get("name", "")] = _quantity(file, name, res)
        ours = MANAGED_BY.items() <= labels.items()
        queues[name] = Present(spec.get("cohort", ""), limits, ours)
    return queues


def _quantity(file: Path, queue: str, resource: dict[str, Any]) -> int:
    """A GPU count as Kubernetes writes a quantity: 16 or "16" (GPUs come whole)."""
    value = resource.get("nominalQuota")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise UserError(
        f"{file}: ClusterQueue {queue}: nominalQuota {units.quoted(value)} of {GPU} "
        "is not a whole number."
    )


def diff(engine: Engine, cfg: config.Config, file: Path) -> list[Drift]:
    """Where the ClusterQueues in `file` disagree with the holdings, and those fleetui made
    in its cohort that no managed team has (an export leaves them out, and applying a
    directory deletes nothing)."""
    mapping = load(engine, cfg)
    wants, have = _wants(mapping, _held(mapping, engine)), read(file)
    cohort = {n: q for n, q in have.items() if q.parent == mapping.settings.cohort}
    return compare(wants, have, absent=0) + strays(wants, cohort, partial(delete, "ClusterQueue"))
