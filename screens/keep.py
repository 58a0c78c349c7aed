"""A table that reloads keeps its cursor on the row the user chose: a refill puts a DataTable's
cursor back on row 1, and the next key acted on whatever card came to be there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from textual.widgets import DataTable


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
