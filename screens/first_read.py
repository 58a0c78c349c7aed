"""The dashboard's first read, begun before Textual is even imported: `fleetui` opens the
database, begins the totals and the alerts in threads of their own, then imports and starts the
TUI while they run (SQLite's scans release Python's lock, so on two cores the two overlap).
Nothing here imports Textual: that is the point."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from fleetui.config import Config
from fleetui.db.audit import last_event_id
from fleetui.inventory import cards as inventory
from fleetui.inventory.summary import Summary, fleet_summary
from fleetui.store import busy_as_user_error
from fleetui.telemetry import health

T = TypeVar("T")


def stamped(service: Callable[..., T], args: tuple, stamps: Engine | None) -> tuple[int | None, T]:
    """(stamp, service(*args)): the stamp (the audit log's newest event id in `stamps`, for
    screens.freshness) read just before the service, so a write between the two marks the
    result stale, never the other way; a busy database as the BUSY UserError."""
    with busy_as_user_error():
        stamp = last_event_id(stamps) if stamps is not None else None
        return stamp, service(*args)


class Begun(Generic[T]):
    """A service begun in a thread of its own before the UI is up: the first screen's read,
    while Textual starts (SQLite's scans release Python's lock, so on two cores the two
    overlap). Handed to run_service in place of the service, it delivers what the service
    returned or raised, with the stamp (`stamps`, as run_service's) read just before it."""

    def __init__(self, service: Callable[..., T], *args: Any, stamps: Engine | None) -> None:
        self.done = threading.Event()
        self._outcome: tuple[int | None, T] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(service, args, stamps), daemon=True).start()

    def _run(self, service: Callable[..., T], args: tuple, stamps: Engine | None) -> None:
        try:
            self._outcome = stamped(service, args, stamps)
        except BaseException as exc:  # raised again where the outcome is taken
            self._error = exc
        finally:
            self.done.set()

    def outcome(self) -> tuple[int | None, T]:
        """(stamp, result), once the service is done; what it raised, raised again."""
        self.done.wait()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome


def wait_for(first_read: FirstRead) -> None:
    """Until the first read is done (the TUI will not start after all), whatever its outcome."""
    for begun in first_read:
        begun.done.wait()


def sick_count(engine: Engine, today: date, settings: Config) -> dict[str, int | None]:
    sick = health.sick_if_known(engine, settings, today)
    return {"sick": None if sick is None else len(sick)}


def alerts(engine: Engine, today: date, settings: Config) -> dict[str, int | None]:
    """The alerts line's counts: warranty, end of life, repair (fleet-wide scans), sick."""
    return inventory.alert_counts(engine, today, settings=settings) | sick_count(
        engine, today, settings
    )


FirstRead = tuple[Begun[Summary], Begun[dict[str, int | None]]]


def begin(engine: Engine, today: date, settings: Config) -> FirstRead:
    """The dashboard's totals (stamped, as the screen reads them) and alerts, begun now."""
    return (
        Begun(fleet_summary, engine, stamps=engine),
        Begun(alerts, engine, today, settings, stamps=None),
    )
