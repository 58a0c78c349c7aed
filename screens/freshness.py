"""Data another process changed since a screen read it: the screen says when it read it.

A screen's fleet figures are read with run_service(..., stamps=True), which keeps the audit
log's newest event id as of the read (`read_stamp`). The app checks that id every CHECK_S
seconds (one index look-up); a screen that read an older one, and is not reading again now,
shows "read 12:03:04; changed since by another process" as its subtitle until it reloads.
Writes made in the app reload the screens themselves (FleetChanged)."""

from __future__ import annotations

from datetime import datetime

from textual.dom import DOMNode
from textual.screen import Screen
from textual.worker import WorkerState

CHECK_S = 5.0
CHANGED = "changed since by another process (r: reload)"


def read(node: DOMNode, stamp: int) -> None:
    """`node` just showed the fleet as of audit event `stamp`."""
    node.read_stamp = stamp  # type: ignore[attr-defined]
    node.read_at = datetime.now()  # type: ignore[attr-defined]
    if isinstance(node, Screen):
        node.sub_title = None


def check(screens: list[Screen], newest: int) -> None:
    """Mark the screens that read the fleet before event `newest` and are not reading again."""
    for screen in screens:
        stamp = getattr(screen, "read_stamp", None)
        if stamp is None or stamp >= newest or _reading(screen):
            continue
        screen.sub_title = f"read {screen.read_at:%H:%M:%S}; {CHANGED}"  # type: ignore[attr-defined]


def _reading(screen: Screen) -> bool:
    """Whether one of `screen`'s own workers (`workers` lists the app's) is still running."""
    running = (WorkerState.PENDING, WorkerState.RUNNING)
    return any(w.node is screen and w.state in running for w in screen.workers)
