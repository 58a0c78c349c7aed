"""Inventory: one page of cards at a time, filtered and sorted in SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from rich.text import Text
from sqlalchemy import Engine
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from fleetui.config import Config
from fleetui.core import units
from fleetui.inventory import cards as inventory
from fleetui.presentation import history_hint
from fleetui.screens.card_detail import CardDetailScreen
from fleetui.screens.edit_cards import EditModal
from fleetui.screens.footer import FleetFooter
from fleetui.screens.keep import InOrderInput, same_row
from fleetui.screens.messages import FleetChanged
from fleetui.screens.plain import PlainStatic, PlainTable, plain
from fleetui.screens.reallocate import ReallocateModal
from fleetui.screens.work import ignore, run_service

PAGE_SIZE = 100
HEADINGS = {
    "mark": "✓",
    "serial": "Serial",
    "uuid": "UUID",
    "model": "Model",
    "node": "Node",
    "team": "Team",
    "project": "Project",
    "status": "Status",
    "purchase_date": "Purchased",
    "warranty_end": "Warranty end",
}
# Each column's fixed width (the same on every page; a date's whole), and the order in which they
# give way on a narrow terminal: the first ones stay (at 80 columns: serial, model, team, status).
WIDTHS = {
    "mark": 1,
    "serial": 16,
    "model": 18,
    "team": 14,
    "status": 10,
    "node": 15,
    "project": 13,
    "warranty_end": 12,
    "purchase_date": 10,
    "uuid": 40,
}
CELL_PADDING = 2  # DataTable's, per column
SCROLLBAR = 2


def columns_that_fit(width: int) -> list[str]:
    """The columns shown at `width` cells, in HEADINGS' order: as many as fit, by priority."""
    room, chosen = width - SCROLLBAR, set()
    for key, cells in WIDTHS.items():
        if cells + CELL_PADDING <= room:
            chosen.add(key)
            room -= cells + CELL_PADDING
    return [key for key in HEADINGS if key in chosen]


SORTABLE = list(inventory.SORTS)


@dataclass(frozen=True)
class PageRequest:
    query: str
    sort: str
    descending: bool
    after: inventory.Cursor | None = None
    before: inventory.Cursor | None = None


class InventoryScreen(Screen):
    CSS_PATH = "inventory.tcss"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="inventory.filter", priority=True),
        Binding("s", "next_sort", "Sort", id="inventory.sort"),
        Binding("S", "reverse_sort", "Reverse", id="inventory.reverse"),
        Binding(
            "pagedown,right_square_bracket",
            "next_page",
            "Next page",
            priority=True,
            id="inventory.next_page",
        ),
        Binding(
            "pageup,left_square_bracket",
            "previous_page",
            "Prev page",
            priority=True,
            id="inventory.previous_page",
        ),
        Binding("space", "mark", "Mark", id="inventory.mark"),
        Binding("m", "reallocate", "Move marked", id="inventory.move"),
        Binding("e", "edit", "Edit", id="inventory.edit"),
        Binding("escape", "clear_filter", "Clear filter / back", show=False, id="inventory.clear"),
        Binding("r", "refresh", "Refresh", show=False, id="inventory.refresh"),
    ]

    EXTRA_KEYS = [
        ("enter", "Open the card: every field and its history"),
        ("click heading", "Sort by that column (again: reverse)"),
        ("↑ ↓", "Move within the page"),
    ]

    def __init__(
        self,
        engine: Engine,
        query: str = "",
        today: Callable[[], date] = date.today,
        *,
        settings: Config,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings  # read once by the app, never per keystroke
        self.today = today  # the day warranty: and eol: filters are judged on
        self.query_text = query  # the filter box's
        self.shown_query = ""  # the filter of the cards shown: the last one that worked
        self.refused: str | None = None  # why the box's filter is not applied, while it is not
        self.sort = "serial"
        self.descending = False
        self.page: inventory.Page | None = None
        self.first_row = 1  # 1-based position of the page's first row in the result
        self.total: int | None = None
        self.marked: set[str] = set()
        self.pages_to_turn = 0  # page presses not yet loaded: forward > 0, back < 0
        self.loading = False  # a page is on its way
        self.pages_shown = 0  # bumped on every page put on screen (tests and benchmarks wait on it)
        self.columns: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield InOrderInput(
            value=self.query_text,
            placeholder="filter: free text, team:llm model:h800 status:spare node:… project:…",
            id="filter",
        )
        yield PlainTable(id="cards", cursor_type="row", zebra_stripes=True)
        yield PlainStatic("", id="position")
        yield FleetFooter()

    def on_mount(self) -> None:
        self.query_one("#cards", DataTable).focus()
        self.reload()

    def on_resize(self) -> None:
        """Show the columns that fit; a page already shown is redrawn with them."""
        columns = columns_that_fit(self.size.width)
        if columns == self.columns:
            return
        self.columns = columns
        table = self.query_one("#cards", DataTable)
        table.clear(columns=True)
        for key in columns:
            table.add_column(HEADINGS[key], key=key, width=WIDTHS[key])
        if self.page is not None:
            self.fill(self.page)

    # ------------------------------------------------------------ actions

    def set_filter(self, query: str) -> None:
        """Show the cards matching `query` (used when another screen sends us here)."""
        self.query_one("#filter", Input).value = query
        self.apply(query)

    def apply(self, query: str) -> None:
        """Ask for the cards of a new filter; those shown stay until it has worked."""
        self.query_text, self.refused = query, None
        self.reload()

    def action_focus_filter(self) -> None:
        self.set_focus(self.query_one("#filter", Input))  # now: focus() waits behind the keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The filter key types itself in the filter box (a name may hold a `/`). It is a
        priority key, run when it arrives: otherwise the characters typed quickly after it
        went to the table and the app's keys (`team:llm`: `l` opened the Lifecycle screen)."""
        return not (action == "focus_filter" and self.query_one("#filter", Input).has_focus)

    async def action_clear_filter(self) -> None:
        """Escape: leaves and clears the filter; with none, goes back as escape does elsewhere."""
        box = self.query_one("#filter", Input)
        if not box.value and not box.has_focus:
            await self.app.run_action("go_back")
            return
        box.value = ""
        self.query_one("#cards", DataTable).focus()

    def action_next_sort(self) -> None:
        self.sort = SORTABLE[(SORTABLE.index(self.sort) + 1) % len(SORTABLE)]
        self.reload()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self.reload()

    def action_next_page(self) -> None:
        self.turn(1)

    def action_previous_page(self) -> None:
        self.turn(-1)

    def turn(self, pages: int) -> None:
        """Page presses add up: each moves one page on from where the one before will land, not
        from the page shown (with a load in flight, quick presses all asked for the same page).
        The pages load one after another, up to the first or last page."""
        self.pages_to_turn += pages
        if not self.loading:
            self.turn_next()

    def turn_next(self) -> None:
        page, ahead = self.page, self.pages_to_turn
        if page and ahead > 0 and page.more_after and page.last:
            self.pages_to_turn -= 1
            self.fetch(self._request(after=page.last), self.first_row + len(page.rows))
        elif page and ahead < 0 and page.more_before and page.first:
            self.pages_to_turn += 1
            self.fetch(self._request(before=page.first), max(1, self.first_row - PAGE_SIZE))
        else:
            self.pages_to_turn = 0

    def action_refresh(self) -> None:
        self.reload()

    def on_fleet_changed(self, _message: FleetChanged) -> None:
        self.reload()

    def action_mark(self) -> None:
        table = self.query_one("#cards", DataTable)
        if not table.row_count:
            return
        serial = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.marked ^= {serial}
        table.update_cell(serial, "mark", "✓" if serial in self.marked else "")
        table.move_cursor(row=min(table.cursor_row + 1, table.row_count - 1))
        self.show_position()

    def chosen(self) -> list[str]:
        """The marked cards, else the highlighted one."""
        table = self.query_one("#cards", DataTable)
        serials = sorted(self.marked)
        if not serials and table.row_count:
            serials = [str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)]
        return serials

    def action_edit(self) -> None:
        serials = self.chosen()
        if not serials:
            return

        def edited(batch: str | None) -> None:
            if batch:
                self.marked.clear()
                edited = units.counted(len(serials), "card")
                self.notify(f"Edited {edited} ({history_hint(batch)}).")

        self.app.push_screen(EditModal(self.engine, serials, settings=self.settings), edited)

    def action_reallocate(self) -> None:
        serials = self.chosen()
        if not serials:
            return

        def moved(batch: str | None) -> None:
            if batch:
                self.marked.clear()
                self.notify(dialog.moved(batch))

        dialog = ReallocateModal(
            self.engine, serials, self.today, settings=self.settings, highlighted=not self.marked
        )
        self.app.push_screen(dialog, moved)

    # ------------------------------------------------------------ events

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.apply(event.value)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one("#cards", DataTable).focus()

    @on(DataTable.HeaderSelected)
    def sort_by_header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key not in inventory.SORTS:
            self.notify(f"Cannot sort by {HEADINGS[key]}.", severity="warning")
            return
        self.descending = not self.descending if key == self.sort else False
        self.sort = key
        self.reload()

    @on(DataTable.RowSelected, "#cards")
    def open_card(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(
            CardDetailScreen(
                self.engine, str(event.row_key.value), self.today, settings=self.settings
            )
        )

    # ------------------------------------------------------------ loading

    def current(self) -> str:
        """The filter pages are asked for: the box's, or while it is refused the shown one (a
        page turn, a sort or a refresh go on with the cards on screen)."""
        return self.shown_query if self.refused is not None else self.query_text

    def _request(self, **cursor: inventory.Cursor) -> PageRequest:
        return PageRequest(self.current(), self.sort, self.descending, **cursor)

    def reload(self) -> None:
        self.total, self.pages_to_turn = None, 0
        self.fetch(self._request(), 1)

    def fetch(self, request: PageRequest, first_row: int) -> None:
        self.loading = True
        run_service(
            self,
            lambda: inventory.page(
                self.engine,
                request.query,
                request.sort,
                request.descending,
                after=request.after,
                before=request.before,
                limit=PAGE_SIZE,
                today=self.today(),
                settings=self.settings,
            ),
            on_done=lambda page: self.show_page(request, page, first_row),
            on_error=lambda message: self.show_error(request, message),
            on_end=self.loaded,
            group="inventory-page",
            stamps=self.engine,
            exclusive=True,
        )

    def loaded(self) -> None:
        """A page load ended (shown, refused or busy): the page presses made meanwhile go on."""
        self.loading = False
        if self.pages_to_turn:
            self.turn_next()

    def count(self, query: str) -> None:
        run_service(
            self,
            lambda: inventory.count(self.engine, query, self.today(), settings=self.settings),
            on_done=lambda total: self.show_count(query, total),
            on_error=ignore,  # the page shows the filter's error
            group="inventory-count",
            exclusive=True,
        )

    def show_page(self, request: PageRequest, page: inventory.Page, first_row: int) -> None:
        if request.query != self.current():
            return  # a newer keystroke is on its way
        self.page, self.first_row, self.shown_query = page, first_row, request.query
        self.pages_shown += 1
        table = self.fill(page)
        if request.after is not None:  # a new page opens at its top, or its bottom going back
            table.move_cursor(row=0)
        elif request.before is not None and page.rows:
            table.move_cursor(row=len(page.rows) - 1)
        self.query_one("#filter", Input).set_class(self.refused is not None, "error")
        self.show_position()
        if self.total is None:  # counted after the rows are up: the count can take longer
            self.count(request.query)

    def fill(self, page: inventory.Page) -> DataTable:
        table = self.query_one("#cards", DataTable)
        with same_row(table):
            table.clear()
            for row in page.rows:
                values = row.as_dict() | {"mark": "✓" if row.serial in self.marked else ""}
                cells = (Text(str(values[k] or ""), no_wrap=True) for k in self.columns)
                table.add_row(*cells, key=row.serial)
        return table

    def show_count(self, query: str, total: int) -> None:
        if query == self.current():
            self.total = total
            self.show_position()

    def show_position(self) -> None:
        rows = len(self.page.rows) if self.page else 0
        shown = (
            f"{units.count(self.first_row)}–{units.count(self.first_row + rows - 1)}"
            if rows
            else "0"
        )
        total = units.count(self.total) if self.total is not None else "…"
        arrow = "↓" if self.descending else "↑"
        marked = f" · {len(self.marked):,} marked (m: move)" if self.marked else ""
        line = f"cards {shown} of {total} · sorted by {HEADINGS[self.sort]} {arrow}{marked}"
        query = self.shown_query.strip()
        if not rows:  # a sentence, not just "0 of 0"
            none = f"No card matches '{query}'." if query else "The fleet has no cards yet."
            line = f"{none}{marked}"
        if self.refused is not None:
            still = f"'{query}'" if query else "every card"
            line = f"Filter not applied: {self.refused} Still showing {still}: {line}"
        self.query_one("#position", Static).update(
            plain(line, "red" if self.refused is not None else "")
        )

    def show_error(self, request: PageRequest, message: str) -> None:
        """The box's filter failed: its error, over the cards of the last one that worked."""
        if request.query != self.current():
            return  # an older filter's
        if request.query == self.shown_query:  # it worked before: the database's error
            self.query_one("#position", Static).update(plain(message, "red"))
            return
        self.refused = message
        self.query_one("#filter", Input).add_class("error")
        if self.page is None:  # nothing shown yet: every card, under the sentence
            self.reload()
        elif self.total is None:  # asking for the new filter forgot the shown cards' count
            self.count(self.shown_query)
        self.show_position()
