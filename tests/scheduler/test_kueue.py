"""Kueue objects from the holdings, validated against Kueue's published CRD schemas (kept in
tests/scheduler/data with their source version), and drift read from kubectl's JSON."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import jsonschema
import pytest

from tests.scheduler.conftest import cli, write_config

CRDS = json.loads((Path(__file__).parent / "data" / "kueue_crds_v0.19.2.json").read_text())
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
KUEUE = """
[scheduler]
kind = "kueue"
cohort = "gpu-fleet"
[scheduler.names]
"Ads/ranking" = "ads-rank"
"""


def exported(db: str, directory: Path) -> dict[str, dict]:
    done = cli("--db", db, "sched", "export", "--kueue", str(directory))
    assert done.exit_code == 0, done.output
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.iterdir())}


def test_export_writes_flavors_queues_per_team_and_local_queues_valid_for_kueue(
    fleet_db, config_file, tmp_path
):
    write_config(KUEUE)
    objects = exported(fleet_db, tmp_path / "kueue")
    for name, obj in objects.items():
        assert obj["apiVersion"] == CRDS["apiVersion"]
        jsonschema.validate(obj, CRDS["schemas"][obj["kind"]])
        assert DNS_LABEL.fullmatch(obj["metadata"]["name"]), name
    assert sorted(objects) == [
        "clusterqueue-ads.json",
        "clusterqueue-llm.json",
        "localqueue-ads-rank.ads.json",
        "localqueue-llm-sft.llm.json",
        "resourceflavor-nvidia-a100-sxm4-80gb.json",
        "resourceflavor-nvidia-h800.json",
    ]
    h800 = objects["resourceflavor-nvidia-h800.json"]["spec"]
    assert h800 == {"nodeLabels": {"nvidia.com/gpu.product": "NVIDIA-H800"}}
    ads = objects["clusterqueue-ads.json"]["spec"]
    assert ads["cohort"] == "gpu-fleet"
    quota = {
        f["name"]: f["resources"][0]["nominalQuota"] for f in ads["resourceGroups"][0]["flavors"]
    }
    assert quota == {"nvidia-a100-sxm4-80gb": 8, "nvidia-h800": 16}  # in repair: not counted
    rank = objects["localqueue-ads-rank.ads.json"]
    assert rank["metadata"]["namespace"] == "ads-rank" and rank["spec"]["clusterQueue"] == "ads"


def test_the_schemas_refuse_what_kueue_refuses(fleet_db, config_file, tmp_path):
    """The kept schemas are the real ones: a quota that is not a quantity fails them."""
    write_config(KUEUE)
    queue = exported(fleet_db, tmp_path / "k")["clusterqueue-llm.json"]
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "lots"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(queue, CRDS["schemas"]["ClusterQueue"])


def test_export_replaces_its_own_files_and_refuses_a_directory_holding_others(
    fleet_db, config_file, tmp_path
):
    write_config(KUEUE)
    out = tmp_path / "k"
    exported(fleet_db, out)
    (out / "clusterqueue-gone.json").write_text("{}")  # from an earlier export
    assert "clusterqueue-gone.json" not in exported(fleet_db, out)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = cli("--db", fleet_db, "sched", "export", "--kueue", str(other))
    assert refused.exit_code == 1 and "holds files fleetui did not write (notes.txt)" in (
        refused.stderr
    )
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def _as_kubectl_shows(objects: dict[str, dict]) -> dict:
    """`kubectl get clusterqueues -o json`: a List of the applied queues, with status."""
    items = [
        {**obj, "metadata": {**obj["metadata"], "uid": "x"}, "status": {"pendingWorkloads": 0}}
        for obj in objects.values()
        if obj["kind"] == "ClusterQueue"
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}


def test_diff_reads_kubectl_json_and_reports_drift_both_ways(fleet_db, config_file, tmp_path):
    write_config(KUEUE)
    listed = _as_kubectl_shows(exported(fleet_db, tmp_path / "k"))
    got = tmp_path / "cq.json"
    got.write_text(json.dumps(listed))
    same = cli("--db", fleet_db, "sched", "diff", "--kueue", str(got))
    assert same.exit_code == 0 and "matches" in same.stdout

    ads, _ = sorted(listed["items"], key=lambda q: q["metadata"]["name"])
    ads["spec"]["resourceGroups"][0]["flavors"][1]["resources"][0]["nominalQuota"] = "40"
    listed["items"] = [ads]  # llm's queue deleted
    got.write_text(json.dumps(listed))
    drift = cli("--db", fleet_db, "sched", "diff", "--kueue", str(got))
    assert drift.exit_code == 1
    assert drift.stdout.splitlines() == [
        "Ads: ClusterQueue ads allows 40 nvidia-h800, too high: it holds 16",
        "LLM: ClusterQueue llm is missing",
    ]
    as_json = cli("--db", fleet_db, "sched", "diff", "--kueue", str(got), "--json")
    assert {d["what"] for d in json.loads(as_json.stdout)} == {"limit", "missing"}


def test_a_queue_fleetui_made_for_a_team_since_renamed_or_deleted_is_drift_to_delete(
    fleet_db, config_file, tmp_path
):
    """An export leaves out the queue of a team renamed or deleted, and `kubectl apply -f DIR`
    deletes nothing: its quota stays live. diff names each queue carrying fleetui's label in
    its cohort that no managed team has, with the command deleting it; others are left be."""
    write_config(KUEUE)
    listed = _as_kubectl_shows(exported(fleet_db, tmp_path / "k"))
    hand_made = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": "physics"},
        "spec": {"cohort": "gpu-fleet"},
    }
    elsewhere = json.loads(json.dumps(listed["items"][0]))  # fleetui's label, another cohort
    elsewhere["metadata"]["name"], elsewhere["spec"]["cohort"] = "old", "other"
    listed["items"] += [hand_made, elsewhere]
    got = tmp_path / "cq.json"
    got.write_text(json.dumps(listed))
    assert cli("--db", fleet_db, "teams", "rename", "Ads", "Promo").exit_code == 0
    write_config(KUEUE.replace("Ads/ranking", "Promo/ranking"))

    again = cli("--db", fleet_db, "sched", "export", "--kueue", str(tmp_path / "k"))
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[1:] == [  # the export no longer holds them
        "No longer exported (applying deletes nothing); delete them with:",
        "kubectl delete clusterqueue ads",
        "kubectl delete localqueue ads -n ads-rank",
    ]
    drift = cli("--db", fleet_db, "sched", "diff", "--kueue", str(got))
    assert drift.exit_code == 1
    assert drift.stdout.splitlines() == [
        "Promo: ClusterQueue promo is missing",
        "ClusterQueue ads is fleetui's but maps to no team or project it manages; "
        "delete it: kubectl delete clusterqueue ads",
    ]
    as_json = json.loads(
        cli("--db", fleet_db, "sched", "diff", "--kueue", str(got), "--json").stdout
    )
    assert (
        as_json[-1]["what"] == "stray"
        and as_json[-1]["command"] == "kubectl delete clusterqueue ads"
    )


def test_a_flavor_absent_from_a_queue_is_no_quota(fleet_db, config_file, tmp_path):
    """In Kueue a flavor a ClusterQueue leaves out gives it no quota: in sync where the team
    holds none of that model, drift where it holds some. One queue (`kubectl get clusterqueue
    NAME -o json`, not a List) is read as well."""
    write_config(KUEUE)
    queues = {
        q["metadata"]["name"]: q
        for q in _as_kubectl_shows(exported(fleet_db, tmp_path / "k"))["items"]
    }
    for queue in queues.values():  # each queue without its A100 flavor; only Ads holds A100s
        group = queue["spec"]["resourceGroups"][0]
        group["flavors"] = [f for f in group["flavors"] if "a100" not in f["name"]]
    got = tmp_path / "cq.json"
    got.write_text(json.dumps(queues["llm"]))
    llm = cli("--db", fleet_db, "sched", "diff", "--kueue", str(got))
    assert llm.exit_code == 1  # the queue only: Ads's is missing from the file
    assert llm.stdout.splitlines() == ["Ads: ClusterQueue ads is missing"]
    got.write_text(json.dumps(queues["ads"]))
    ads = cli("--db", fleet_db, "sched", "diff", "--kueue", str(got))
    assert ads.exit_code == 1
    assert ads.stdout.splitlines() == [
        "Ads: ClusterQueue ads has no quota for nvidia-a100-sxm4-80gb; it holds 8",
        "LLM: ClusterQueue llm is missing",
    ]


def test_diff_of_a_file_that_is_not_kubectl_json_is_one_sentence(fleet_db, config_file, tmp_path):
    write_config(KUEUE)
    bad = tmp_path / "cq.json"
    bad.write_text("kind: List\n")
    done = cli("--db", fleet_db, "sched", "diff", "--kueue", str(bad))
    assert done.exit_code == 2  # cannot compare, unlike drift
    assert done.stderr.strip() == (
        f"fleetui: {bad} is not JSON; give the output of `kubectl get clusterqueues -o json`."
    )


def test_an_export_that_fails_half_way_leaves_the_earlier_one_as_it_was(
    fleet_db, config_file, tmp_path, monkeypatch
):
    write_config(KUEUE)
    out = tmp_path / "k"
    before = exported(fleet_db, out)
    (out / "clusterqueue-gone.json").write_text("{}")  # an earlier export's, replaced on success
    written = []

    def disk_fills(path, text, *args, **kwargs):  # the third file finds the disk full
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        return real_write(path, text, *args, **kwargs)

    real_write = Path.write_text
    monkeypatch.setattr(Path, "write_text", disk_fills)
    failed = cli("--db", fleet_db, "sched", "export", "--kueue", str(out))
    monkeypatch.undo()
    assert failed.exit_code == 1
    assert failed.stderr.strip() == (
        f"fleetui: Could not write the Kueue objects into {out} (No space left on device); "
        "the earlier export there is unchanged."
    )
    left = {p.name: json.loads(p.read_text()) for p in sorted(out.iterdir())}
    assert left == {**before, "clusterqueue-gone.json": {}}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".k")] == []  # no staging left


def test_ascend_cards_get_huaweis_device_plugin_names_and_unknown_vendors_are_named(
    fleet_db, config_file, tmp_path
):
    """An Ascend flavor selects the nodes Huawei's device plugin labels and quotas the resource
    it advertises; a vendor without known plugin names is left out, and the export says so."""
    write_config(KUEUE)
    more = tmp_path / "more.csv"
    rows = [f"N{i:03d},Ascend 910B,npu-01,LLM,,in_service" for i in range(8)]
    rows += [f"M{i:03d},MI300X,mi-01,Ads,,in_service" for i in range(4)]
    more.write_text("serial,model,node,team,project,status\n" + "\n".join(rows) + "\n")
    assert cli("--db", fleet_db, "import", str(more), "--create-missing").exit_code == 0
    done = cli("--db", fleet_db, "sched", "export", "--kueue", str(tmp_path / "k"))
    assert done.exit_code == 0, done.output
    assert "Left out, no known Kubernetes device plugin: Instinct MI300X." in done.stdout
    objects = {p.name: json.loads(p.read_text()) for p in (tmp_path / "k").iterdir()}
    for obj in objects.values():
        jsonschema.validate(obj, CRDS["schemas"][obj["kind"]])
    ascend = objects["resourceflavor-ascend-910b.json"]["spec"]
    assert ascend == {"nodeLabels": {"accelerator": "huawei-Ascend910"}}
    assert not any("mi300" in name for name in objects)
    groups = objects["clusterqueue-llm.json"]["spec"]["resourceGroups"]
    covered = {
        g["coveredResources"][0]: {f["name"]: f["resources"][0] for f in g["flavors"]}
        for g in groups
    }
    assert covered["huawei.com/Ascend910"] == {
        "ascend-910b": {"name": "huawei.com/Ascend910", "nominalQuota": 8}
    }
    assert set(covered["nvidia.com/gpu"]) == {"nvidia-h800", "nvidia-a100-sxm4-80gb"}
    listed = tmp_path / "cq.json"
    listed.write_text(json.dumps(_as_kubectl_shows(objects)))
    same = cli("--db", fleet_db, "sched", "diff", "--kueue", str(listed))
    assert same.exit_code == 0, same.output
