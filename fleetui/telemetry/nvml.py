"""One snapshot of this host's GPUs through NVML (`import pynvml`, package nvidia-ml-py).

Every NVML call is guarded: a value the GPU does not support is None; a GPU that has fallen off
the bus is reported as lost (with the identity it had when last read, so the ops box knows which
card it is); a host without the NVML library or driver gives a snapshot whose `error` says so.
Nothing here raises for a sick or missing GPU. Xids come from the kernel log (fleetui.telemetry.
xidlog), which NVML only reports to a process waiting on an event set.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pynvml

from fleetui.telemetry.xidlog import XidLog, bus_key

# clock event (throttle) reasons worth flagging, by NVML bit
THROTTLE_REASONS = {
    0x0000000000000004: "sw_power_cap",
    0x0000000000000008: "hw_slowdown",
    0x0000000000000020: "sw_thermal_slowdown",
    0x0000000000000040: "hw_thermal_slowdown",
    0x0000000000000080: "hw_power_brake_slowdown",
}


@dataclass
class GpuSample:
    index: int
    name: str | None = None
    serial: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    util_gpu: int | None = None
    util_memory: int | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    retired_pages_dbe: int | None = None  # pages retired for double-bit ECC errors
    throttle: list[str] = field(default_factory=list)
    throttle_reasons: int | None = None  # NVML's clock event reasons, the raw bitmask
    xid: int | None = None  # the last Xid the kernel logged for this GPU
    xid_count: int | None = None  # Xids logged for it since the log began
    mig_mode: bool | None = None
    lost: bool = False

    def health(self) -> list[str]:
        """Flags that make this card a candidate for repair or a closer look."""
        flags = []
        if self.lost:
            flags.append("gpu lost")
        if self.ecc_uncorrected_volatile:
            flags.append("uncorrectable ECC errors")
        if self.xid:
            flags.append(f"Xid {self.xid}")
        if self.remapped_rows_failure:
            flags.append("row remapping failed")
        if self.retired_pages_pending or self.remapped_rows_pending:
            flags.append("page retirement pending (reset needed)")
        flags += [f"throttled: {reason}" for reason in self.throttle if "slowdown" in reason]
        return flags


@dataclass
class Snapshot:
    hostname: str
    taken_at: float
    gpus: list[GpuSample] = field(default_factory=list)
    driver: str | None = None
    error: str | None = None  # e.g. "NVML not available on this host"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for gpu, sample in zip(data["gpus"], self.gpus, strict=True):
            gpu["health"] = sample.health()
        return data


class _Lost(Exception):
    """The GPU fell off the bus while we were reading it."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _call(fn, *args):
    """fn(*args), or None when the GPU does not support it; _Lost when the GPU is gone."""
    try:
        return fn(*args)
    except pynvml.NVMLError_GpuIsLost:
        raise _Lost from None
    except pynvml.NVMLError:  # NotSupported, NoPermission, ...: this value is unknown
        return None


# index -> (name, serial, uuid, bus id) last read: a GPU that falls off the bus answers nothing
_identities: dict[int, tuple[str | None, ...]] = {}
IDENTITY = ("name", "serial", "uuid", "pci_bus_id")


def collect(hostname: str | None = None, xids: XidLog | None = None) -> Snapshot:
    """This host's GPUs now; with `xids`, each GPU's Xids from the kernel log too."""
    snap = Snapshot(hostname or socket.gethostname(), time.time())
    try:
        pynvml.nvmlInit()
    except (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded):
        snap.error = "NVML not available on this host (no NVIDIA driver or library)"
        return snap
    except pynvml.NVMLError as exc:
        snap.error = f"NVML failed to start: {exc}"
        return snap
    try:
        snap.driver = _text(_call(pynvml.nvmlSystemGetDriverVersion) or "") or None
        count = _call(pynvml.nvmlDeviceGetCount) or 0
        for index in range(count):
            snap.gpus.append(_sample(index))
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    if xids is not None:
        logged = xids.read()
        for gpu in snap.gpus:
            key = bus_key(gpu.pci_bus_id)
            if key in logged:
                gpu.xid, gpu.xid_count = logged[key]
    return snap


def _sample(index: int) -> GpuSample:
    gpu = GpuSample(index)
    try:
        handle = _call(pynvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            raise _Lost
        _read(gpu, handle)
    except _Lost:
        gpu.lost = True
        for attribute, value in zip(IDENTITY, _identities.get(index, ()), strict=False):
            setattr(gpu, attribute, getattr(gpu, attribute) or value)
        return gpu
    _identities[index] = tuple(getattr(gpu, attribute) for attribute in IDENTITY)
    return gpu


def _read(gpu: GpuSample, handle) -> None:
    for attribute, fn in (
        ("name", pynvml.nvmlDeviceGetName),
        ("serial", pynvml.nvmlDeviceGetSerial),
        ("uuid", pynvml.nvmlDeviceGetUUID),
    ):
        value = _call(fn, handle)
        setattr(gpu, attribute, _text(value) if value is not None else None)
    pci = _call(pynvml.nvmlDeviceGetPciInfo, handle)
    if pci is not None:
        gpu.pci_bus_id = _text(pci.busId)
    util = _call(pynvml.nvmlDeviceGetUtilizationRates, handle)
    if util is not None:
        gpu.util_gpu, gpu.util_memory = util.gpu, util.memory
    memory = _call(pynvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        gpu.memory_used_mib, gpu.memory_total_mib = memory.used >> 20, memory.total >> 20
    gpu.temperature_c = _call(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU)
    power = _call(pynvml.nvmlDeviceGetPowerUsage, handle)
    gpu.power_w = power / 1000 if power is not None else None
    limit = _call(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    gpu.power_limit_w = limit / 1000 if limit is not None else None
    uncorrected = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    gpu.ecc_uncorrected_volatile = _call(
        pynvml.nvmlDeviceGetTotalEccErrors, handle, uncorrected, pynvml.NVML_VOLATILE_ECC
    )
    gpu.ecc_uncorrected_aggregate = _call(
        pynvml.nvmlDeviceGetTotalEccErrors, handle, uncorrected, pynvml.NVML_AGGREGATE_ECC
    )
    pending = _call(pynvml.nvmlDeviceGetRetiredPagesPendingStatus, handle)
    gpu.retired_pages_pending = bool(pending) if pending is not None else None
    rows = _call(pynvml.nvmlDeviceGetRemappedRows, handle)
    if rows is not None:
        _, uncorrectable, is_pending, failure = rows
        gpu.remapped_rows_uncorrectable = uncorrectable
        gpu.remapped_rows_pending, gpu.remapped_rows_failure = bool(is_pending), bool(failure)
    retired = _call(
        pynvml.nvmlDeviceGetRetiredPages,
        handle,
        pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
    )
    gpu.retired_pages_dbe = len(retired) if retired is not None else None
    reasons = _call(pynvml.nvmlDeviceGetCurrentClocksEventReasons, handle)
    if reasons is None:  # drivers before the rename
        reasons = _call(pynvml.nvmlDeviceGetCurrentClocksThrottleReasons, handle)
    gpu.throttle_reasons = reasons
    if reasons is not None:
        gpu.throttle = [name for bit, name in THROTTLE_REASONS.items() if reasons & bit]
    mig = _call(pynvml.nvmlDeviceGetMigMode, handle)
    if mig is not None:
        gpu.mig_mode = bool(mig[0])
