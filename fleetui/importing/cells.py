"""Parsing one spreadsheet cell. Each parser returns a value or raises CellError(reason)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_STATUSES, Status
from fleetui.db.tables import INTEGER_MAX

MISSING = {"", "[n/a]", "n/a", "na", "[not supported]", "null", "none", "-", "—", "无"}
EXCEL_EPOCH = date(1899, 12, 30)


class CellError(ValueError):
    """Why a cell's value cannot be used; `missing` when it names a team, project or node the
    inventory lacks (what --create-missing creates)."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


@dataclass(frozen=True)
class RowError:
    """Why a row of the file cannot be imported."""

    row: int
    column: str
    value: str
    reason: str
    missing: bool = False  # it names a team, project or node the inventory lacks

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column '{self.column}'" if self.column else "")
        value = f", value '{self.value}'" if self.value else ""
        return f"{where}{value}: {self.reason}"


# ---------------------------------------------------------------- identities

_ZEROS = re.compile(r"^(?:GPU-|MIG-)?[0-]+$", re.I)
_NOTE = re.compile(r"\[[^\[\]\n]*\]")  # one bracketed phrase: [N/A], [Unknown Error]


def identity(value: str | None) -> str | None:
    """A serial or UUID as given, or None when it identifies no card: empty, `N/A`-like, one
    `[bracketed]` nvidia-smi note as the whole value (`[bold]S-5[/bold]` is a serial), or all
    zeros (`0000000000000`, `GPU-00000000-0000-...`, what masked or unreadable boards report).
    The one rule for import and telemetry."""
    text = (value or "").strip()
    if not text or text.lower() in MISSING or _NOTE.fullmatch(text) or _ZEROS.match(text):
        return None
    return text


# What identity() may turn to None, over a column's stripped cells each after a newline: an
# empty or wholly [bracketed] cell, all zeros (_ZEROS; a bare prefix too), and (over the lowered
# text) MISSING. Each pattern starts with a newline, which the regex engine finds fast.
_NO_IDENTITY = re.compile(r"\n(?:\[[^\[\]\n]*\]|(?:GPU-|MIG-)?[0-]*)(?=\n|\Z)", re.I)
_MISSING_CELL = re.compile(
    r"\n(?:" + "|".join(map(re.escape, sorted(MISSING, key=len, reverse=True))) + r")(?=\n|\Z)"
)


def identities(values: Sequence[str]) -> list[str | None]:
    """identity() of each value: in one pass at C speed when no value can be a placeholder
    (the usual column), else value by value."""
    stripped = list(map(str.strip, values))
    text = "\n" + "\n".join(stripped)
    if (
        text.count("\n") != len(stripped)  # a cell with a line break
        or _NO_IDENTITY.search(text)
        or _MISSING_CELL.search(text.lower())
    ):
        return [identity(v) for v in values]
    return stripped  # type: ignore[return-value]  # a list of str is one of str | None


def slot_serial(hostname: str, pci_bus_id: str) -> str:
    """The serial fleetui records for a card with no real identity: its node and PCI slot."""
    return f"{hostname}/{pci_bus_id}"


# ---------------------------------------------------------------- dates

_DAY = r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
# A timestamp's time of day, which an import cell may carry (an export's 2026-01-31 00:00:00,
# 2026-01-31T08:00:00+08:00): nothing else may follow the day ("2026-01-31 garbage" is no date).
_TIME = r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AP]M)?\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?"
_ISO = re.compile(rf"^{_DAY}(?:{_TIME})?$", re.IGNORECASE)
_ISO_DAY = re.compile(rf"^{_DAY}$")  # a date option: the day alone, as its time is not read
_CJK = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$")
_DMY = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})$")
_WORDS = (
    "%b %d %Y",
    "%B %d %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d-%b-%y",  # Excel's 5-Mar-24
    "%d-%b-%Y",
)


def parse_date(value: str, date_format: str | None = None, *, choosable: bool = True) -> date:
    """A date in an unambiguous form, or in `date_format`, which decides the forms that read
    two ways (03/04/2023); ISO, 年月日 and the other unambiguous forms are accepted beside it.
    `choosable`: the caller takes --date-format, which the errors then suggest (an edit has
    none: its errors ask for YYYY-MM-DD)."""
    return _kept(_read_date(value, date_format, choosable))


def _kept(day: date) -> date:
    """The day, or CellError where it lies outside units.YEARS_KEPT."""
    first, last = units.YEARS_KEPT
    if not first <= day.year <= last:
        raise CellError(f"{day.isoformat()} is outside the years {first} to {last}")
    return day


def _read_date(value: str, date_format: str | None, choosable: bool) -> date:
    text = value.strip()
    if date_format:
        if parsed := _strptime(text, date_format) or _unambiguous(text):
            return parsed
        if _shape(date_format).fullmatch(text):  # 45/13/2024 in %d/%m/%Y
            raise CellError(f"no such day (read as {date_format})")
        raise CellError(f"not a date in the format {date_format}")
    if m := _DMY.match(text):  # 03/04/2023 or 03/04/23: read in every way it fits
        sep, y = m[2], "%Y" if len(m[4]) == 4 else "%y"
        formats = [f"%d{sep}%m{sep}{y}", f"%m{sep}%d{sep}{y}"]
        formats += [f"%y{sep}%m{sep}%d"] if y == "%y" else []
        readings = {f: d for f in formats if (d := _strptime(text, f))}
        if len(set(readings.values())) == 1:
            return next(iter(readings.values()))
        if not readings:  # say why, each way it reads (31/11/2026: November has 30 days)
            year = int(m[4]) if y == "%Y" else datetime.strptime(m[4], "%y").year
            first, second = int(m[1]), int(m[3])  # neither reading is a day
            raise CellError(
                f"no such day either way: day first, {_no_such_day(year, second)}; "
                f"month first, {_no_such_day(year, first)}"
            )
        if not choosable:
            days = " or ".join(f"{d:%-d %B %Y}" for d in dict.fromkeys(readings.values()))
            raise CellError(f"ambiguous date ({days}); write it as YYYY-MM-DD")
        raise CellError(
            "ambiguous date; pass " + " or ".join(f"--date-format {f}" for f in readings)
        )
    if parsed := _unambiguous(text):
        return parsed
    forms = "2023-03-01, 2023/3/1" + (
        ", 2023年3月1日 or --date-format" if choosable else " or 2023年3月1日"
    )
    raise CellError(f"not a date (use {forms})")


def parse_day(value: str, option: str) -> date:
    """The value of a date option (`option`, as the error names it): the ISO forms an import
    reads whatever its --date-format, 2026-01-31 and 2026/1/31, and only those (a time after
    it would be silently dropped, so it is refused too)."""
    if m := _ISO_DAY.match(value.strip()):
        try:
            return _kept(_ymd(int(m[1]), int(m[2]), int(m[3])))
        except CellError as exc:
            raise UserError(f"{option} {units.quoted(value)}: {exc}.") from None
    raise UserError(
        f"{option} {units.quoted(value)} is not a date: give YYYY-MM-DD or YYYY/MM/DD (2026-01-31)."
    )


_FIELDS = {"d": r"\d{1,2}", "m": r"\d{1,2}", "Y": r"\d{4}", "y": r"\d{2}", "%": "%"}


def _shape(date_format: str) -> re.Pattern[str]:
    """What a value written in `date_format` looks like, whatever its numbers: its numeric
    fields as digits, any other field as anything."""
    parts = re.split(r"(%.)", date_format)
    return re.compile(
        "".join(_FIELDS.get(p[1], ".+?") if i % 2 else re.escape(p) for i, p in enumerate(parts))
    )


def _strptime(text: str, fmt: str) -> date | None:
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def _unambiguous(text: str) -> date | None:
    """Forms that read one way only: ISO (with or without a time), 年月日, Excel day numbers,
    month names; None when the text is in none of them."""
    for pattern in (_ISO, _CJK):
        if m := pattern.match(text):
            return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if re.fullmatch(r"\d{5}(\.\d+)?", text):  # Excel's serial day number
        serial = float(text)
        if 20000 <= serial <= 80000:
            return EXCEL_EPOCH + timedelta(days=int(serial))
    spaced = text.replace(",", ", ").replace(",  ", ", ")
    for fmt in _WORDS:
        if parsed := _strptime(spaced, fmt):
            return parsed
    # A month-name form whose only fault is its day (Feb 30, 2026) says so, as the others do.
    first_day = re.sub(r"\b\d{1,2}\b", "1", spaced, count=1)
    for fmt in _WORDS if first_day != spaced else ():
        if month := _strptime(first_day, fmt):
            raise CellError(_no_such_day(month.year, month.month))
    return None


def _ymd(year: int, month: int, day: int) -> date:
    """The day, or CellError saying why there is none (every path that reads a year, a month
    and a day says it the same way: import cells, date options, edits)."""
    try:
        return date(year, month, day)
    except ValueError:
        raise CellError(_no_such_day(year, month)) from None


def _no_such_day(year: int, month: int) -> str:
    """Why a year, month and day make no day: the month, the year, else the day is wrong."""
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    if not 1 <= year <= 9999:
        return f"there is no year {year}"
    days = units.counted(calendar.monthrange(year, month)[1], "day")
    return f"there is no such day ({calendar.month_name[month]} {year} has {days})"


# ---------------------------------------------------------------- money

_SYMBOLS = (
    ("US$", "USD"),
    ("HK$", "HKD"),
    ("$", "USD"),
    ("¥", "CNY"),
    ("￥", "CNY"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("RMB", "CNY"),
    ("元", "CNY"),
)
_CODES = re.compile(r"^[A-Z]{3}|[A-Z]{3}$")
_SCALE = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}


def parse_money(value: str) -> tuple[int, str | None]:
    """'¥95,000' -> (9500000, 'CNY'); '9.5万' -> (9500000, None); minor units (cents, fen).

    ¥ and ￥ are read as Chinese yuan: fleetui's users are far likelier to hold CNY than JPY.
    Separators as spreadsheets write them in any locale (`_number`).
    """
    text = _SPACES.sub("", value.strip()).replace("，", ",")
    currency = None
    text = text.upper()
    for symbol, code in _SYMBOLS:
        if symbol in text:
            currency = currency or code
            text = text.replace(symbol, "")
    if m := _CODES.search(text):
        currency = m[0]
        text = _CODES.sub("", text)
    scale = Decimal(1)
    for suffix, factor in _SCALE.items():
        if text.endswith(suffix):
            scale, text = factor, text[: -len(suffix)]
    if text.startswith("-"):
        raise CellError("a price cannot be negative")
    amount = _number(text.replace(",", "") if scale != 1 else text) * scale  # 9.5万: CJK marks
    minor = int((amount * 100).to_integral_value())  # to the cent, as the column keeps it
    if minor > INTEGER_MAX:  # the column's limit on PostgreSQL, so on both backends
        raise CellError(f"more than {INTEGER_MAX // 100:,}.{INTEGER_MAX % 100:02d}")
    return minor, currency


# Digit grouping a spreadsheet may write: spaces (no-break and narrow ones too) and the Swiss '.
_SPACES = re.compile(r"[\s\u00a0\u202f']")
_GROUPED = re.compile(r"[1-9]\d{0,2}(?:[.,]\d{3})+")  # 12,500 or 1.234.567
_SCIENTIFIC = re.compile(r"\d+(?:\.\d+)?E[+-]?\d+")  # 1.25E+05, as a spreadsheet may write it


def _number(text: str) -> Decimal:
    """An amount written with any locale's separators. Of two kinds of mark the last is the
    decimal one (1.234,56 and 1,234.56); one kind repeated, or once before exactly three
    digits, groups thousands (12.500 is 12500 as 12,500 is: no price has three decimals);
    else a mark is the decimal one (12,50)."""
    if _SCIENTIFIC.fullmatch(text):
        return Decimal(text)
    marks = {c for c in text if c in ",."}
    whole, decimals = text, ""
    if len(marks) == 2:  # the other kind must group thousands
        point = max(text.rfind(","), text.rfind("."))
        whole, decimals = text[:point], text[point + 1 :]
        if text[point] in whole or not _GROUPED.fullmatch(whole):
            raise CellError("not an amount of money")
    elif marks and not _GROUPED.fullmatch(text):
        whole, _, decimals = text.replace(",", ".").partition(".")
    digits = whole.replace(",", "").replace(".", "")
    if not (digits or decimals) or not (digits + decimals).isdecimal():
        raise CellError("not an amount of money")
    return Decimal(f"{digits}.{decimals}")


def parse_currency(value: str) -> str:
    code = value.strip().upper()
    code = {"RMB": "CNY", "¥": "CNY", "￥": "CNY", "人民币": "CNY", "$": "USD", "美元": "USD"}.get(
        code, code
    )
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise CellError("not a currency code such as CNY or USD")
    return code


# ---------------------------------------------------------------- durations, numbers

_MONTHS = re.compile(r"^(\d+(?:\.\d+)?)\s*(months?|mo|个月|月)?$", re.I)
_YEARS = re.compile(r"^(\d+(?:\.\d+)?)\s*(years?|yrs?|y|年)$", re.I)


def parse_months(value: str) -> int:
    """'36', '36 months', '36个月' -> 36; '3 years', '3年' -> 36."""
    text = value.strip()
    if m := _YEARS.match(text):
        months = round(float(m[1]) * 12)
    elif m := _MONTHS.match(text):
        months = round(float(m[1]))
    else:
        raise CellError("not a number of months (e.g. 36, 36 months, 3 years, 3年)")
    if months > units.MOST_WARRANTY_MONTHS:
        most = units.MOST_WARRANTY_MONTHS
        raise CellError(
            f"a warranty is at most {units.counted(most, 'month')} "
            f"({units.counted(most // 12, 'year')})"
        )
    return months


def parse_years(value: str) -> float:
    text = re.sub(r"\s*(years?|yrs?|y|年)$", "", value.strip(), flags=re.I)
    try:
        years = float(text)
    except ValueError:
        raise CellError("not a number of years") from None
    if not 0 < years <= units.MOST_SERVICE_YEARS:
        raise CellError(
            f"a service life is between 0 and {units.counted(units.MOST_SERVICE_YEARS, 'year')}"
        )
    return years


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    if not date.min.year <= year <= date.max.year:
        span = f"{date.min.year} to {date.max.year}"
        raise CellError(
            f"{units.counted(months, 'month')} from {day} falls outside the years {span}"
        )
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise CellError("no such day")  # pragma: no cover - 28 always exists


# ---------------------------------------------------------------- status

STATUS_WORDS = {
    Status.IN_SERVICE: (
        "in service",
        "inservice",
        "deployed",
        "in use",
        "active",
        "running",
        "production",
        "在用",
        "使用中",
        "运行",
        "运行中",
        "已部署",
    ),
    Status.SPARE: (
        "ready to deploy",
        "available",
        "idle",
        "stock",
        "in stock",
        "offline",  # NetBox: present, switched off
        "staged",  # NetBox: installed, not yet in service
        "inventory",  # NetBox devices: on the shelf
        "备用",
        "闲置",
        "库存",
        "空闲",
    ),
    Status.REPAIR: (
        "in repair",
        "repairing",
        "awaiting repair",
        "out for repair",
        "rma",
        "faulty",
        "under repair",
        "failed",  # NetBox
        "维修",
        "送修",
        "故障",
        "维修中",
    ),
    Status.RETIRED: (
        "archived",
        "scrapped",
        "decommissioned",
        "broken - not fixable",
        "lost/stolen",
        "decommissioning",  # NetBox: on its way out
        "报废",
        "退役",
        "已报废",
    ),
    Status.ON_ORDER: (
        "pending",
        "ordered",
        "on order",
        "in transit",
        "planned",  # NetBox: not delivered yet
        "在途",
        "采购中",
        "已下单",
    ),
}


# Words that name two statuses: a broken card may be in repair or gone for good.
TWO_WAYS = {"broken": "repair or retired"}


def _status_key(text: str) -> str:
    """A status as typed, compared without case, and with `-`, `_` and spaces alike."""
    return " ".join(re.split(r"[\s_-]+", text.strip().lower())).strip()


_STATUS = {_status_key(s.value): s.value for s in CARD_STATUSES} | {
    _status_key(word): status.value for status, words in STATUS_WORDS.items() for word in words
}


def parse_status(value: str) -> str:
    key = _status_key(value)
    if key in TWO_WAYS:
        raise CellError(f"ambiguous status: {TWO_WAYS[key]}; write which")
    found = _STATUS.get(key)
    if found is None:
        raise CellError(f"unknown status (use {', '.join(CARD_STATUSES)})")
    return found
