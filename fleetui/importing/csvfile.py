"""Reading the CSV files people really have: any common encoding, delimiter and line ending.

Row numbers are the ones a spreadsheet shows: the header is row 1, and a quoted cell with line
breaks inside still counts as one row.

Every CSV fleetui writes goes through `write_rows`, which neutralises spreadsheet formulas the
way OWASP describes: a cell starting with = + - @ tab or carriage return gets a leading '. So
that reading undoes exactly that, a cell that is quotes followed by one of those gets one more
quote on writing, and reading strips one quote from any cell of that shape: values round-trip.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fleetui.core import units
from fleetui.core.errors import UserError

SAMPLE = 1 << 16
DELIMITERS = (",", ";", "\t")
_FORMULA = re.compile(r"'*[=+\-@\t\r]")  # a cell that gets one more leading quote
_RISKY = frozenset("=+-@\t\r'")  # the first characters of the cells _FORMULA matches
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")  # a cell that loses one on reading
csv.field_size_limit(min(sys.maxsize, 1 << 24))
# A line fed to the reader after the file's last: it comes back as a row of its own, unless a
# quote the file never closed swallows it into that quote's cell (Python's reader says nothing).
_END = "\x00end of file\n"
_ENDED = [_END.rstrip("\n")]


@dataclass
class CsvSource:
    path: Path
    encoding: str
    delimiter: str
    header: list[str] = field(default_factory=list)
    first_row: int = 2  # spreadsheet row number of the first data row
    unclosed: tuple[int, int] | None = None  # (row, cell index) of a quote never closed

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cells) for every data row; blank lines are counted, not returned."""
        for numbers, rows in self.chunks(256):
            yield from zip(numbers, rows, strict=True)

    def chunks(self, size: int) -> Iterator[tuple[list[int], list[list[str]]]]:
        """The records as (row numbers, rows) of up to `size` (cheaper than row by row)."""
        with self._open() as handle:
            reader = csv.reader(_with_end(handle), delimiter=self.delimiter)
            row = self.first_row - 1
            numbers: list[int] = []
            rows: list[list[str]] = []
            try:
                for _ in range(self.first_row - 1):
                    next(reader)
                for row, cells in enumerate(reader, self.first_row):
                    if cells == _ENDED:
                        break
                    if cells and cells[-1].endswith(_END):
                        cells[-1] = cells[-1].removesuffix(_END)
                        self.unclosed = (row, len(cells) - 1)
                    if "'" in "".join(cells):
                        cells = [_restore(c) for c in cells]
                    if cells and (cells[0].strip() or "".join(cells).strip()):
                        numbers.append(row)
                        rows.append(cells)
                        if len(rows) == size:
                            yield numbers, rows
                            numbers, rows = [], []
            except csv.Error as exc:
                raise UserError(f"{self.path.name}, row {row + 1}: {exc}.") from None
            except UnicodeDecodeError:
                raise UserError(
                    f"{self.path.name}, row {row + 1}: bytes that are not {self.encoding}."
                ) from None
        if rows:
            yield numbers, rows

    def _open(self) -> io.TextIOWrapper:
        return open(self.path, encoding=self.encoding, newline="")

    def layout(self) -> str:
        return f"{self.encoding}, delimiter {units.quoted(self.delimiter)}"

    def estimate_rows(self) -> int:
        """Rows in the file, from its size and the lines of its first 64 KiB (for progress)."""
        size = self.path.stat().st_size
        with self._open() as handle:
            sample = handle.read(SAMPLE)
        lines = max(sample.count("\n"), 1)
        encoded = max(len(sample.encode(self.encoding, "replace")), 1)
        return max(1, round(size * lines / encoded))


def open_csv(path: str | Path) -> CsvSource:
    """Detect encoding, delimiter and header of a CSV file, or raise a one-sentence UserError."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"There is no file {path}.")
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a CSV file.")
    try:
        with open(path, "rb") as handle:
            sample = handle.read(SAMPLE)
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror}.") from None
    if not sample.strip():
        raise UserError(f"{path.name} is empty.")
    encoding = _encoding(path, sample)
    source = CsvSource(path, encoding, ",")
    with source._open() as handle:
        text = handle.read(SAMPLE)
    lines = text.splitlines()
    first = lines[0] if lines else ""
    if first.lower().startswith("sep=") and len(first) >= 5:  # Excel's delimiter hint
        source.delimiter = first[4]
        source.first_row = 3
        first = lines[1] if len(lines) > 1 else ""
    else:
        source.delimiter = max(DELIMITERS, key=lambda d: _count_outside_quotes(first, d))
    source.header = next(csv.reader([first], delimiter=source.delimiter), [])
    source.header = [_restore(h).strip() for h in source.header]
    if not any(source.header):
        raise UserError(f"{path.name} has no header row.")
    return source


BOM_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _encoding(path: Path, sample: bytes) -> str:
    for boms, encoding, name in (
        ((codecs.BOM_UTF8,), "utf-8-sig", "UTF-8"),
        (BOM_UTF16, "utf-16", "UTF-16"),
    ):
        if sample.startswith(boms):
            if not _decodes(path, encoding):
                raise UserError(
                    f"{path.name} starts with a {name} byte-order mark but holds bytes that are "
                    f"not {name}; save it as UTF-8 CSV."
                )
            return encoding
    if b"\x00" in sample:
        raise UserError(f"{path.name} does not look like a CSV file (it holds binary data).")
    if _decodes(path, "utf-8"):
        return "utf-8"
    if _decodes(path, "gb18030"):
        return "gb18030"  # a superset of GBK/GB2312: Excel on Chinese-locale Windows
    raise UserError(f"{path.name} is neither UTF-8 nor GBK/GB18030; save it as UTF-8 CSV.")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _with_end(lines: Iterable[str]) -> Iterator[str]:
    yield from lines
    yield _END


def write_rows(
    out: IO[str], header: Iterable[str], rows: Iterable[Iterable[Any]], tsv: bool = False
) -> int:
    """Write a header and rows as CSV (or tab-separated), formulas neutralised; returns the
    number of rows. None is an empty cell."""
    writer = csv.writer(out, delimiter="\t" if tsv else ",", lineterminator="\n" if tsv else "\r\n")
    writer.writerow([_safe(h) for h in header])
    n = 0
    for row in rows:
        # Most cells are None or text that cannot be a formula: those go to the writer as-is.
        writer.writerow(
            [
                v if v is None or (v.__class__ is str and v[:1] not in _RISKY) else _safe(v)
                for v in row
            ]
        )
        n += 1
    return n


def _safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if _FORMULA.match(text) else text


def _restore(cell: str) -> str:
    """The cell as it was before `_safe` neutralised it."""
    return cell[1:] if _NEUTRALISED.match(cell) else cell
