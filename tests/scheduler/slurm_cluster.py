"""A throwaway Slurm cluster for the tests, from Debian's packages: munged (on its default
socket: sacctmgr ignores any other), MariaDB in a temporary data directory, slurmdbd and
slurmctld, all on loopback ports of their own. The GPUs are count-only GRES on nodes in state
FUTURE, so no slurmd and no GPU are needed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "mariadb-install-db", "mariadbd", "slurmdbd", "slurmctld", "sacctmgr")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
CLUSTER = "fleet"
# Count-only GPUs: node name prefix, GRES type, nodes; eight cards a node.
NODES = (("h800", 4), ("a100", 2))
GRES_TYPES = tuple(kind for kind, _ in NODES)


def missing() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, ready, log: Path | None, proc: subprocess.Popen | None, limit: float = 60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start:\n{tail}")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class SlurmCluster:
    def __init__(self, root: Path):
        self.root = root
        self.etc = root / "etc"
        self.conf = self.etc / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.mysql_port, self.dbd_port = _free_port(), _free_port()
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        self.cluster = CLUSTER  # the cluster a test works on (the fixture gives each its own)

    # --- start-up -------------------------------------------------------------------------
    def start(self) -> SlurmCluster:
        for d in ("etc", "state", "spool", "db", "munge", "log"):
            (self.root / d).mkdir(mode=0o700)
        self._munge()
        self._mariadb()
        self._write_configs()
        self.start_slurmdbd()
        self.sacctmgr("add", "cluster", CLUSTER)
        self._slurmctld()
        return self

    def _munge(self) -> None:
        """munged on its default socket; one already answering there is used as it is."""
        if self.munge_answers():
            return
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        log = self.root / "log" / "munged.log"
        self.procs["munged"] = subprocess.Popen(
            ["munged", "--foreground", "--force", f"--key-file={key}", f"--log-file={log}",
             f"--pid-file={self.root / 'munge' / 'munged.pid'}",
             f"--seed-file={self.root / 'munge' / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait("munged", self.munge_answers, log, self.procs["munged"])

    @staticmethod
    def munge_answers() -> bool:
        if not MUNGE_SOCKET.exists():
            return False
        cred = subprocess.run(["munge", "-n"], capture_output=True)
        return (
            cred.returncode == 0
            and subprocess.run(["unmunge"], input=cred.stdout, capture_output=True).returncode == 0
        )

    def _mariadb(self) -> None:
        data = self.root / "db"
        subprocess.run(
            ["mariadb-install-db", f"--datadir={data}", "--user=root", "--skip-test-db",
             "--auth-root-authentication-method=normal"],
            check=True, capture_output=True,
        )  # fmt: skip
        log = self.root / "log" / "mariadb.log"
        self.procs["mariadbd"] = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
             f"--socket={self.root / 'mysql.sock'}", f"--port={self.mysql_port}",
             "--bind-address=127.0.0.1", "--skip-grant-tables", f"--log-error={log}",
             f"--pid-file={self.root / 'mariadb.pid'}", "--innodb-buffer-pool-size=16M",
             "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait("MariaDB", lambda: _listening(self.mysql_port), log, self.procs["mariadbd"])

    def _write_configs(self) -> None:
        log = self.root / "log"
        nodes = "\n".join(
            f"NodeName={kind}-[01-{n:02d}] Gres=gpu:{kind}:8 CPUs=8 State=FUTURE"
            for kind, n in NODES
        )
        tres = ",".join(["gres/gpu", *(f"gres/gpu:{kind}" for kind in GRES_TYPES)])
        self.conf.write_text(
            f"""ClusterName={CLUSTER}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={self.root / "state"}
SlurmdSpoolDir={self.root / "spool"}
SlurmctldPidFile={self.root / "slurmctld.pid"}
SlurmctldLogFile={log / "slurmctld.log"}
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.dbd_port}
AccountingStorageTRES={tres}
AccountingStorageEnforce=associations,limits
GresTypes=gpu
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
MpiDefault=none
ReturnToService=2
{nodes}
PartitionName=gpu Nodes=ALL Default=YES State=UP
"""
        )
        dbd = self.etc / "slurmdbd.conf"  # slurmdbd reads it beside SLURM_CONF
        dbd.write_text(
            f"""AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.mysql_port}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={self.root / "slurmdbd.pid"}
LogFile={log / "slurmdbd.log"}
"""
        )
        dbd.chmod(0o600)  # slurmdbd refuses a config others can read

    def start_slurmdbd(self) -> None:
        self.procs["slurmdbd"] = subprocess.Popen(
            ["slurmdbd", "-D"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        _wait(
            "slurmdbd",
            lambda: _listening(self.dbd_port),
            self.root / "log" / "slurmdbd.log",
            self.procs["slurmdbd"],
        )

    def stop_slurmdbd(self) -> None:
        self._stop("slurmdbd")

    def _slurmctld(self) -> None:
        self.procs["slurmctld"] = subprocess.Popen(
            ["slurmctld", "-D", "-i"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait(
            "slurmctld",
            lambda: (
                subprocess.run(["scontrol", "ping"], env=self.env, capture_output=True).stdout.find(
                    b"UP"
                )
                >= 0
            ),
            self.root / "log" / "slurmctld.log",
            self.procs["slurmctld"],
        )

    # --- use ------------------------------------------------------------------------------
    def limits(self) -> dict[str, tuple[str, str]]:
        """Account -> (parent, GrpTRES) on the test's cluster, as `sacctmgr -P` shows them."""
        lines = self.sacctmgr(
            "-P", "-n", "show", "assoc", "where", f"cluster={self.cluster}",
            "format=account,user,parentname,grptres",
        ).splitlines()  # fmt: skip
        rows = [line.split("|") for line in lines if line.strip()]
        return {acct: (parent, tres) for acct, user, parent, tres in rows if not user}

    def sacctmgr(self, *args: str) -> str:
        done = subprocess.run(
            ["sacctmgr", "-i", *args], env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"sacctmgr {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    # --- tear-down ------------------------------------------------------------------------
    def _stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        for name in ("slurmctld", "slurmdbd", "mariadbd", "munged"):
            self._stop(name)
