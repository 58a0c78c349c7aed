"""The scheduler tests' fixtures: a small fleet, its config, and (for tests/scheduler/test_slurm.py)
a real Slurm started once per session from Debian's packages (skipped, with one line, where they
are absent)."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fleetui import config
from fleetui.cli import app
from fleetui.store import open_fleet
from tests.scheduler import slurm_cluster

_clusters = itertools.count(1)
_started: dict[str, float] = {}

# Two teams: LLM (project sft) with 16 H800; Ads (project ranking) with 16 H800 and 8 A100,
# and 8 H800 in repair that count for nothing.
FLEET = ["serial,model,node,team,project,status"]
for i in range(16):
    FLEET.append(f"L{i:03d},H800 SXM 80GB,h800-{1 + i // 8:02d},LLM,sft,in_service")
for i in range(16):
    status = "spare" if i < 4 else "in_service"
    FLEET.append(f"A{i:03d},H800 SXM 80GB,h800-{3 + i // 8:02d},Ads,ranking,{status}")
for i in range(8):
    FLEET.append(f"B{i:03d},A100 SXM4 80GB,a100-01,Ads,,in_service")
for i in range(8):
    FLEET.append(f"R{i:03d},H800 SXM 80GB,,Ads,,repair")

CONFIG = """
[scheduler]
kind = "slurm"
cluster = "{cluster}"
[scheduler.gres]
"H800 SXM 80GB" = "h800"
"A100 SXM4 80GB" = "a100"
"""


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def fleet_db(db_url) -> str:
    """The fleet above in a new database on the test's backend."""
    csv = Path(os.environ["XDG_DATA_HOME"]) / "fleet.csv"
    csv.write_text("\n".join(FLEET) + "\n", "utf-8")
    done = cli("--db", db_url, "import", str(csv), "--create-missing")
    assert done.exit_code == 0, done.output
    return db_url


@pytest.fixture
def fleet(fleet_db):
    engine = open_fleet(fleet_db)
    yield engine
    engine.dispose()


def write_config(text: str) -> config.Config:
    """`text` as the config file in force ($FLEETUI_CONFIG, set by the fixture below)."""
    path = Path(os.environ["FLEETUI_CONFIG"])
    path.write_text(text, "utf-8")
    return config.load(path)


@pytest.fixture
def config_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("")
    monkeypatch.setenv("FLEETUI_CONFIG", str(path))
    return path


@pytest.fixture(scope="session")
def slurm_daemons(tmp_path_factory):
    absent = slurm_cluster.missing()
    if absent:
        pytest.skip(
            f"Slurm test daemons not installed ({', '.join(absent)}): "
            "apt-get install slurm-wlm slurmdbd munge mariadb-server"
        )
    if os.geteuid() != 0 and not slurm_cluster.SlurmCluster.munge_answers():
        pytest.skip("no munged answers on its default socket, and only root can start one")
    started = time.monotonic()
    cluster = slurm_cluster.SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    _started["seconds"] = time.monotonic() - started
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm(slurm_daemons, config_file, monkeypatch) -> slurm_cluster.SlurmCluster:
    """The session's Slurm, with a cluster of this test's own in slurmdbd (so tests never see
    each other's accounts) named in the config in force; sacctmgr finds slurmdbd by SLURM_CONF."""
    name = f"t{next(_clusters)}"
    slurm_daemons.sacctmgr("add", "cluster", name)
    slurm_daemons.cluster = name
    monkeypatch.setenv("SLURM_CONF", str(slurm_daemons.conf))
    write_config(CONFIG.format(cluster=name))
    return slurm_daemons


def pytest_terminal_summary(terminalreporter):
    if "seconds" in _started:
        terminalreporter.write_line(
            f"Slurm test daemons (munged, MariaDB, slurmdbd, slurmctld) started in "
            f"{_started['seconds']:.1f} s"
        )
