"""Reading .xlsx workbooks: one sheet, streamed row by row (openpyxl's read-only mode), with the
same interface as csvfile.CsvSource, so the rest of an import cannot tell them apart.

Row numbers are the sheet's own, as the spreadsheet shows them. Typed cells become the text an
export would hold: a date as 2023-03-01, a whole number without '.0'."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from fleetui.core.errors import UserError

if TYPE_CHECKING:
    from openpyxl import Workbook

SUFFIXES = (".xlsx", ".xlsm")


def is_workbook(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


@dataclass
class XlsxSource:
    path: Path
    sheet: str
    header: list[str] = field(default_factory=list)
    first_row: int = 2  # the sheet's row number of the first data row
    encoding: str = "xlsx"
    delimiter: str = ""
    rows: int = 1  # from the sheet's dimensions, for progress

    def layout(self) -> str:
        return f"sheet '{self.sheet}'"

    def estimate_rows(self) -> int:
        return self.rows

    def records(self) -> Iterator[tuple[int, list[str]]]:
        for numbers, rows in self.chunks(256):
            yield from zip(numbers, rows, strict=True)

    def chunks(self, size: int) -> Iterator[tuple[list[int], list[list[str]]]]:
        """The data rows as (row numbers, rows) of up to `size`; empty rows are skipped."""
        workbook = _open(self.path)
        try:
            numbers: list[int] = []
            rows: list[list[str]] = []
            values = workbook[self.sheet].iter_rows(min_row=self.first_row, values_only=True)
            for number, row in enumerate(values, self.first_row):
                cells = [_text(v) for v in row]
                if any(c.strip() for c in cells):
                    numbers.append(number)
                    rows.append(cells)
                    if len(rows) == size:
                        yield numbers, rows
                        numbers, rows = [], []
            if rows:
                yield numbers, rows
        finally:
            workbook.close()


def open_xlsx(path: str | Path, sheet: str | None = None) -> XlsxSource:
    """The sheet `sheet` (default: the first) of a workbook, its header found, or a
    one-sentence UserError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"There is no file {path}.")
    workbook = _open(path)
    try:
        names = workbook.sheetnames
        name = sheet if sheet is not None else names[0]
        if name not in names:
            raise UserError(f"{path.name} has no sheet '{sheet}'; its sheets: {', '.join(names)}.")
        worksheet = workbook[name]
        header: list[str] = []
        row_number = 0
        for number, row in enumerate(worksheet.iter_rows(values_only=True), 1):
            cells = [_text(v).strip() for v in row]
            if any(cells):  # the first row holding anything is the header
                header, row_number = cells, number
                break
        if not header:
            raise UserError(f"Sheet '{name}' of {path.name} is empty.")
        estimate = max(1, (worksheet.max_row or row_number) - row_number)
    finally:
        workbook.close()
    return XlsxSource(path, name, header, row_number + 1, rows=estimate)


def _open(path: Path) -> Workbook:
    from openpyxl import load_workbook  # only for workbooks: CSV imports never load it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or "not a readable .xlsx workbook"
        raise UserError(f"Cannot read {path.name}: {reason}.") from None


def _text(value: object) -> str:
    """A cell as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
