"""What the user did is kept. A table that reloads keeps its cursor on the row the user chose: a
refill puts a DataTable's cursor back on row 1, and the next key acted on whatever card came to be
there. A text box applies every key in the order typed (InOrderInput)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from textual import events
from textual.widgets import DataTable, Input


@contextmanager
def same_row(table: DataTable) -> Iterator[None]:
    """Refill `table` inside this block (rows keyed): the cursor goes back to the row with the
    key it was on; if that row left, to its nearest old neighbour still there (the one below
    first); else it stays at the same position."""
    keys = [row.key for row in table.ordered_rows]
    at = table.cursor_row if keys else 0
    yield
    if not table.row_count:
        return
    after, before = keys[at:], reversed(keys[:at])
    for key in (*after, *before):
        if key in table.rows:
            table.move_cursor(row=table.get_row_index(key))
            return
    table.move_cursor(row=min(at, table.row_count - 1))


class InOrderInput(Input):
    """An Input that acts on its own keys (backspace, delete, arrows, ...) as each arrives.

    Textual runs a focused widget's key bindings only once the key has bubbled back up to the
    app, behind the keys already waiting there, while a typed character goes in at once: keys
    typed quickly, or while the app was busy, were applied out of order (backspace x8, then
    `team:...` deleted the start of `team:...` and kept what it was to clear).
    """

    async def _on_key(self, event: events.Key) -> None:
        await super()._on_key(event)
        if event.is_printable:
            return
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return
