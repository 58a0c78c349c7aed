"""Every CLI table at 80 columns keeps each figure and name whole (fleetui.cli.tables)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.cli.base import out
from fleetui.cli.tables import print_table

TABLES = [
    ["models"],
    ["teams", "list"],
    ["projects", "list"],
    ["nodes", "list"],
    ["sources", "list"],
    # `health` is not here: the demo has no telemetry (tests/test_health.py prints its table)
    ["report", "allocation"],
    ["report", "warranty", "--within", "900d", "--today", "2026-06-01"],
    ["report", "cliff", "--today", "2026-06-01"],
    ["report", "eol", "--today", "2030-06-01"],
    ["report", "book-value", "--today", "2026-06-01"],
    ["report", "irreplaceable", "--today", "2026-06-01"],
    ["report", "cost", "--today", "2026-06-01"],
    ["report", "cost", "--by", "project", "--today", "2026-06-01"],
    ["report", "repairs"],
]


def render(width: int, monkeypatch, *args: str) -> str:
    monkeypatch.setattr(out, "width", width)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def words(text: str) -> set[str]:
    """Whitespace-separated words, without box drawing and a record's `Heading:` colon."""
    return {w.rstrip(":") for w in text.split() if not all("─" <= c <= "╿" for c in w)}


@pytest.mark.parametrize("args", TABLES, ids=" ".join)
def test_every_table_at_80_columns_shows_every_value_whole(demo_url, monkeypatch, args):
    """What a wide terminal shows, word for word, an 80-column one shows too: nothing cut to
    `…`, no figure or name folded over two lines."""
    wide = render(400, monkeypatch, "--db", demo_url, *args)
    narrow = render(80, monkeypatch, "--db", demo_url, *args)
    assert "…" not in narrow
    assert words(wide) - words(narrow) == set(), narrow
    assert max((len(line) for line in narrow.splitlines()), default=0) <= 80 or "│" not in narrow


def test_prose_wraps_between_words_and_a_table_too_wide_prints_records(monkeypatch, capsys):
    monkeypatch.setattr(out, "width", 40)
    print_table(
        ("Serial", "Problem"), [("SN-1", "the store did not answer in time")], text=("Problem",)
    )
    table = capsys.readouterr().out
    assert "│ SN-1" in table and "the store" in table and "answer in" in table
    print_table(
        ("Serial", "Node", "Cost"),
        [("SN-12345678901234", "node-with-a-long-name", "1,234,567.00")],
        right=("Cost",),
    )
    assert capsys.readouterr().out == (
        "Serial: SN-12345678901234\nNode: node-with-a-long-name\nCost: 1,234,567.00\n"
    )
