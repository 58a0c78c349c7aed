"""Real metrics stores for the tests: Prometheus and VictoriaMetrics from the machine's binaries
(Debian's `prometheus` and `victoria-metrics` packages), each started on a free loopback port
in a temporary directory, loaded with series in dcgm-exporter's label sets, and stopped after.

Prometheus is loaded before it starts (`promtool tsdb create-blocks-from openmetrics`, the
backfill path), VictoriaMetrics through its /api/v1/import/prometheus API.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("prometheus", "victoria-metrics")
BINARIES = {"prometheus": ("prometheus", "promtool"), "victoria-metrics": ("victoria-metrics",)}


@dataclass
class Series:
    """One time series: a metric name, its labels, and (unix seconds, value) points."""

    name: str
    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    def lines(self, millis: bool) -> list[str]:
        labels = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        scale = 1000 if millis else 1
        return [f"{self.name}{{{labels}}} {v:g} {int(t * scale)}" for t, v in self.points]


def missing(kind: str) -> str | None:
    """Why the store cannot run here (a skip reason), or None."""
    absent = [b for b in BINARIES[kind] if shutil.which(b) is None]
    if absent:
        return f"{kind} tests need {', '.join(absent)} (apt-get install {kind}); skipped"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Store:
    """A running store; `url` is its base URL."""

    def __init__(self, kind: str, directory: Path, series: list[Series]) -> None:
        self.kind, self.directory = kind, directory
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (directory / "server.log").open("wb")
        if kind == "prometheus":
            self._backfill(series)
            config = directory / "prometheus.yml"
            config.write_text("global:\n  scrape_interval: 1m\n")
            command = [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ]
        else:
            command = [
                "victoria-metrics",
                f"-httpListenAddr=127.0.0.1:{port}",
                f"-storageDataPath={directory / 'data'}",
                "-search.disableCache",
                "-search.latencyOffset=0s",
                "-loggerLevel=ERROR",
            ]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait("/-/ready" if kind == "prometheus" else "/health")
        if kind == "victoria-metrics":
            self.load(series)

    def _backfill(self, series: list[Series]) -> None:
        text = "\n".join(line for s in series for line in s.lines(millis=False))
        source = self.directory / "series.om"
        source.write_text(text + "\n# EOF\n")
        data = str(self.directory / "data")
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), data],
            check=True,
            capture_output=True,
        )

    def load(self, series: list[Series]) -> None:
        """More series (VictoriaMetrics only: Prometheus takes backfills before it starts)."""
        body = "\n".join(line for s in series for line in s.lines(millis=True)).encode()
        urllib.request.urlopen(f"{self.url}/api/v1/import/prometheus", body, timeout=30).read()
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=30).read()

    def _wait(self, page: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + page, timeout=2).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = (self.directory / "server.log").read_text(errors="replace")
                    raise RuntimeError(f"{self.kind} did not start:\n{log[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
