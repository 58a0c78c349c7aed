"""Xids from the kernel log: the `NVRM: Xid (PCI:0000:65:00): 79, ...` lines the NVIDIA driver
writes, read from /dev/kmsg or a log file (kern.log, a journal export) the agent is pointed at.

Each read takes the lines added since the last one (a log file that was rotated or truncated is
read again from its start), so the counts grow as the log does and nothing is read twice.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from fleetui.core.errors import UserError

# "NVRM: Xid (PCI:0000:65:00): 79, pid=..." and the older "NVRM: Xid (0000:03:00): 14, ..."
_LINE = re.compile(
    r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+)(?:\.[0-9a-fA-F]+)?\): (\d+)"
)
CHUNK = 1 << 16


def bus_key(bus_id: str | None) -> tuple[int, int, int] | None:
    """(domain, bus, device) of a PCI bus id as NVML (`00000000:65:00.0`) or the kernel
    (`0000:65:00`) writes it."""
    if not bus_id:
        return None
    match = re.fullmatch(r"([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+)(?:\.[0-9a-fA-F]+)?", bus_id)
    return tuple(int(part, 16) for part in match.groups()) if match else None  # type: ignore[return-value]


class XidLog:
    """The Xids a kernel log holds, per GPU: bus key -> (last Xid, how many were logged)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.is_kmsg = self.path == Path("/dev/kmsg")
        try:
            flags = os.O_RDONLY | (os.O_NONBLOCK if self.is_kmsg else 0)
            self._fd = os.open(self.path, flags)
        except OSError as exc:
            raise UserError(f"Cannot read the kernel log {path}: {exc.strerror}.") from None
        self._offset = 0
        self._rest = b""
        self.seen: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._lock = threading.Lock()  # the agent serves from many threads

    def read(self) -> dict[tuple[int, int, int], tuple[int, int]]:
        with self._lock:
            for line in self._new_lines():
                match = _LINE.search(line)
                if match:
                    key = (int(match[1], 16), int(match[2], 16), int(match[3], 16))
                    self.seen[key] = (int(match[4]), self.seen.get(key, (0, 0))[1] + 1)
            return dict(self.seen)

    def _new_lines(self) -> list[str]:
        if self.is_kmsg:  # one record per read; EAGAIN when there is no more
            records = []
            while True:
                try:
                    records.append(os.read(self._fd, 8192).decode("utf-8", "replace"))
                except BlockingIOError:
                    return records
                except OSError:  # EPIPE: records overwritten before we read them
                    continue
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except OSError:  # between a rotation and the new file: read the old one to its end
            moved = False
        if moved:
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDONLY)
        if moved or os.fstat(self._fd).st_size < self._offset:  # rotated or truncated
            self._offset, self._rest = 0, b""
        os.lseek(self._fd, self._offset, os.SEEK_SET)
        data = self._rest
        while chunk := os.read(self._fd, CHUNK):
            data += chunk
            self._offset += len(chunk)
        *lines, self._rest = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def close(self) -> None:
        os.close(self._fd)
