"""Messages screens send up to the app."""

from textual.message import Message


class ShowInventory(Message):
    """Open the inventory with a filter (e.g. from a dashboard row)."""

    def __init__(self, query: str) -> None:
        self.query = query
        super().__init__()
