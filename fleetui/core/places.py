"""Where fleetui keeps its files by default. Standard library only: `fleetui --help` names the
default database without loading the storage layer."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """fleetui's directory under the XDG data dir (~/.local/share/fleetui by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fleetui"
