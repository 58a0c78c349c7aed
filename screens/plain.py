"""Data on screen, shown as written. Textual reads markup in plain strings (DataTable cells and
column labels, Static content, border titles, Select prompts): a column named `price [us]` loses
`[us]` and a team named `[/x]` crashes the screen. Screens put data on screen through these, and
style with rich.text.Text, never with markup; FleetApp.notify shows every message literally."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static


def plain(value: object, style: str = "") -> Text:
    """A value as literal text ('' for None)."""
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value), style=style)


class PlainTable(DataTable):
    """A DataTable whose string cells and column labels are text, never markup."""

    # Home and End go to the first and last row, as in any list (DataTable's scroll sideways:
    # on History, Home then `u` asked to undo the batch the cursor had stayed on).
    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def _update_dimensions(self, new_rows):
        """DataTable measures new rows on its idle event but keys the lines it painted
        without the widths, renewing the key only on the Resize that follows: a screen
        painted before the measuring and again before that Resize (under load) kept rows cut
        to the old widths (`2026  demo.b`) until the cursor crossed them. New widths, new key."""
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()

    def add_column(self, label, *args, **kwargs):  # add_columns comes through here too
        return super().add_column(plain(label), *args, **kwargs)

    def add_row(self, *cells, key=None, **kwargs):  # and add_rows
        """A row; a key already taken (a name the data repeats: a file's header, a hostname
        listed by two sources) gets its occurrence appended, so no data stops a screen and
        the cursor keeps finding the first (keep.same_row)."""
        if key is not None and key in self.rows:
            n = 2
            while f"{key}\x1f{n}" in self.rows:
                n += 1
            key = f"{key}\x1f{n}"
        shown = [plain(c) if isinstance(c, str) else c for c in cells]
        if kwargs.get("height", 1) == 1:  # a value's line breaks shown, not its lines cut
            shown = [one_line(c) if isinstance(c, Text) else c for c in shown]
        return super().add_row(*shown, key=key, **kwargs)


def one_line(text: Text) -> Text:
    """`text` on one line: each line break shown as ⏎ (a note "multi\nline" read as "multi")."""
    if "\n" not in text.plain:
        return text
    text = text.copy()
    text.plain = text.plain.replace("\n", "⏎")  # one character for one: the styles stay put
    return text


class PlainStatic(Static):
    """A Static whose string content is text, never markup."""

    def __init__(self, content="", **kwargs) -> None:
        super().__init__(content, markup=False, **kwargs)


class PlainLabel(Label):
    """A Label whose string content is text, never markup."""

    def __init__(self, content="", **kwargs) -> None:
        super().__init__(content, markup=False, **kwargs)
