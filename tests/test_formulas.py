"""Every CSV fleetui writes neutralises spreadsheet formulas; fleetui reads its own back as-is."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.config import Config
from fleetui.db.tables import Card, GpuModel
from fleetui.importing.csvfile import open_csv, write_rows
from fleetui.inventory import export as exporter

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Values that start with a trigger, genuine leading quotes before and not before one, and a
# negative number: each must come back exactly as it was.
TRICKY = [
    '=HYPERLINK("http://x","y")',
    "+1",
    "-5",
    "@SUM(A1)",
    "'=already quoted",
    "''-two quotes",
    "'just a quote",
    "'\ttab after a quote",
    "'\rreturn after a quote",
    "plain",
]


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def _seed(engine) -> None:
    with engine.begin() as conn:
        model = conn.execute(select(GpuModel.id).where(GpuModel.key == "h800-sxm")).scalar()
        conn.execute(
            insert(Card),
            [
                {
                    "serial": f"{value[:12].replace(chr(13), '')}#{i}",  # piped cards: one line
                    "model_id": model,
                    "status": "spare",
                    "supplier": value,
                    "notes": value,
                    "purchase_date": date(2024, 1, 1),
                    "warranty_end": date(2026, 1, 10),
                }
                for i, value in enumerate(TRICKY)
            ],
        )


def _cells(text: str, delimiter: str = ",") -> list[str]:
    return [c for row in csv.reader(io.StringIO(text), delimiter=delimiter) for c in row]


def _assert_neutral(text: str, delimiter: str = ",") -> None:
    cells = _cells(text, delimiter)
    assert cells
    assert not [c for c in cells if c[:1] in TRIGGERS], text


@pytest.mark.parametrize("value", [*(t + "x" for t in TRIGGERS), *TRICKY, "", "'", "x=1"])
def test_the_writer_neutralises_and_the_reader_restores_exactly(value, tmp_path):
    path = tmp_path / "one.csv"
    with open(path, "w", newline="") as handle:
        write_rows(handle, ["notes"], [[value]])
    _assert_neutral(path.read_text())
    source = open_csv(path)
    assert [cells for _, cells in source.records()] == ([[value]] if value else [])


def test_export_then_import_keeps_formula_like_values_exactly(engine, new_engine, tmp_path):
    _seed(engine)
    path = tmp_path / "export.csv"
    result = run("--db", url_of(engine), "export", "-o", str(path))
    assert result.exit_code == 0, result.output
    _assert_neutral(path.read_text(encoding="utf-8"))
    fresh = new_engine()
    result = run("--db", url_of(fresh), "import", str(path))
    assert result.exit_code == 0, result.output
    assert list(exporter.rows(fresh, settings=Config())) == list(
        exporter.rows(engine, settings=Config())
    )
    assert {r["notes"] for r in exporter.rows(fresh, settings=Config())} == set(TRICKY)


def test_piped_cards_and_csv_reports_are_neutralised(engine):
    _seed(engine)
    result = run("--db", url_of(engine), "cards")
    assert result.exit_code == 0, result.output
    assert "=HYPERLINK" in result.stdout
    _assert_neutral(result.stdout, "\t")
    result = run(
        "--db", url_of(engine), "report", "warranty", "--by", "supplier", "--csv",
        "--today", "2025-12-01",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "'@SUM(A1)" in result.stdout
    _assert_neutral(result.stdout)


def test_rejected_rows_are_neutralised_and_import_again_as_they_were(engine, tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text("serial,model,notes\nOK-1,H800 SXM,fine\n=2+3,Z9,\"=cmd|' /C calc'!A0\"\n")
    result = run("--db", url_of(engine), "import", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.output
    rejected = tmp_path / "cards.csv.rejected.csv"
    _assert_neutral(rejected.read_text(encoding="utf-8-sig"))
    rows = [cells for _, cells in open_csv(rejected).records()]
    assert rows == [["3", "=2+3", "Z9", "=cmd|' /C calc'!A0", rows[0][-1]]]
