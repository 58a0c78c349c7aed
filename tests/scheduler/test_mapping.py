"""[scheduler] in the config: names with defaults, errors naming the file, key and value."""

from __future__ import annotations

import json
import re

import pytest

from fleetui import catalogue, config
from fleetui.core.errors import UserError
from fleetui.scheduler import mapping
from tests.scheduler.conftest import cli, write_config


def test_map_prints_the_mapping_in_force_with_defaults_derived_from_names(fleet_db, config_file):
    write_config('[scheduler]\nkind = "slurm"\n[scheduler.names]\n"Ads" = "ads-team"\n')
    shown = cli("--db", fleet_db, "sched", "map")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines() == [
        "scheduler: slurm; Slurm parent account root; Kueue cohort fleetui",
        "team Ads -> ads-team",
        "team LLM -> llm",
        "project Ads/ranking -> ads-team-ranking",
        "project LLM/sft -> llm-sft",
        "model A100 SXM4 80GB -> gres/gpu:a100, NVIDIA-A100-SXM4-80GB",
        "model H800 SXM 80GB -> gres/gpu:h800, NVIDIA-H800",
    ]
    as_json = json.loads(cli("--db", fleet_db, "sched", "map", "--json").stdout)
    assert as_json["models"]["H800 SXM 80GB"] == {"gres": "h800", "product": "NVIDIA-H800"}


def test_every_default_gres_type_is_a_short_family_name():
    """As sites name GRES types (a100, h100, l40s): no form factor, memory size or vendor."""
    specs = catalogue.models()
    found = {s.name: mapping.family(s) for s in specs}
    assert {found[n] for n in ("A100 SXM4 80GB", "A100 PCIe 40GB", "A100 SXM4 40GB")} == {"a100"}
    assert (found["H100 NVL 94GB"], found["H800 SXM 80GB"], found["L40S 48GB"]) == (
        "h100",
        "h800",
        "l40s",
    )
    assert (found["GeForce RTX 4090"], found["GB200 (per GPU)"]) == ("rtx4090", "gb200")
    for spec in specs:
        gres = found[spec.name]
        assert re.fullmatch(r"[a-z][a-z0-9]*", gres) and len(gres) <= 10, spec.name
        assert not re.search(r"sxm|pcie|nvl|\dg$", gres), spec.name
        assert not gres.startswith(catalogue.normalize(spec.vendor)), spec.name


def test_a_configured_gres_type_wins_over_the_family(fleet_db, config_file):
    write_config('[scheduler.gres]\n"a100-sxm4-80gb" = "a100_80g"\n')
    shown = json.loads(cli("--db", fleet_db, "sched", "map", "--json").stdout)
    assert shown["models"]["A100 SXM4 80GB"]["gres"] == "a100_80g"


def test_only_the_teams_named_are_managed(fleet_db, config_file):
    write_config('[scheduler]\nteams = ["LLM"]\n')
    shown = json.loads(cli("--db", fleet_db, "sched", "map", "--json").stdout)
    assert shown["teams"] == {"LLM": "llm"} and shown["projects"] == {"LLM/sft": "llm-sft"}
    write_config('[scheduler]\nteams = ["Search"]\n')
    done = cli("--db", fleet_db, "sched", "map")
    assert done.exit_code == 1 and "teams names 'Search', which is not a team" in done.stderr


def test_team_and_project_names_in_the_config_match_ignoring_case(fleet_db, config_file):
    write_config(
        '[scheduler]\nteams = ["llm", "ADS"]\n'
        '[scheduler.names]\n"ads" = "adz"\n"llm/SFT" = "tuning"\n'
    )
    shown = cli("--db", fleet_db, "sched", "map", "--json")
    assert shown.exit_code == 0, shown.output
    as_json = json.loads(shown.stdout)
    assert as_json["teams"] == {"Ads": "adz", "LLM": "llm"}
    assert as_json["projects"] == {"Ads/ranking": "adz-ranking", "LLM/sft": "tuning"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[scheduler.names]\n"Search" = "x"', "[scheduler.names] names 'Search', which is not a"),
        ('[scheduler.names]\n"LLM/pre" = "x"', "[scheduler.names] names 'LLM/pre', which is not a"),
        (
            '[scheduler.names]\n"Ads" = "x"\n"ADS" = "y"',
            "[scheduler.names] names 'Ads' and 'ADS', both 'Ads'.",
        ),
        (
            '[scheduler]\nteams = ["LLM", "llm"]',
            "[scheduler] teams names 'LLM' and 'llm', both 'LLM'.",
        ),
    ],
)
def test_a_config_name_matching_no_team_or_project_is_refused(fleet_db, config_file, text, error):
    """A name for a team since renamed or deleted would otherwise be dropped without a word,
    changing the team's account or queue name."""
    write_config(text)
    done = cli("--db", fleet_db, "sched", "map")
    assert done.exit_code == 1 and done.stderr.startswith(f"fleetui: {config_file}: {error}")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('kind = "pbs"', '[scheduler] kind = "pbs": not one of slurm, kueue.'),
        ('teams = "LLM"', '[scheduler] teams = "LLM": not a list of team names.'),
        ('parent = "Root"', '[scheduler] parent = "Root": not a name Slurm and Kubernetes'),
        ("queue = 1", "[scheduler] queue is not a setting; the settings here are cluster, "),
        (
            '[scheduler.names]\n"LLM" = "LLM Team"',
            '[scheduler.names] LLM = "LLM Team": not a name Slurm and Kubernetes accept',
        ),
        ('[scheduler.gres]\n"H900" = "h900"', '[scheduler.gres] H900 = "h900": unknown model'),
        ("[scheduler.gres]\nH800 = 8", "[scheduler.gres] H800 = 8: not a string."),
        # accepted, then every apply or export failed on them (root: every account's parent)
        ('[scheduler.names]\nLLM = "root"', '[scheduler.names] LLM = "root": the parent account'),
        (f'[scheduler.names]\nLLM = "{"l" * 64}"', '[scheduler.names] LLM = "llllllllllll'),
        ('[scheduler.gres]\n"H800" = "h 800"', '[scheduler.gres] H800 = "h 800": not a Slurm GRES'),
        (
            '[scheduler.products]\n"H800" = "NVIDIA H800 [SXM]"',
            '[scheduler.products] H800 = "NVIDIA H800 [SXM]": not a Kubernetes label value',
        ),
    ],
)
def test_a_broken_setting_names_the_file_key_and_value(config_file, text, error):
    config_file.write_text(f"[scheduler]\n{text}\n" if not text.startswith("[") else text)
    with pytest.raises(UserError) as raised:
        config.load(config_file)
    assert str(raised.value).startswith(f"{config_file}: {error}")


def test_a_team_with_no_name_the_scheduler_accepts_is_told_how_to_name_it(db_url, config_file):
    assert cli("--db", db_url, "teams", "add", "数据平台").exit_code == 0
    done = cli("--db", db_url, "sched", "map")
    assert done.exit_code == 1
    assert "'数据平台' has no name the scheduler accepts (a-z, 0-9 and -, at most 63 characters);" \
        " give it one under [scheduler.names]" in done.stderr  # fmt: skip
    write_config('[scheduler.names]\n"数据平台" = "data"\n')
    assert "team 数据平台 -> data" in cli("--db", db_url, "sched", "map").stdout


@pytest.mark.parametrize(
    ("team", "said"),
    [
        ("Root", "'Root' would be 'root' in the scheduler, the parent account every team's goes"),
        ("L" * 64, "has no name the scheduler accepts (a-z, 0-9 and -, at most 63 characters)"),
    ],
)
def test_a_team_whose_default_name_the_scheduler_would_refuse_is_told_to_name_it(
    db_url, config_file, team, said
):
    """A team whose account would be `root` (the parent of every account: its limits there
    are everyone's), or longer than Kubernetes' 63 characters, passed `sched map` and failed
    at every apply or export after."""
    assert cli("--db", db_url, "teams", "add", team).exit_code == 0
    done = cli("--db", db_url, "sched", "map")
    assert done.exit_code == 1 and said in done.stderr, done.output


def test_apply_and_diff_without_a_scheduler_say_how_to_configure_one(fleet_db, config_file):
    """A configuration error exits 2, which scripts tell from drift (exit 1)."""
    for command in ("apply", "diff"):
        done = cli("--db", fleet_db, "sched", command)
        assert done.exit_code == 2
        assert f'No Slurm to apply to: set [scheduler] kind = "slurm" in {config_file}' in (
            done.stderr
        )
