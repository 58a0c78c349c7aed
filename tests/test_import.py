"""CSV import and export: real-world files, every row validated, idempotent, undoable."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from fleetui.allocation.undo import undo
from fleetui.cli import app
from fleetui.config import Config
from fleetui.config import load as read_settings
from fleetui.core.errors import UserError
from fleetui.db.tables import Card, Event, Project, Team
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.inventory import export as exporter
from fleetui.presentation import import_refusal
from tests.conftest import SHARED

HEADER = "serial,model,node,team,project,status,purchase_date,price,currency,warranty_end\n"
ROWS = [
    "S-001,NVIDIA H800,gpu-01,LLM,pretrain,in_service,2023-03-01,38000,USD,2026-03-01",
    "S-002,A100 SXM4 80GB,gpu-01,LLM,pretrain,spare,2022-06-15,12500,USD,2023-06-15",
    "S-003,910B,gpu-02,Search,,in_service,2024-01-10,15000,USD,2025-01-10",
]


def write(tmp_path, text: str, name="cards.csv", encoding="utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Card)).scalar_one(),
            conn.execute(select(func.count()).select_from(Event)).scalar_one(),
        )


def load(engine, path, **options):
    """Import as the CLI does, with the settings in $FLEETUI_CONFIG (none: the defaults)."""
    return run_import(engine, path, ImportOptions(**options, config=read_settings()))


@pytest.fixture
def basic(tmp_path):
    return write(tmp_path, HEADER + "\n".join(ROWS) + "\n")


def test_new_cards_are_created_with_every_field(engine, basic):
    result = load(engine, basic, create_missing=True)
    assert (result.new, result.changed, result.unchanged, result.written) == (3, 0, 0, True)
    card = inventory.detail(engine, "S-001", settings=Config()).fields
    assert card["model"] == "H800 SXM 80GB" and card["node"] == "gpu-01"
    assert card["team"] == "LLM" and card["project"] == "pretrain"
    assert card["purchase_date"] == date(2023, 3, 1) and card["warranty_end"] == date(2026, 3, 1)
    assert (card["price_minor"], card["currency"]) == (3_800_000, "USD")
    assert inventory.detail(engine, "S-003", settings=Config()).fields["model"] == "Ascend 910B"


def test_importing_the_same_file_twice_changes_nothing_and_says_so(engine, basic):
    load(engine, basic, create_missing=True)
    before = counts(engine)
    again = load(engine, basic)
    assert again.summary() == "0 new, 0 changed, 3 unchanged"
    assert again.batch_id is None and counts(engine) == before


def test_updates_touch_only_the_columns_in_the_file(engine, basic, tmp_path):
    load(engine, basic, create_missing=True)
    result = load(engine, write(tmp_path, "Serial,Status\nS-001,repair\nS-002,\n", "s.csv"))
    assert result.summary() == "0 new, 1 changed, 1 unchanged"
    card = inventory.detail(engine, "S-001", settings=Config())
    assert card.fields["status"] == "repair" and card.fields["team"] == "LLM"
    assert (
        inventory.detail(engine, "S-002", settings=Config()).fields["status"] == "spare"
    )  # empty cell keeps it
    latest = card.events[0]
    assert latest["action"] == "import.update"
    assert latest["before"] == {"status": "in_service", "version": 1}
    assert latest["after"] == {"status": "repair", "version": 2}


def test_undo_reverts_an_import_batch(engine, basic, tmp_path):
    first = load(engine, basic, create_missing=True)
    update_file = write(
        tmp_path, "serial,status,team,model\nS-001,repair,Search,\nS-009,spare,,H20\n", "u.csv"
    )
    second = load(engine, update_file, create_missing=True)
    assert second.summary() == (
        "1 new, 1 changed, 0 unchanged; 1 card moved to another team or project: S-001"
    )
    result = undo(engine, second.batch_id[:8])
    assert (result.deleted, result.restored) == (1, 1)
    s1 = inventory.detail(engine, "S-001", settings=Config()).fields
    assert (s1["status"], s1["team"]) == ("in_service", "LLM")
    with pytest.raises(UserError, match="No card has serial 'S-009'"):
        inventory.detail(engine, "S-009", settings=Config())
    assert "undo.card" in [
        e["action"] for e in inventory.detail(engine, "S-001", settings=Config()).events
    ]
    with pytest.raises(UserError, match="already undone"):
        undo(engine, second.batch_id)
    assert undo(engine, first.batch_id).deleted == 3
    assert counts(engine)[0] == 0


def test_undo_refuses_when_a_card_changed_since_and_changes_nothing(engine, basic, tmp_path):
    batch = load(engine, basic, create_missing=True).batch_id
    load(engine, write(tmp_path, "serial,status\nS-002,repair\n", "later.csv"))
    before = counts(engine)
    with pytest.raises(
        UserError, match=r"Cards changed since batch \w+: S-002; nothing was undone"
    ):
        undo(engine, batch)
    assert counts(engine) == before


def test_every_error_is_reported_at_once_with_spreadsheet_row_numbers(engine, tmp_path):
    text = (
        HEADER
        + "S-001,NVIDIA H800,gpu-01,LLM,pretrain,in_service,2023-03-01,38000,USD,2026-03-01\n"
        + 'S-002,"H9\n99",gpu-01,LLM,,spare,2022-06-15,1,USD,\n'  # one row, two lines
        + "S-003,H1000,gpu-01,Nope,,broken-ish,03/04/2023,abc,USD,\n"
        + "S-001,H800 SXM,gpu-01,LLM,,spare,2023-03-01,1,USD,\n"
    )
    result = load(engine, write(tmp_path, text), create_missing=True)
    assert not result.written and counts(engine) == (0, 0)
    by_row: dict[int, list] = {}
    for e in result.errors:
        by_row.setdefault(e.row, []).append(e)
    assert sorted(by_row) == [3, 4, 5]  # row 2 is fine; rows count as a spreadsheet shows them
    assert str(by_row[3][0]).startswith("row 3, column 'model', value 'H9\n99': unknown model")
    assert {e.column for e in by_row[4]} == {"model", "status", "purchase_date", "price"}
    ambiguous = next(e for e in by_row[4] if e.column == "purchase_date")
    assert "--date-format" in ambiguous.reason
    assert [str(e) for e in by_row[5]] == [
        "row 5, column 'serial', value 'S-001': the same serial is on row 2"
    ]


def test_duplicate_serials_in_the_file_name_both_rows(engine, tmp_path, basic):
    text = HEADER + "\n".join(ROWS) + "\n" + ROWS[0] + "\n"
    result = load(engine, write(tmp_path, text), create_missing=True)
    assert [str(e) for e in result.errors] == [
        "row 5, column 'serial', value 'S-001': the same serial is on row 2"
    ]
    assert not result.written


UUID_FILE = "serial,uuid,model\nU-1,GPU-aaa,H800 SXM\nU-2,GPU-bbb,H800 SXM\nU-3,GPU-ccc,H800 SXM\n"


@pytest.mark.parametrize("chunk", [20_000, 1])  # the repeat inside one chunk, or across two
def test_a_uuid_repeated_in_the_file_or_held_by_another_card_is_an_error(
    engine, tmp_path, monkeypatch, chunk
):
    monkeypatch.setattr("fleetui.importing.importer.CHUNK", chunk)
    first = load(engine, write(tmp_path, UUID_FILE))
    assert (first.new, first.error_count) == (3, 0)
    assert load(engine, write(tmp_path, UUID_FILE)).summary() == "0 new, 0 changed, 3 unchanged"
    clash = "serial,uuid,model\nU-4,GPU-ddd,H800 SXM\nU-5,GPU-ddd,H800 SXM\nU-6,GPU-bbb,H800 SXM\n"
    result = load(engine, write(tmp_path, clash, "clash.csv"))
    assert [str(e) for e in result.errors] == [
        "row 3, column 'uuid', value 'GPU-ddd': the same UUID is on row 2",
        "row 4, column 'uuid', value 'GPU-bbb': card U-2 already has this UUID",
    ]
    assert not result.written and counts(engine)[0] == 3


REPEATS_WITH_OTHER_ERRORS = (
    "serial,uuid,model,price,asset_tag\n"
    "R-1,GPU-r1,H800 SXM,abc,T-1\n"  # a bad price: its key values still count
    "R-1,GPU-r2,H800 SXM,100,T-2\n"
    "R-3,GPU-r1,H800 SXM,100,T-3\n"
    "R-4,GPU-r4,H800 SXM,100,T-1\n"
    "R-5,GPU-r5,Z999,100,T-5\n"  # an unknown model: no 'needs a model' beside it
    "R-5,GPU-r6,H800 SXM,1E100,T-6\n"  # both rows of the repeat have errors; too big to stage
    "R-7,GPU-r7,H800 SXM,100,T-7\n"
)


@pytest.mark.parametrize("chunk", [20_000, 1])  # the repeat inside one chunk, or across two
@pytest.mark.parametrize("inventory_has_cards", [False, True])
def test_a_repeated_key_is_reported_at_once_even_on_rows_with_other_errors(
    engine, tmp_path, monkeypatch, chunk, inventory_has_cards
):
    monkeypatch.setattr("fleetui.importing.importer.CHUNK", chunk)
    if inventory_has_cards:
        load(engine, write(tmp_path, UUID_FILE, "first.csv"))
    before = counts(engine)
    path = write(tmp_path, REPEATS_WITH_OTHER_ERRORS)
    result = load(engine, path)
    assert [(e.row, e.column, e.value) for e in result.errors] == [
        (2, "price", "abc"),
        (3, "serial", "R-1"),
        (4, "uuid", "GPU-r1"),
        (5, "asset_tag", "T-1"),
        (6, "model", "Z999"),
        (7, "price", "1E100"),
        (7, "serial", "R-5"),
    ]
    repeats = [e.reason for e in result.errors if e.column != "price" and e.row != 6]
    assert repeats == [
        "the same serial is on row 2",
        "the same UUID is on row 2",
        "the same asset tag is on row 2",
        "the same serial is on row 6",
    ]
    assert not result.written and counts(engine) == before
    kept = load(engine, path, skip_invalid=True)
    assert (kept.new, kept.rejected) == (1, 6)
    assert [c.serial for c in inventory.cards(engine, "serial:R-", settings=Config())] == ["R-7"]


def test_a_new_card_without_a_model_is_reported_with_its_rows_other_errors(engine, tmp_path):
    load(engine, write(tmp_path, "serial,model\nN-1,H20\n", "first.csv"))
    text = (
        "serial,model,price\n"
        "N-1,,abc\n"  # a card of the inventory keeps its model
        "N-2,,abc\n"
        "N-3,Z9,1\n"  # an unknown model is its own error
        "N-4,,1,x\n"  # a misshapen row: that is its one error
        "N-5,[N/A],1\n"
    )
    result = load(engine, write(tmp_path, text))
    assert [(e.row, e.column, e.value) for e in result.errors] == [
        (2, "price", "abc"),
        (3, "price", "abc"),
        (3, "serial", "N-2"),
        (4, "model", "Z9"),
        (5, "", ""),
        (6, "serial", "N-5"),
    ]
    assert {e.reason for e in result.errors if e.column == "serial"} == {
        "a new card needs a model (add a model column)"
    }


def test_unknown_teams_need_create_missing_and_suggest_a_close_one(engine, tmp_path, basic):
    """The suggestion is the name as the fleet spells it: what the user should write."""
    load(engine, basic, create_missing=True)
    text = "serial,model,team,project\nX-1,H800 SXM,LLN,\nX-2,H800 SXM,LLM,PreTrain2\n"
    result = load(engine, write(tmp_path, text, "t.csv"))
    assert [e.reason for e in result.errors] == [
        "unknown team; did you mean 'LLM'? (or pass --create-missing)",
        "unknown project of team LLM; did you mean 'pretrain'? (or pass --create-missing)",
    ]


def test_skip_invalid_writes_valid_rows_and_a_rejected_file(engine, tmp_path):
    text = HEADER + ROWS[0] + "\nS-BAD,H9999,gpu-01,LLM,,spare,2023-01-01,1,USD,\n"
    path = write(tmp_path, text)
    result = load(engine, path, create_missing=True, skip_invalid=True)
    assert (result.new, result.rejected, result.written) == (1, 1, True)
    rejected = (tmp_path / "cards.csv.rejected.csv").read_text("utf-8-sig").splitlines()
    assert rejected[0].endswith(",reason") and rejected[1].startswith("3,S-BAD,H9999")
    assert "unknown model" in rejected[1]


def test_a_row_whose_cells_do_not_fit_the_header_is_named_and_rejected_whole(engine, tmp_path):
    """Extra cells are never dropped nor short rows padded into the wrong columns; in the
    rejected file every cell stays under its own heading, and the reason under 'reason'."""
    text = (
        HEADER
        + ROWS[0]
        + ",extra\n"  # row 2: one cell too many
        + ROWS[1]
        + ",,\n"  # row 3: empty cells past the header hold nothing: fine
        + "S-003,910B,gpu-02,Search,,in_service,2024-01-10,15000\n"  # row 4: two cells short
    )
    path = write(tmp_path, text)
    result = load(engine, path, create_missing=True)
    assert [str(e) for e in result.errors] == [
        "row 2: 11 cells where the header has 10",
        "row 4: 8 cells where the header has 10",
    ]
    result = load(engine, path, create_missing=True, skip_invalid=True)
    assert (result.new, result.rejected) == (1, 2)
    rows = list(csv.reader(io.StringIO(Path(result.rejected_file).read_text("utf-8-sig"))))
    assert rows[0] == ["row", *HEADER.strip().split(","), "column 11", "reason"]
    assert [(r[0], r[-2], r[-1]) for r in rows[1:]] == [
        ("2", "extra", "11 cells where the header has 10"),
        ("4", "", "8 cells where the header has 10"),
    ]
    assert {len(r) for r in rows} == {13}


@pytest.mark.parametrize("where", ["model", "warranty_end"])
def test_a_quote_never_closed_is_named_not_read_as_one_long_value(engine, tmp_path, where):
    """Python's reader lets an unclosed quote swallow the rest of the file into one cell."""
    row = ROWS[2].split(",")
    column = HEADER.strip().split(",").index(where)
    row[column] = '"' + row[column]
    text = HEADER + ROWS[0] + "\n" + ",".join(row) + "\n" + ROWS[1] + "\n"
    result = load(engine, write(tmp_path, text), create_missing=True)
    assert result.rows == 2 and not result.written
    assert [str(e) for e in result.errors] == [  # and that the row after it is in it
        f"row 3: a quote opened in column '{where}' is never closed "
        "(1 more line of the file inside it)"
    ]


def test_a_quote_closed_rows_later_is_named_with_the_cell_count(engine, tmp_path):
    text = HEADER + 'S-009,"H800,gpu-01\n' + ROWS[1] + '",x\n' + ROWS[2] + "\n"
    result = load(engine, write(tmp_path, text), create_missing=True)
    assert [str(e) for e in result.errors] == [
        "row 2: 3 cells where the header has 10 (the quoted cell in column 'model' spans lines)"
    ]


def test_skip_invalid_with_every_row_invalid_writes_nothing_but_the_rejected_file(engine, tmp_path):
    load(engine, write(tmp_path, HEADER + ROWS[0] + "\n", "first.csv"), create_missing=True)
    before = counts(engine)
    text = (
        HEADER + "S-BAD,H9999,gpu-01,LLM,,spare,2023-01-01,1,USD,\nS-BAD2,H800 SXM,,,,spare,x,,,\n"
    )
    result = load(engine, write(tmp_path, text), create_missing=True, skip_invalid=True)
    assert (result.rejected, result.nothing_valid, result.written) == (2, True, False)
    assert counts(engine) == before and result.batch_id is None
    assert result.rejected_file and len(Path(result.rejected_file).read_text().splitlines()) == 3


def test_an_import_leaves_the_inventory_consistent_and_its_connections_checking_keys(engine, basic):
    from sqlalchemy.exc import IntegrityError

    from fleetui.admin.maintenance import check

    load(engine, basic, create_missing=True)
    assert check(engine) == []  # every card's model, node, team and project exist
    for _ in range(3):  # whichever pooled connection the import used checks keys again
        with engine.begin() as conn, pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            conn.execute(update(Card).where(Card.serial == "S-001").values(team_id=9999))


def test_a_rejected_row_creates_no_team_or_project(engine, tmp_path, basic):
    load(engine, basic, create_missing=True)
    text = (
        "serial,model,team,project,status,purchase_date\n"
        "R-1,H800 SXM,Research,,spare,not a date\n"  # rejected: its new team is not created
        "R-2,H800 SXM,Vision,det,spare,2024-01-01\n"  # valid: team and project created
        "R-3,H800 SXM,LLM,newproj,spare,someday\n"  # rejected: its new project is not created
        "R-4,H800 SXM,Vision,det,spare,2024-01-02\n"
    )
    result = load(engine, write(tmp_path, text, "r.csv"), create_missing=True, skip_invalid=True)
    assert (result.new, result.rejected) == (2, 2)
    with engine.connect() as conn:
        teams = set(conn.execute(select(Team.name)).scalars())
        projects = set(conn.execute(select(Project.name)).scalars())
    assert "Vision" in teams and "Research" not in teams
    assert "det" in projects and "newproj" not in projects
    assert inventory.detail(engine, "R-4", settings=Config()).fields["project"] == "det"


def test_dry_run_counts_what_a_real_run_would_do_and_writes_nothing(engine, basic):
    dry = load(engine, basic, create_missing=True, dry_run=True)
    assert dry.summary() == "3 new, 0 changed, 0 unchanged" and not dry.written
    assert counts(engine) == (0, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Card)).scalar_one() == 0


def test_a_repeated_row_in_an_unchanged_re_import_is_still_an_error(engine, tmp_path, basic):
    load(engine, basic, create_missing=True)
    path = write(tmp_path, HEADER + "\n".join([*ROWS, ROWS[1]]) + "\n", "again.csv")
    result = load(engine, path)
    assert [str(e) for e in result.errors] == [
        "row 5, column 'serial', value 'S-002': the same serial is on row 3"
    ]
    kept = load(engine, path, skip_invalid=True)
    assert kept.summary() == "0 new, 0 changed, 3 unchanged, 1 rejected"


def test_on_existing_skip_and_error(engine, basic):
    load(engine, basic, create_missing=True)
    assert load(engine, basic, on_existing="skip").skipped == 3
    result = load(engine, basic, on_existing="error")
    assert result.error_count == 3 and "already in the inventory" in result.errors[0].reason


def test_warranty_months_and_end_date_must_agree(engine, tmp_path):
    text = (
        "serial,model,purchase_date,warranty_months,warranty_end\n"
        "W-1,H800 SXM,2024-02-29,12,2025-02-28\nW-2,H800 SXM,2024-01-31,1,2024-03-31\n"
    )
    result = load(engine, write(tmp_path, text))
    assert [e.row for e in result.errors] == [3]
    assert "disagrees with 1 month from the purchase date (2024-02-29)" in result.errors[0].reason


def test_warranty_months_need_a_purchase_date_and_an_invalid_one_is_its_only_error(
    engine, tmp_path
):
    text = (
        "serial,model,purchase_date,warranty_months\n"
        "W-1,H800 SXM,2024-13-45,36\nW-2,H800 SXM,,36\nW-3,H800 SXM,N/A,36\n"
    )
    result = load(engine, write(tmp_path, text))
    assert [str(e) for e in result.errors] == [
        "row 2, column 'purchase_date', value '2024-13-45': there is no month 13",
        "row 3, column 'warranty_months', value '36': "
        "warranty in months needs a purchase date in the same row",
        "row 4, column 'warranty_months', value '36': "
        "warranty in months needs a purchase date in the same row",
    ]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "newline"),
    [
        ("utf-8", ",", "\n"),
        ("utf-8-sig", ";", "\r\n"),
        ("gbk", "\t", "\r\n"),
        ("gb18030", ",", "\r"),
        ("utf-16", ";", "\n"),
    ],
)
def test_encodings_delimiters_and_line_endings(engine, tmp_path, encoding, delimiter, newline):
    rows = [
        ["序列号", "型号", "部门", "状态", "采购日期", "单价", "保修期(月)", "备注"],
        ["CN-1", "H800 SXM", "大模型", "在用", "2023年3月1日", "￥95,000", "36", "第一批"],
        ["CN-2", "910B", "大模型", "备用", "2024/1/5", "9.5万", "12", '含"引号"; 分号'],
    ]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    path = write(tmp_path, out.getvalue(), encoding=encoding)
    result = load(engine, path, create_missing=True, currency="CNY")
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert result.delimiter == delimiter and result.new == 2
    card = inventory.detail(engine, "CN-1", settings=Config()).fields
    assert (card["team"], card["status"], card["price_minor"], card["currency"]) == (
        "大模型",
        "in_service",
        9_500_000,
        "CNY",
    )
    assert card["warranty_end"] == date(2026, 3, 1)
    assert inventory.detail(engine, "CN-2", settings=Config()).fields["notes"] == '含"引号"; 分号'


def test_snipe_it_asset_export(engine, tmp_path):
    text = (
        "Asset Tag,Serial,Model,Model Number,Manufacturer,Category,Location,Supplier,"
        "Purchase Date,Purchase Cost,Warranty,Status,Notes,Company\n"
        "GPU-0001,1321021000001,A100 SXM4 80GB,900-21001-0020-000,NVIDIA,GPU,BJ1,Inspur,"
        '2021-05-01,"$12,500.00",36 months,Ready to Deploy,,Acme\n'
    )
    result = load(engine, write(tmp_path, text), create_missing=True)
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert set(result.unknown_columns) == {"Category", "Location"}
    assert (result.mapping["Asset Tag"], result.mapping["Company"]) == ("asset_tag", "team")
    card = inventory.detail(engine, "1321021000001", settings=Config()).fields
    assert card["status"] == "spare" and card["warranty_end"] == date(2024, 5, 1)
    assert (card["price_minor"], card["currency"], card["supplier"]) == (1_250_000, "USD", "Inspur")


@pytest.mark.parametrize(
    ("cell", "status"),
    [
        ("In Repair", "repair"),
        ("in-repair", "repair"),
        ("Under_Repair", "repair"),
        ("In-Service", "in_service"),
        ("Broken-Not-Fixable", "retired"),
        ("on order", "on_order"),
    ],
)
def test_a_status_reads_whatever_its_case_dashes_and_spaces(engine, tmp_path, cell, status):
    path = write(tmp_path, f"serial,model,status\nS-1,H20,{cell}\n")
    assert load(engine, path).error_count == 0
    assert inventory.detail(engine, "S-1", settings=Config()).fields["status"] == status


def test_a_status_naming_two_is_a_row_error_not_a_guess(engine, tmp_path):
    """`broken` may be in repair or gone for good (edit refuses it too): read as repair, a
    scrapped card counted as held, with its compute."""
    path = write(tmp_path, "serial,model,status\nS-1,H20,Broken\n")
    assert [(e.column, e.value, e.reason) for e in load(engine, path).errors] == [
        ("status", "Broken", "ambiguous status: repair or retired; write which")
    ]


# Prices as spreadsheets in several locales write them: (cell, minor units, currency).
WRITTEN_PRICES = [
    ("12 500,00 €", 1_250_000, "EUR"),  # French: space groups, comma decimal
    ("1 234,5 EUR", 123_450, "EUR"),
    ("¥ 12 500,50", 1_250_050, "CNY"),
    ("12\u202f500,00 EUR", 1_250_000, "EUR"),  # a narrow no-break space groups
    ("€12.500,00", 1_250_000, "EUR"),  # German
    ("12.500 €", 1_250_000, "EUR"),  # one mark before three digits groups, as in 12,500
    ("12,500", 1_250_000, None),
    ("12,50 €", 1_250, "EUR"),  # else it is the decimal mark
    ("$1,234,567.89", 123_456_789, "USD"),
    ("1.234.567", 123_456_700, None),
    ("1'234.50 CHF", 123_450, "CHF"),  # Swiss
    ("9.5万", 9_500_000, None),
    ("1.25E+05", 12_500_000, None),
]


@pytest.mark.parametrize(("cell", "minor", "currency"), WRITTEN_PRICES)
def test_a_price_reads_as_its_locale_writes_it(engine, tmp_path, cell, minor, currency):
    """Grouping and decimal marks as the spreadsheets of several locales write them; a 12 500,00
    read as 1250000 was a price a hundred times too high, without a word."""
    path = write(tmp_path, f'serial,model,price\nM-1,H20,"{cell}"\n')
    result = load(engine, path, currency="USD" if currency is None else None)
    assert result.error_count == 0, [str(e) for e in result.errors]
    card = inventory.detail(engine, "M-1", settings=Config()).fields
    assert (card["price_minor"], card["currency"]) == (minor, currency or "USD")


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("1.234,567.8", "not an amount of money"),  # the decimal mark twice
        ("12.34,5", "not an amount of money"),  # 12.34 groups no thousands
        ("1,2,3", "not an amount of money"),
        ("-1 200,00", "a price cannot be negative"),
    ],
)
def test_a_price_whose_marks_read_no_way_is_a_row_error(engine, tmp_path, cell, reason):
    path = write(tmp_path, f'serial,model,price\nM-1,H20,"{cell}"\n')
    assert [(e.column, e.value, e.reason) for e in load(engine, path).errors] == [
        ("price", cell, reason)
    ]


def test_a_misspelled_serial_header_suggests_the_right_one(engine, tmp_path):
    with pytest.raises(UserError, match="did you mean 'Serail' as serial"):
        load(engine, write(tmp_path, "Serail,Model\nX,H800 SXM\n"))


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary", b"serial,model\n"])
def test_unusable_files_are_one_sentence_errors(engine, tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        load(engine, str(path))
    assert "\n" not in str(raised.value)
    with pytest.raises(UserError, match="There is no file"):
        load(engine, str(tmp_path / "missing.csv"))


def _query_gpu_csv(capture) -> str | None:
    lines = capture.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# idle :: query-gpu"):
            body = [x for x in lines[i + 2 :] if x and not x.startswith("#")]
            return "\n".join(body[:2]) + "\n"
    return None


CAPTURES = sorted((SHARED / "fixtures" / "nvidia-smi").glob("*.txt"))


@pytest.mark.skipif(not CAPTURES, reason="../shared/fixtures/nvidia-smi is not beside the repo")
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name.split("__")[1])
def test_real_nvidia_smi_query_gpu_csv(engine, tmp_path, capture):
    text = _query_gpu_csv(capture)
    assert text, "the capture holds a --query-gpu CSV"
    path = write(tmp_path, text, "smi.csv")
    result = load(engine, path, node="gpu-node-07", create_missing=True)
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert (
        result.mapping["pci.bus_id"] == "pci_bus_id"
        and "memory.total [MiB]" in result.unknown_columns
    )
    card = next(iter(inventory.cards(engine, settings=Config())))
    header, first = (line.split(", ") for line in text.splitlines()[:2])
    name, bus = first[header.index("name")], first[header.index("pci.bus_id")]
    assert card.node == "gpu-node-07" and card.model.split()[0] in name
    # The capture's serial and UUID are all zeros: the card is the one in the node's slot.
    assert (card.serial, card.uuid) == (f"gpu-node-07/{bus}", None)
    assert re.fullmatch(
        r"[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9]",
        inventory.detail(engine, card.serial, settings=Config()).fields["pci_bus_id"],
    )
    assert load(engine, path, node="gpu-node-07").summary() == "0 new, 0 changed, 1 unchanged"


@pytest.mark.skipif(not CAPTURES, reason="../shared/fixtures/nvidia-smi is not beside the repo")
def test_placeholder_serials_and_uuids_never_merge_cards(engine, tmp_path):
    """Two real captures, both with serial 0000000000000 and an all-zero UUID, are two cards;
    a different card in the same slot changes its model only with a word in the summary."""
    h100, l40s = (
        _query_gpu_csv(c)
        for c in CAPTURES
        if c.name.split("__")[1] in ("nvidia-h100-80gb-hbm3", "nvidia-l40s")
    )
    for node, text in (("n1", h100), ("n2", l40s)):
        result = load(engine, write(tmp_path, text, f"{node}.csv"), node=node, create_missing=True)
        assert (result.new, result.changed, result.model_changes) == (1, 0, 0)
    models = {c.node: c.model for c in inventory.cards(engine, settings=Config())}
    assert models == {"n1": "H100 SXM5 80GB", "n2": "L40S 48GB"}
    # The L40S capture's line, as if seen in n1's slot of the H100: a swapped card.
    swapped = l40s.replace("00000000:01:00.0", "00000000:00:09.0")
    result = load(engine, write(tmp_path, swapped, "swap.csv"), node="n1")
    assert result.summary() == (
        "0 new, 1 changed, 0 unchanged; 1 card changed model: n1/00000000:00:09.0"
    )
    assert {c.node: c.model for c in inventory.cards(engine, settings=Config())}[
        "n1"
    ] == "L40S 48GB"


@pytest.mark.parametrize(
    "placeholder",
    [
        "0000000000000",
        "GPU-00000000-0000-0000-0000-000000000000",
        "N/A",
        "[N/A]",
        "[Not Supported]",
    ],
)
def test_a_row_with_no_real_identity_is_an_error_naming_it(engine, tmp_path, placeholder):
    load(engine, write(tmp_path, "serial,model\nA-1,H20\n", "a.csv"))
    text = f"serial,uuid,model\n{placeholder},{placeholder},H20\n{placeholder},,L20\n"
    result = load(engine, write(tmp_path, text))
    assert [(e.row, e.column, e.value) for e in result.errors] == [
        (2, "serial", placeholder),
        (3, "serial", placeholder),
    ]
    assert "no real serial or UUID" in result.errors[0].reason
    assert not result.written and counts(engine)[0] == 1


def test_only_a_wholly_bracketed_note_is_a_placeholder_a_bracketed_serial_is_kept(engine, tmp_path):
    """nvidia-smi's [Unknown Error] identifies no card; [bold]MS-0005[/bold] is a serial,
    stored as written (never read as markup)."""
    serials = ["[bold]MS-0005[/bold]", "[MS]-6", "MS-[7]", "[Unknown Error]"]
    text = "serial,model\n" + "".join(f"{s},H20\n" for s in serials)
    result = load(engine, write(tmp_path, text))
    assert [(e.row, e.value) for e in result.errors] == [(5, "[Unknown Error]")]
    assert "no real serial or UUID" in result.errors[0].reason
    result = load(engine, write(tmp_path, text, "ok.csv"), skip_invalid=True)
    assert result.new == 3
    stored = {c.serial for c in inventory.cards(engine, settings=Config())}
    assert stored == set(serials[:3])


def test_a_changed_model_is_always_in_the_summary(engine, basic, tmp_path):
    load(engine, basic, create_missing=True)
    text = "serial,model\nS-001,H800 PCIe\nS-002,A100 SXM4 80GB\nS-003,H20\n"
    result = load(engine, write(tmp_path, text, "m.csv"))
    assert result.summary() == "0 new, 2 changed, 1 unchanged; 2 cards changed model: S-001, S-003"
    assert (result.model_changes, result.model_changed) == (2, ["S-001", "S-003"])


def test_a_card_an_import_moves_to_another_team_or_project_is_named(engine, tmp_path):
    """An export made before some moves, imported again, moved the cards back without a word
    ("2 changed"): like a model, a team or project the import changes is named."""
    text = "serial,model,team,project\nS-1,H20,A,p\nS-2,H20,A,p\nS-3,H20,B,\nS-4,H20,B,\n"
    load(engine, write(tmp_path, text, "a.csv"), create_missing=True)
    text = "serial,model,team,project\nS-1,H20,A,p\nS-2,H20,B,\nS-3,H20,A,p\nS-4,H20,,\n"
    result = load(engine, write(tmp_path, text, "b.csv"))
    assert result.summary() == (
        "0 new, 2 changed, 2 unchanged; 2 cards moved to another team or project: S-2, S-3"
    )
    assert (result.holder_changes, result.holder_changed) == (2, ["S-2", "S-3"])


def test_an_old_export_imported_after_a_move_puts_the_card_in_no_project_of_its_team(
    engine, tmp_path
):
    """A card moved to another team's project, then an export made before the move imported
    again: it went back to its team but kept the other team's project (a blank cell keeps a
    value), and `db check` failed. A card that changes team leaves its old team's project."""
    text = "serial,model,team,project\nS-1,H20,A,\nS-2,H20,B,p1\n"
    load(engine, write(tmp_path, text, "a.csv"), create_missing=True)
    moved = load(engine, write(tmp_path, "serial,team,project\nS-1,B,p1\n", "move.csv"))
    assert moved.holder_changed == ["S-1"]
    result = load(engine, write(tmp_path, text, "old.csv"))
    assert result.holder_changed == ["S-1"]
    s1 = inventory.detail(engine, "S-1", settings=Config()).fields
    assert (s1["team"], s1["project"]) == ("A", None)
    from fleetui.admin.maintenance import check

    assert check(engine) == []


def test_export_then_import_into_an_empty_database_is_identical(demo_engine, tmp_path, new_engine):
    first = io.StringIO()
    assert exporter.write_csv(demo_engine, "", first, settings=Config()) == 2000
    path = write(tmp_path, first.getvalue(), "export.csv")
    fresh = new_engine()
    refused = load(fresh, path)  # its teams, projects and nodes are not there yet
    assert refused.error_count and refused.missing_errors == refused.error_count
    assert "pass --create-missing to create them" in (import_refusal(refused) or "")
    result = load(fresh, path, create_missing=True)
    assert (result.new, result.error_count) == (2000, 0)
    second = io.StringIO()
    exporter.write_csv(fresh, "", second, settings=Config())
    assert second.getvalue() == first.getvalue()
    as_json = io.StringIO()
    exporter.write_json(fresh, "team:llm", as_json, settings=Config())
    cards = json.loads(as_json.getvalue())
    assert cards and all(c["team"] == "LLM" for c in cards)


def test_cli_import_names_create_missing_when_only_missing_names_refuse_rows(tmp_path, db_url):
    """Rows refused only for teams, projects and nodes the inventory lacks: the way on is
    --create-missing, not --skip-invalid (which would write none of them)."""
    run = lambda path: CliRunner().invoke(app, ["--db", db_url, "import", path])  # noqa: E731
    text = "serial,model,team,project,node\nA-1,H20,LLM,pretrain,gpu-01\nA-2,H20,Ads,,\n"
    result = run(write(tmp_path, text))
    assert result.exit_code == 1
    assert (
        "3 errors; nothing was written. Each names a team, project or node the inventory "
        "lacks: pass --create-missing to create them."
    ) in result.stderr
    result = run(write(tmp_path, text + "A-3,Z9,,,\n", "mixed.csv"))
    assert (
        "4 errors; nothing was written. Fix them, or pass --skip-invalid to write the valid rows "
        "(for the 3 errors naming a team, project or node the inventory lacks, pass "
        "--create-missing)."
    ) in result.stderr


def test_cli_import_reports_errors_and_exits_nonzero(tmp_path, db_url):
    db = db_url
    bad = write(tmp_path, "serial,model\nA-1,H800 SXM\nA-2,Z9\n")
    result = CliRunner().invoke(app, ["--db", db, "import", bad])
    assert result.exit_code == 1
    assert "row 3, column 'model', value 'Z9': unknown model" in result.stderr
    assert "1 error; nothing was written" in result.stderr
    good = write(tmp_path, "serial,model\nA-1,H800 SXM\n", "good.csv")
    result = CliRunner().invoke(app, ["--db", db, "import", good, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["new"] == 1
    batch = json.loads(result.stdout)["batch_id"]
    undone = CliRunner().invoke(app, ["--db", db, "undo", batch[:8]])
    assert undone.exit_code == 0 and "1 card removed" in undone.stdout


# ---------------------------------------------------------------- generated files

cell = st.one_of(
    st.text(max_size=12),
    st.text(min_size=60, max_size=300),  # past the 64/128/255-character columns
    st.sampled_from(
        [
            "H800",
            "H800 SXM",
            "A100 80G",
            "910B",
            "",
            "[N/A]",
            "0000000000000",
            "2023/3/1",
            "03/04/2023",
            "¥95,000",
            "9.5万",
            "1e309 USD",
            "LLM",
            "spare",
            '"',
            "\r",
            "\n",
            ",",
            ";",
            "\x00",
            "S-001",  # a serial the inventory holds
            "S" * 65,
            "=1+1",
        ]
    ),
)


def _all_cards(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {row.serial: tuple(row) for row in conn.execute(select(Card.__table__))}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(cell, min_size=1, max_size=6), max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    skip_invalid=st.booleans(),
    chunk=st.sampled_from([1, 2, 3, 20_000]),  # rows split across chunks at every place
)
def test_generated_files_never_crash_never_import_partially_and_touch_only_their_cards(
    engine, basic, tmp_path, monkeypatch, rows, encoding, delimiter, newline, skip_invalid, chunk
):
    from fleetui.importing import importer

    if counts(engine)[0] == 0:
        load(engine, basic, create_missing=True)
    monkeypatch.setattr(importer, "CHUNK", chunk)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["serial", "model", "status", "purchase_date", "price", "team"])
    writer.writerows(rows)
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError:
        return
    path = tmp_path / "generated.csv"
    path.write_bytes(data)
    before, cards_before = counts(engine), _all_cards(engine)
    try:
        result = run_import(
            engine,
            str(path),
            ImportOptions(
                skip_invalid=skip_invalid, currency="CNY", create_missing=True, config=Config()
            ),
        )
    except UserError:
        assert counts(engine) == before and _all_cards(engine) == cards_before
        return
    cards, events = counts(engine)
    if not result.written:
        assert (cards, events) == before and _all_cards(engine) == cards_before
    else:
        assert cards == before[0] + result.new
        assert result.error_count == 0 or skip_invalid
    # A card no row names is exactly as it was, whatever the rest of the file held.
    named = {row[0].strip().casefold() for row in rows if row}
    after = _all_cards(engine)
    for serial, row in cards_before.items():
        if serial.casefold() not in named:
            assert after[serial] == row


def test_team_and_project_stay_consistent_when_only_one_is_in_the_file(engine, basic, tmp_path):
    load(engine, basic, create_missing=True)  # S-001 is LLM/pretrain
    load(engine, write(tmp_path, "serial,team\nS-001,Search\n", "t.csv"))
    card = inventory.detail(engine, "S-001", settings=Config()).fields
    assert (card["team"], card["project"]) == ("Search", None)
    load(engine, write(tmp_path, "serial,project\nS-001,pretrain\n", "p.csv"))
    card = inventory.detail(engine, "S-001", settings=Config()).fields
    assert (card["team"], card["project"]) == ("LLM", "pretrain")
    from fleetui.admin import maintenance

    assert maintenance.check(engine) == []


# ---------------------------------------------------------------- ambiguous models, money, dates


def test_an_ambiguous_model_name_is_an_error_until_the_config_settles_it(
    engine, tmp_path, monkeypatch
):
    from fleetui.allocation import moves

    text = (
        "serial,model,team,status\nM-1,H800,LLM,spare\nM-2,A800 80G,LLM,spare\n"
        "M-3,H800 PCIe,LLM,spare\nM-4,H20,Search,spare\n"
    )
    path = write(tmp_path, text)
    result = load(engine, path, create_missing=True)
    assert [(e.row, e.value) for e in result.errors] == [(2, "H800"), (3, "A800 80G")]
    assert result.errors[0].reason == (
        "ambiguous model: it fits 'H800 SXM 80GB', 'H800 PCIe 80GB'; write the full name, or set "
        'what this site means in the config: [models.aliases] "H800" = "H800 SXM 80GB"'
    )
    assert counts(engine)[0] == 0
    config = tmp_path / "config.toml"
    config.write_text('[models.aliases]\n"H800" = "H800 SXM 80GB"\n"A800 80G" = "A800 PCIe"\n')
    monkeypatch.setenv("FLEETUI_CONFIG", str(config))
    assert load(engine, path, create_missing=True).new == 4
    site = read_settings()
    models = {c.serial: c.model for c in inventory.cards(engine, settings=site)}
    assert (models["M-1"], models["M-2"], models["M-3"]) == (
        "H800 SXM 80GB",
        "A800 PCIe 80GB",
        "H800 PCIe 80GB",
    )
    # Filters and plans read the name as the site does.
    assert [c.serial for c in inventory.cards(engine, "model:h800", settings=site)] == ["M-1"]
    plan = moves.plan_request(
        engine, "Search", None, count=1, models=["H800"], today=date(2026, 11, 1), settings=site
    )
    assert [c.serial for c in plan.cards] == [
        "M-1"
    ] and "Models: H800 SXM 80GB." in plan.explanation
    assert [c.serial for c in inventory.cards(engine, "model:h800", settings=Config())] == [
        "M-1",
        "M-3",
    ]
    config.write_text('[models.aliases]\n"H800" = "H800"\n')
    monkeypatch.setenv("FLEETUI_CONFIG", str(config))
    with pytest.raises(
        UserError, match=r'\[models.aliases\] H800 = "H800": not one catalogue model'
    ):
        load(engine, path)


@pytest.mark.parametrize(
    ("prices", "options", "config", "expected"),
    [
        (
            ["￥95,000", "25.7万", "88000"],
            {},
            "",
            ("CNY", "as written elsewhere in column 'price'"),
        ),
        (["$95,000", "88000"], {}, "", ("USD", "as written elsewhere in column 'price'")),
        (["￥95,000", "$1,000", "88000"], {}, 'currency = "EUR"', ("EUR", "the config's")),
        (["88000"], {}, "", ("USD", "the config's")),
        (["￥95,000", "88000"], {"currency": "HKD"}, "", ("HKD", "--currency")),
    ],
)
def test_a_bare_amount_takes_the_currency_of_its_column_else_the_configs(
    engine, tmp_path, monkeypatch, prices, options, config, expected
):
    text = "serial,model,price\n" + "".join(f'P-{i},H20,"{p}"\n' for i, p in enumerate(prices, 1))
    (tmp_path / "config.toml").write_text(f"[cost]\n{config}\n")
    monkeypatch.setenv("FLEETUI_CONFIG", str(tmp_path / "config.toml"))
    result = load(engine, write(tmp_path, text), **options)
    assert result.error_count == 0, [str(e) for e in result.errors]
    code, why = expected
    assert result.bare_currency.startswith(f"{code} ({why}")
    assert f"prices without a currency read as {code} (" in result.summary()
    bare = inventory.detail(engine, f"P-{len(prices)}", settings=Config()).fields
    assert (bare["price_minor"], bare["currency"]) == (8_800_000, code)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # the currency column writes two: a bare amount's is not known from the file
        (['"100 €",EUR', "200,CHF", "300,"], ("USD", "the config's [cost] currency")),
        (["200,CHF", "300,"], ("CHF", "as written elsewhere in column 'currency'")),
    ],
)
def test_a_bare_amount_takes_a_currency_only_when_the_whole_file_writes_one(
    engine, tmp_path, rows, expected
):
    """A currency column's codes count as the amounts' symbols do: a file writing EUR and CHF
    gave a bare amount EUR because one amount said €."""
    text = "serial,model,price,currency\n" + "".join(f"P-{i},H20,{r}\n" for i, r in enumerate(rows))
    result = load(engine, write(tmp_path, text))
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert result.bare_currency == f"{expected[0]} ({expected[1]})"
    bare = inventory.detail(engine, f"P-{len(rows) - 1}", settings=Config()).fields
    assert bare["currency"] == expected[0]


def test_a_file_with_no_bare_amount_says_nothing_about_currency(engine, basic):
    result = load(engine, basic, create_missing=True)
    assert result.bare_currency is None and "currency" not in result.summary()


def test_cli_import_header_names_the_currency_of_bare_amounts(tmp_path, db_url):
    path = write(tmp_path, 'serial,model,单价\nC-1,H20,"￥95,000"\nC-2,H20,25.7万\n')
    result = CliRunner().invoke(app, ["--db", db_url, "import", path])
    assert result.exit_code == 0, result.stderr
    assert "prices without a currency read as CNY (as written elsewhere in column '单价')" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("cell", "date_format", "expected"),
    [
        ("03/04/2023", "%d/%m/%Y", date(2023, 4, 3)),
        ("2024-03-05", "%d/%m/%Y", date(2024, 3, 5)),
        ("2024-03-05T00:00:00", "%m/%d/%Y", date(2024, 3, 5)),
        ("2024-03-05 23:30:00.5+08:00", None, date(2024, 3, 5)),
        ("2024/3/5 12:00:00 AM", None, date(2024, 3, 5)),
        ("2023年5月20日", "%d/%m/%Y", date(2023, 5, 20)),
        ("5-Mar-24", None, date(2024, 3, 5)),
        ("5-Mar-24", "%d/%m/%Y", date(2024, 3, 5)),
        ("13/04/23", "%d/%m/%y", date(2023, 4, 13)),
    ],
)
def test_date_format_decides_ambiguous_dates_and_unambiguous_ones_still_read(
    engine, tmp_path, cell, date_format, expected
):
    path = write(tmp_path, f"serial,model,purchase_date\nD-1,H20,{cell}\n")
    result = load(engine, path, date_format=date_format)
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert inventory.detail(engine, "D-1", settings=Config()).fields["purchase_date"] == expected


@pytest.mark.parametrize(
    ("cell", "date_format", "reason"),
    [
        (
            "03-04-2023",
            None,
            "ambiguous date; pass --date-format %d-%m-%Y or --date-format %m-%d-%Y",
        ),
        (
            "03.04.2023",
            None,
            "ambiguous date; pass --date-format %d.%m.%Y or --date-format %m.%d.%Y",
        ),
        ("13/04/23", None, "ambiguous date; pass --date-format %d/%m/%y or --date-format %y/%m/%d"),
        ("13/04/2023", "%m/%d/%Y", "no such day (read as %m/%d/%Y)"),
        ("45/13/2024", "%d/%m/%Y", "no such day (read as %d/%m/%Y)"),
        ("2024-13-45", "%d/%m/%Y", "there is no month 13"),
        (
            "31/11/2026",
            None,
            "no such day either way: day first, there is no such day (November 2026 has 30 "
            "days); month first, there is no month 31",
        ),
        ('"Feb 30, 2026"', None, "there is no such day (February 2026 has 28 days)"),
        ("31-Apr-24", None, "there is no such day (April 2024 has 30 days)"),
        ("2024.3", "%d/%m/%Y", "not a date in the format %d/%m/%Y"),
        ("1/2/2024 9:30", "%d/%m/%Y", "not a date in the format %d/%m/%Y"),
        (
            "2024-03-05 garbage",  # read as 2024-03-05: only a time may follow the day
            None,
            "not a date (use 2023-03-01, 2023/3/1, 2023年3月1日 or --date-format)",
        ),
    ],
)
def test_a_date_error_gives_the_true_reason_and_suggests_only_formats_the_value_fits(
    engine, tmp_path, cell, date_format, reason
):
    path = write(tmp_path, f"serial,model,purchase_date\nD-1,H20,{cell}\n")
    result = load(engine, path, date_format=date_format)
    assert [e.reason for e in result.errors] == [reason]
    for suggested in re.findall(r"--date-format (\S+)", reason):
        assert load(engine, path, date_format=suggested, dry_run=True).error_count == 0


def test_teams_and_projects_created_in_one_chunk_are_the_same_in_the_next(
    engine, tmp_path, monkeypatch
):
    """Once created, a team or project is reused by the rows of later chunks; one named only
    by a rejected row is created when a valid row of a later chunk names it."""
    from fleetui.importing import importer

    monkeypatch.setattr(importer, "CHUNK", 2)
    text = (
        "serial,model,team,project\n"
        "T-1,H20,Ads,ctr\nT-2,NO SUCH GPU,Late,x\n"  # 'Late' only on a rejected row
        "T-3,H20,Ads,ctr\nT-4,H20,Late,x\n"
        "T-5,H20,ads,CTR\n"
    )
    result = load(engine, write(tmp_path, text), create_missing=True, skip_invalid=True)
    assert (result.new, result.rejected) == (4, 1)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Team.name)).scalars()) == ["Ads", "Late"]
        assert sorted(conn.execute(select(Project.name)).scalars()) == ["ctr", "x"]
        places = conn.execute(
            select(Card.serial, Team.name, Project.name)
            .join(Team, Team.id == Card.team_id)
            .join(Project, Project.id == Card.project_id)
            .order_by(Card.serial)
        ).all()
    assert [tuple(p) for p in places] == [
        ("T-1", "Ads", "ctr"),
        ("T-3", "Ads", "ctr"),
        ("T-4", "Late", "x"),
        ("T-5", "Ads", "ctr"),
    ]


@pytest.mark.parametrize(
    "placeholder",
    [
        "",
        " ",
        "N/A",
        "n/a",
        "[Not Supported]",
        "[Unknown Error]",
        "[bold]S-1[/bold]",
        "0000",
        "GPU-0000-00",
        "mig-0",
        "无",
        "—",
        "null",
    ],
)
def test_serials_read_a_column_at_a_time_find_every_placeholder(placeholder):
    from fleetui.importing.cells import identities, identity

    for column in ([placeholder], ["GPU-12", placeholder, " S-1 ", "GPU-"], ["a\nb", placeholder]):
        assert identities(column) == [identity(v) for v in column]
    assert identities(["GPU-12", " S-1 ", "MIG-"]) == ["GPU-12", "S-1", "MIG-"]
