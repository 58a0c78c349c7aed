"""Prometheus text: what the agent serves at /metrics, and reading dcgm-exporter's."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from fleetui.core import units
from fleetui.telemetry.nvml import Snapshot

# agent metric name -> GpuSample attribute
METRICS = {
    "fleetui_gpu_utilization_percent": "util_gpu",
    "fleetui_gpu_memory_utilization_percent": "util_memory",
    "fleetui_gpu_memory_used_mib": "memory_used_mib",
    "fleetui_gpu_memory_total_mib": "memory_total_mib",
    "fleetui_gpu_temperature_celsius": "temperature_c",
    "fleetui_gpu_power_watts": "power_w",
    "fleetui_gpu_power_limit_watts": "power_limit_w",
    "fleetui_gpu_ecc_uncorrected_volatile": "ecc_uncorrected_volatile",
    "fleetui_gpu_ecc_uncorrected_aggregate": "ecc_uncorrected_aggregate",
    "fleetui_gpu_remapped_rows_uncorrectable": "remapped_rows_uncorrectable",
    "fleetui_gpu_remapped_rows_pending": "remapped_rows_pending",
    "fleetui_gpu_remapped_rows_failure": "remapped_rows_failure",
    "fleetui_gpu_retired_pages_dbe": "retired_pages_dbe",
    "fleetui_gpu_retired_pages_pending": "retired_pages_pending",
    "fleetui_gpu_clocks_event_reasons": "throttle_reasons",
    "fleetui_gpu_xid_last": "xid",
    "fleetui_gpu_xid_count": "xid_count",
    "fleetui_gpu_lost": "lost",
}


def _label(value: str | None) -> str:
    return (value or "").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(snap: Snapshot) -> str:
    """The snapshot in Prometheus text format (unknown values are left out)."""
    lines = []
    for metric, attribute in METRICS.items():
        lines.append(f"# TYPE {metric} gauge")
        for gpu in snap.gpus:
            value = getattr(gpu, attribute)
            if value is None:
                continue
            labels = (
                f'hostname="{_label(snap.hostname)}",gpu="{gpu.index}",'
                f'UUID="{_label(gpu.uuid)}",pci_bus_id="{_label(gpu.pci_bus_id)}",'
                f'modelName="{_label(gpu.name)}",serial="{_label(gpu.serial)}"'
            )
            lines.append(f"{metric}{{{labels}}} {float(value):g}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- reading dcgm-exporter

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

DCGM_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util_gpu",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "util_memory",
    "DCGM_FI_DEV_FB_USED": "memory_used_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temperature_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "ecc_uncorrected_volatile",
    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL": "ecc_uncorrected_aggregate",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": "remapped_rows_uncorrectable",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "remapped_rows_failure",
    "DCGM_FI_DEV_ROW_REMAP_PENDING": "remapped_rows_pending",
    "DCGM_FI_DEV_RETIRED_DBE": "retired_pages_dbe",
    "DCGM_FI_DEV_RETIRED_PENDING": "retired_pages_pending",
    "DCGM_FI_DEV_XID_ERRORS": "xid",  # the last Xid (dcgm-exporter adds err_code/err_msg)
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "throttle_reasons",  # DCGM 3's name
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": "throttle_reasons",  # DCGM 4's name
}


@dataclass
class ScrapedGpu:
    """One GPU as an exporter reports it: identity labels and the values it had."""

    hostname: str | None
    index: str | None  # the `gpu` label
    uuid: str | None
    pci_bus_id: str | None
    model: str | None
    serial: str | None
    values: dict[str, float] = field(default_factory=dict)


def parse(text: str) -> list[ScrapedGpu]:
    """GPUs in a dcgm-exporter (or fleetui agent) /metrics page, keyed by UUID or bus id.

    Labels as dcgm-exporter writes them: `Hostname` (older) or `hostname` (newer), `UUID`,
    `pci_bus_id`, `modelName`, `DCGM_FI_DEV_SERIAL` when the exporter is set to add it.
    Lines that are not samples, and metrics it does not know, are skipped; a value that is not
    a number is a ValueError (NaN and infinities, which Prometheus allows, read as unknown)."""
    gpus: dict[str, ScrapedGpu] = {}
    values: defaultdict[str, dict[str, float]] = defaultdict(dict)
    known = DCGM_FIELDS | {m: a for m, a in METRICS.items()}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match or match[1] not in known:
            continue
        labels = dict(_PAIR.findall(match[2] or ""))
        key = labels.get("UUID") or labels.get("pci_bus_id") or labels.get("gpu") or "?"
        if key not in gpus:
            gpus[key] = ScrapedGpu(
                hostname=labels.get("Hostname") or labels.get("hostname"),
                index=labels.get("gpu") or None,
                uuid=labels.get("UUID") or None,
                pci_bus_id=labels.get("pci_bus_id") or None,
                model=labels.get("modelName") or None,
                serial=labels.get("DCGM_FI_DEV_SERIAL") or labels.get("serial") or None,
            )
        try:
            value = float(match[3])
        except ValueError:
            raise ValueError(
                f"line {number}: {match[1]} is {units.quoted(match[3][:40])}, not a number"
            ) from None
        if math.isfinite(value):
            values[key][known[match[1]]] = value
    for key, gpu in gpus.items():
        gpu.values = values[key]
    return list(gpus.values())
