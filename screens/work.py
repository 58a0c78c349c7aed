"""The one way screens run a service: in a thread worker, off the UI thread, with its result
handed back on the UI thread. A user error becomes one literal notification (or the screen's own
`on_error`), a busy database a "Busy" notice, and a write tells every screen (FleetChanged)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine
from textual.dom import DOMNode
from textual.worker import Worker, WorkerCancelled, WorkerFailed, get_current_worker

from fleetui.core.errors import UserError
from fleetui.screens import freshness
from fleetui.screens.first_read import Begun, stamped
from fleetui.screens.messages import FleetChanged
from fleetui.store import BUSY

T = TypeVar("T")


def run_service(
    node: DOMNode,
    service: Callable[..., T] | Begun[T],
    *args: Any,
    on_done: Callable[[T], object] | None = None,
    on_error: Callable[[str], object] | None = None,
    on_end: Callable[[], object] | None = None,
    group: str = "default",
    exclusive: bool = False,
    writes: bool = False,
    stamps: Engine | None = None,
) -> Worker[None]:
    """Run `service(*args)` in a thread worker of `node`; then, on the UI thread, `on_done(result)`.

    A UserError (a database failure the user can act on included) goes to `on_error`, else to a
    notification; a busy database is always the "Busy" notice (nothing is wrong with what was
    asked), and goes nowhere else. `on_end()` follows any of them. A worker cancelled by a newer
    one (`exclusive`) hands back nothing. `writes`: the service changes the fleet, so once it
    succeeds every screen is told (FleetChanged), even if its worker was cancelled meanwhile.
    `stamps`: the result is what `node` shows of the fleet in this database; the audit log's
    newest event id, read just before it, is kept as `node.read_stamp` (screens.freshness).
    A Begun service is waited for instead (its own stamp kept, `stamps` unread).
    """
    app = node.app

    def job() -> None:
        worker = get_current_worker()

        def deliver(callback: Callable[..., object], *values: object) -> object:
            """On the UI thread: only to a screen still there, from a worker not replaced."""
            if worker.is_cancelled or not node.is_attached:
                return None
            return callback(*values)  # call_from_thread awaits it if awaitable (dismiss)

        try:
            if isinstance(service, Begun):
                stamp, result = service.outcome()
            else:
                stamp, result = stamped(service, args, stamps)
        except UserError as exc:
            message = str(exc)
            if message == BUSY:
                app.call_from_thread(notify_busy, node)
            else:
                app.call_from_thread(deliver, on_error or partial(notify_error, node), message)
        else:
            if writes:
                app.post_message(FleetChanged())  # thread-safe
            if stamp is not None:
                app.call_from_thread(deliver, partial(freshness.read, node), stamp)
            if on_done is not None:
                app.call_from_thread(deliver, on_done, result)
        if on_end is not None:
            app.call_from_thread(deliver, on_end)

    name = getattr(service, "__qualname__", "service")
    return node.run_worker(job, name=name, group=group, exclusive=exclusive, thread=True)


async def loaded(node: DOMNode) -> None:
    """Until none of `node`'s own workers runs (not the app's: another screen's may be
    cancelled or never end). A load cancelled for a newer one counts as done, and the newer
    one is waited for; a failed one has said why already."""
    while pending := [w for w in node.workers if w.node is node and not w.is_finished]:
        with suppress(WorkerCancelled, WorkerFailed):
            await pending[0].wait()


def on_ui(node: DOMNode, callback: Callable[..., object]) -> Callable[..., None]:
    """`callback` made callable from a service's thread (progress reports): it runs on the UI."""

    def call(*args: Any, **kwargs: Any) -> None:
        node.app.call_from_thread(callback, *args, **kwargs)

    return call


def notify_error(node: DOMNode, message: str) -> None:
    node.app.notify(message, severity="error", timeout=8, markup=False)


def notify_busy(node: DOMNode) -> None:
    node.app.notify(BUSY, title="Busy", severity="warning", timeout=8, markup=False)


def ignore(_message: str) -> None:
    """An `on_error` for work whose failure another worker already shows."""
