"""Tables whose every value stays readable at the table's width: a DataTable cuts a cell that
does not fit, and scrolls sideways past the edge of an 80-column terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text

from fleetui.screens.keep import same_row
from fleetui.screens.plain import PlainTable

EDGES = 4  # the table's border and its vertical scrollbar


def fill(
    table: PlainTable,
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    wrap: int,
    stack: int = 1,
    key: int = 1,
) -> None:
    """Replace `table`'s columns and rows. When the rows fit the table's width on one line,
    one line each. Otherwise the first `stack` columns share one cell, a line each, and column
    `wrap` (free text: a problem, a reason) takes the width left and wraps; rows grow to fit.
    Cells are literal text, never markup. The first `key` columns name a row: the cursor stays
    on the row so named (keep.same_row)."""
    keys = ["\x1f".join(row[:key]) for row in rows]
    pad = 2 * table.cell_padding
    widths = [max([cell_len(h), *(cell_len(r[i]) for r in rows)]) for i, h in enumerate(headings)]
    room = (table.size.width or table.app.size.width) - EDGES
    with same_row(table):
        table.clear(columns=True)
        if sum(widths) + pad * len(widths) <= room:
            table.add_columns(*(Text(h) for h in headings))
            for row, name in zip(rows, keys, strict=True):
                table.add_row(*(Text(cell) for cell in row), key=name)
            return
        shown = [i for i in range(stack, len(headings)) if i != wrap]
        stacked = "/".join(headings[:stack])
        used = max([cell_len(stacked), *widths[:stack]]) + sum(widths[i] for i in shown)
        used += pad * (len(shown) + 2)
        table.add_column(Text(stacked))
        for i in shown:
            table.add_column(Text(headings[i]))
        table.add_column(Text(headings[wrap]), width=max(room - used, 10))
        for row, name in zip(rows, keys, strict=True):
            cells = [Text("\n".join(row[:stack])), *(Text(row[i]) for i in shown)]
            table.add_row(*cells, Text(row[wrap], overflow="fold"), height=None, key=name)
