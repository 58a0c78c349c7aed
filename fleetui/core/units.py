"""Human formatting of compute, counts and money."""

from __future__ import annotations


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


def counted(n: int, noun: str) -> str:
    """'1 card', '1,234 cards', '2 batches': every count with a noun in a message says it so."""
    if n == 1:
        return f"{n:,} {noun}"
    return f"{n:,} {noun}" + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return ""
    return f"{minor / 100:,.2f} {currency or ''}".strip()


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
