"""Counts in messages read right: '1 card', '2 cards', '1 batch', '3 batches'."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fleetui.core import units

ROOT = Path(__file__).resolve().parents[1]
# A formatted value followed by a word in -s: `f"{n:,} cards"` says "1 cards" for one. Any such
# word is taken for a plural noun (so a new noun is caught too) unless it is one of these verbs
# and words that follow a name, not a count (`{path} is`, `{metric} series`).
ADJECTIVES = "more|named|movable|whole|marked|audit|other"
NOT_PLURALS = {
    *("is", "was", "has", "does", "its", "status", "series"),
    *("holds", "refers", "exists", "takes", "needs", "starts", "allows", "reports", "falls"),
}
PLURAL_AFTER_NUMBER = re.compile(rf"^ (?:(?:{ADJECTIVES}) )?([A-Za-z]+s)\b")


def test_counted_says_one_in_the_singular_and_more_in_the_plural():
    assert units.counted(1, "card") == "1 card"
    assert units.counted(1234, "card") == "1,234 cards"
    assert units.counted(0, "card") == "0 cards"
    assert units.counted(1, "batch") == "1 batch"
    assert units.counted(3, "batch") == "3 batches"


def sources() -> list[Path]:
    """The project's modules, each once (fleetui/screens and fleetui/db are links)."""
    return [
        path
        for path in sorted(
            [*ROOT.glob("fleetui/**/*.py"), *ROOT.glob("screens/*.py"), *ROOT.glob("db/*.py")]
        )
        if not path.is_symlink()
        and "fleetui/screens" not in str(path)
        and "fleetui/db" not in str(path)
    ]


def test_no_message_puts_a_plural_noun_after_a_number():
    """Every count with a noun goes through units.counted: the one place plurals are made."""
    found = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            for value, after in zip(node.values, node.values[1:], strict=False):
                if (
                    isinstance(value, ast.FormattedValue)
                    and isinstance(after, ast.Constant)
                    and (plural := PLURAL_AFTER_NUMBER.match(str(after.value)))
                    and plural[1] not in NOT_PLURALS
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"use units.counted(n, noun) at {', '.join(found)}"


def test_no_message_quotes_data_with_repr():
    """Data goes into messages through units.quoted, as typed: `{x!r}` doubled each backslash
    (a filter `team="C:\\new"` came back as C:\\\\new) and swapped the quotes of a value
    holding one."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.FormattedValue) and node.conversion == ord("r")
    ]
    assert not found, f"use units.quoted(value) at {', '.join(found)}"


def test_quoted_shows_a_value_as_typed_and_only_line_breaks_escaped():
    assert units.quoted("C:\\new") == "'C:\\new'"
    assert units.quoted("O'Brien") == "'O'Brien'"
    assert units.quoted("a\nb\tc") == "'a\\nb\\tc'"
