"""Messages between the screens and the app."""

from datetime import datetime

from textual.message import Message


class ShowInventory(Message):
    """Open the inventory with a filter (e.g. from a dashboard row)."""

    def __init__(self, query: str) -> None:
        self.query = query
        super().__init__()


class FleetChanged(Message, bubble=False):
    """A write was made in the app (move, undo, import, telemetry fix): the app hands it to every
    screen built so far, and each screen showing fleet figures reloads them."""


class TelemetryPolled(Message, bubble=False):
    """A node or metrics store was polled since the last check, by this app or another process
    (`fleetui poll` as a service): the app hands it to every screen built so far, and each view
    of telemetry (health, the sick count, the Telemetry screen) reads again. `polled`: the last
    round's time (health.last_round), None when a screen asks itself to read again."""

    def __init__(self, polled: datetime | None = None) -> None:
        self.polled = polled
        super().__init__()
