"""Every table the CLI prints: figures and names are never cut, folded or shortened with `…`.

Rich fits a wide table to the terminal by narrowing its columns, which cuts values mid-figure.
Here each column gets at least the width of its widest value (of its longest word in `text`
columns, which wrap between words); when even that does not fit, the rows print as records,
one `Heading: value` line each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from rich.cells import cell_len
from rich.table import Table

from fleetui.cli.base import out

_BORDERS = 3  # each column's padding on both sides and its border on the right (+1 for the left)


def print_table(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    right: Collection[str] = (),
    text: Collection[str] = (),
) -> None:
    """`right`: headings of right-aligned columns (figures); `text`: those of columns of prose
    (evidence, problems, lists), which may wrap between words. Other cells stay whole."""
    columns = [(h, [row[i] for row in rows]) for i, h in enumerate(headings)]
    natural = [_widest([h], cells, _lines) for h, cells in columns]
    least = [_widest(h.split(), cells, _words if h in text else _lines) for h, cells in columns]
    room = out.width - _BORDERS * len(headings) - 1
    if sum(least) > room:
        _print_records(headings, rows, title)
        return
    widths = list(natural)
    while sum(widths) > room:  # narrow the widest column that may wrap, as Rich would
        i = max((i for i in range(len(widths)) if widths[i] > least[i]), key=widths.__getitem__)
        widths[i] -= 1
    table = Table(title=title)
    for heading, width in zip(headings, widths, strict=True):
        table.add_column(heading, justify="right" if heading in right else "left", width=width)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _print_records(headings: Sequence[str], rows: Sequence[Sequence[str]], title: str | None):
    """The narrow layout: a record per row, each value whole on its heading's line."""
    lines = [title, ""] if title else []
    for row in rows:
        for heading, value in zip(headings, row, strict=True):
            lines.append(f"{heading}: " + value.replace("\n", "\n  "))
        lines.append("")
    out.print("\n".join(lines).rstrip("\n"), soft_wrap=True)


def _lines(value: str) -> list[str]:
    return value.splitlines()


def _words(value: str) -> list[str]:
    return value.split()


def _widest(heading: list[str], cells: list[str], parts: Callable[[str], list[str]]) -> int:
    """The widest of the heading's parts and of the cells' parts (lines, or words)."""
    return max(cell_len(p) for p in [*heading, *(p for c in cells for p in parts(c))])
