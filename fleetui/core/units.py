"""Human formatting of compute, counts and money, and which cards count compute."""

from __future__ import annotations

from collections.abc import Sequence

from fleetui.core.vocabulary import COMPUTING

# Bounds that keep the lifecycle's date sums (a day plus or minus a warranty, a service life or
# a report window) inside the calendar: every date, span and window fleetui reads is held to
# them, so no report, filter or screen fails on arithmetic past the year 9999.
YEARS_KEPT = (1900, 2999)
MOST_WARRANTY_MONTHS = 360
MOST_SERVICE_YEARS = 30
MOST_WINDOW_DAYS = 36_500


def computing(status: str, cards: int) -> int:
    """Of `cards` cards of `status`, those whose compute counts (COMPUTING: in service or
    spare). Every PFLOPS figure multiplies these alone, so that reports, lists and the
    dashboard agree: a card in repair, retired or on order is a card, not compute."""
    return cards if status in COMPUTING else 0


def compute(tflops: float) -> str:
    """TFLOPS as PFLOPS, or EFLOPS once it reaches 1,000 PFLOPS."""
    pflops = tflops / 1000
    if pflops >= 1000:
        return f"{pflops / 1000:,.2f} EFLOPS"
    return f"{pflops:,.1f} PFLOPS"


def pflops(tflops: float) -> float:
    return round(tflops / 1000, 3)


def count(n: int) -> str:
    return f"{n:,}"


def figure(value: float) -> str:
    """A number as the app shows numbers: thousands separated, at most two decimals, none
    that are zero (5120 -> '5,120', 64.0 -> '64', 3.60 -> '3.6')."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def counted(n: float, noun: str) -> str:
    """'1 card', '1,234 cards', '2 batches', '4.5 years': every count with a noun in a
    message says it so."""
    if n == 1:
        return f"{figure(n)} {noun}"
    return f"{figure(n)} {noun}" + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def listed(items: Sequence[str], shown: int = 5, total: int | None = None) -> str:
    """The first `shown` of `items` and how many more of `total` (default: all of them):
    'A-1, A-2 and 388 more'. Every list a message cuts short says by how much (some said
    'and more', some '…', some nothing)."""
    more = (len(items) if total is None else total) - min(shown, len(items))
    return ", ".join(items[:shown]) + (f" and {more:,} more" if more > 0 else "")


def money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return ""
    return f"{minor / 100:,.2f} {currency or ''}".strip()


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def quoted(value: object) -> str:
    """`value` in single quotes as typed, for a message: repr() doubled each backslash (the
    filter `team="C:\\new"` came back as `C:\\\\new`) and swapped quotes round a value holding
    one. Only what would break the sentence (a line break, a tab) shows escaped."""
    text = str(value)
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in text) + "'"
