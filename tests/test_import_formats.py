"""Real exports and the fields people keep: Snipe-IT and NetBox files, .xlsx workbooks, asset
tags and purchase orders (unique, searchable, editable, exported), on both backends."""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.config import Config
from fleetui.config import load as read_settings
from fleetui.core.errors import UserError
from fleetui.db.tables import Card
from fleetui.importing.columns import map_columns, parse_overrides
from fleetui.importing.importer import run_import
from fleetui.importing.outcome import ImportOptions
from fleetui.inventory import cards as inventory
from fleetui.inventory import edit
from fleetui.inventory import export as exporter

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
runner = CliRunner()


def load(engine, path, **options):
    return run_import(engine, path, ImportOptions(**options, config=read_settings()))


def stored(engine, serial: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(Card).where(Card.serial == serial)).mappings().one())


def listed(engine, query: str) -> list[str]:
    return [r.serial for r in inventory.cards(engine, query, settings=Config())]


# ---------------------------------------------------------------- Snipe-IT and NetBox


def test_snipe_it_export_maps_model_company_tag_and_order_never_the_asset_name(engine):
    result = load(engine, FIXTURES / "snipeit_assets.csv", create_missing=True)
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert result.new == 4
    assert result.mapping["Model"] == "model" and result.mapping["Company"] == "team"
    assert "Asset Name" in result.unknown_columns  # the asset's own name is not its model
    h100 = inventory.detail(engine, "1654922000001", settings=Config()).fields
    assert (h100["model"], h100["team"], h100["status"]) == (
        "H100 SXM5 80GB",
        "LLM",
        "in_service",
    )
    card = stored(engine, "1654922000001")
    assert (card["asset_tag"], card["purchase_order"]) == ("GPU-0001", "PO-2024-0117")
    by_number = inventory.detail(engine, "1321021000003", settings=Config()).fields
    assert by_number["model"].startswith("A100") and by_number["status"] == "repair"
    assert stored(engine, "1321021000004")["asset_tag"] is None  # blank: no tag, no clash


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "netbox_inventory_items.csv",
            {
                "1652023000101": "in_service",  # active
                "1652023000102": "spare",  # offline
                "1652023000103": "on_order",  # planned
                "1652023000104": "repair",  # failed
                "1652023000105": "retired",  # decommissioning
            },
        ),
        ("netbox_modules.csv", {"1330123000201": "in_service", "1330123000202": "spare"}),
    ],
)
def test_netbox_exports_map_part_device_tag_and_status(engine, fixture, expected):
    result = load(engine, FIXTURES / fixture, create_missing=True)
    assert result.error_count == 0, [str(e) for e in result.errors]
    assert "name" not in result.mapping  # an inventory item's name is not its model
    for serial, status in expected.items():
        fields = inventory.detail(engine, serial, settings=Config()).fields
        assert fields["status"] == status, serial
        assert fields["node"] in ("bj1-h800-01", "sh2-l40s-01")
    first = next(iter(expected))
    assert stored(engine, first)["asset_tag"] == {"1652023000101": "NB-0101"}.get(first, "NB-0201")


def test_name_is_still_the_model_of_an_nvidia_smi_file(engine, tmp_path):
    path = tmp_path / "smi.csv"
    path.write_text("name, serial, uuid\nNVIDIA H100 80GB HBM3, 1654922000009, GPU-1234abcd\n")
    result = load(engine, path)
    assert result.error_count == 0 and result.mapping["name"] == "model"


PLAIN_HEADERS = {
    "team": ("Team Name", "Team"),
    "project": ("Project Name",),
    "model": ("GPU Type", "GPU Model", "Card Type", "Model Name"),
    "serial": ("Serial No", "Serial Number", "SN"),
    "node": ("Node Name", "Host", "Hostname"),
    "asset_tag": ("Asset Tag", "Asset No"),
    "purchase_date": ("Purchase Date", "Bought"),
    "warranty_end": ("Warranty End", "Warranty Until", "Warranty Expiry"),
    "purchase_order": ("PO", "Purchase Order"),
    "supplier": ("Supplier", "Vendor"),
    "price": ("Price", "Cost"),
}


@pytest.mark.parametrize(
    ("field", "header"), [(f, h) for f, headers in PLAIN_HEADERS.items() for h in headers]
)
def test_plain_english_headers_are_read_in_any_case_and_spacing(field, header):
    for written in (header, header.upper(), header.lower().replace(" ", "_"), f" {header} "):
        columns = [written] if field == "serial" else [written, "serial"]
        assert map_columns(columns).fields[0] == field, written


def test_a_team_name_column_puts_the_card_on_its_team(engine, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("Serial No,Model Name,Team Name\nS-1,H20,LLM\n")
    result = load(engine, path, create_missing=True)
    assert (result.new, result.unknown_columns) == (1, [])
    assert inventory.detail(engine, "S-1", settings=Config()).fields["team"] == "LLM"


def test_most_columns_unused_is_one_line_and_verbose_names_them_all(db_url, tmp_path):
    extra = [f"extra {i}" for i in range(6)]
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join(["serial", "model", *extra]) + "\nS-1,H800 SXM," + ",".join("x" * 6) + "\n"
    )
    result = runner.invoke(app, ["--db", db_url, "import", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "6 other columns not imported: extra 0, extra 1, extra 2…\n" in result.stderr
    assert "extra 5" not in result.stderr
    result = runner.invoke(app, ["--db", db_url, "import", str(path), "--dry-run", "--verbose"])
    assert "6 other columns not imported: " + ", ".join(extra) in result.stderr


def test_a_column_with_data_but_no_header_is_named_as_not_imported(db_url, tmp_path):
    """Its values cannot be imported (nothing says what they are), but they were dropped
    without a word; empty trailing columns, as spreadsheets export them, still go unsaid."""
    path = tmp_path / "gap.csv"
    path.write_text("serial,model,,,\nS-1,H800 SXM,,,\nS-2,H800 SXM,,rack 7,\n")
    result = runner.invoke(app, ["--db", db_url, "import", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unknown_columns"] == ["column 4 (no header)"]
    assert json.loads(result.stdout)["batch_id"] is None  # a dry run makes no batch
    said = runner.invoke(app, ["--db", db_url, "import", str(path), "--dry-run"])
    assert "1 other column not imported: column 4 (no header)" in said.stderr
    path.write_text("serial,model,,\nS-1,H800 SXM,,\n")
    quiet = runner.invoke(app, ["--db", db_url, "import", str(path), "--dry-run"])
    assert quiet.exit_code == 0 and "not imported" not in quiet.stderr


def test_map_names_a_column_by_header_or_position_and_refuses_one_the_file_lacks(engine, tmp_path):
    """A typo in --map mapped nothing and imported the column's values nowhere, without a word;
    a column with no header could not be mapped at all."""
    path = tmp_path / "gap.csv"
    path.write_text("Serial No,model,,Rack\nS-1,H800 SXM,cracked fan,7\n")
    with pytest.raises(
        UserError, match=r"no column 'Serail No' \(.*\); did you mean 'Serial No'\?"
    ):
        load(engine, path, overrides={"Serail No": "serial"})
    with pytest.raises(UserError, match=r"no column 'column 5' \(.*for N from 1 to 4\)\.$"):
        load(engine, path, overrides={"column 5": "notes"})
    with engine.connect() as conn:
        assert conn.execute(select(Card)).first() is None  # nothing written
    result = load(engine, path, overrides={"column 3": "notes", "rack": "ignore"})
    assert (result.new, result.unknown_columns) == (1, [])
    assert stored(engine, "S-1")["notes"] == "cracked fan"
    with pytest.raises(UserError, match=r"^--map gives 'Rack' two fields, notes and supplier; "):
        parse_overrides(["Rack=notes", "Rack=supplier"])
    # an export's computed columns stay skipped, unsaid, beside a column ignored by choice
    assert map_columns(["serial", "end_of_life", "Rack"], {"Rack": "ignore"}).unknown == []
    said = runner.invoke(
        app, ["--db", str(engine.url), "import", str(path), "--map", "Serail No=serial"]
    )
    assert said.exit_code == 1 and "did you mean 'Serial No'?" in said.stderr, said.output


def test_map_reads_a_field_from_one_column_and_its_choice_wins_over_a_header(engine, tmp_path):
    """A trial's --map choices went unsaid: a second column mapped to the same field was not
    imported, and a column mapped to serial lost to the file's own serial column."""
    path = tmp_path / "two.csv"
    path.write_text("Serial No,model,,,Rack Pos\nS-1,H800 SXM,x,y,R-7\n")
    for overrides in (
        {"column 3": "notes", "column 4": "notes"},
        {"column 4": "notes", "Rack Pos": "notes"},
    ):
        with pytest.raises(UserError, match=r"^--map gives notes two columns, '.+' and '.+'; "):
            load(engine, path, overrides=overrides)
    result = load(engine, path, overrides={"Rack Pos": "serial", "column 3": "notes"})
    assert (result.new, result.unknown_columns) == (1, ["Serial No", "column 4 (no header)"])
    assert stored(engine, "R-7")["notes"] == "x"


def test_a_repeated_header_is_named_by_its_place_and_mapped_by_it(engine, tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("serial,model,Team Name,Team Name,\nS-1,H800 SXM,LLM,Search,2026-02-30\n")
    result = load(engine, path, dry_run=True, create_missing=True)
    assert result.unknown_columns[0] == "Team Name (column 4)"  # which of the two, said
    serials = tmp_path / "serials.csv"
    serials.write_text("Serial No,model,Serial No\nS-1,H800 SXM,S-1\n")
    with pytest.raises(UserError, match=r"pass --map 'column 1=serial'\.$"):  # as --map names it
        load(engine, serials, overrides={"Serial No": "ignore"})
    with pytest.raises(UserError, match=r"2 columns 'team name' \(column 3 and column 4\); name"):
        load(engine, path, overrides={"team name": "notes"})
    result = load(
        engine,
        path,
        dry_run=True,
        create_missing=True,
        overrides={"column 4": "team", "column 5": "warranty_end"},
    )
    assert result.mapping["Team Name (column 4)"] == "team"
    assert result.unknown_columns == ["Team Name (column 3)"]
    assert [str(e) for e in result.errors] == [
        "row 2, column 'column 5', value '2026-02-30': "
        "there is no such day (February 2026 has 28 days)"
    ]


# ---------------------------------------------------------------- .xlsx


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_xlsx_imports_its_first_sheet_or_the_one_named(engine, tmp_path):
    from datetime import datetime

    header = ["Serial", "Model", "Purchase Date", "Purchase Cost", "Currency", "Asset Tag"]
    path = workbook(
        tmp_path / "cards.xlsx",
        {
            "Cards": [header, ["X-1", "H800 SXM", datetime(2024, 3, 1), 30000, "USD", "T-1"]],
            "Spares": [header, ["X-2", "L40S", datetime(2023, 1, 5), 7500.5, "USD", None]],
        },
    )
    result = load(engine, path)
    assert (result.new, result.error_count, result.layout) == (1, 0, "sheet 'Cards'")
    card = stored(engine, "X-1")
    assert (str(card["purchase_date"]), card["price_minor"], card["asset_tag"]) == (
        "2024-03-01",
        3_000_000,
        "T-1",
    )
    assert load(engine, path, sheet="Spares").new == 1
    assert stored(engine, "X-2")["price_minor"] == 750_050
    with pytest.raises(UserError, match="has no sheet 'Nope'; its sheets: Cards, Spares"):
        load(engine, path, sheet="Nope")


def test_a_bad_xlsx_row_names_its_row_column_and_value(db_url, tmp_path):
    path = workbook(
        tmp_path / "bad.xlsx",
        {"Sheet": [[], ["serial", "model"], ["A-1", "H800 SXM"], ["A-2", "Z9"]]},
    )
    result = runner.invoke(app, ["--db", db_url, "import", str(path)])
    assert result.exit_code == 1
    assert "row 4, column 'model', value 'Z9': unknown model" in result.stderr
    assert "sheet 'Sheet'" in result.stderr
    assert not list(tmp_path.glob("*.rejected.csv"))


# ---------------------------------------------------------------- asset tags and orders


CARDS = (
    "serial,model,asset_tag,purchase_order\n"
    "S-1,H800 SXM,T-1,PO-1\n"
    "S-2,H800 SXM,,PO-1\n"
    "S-3,H800 SXM,,\n"
)


def test_asset_tags_are_unique_when_given_in_a_file_and_against_the_inventory(engine, tmp_path):
    first = tmp_path / "cards.csv"
    first.write_text(CARDS)
    assert load(engine, first).new == 3  # blank tags never clash
    clash = tmp_path / "clash.csv"
    clash.write_text("serial,model,Asset Tag\nS-4,H800 SXM,T-9\nS-5,H800 SXM,T-9\nS-2,,T-1\n")
    result = load(engine, clash)
    assert {str(e) for e in result.errors} == {
        "row 3, column 'Asset Tag', value 'T-9': the same asset tag is on row 2",
        "row 4, column 'Asset Tag', value 'T-1': card S-1 already has this asset tag",
    }
    assert not result.written and stored(engine, "S-2")["asset_tag"] is None
    with engine.begin() as conn, pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        conn.execute(Card.__table__.update().where(Card.serial == "S-3").values(asset_tag="T-1"))


def test_tag_filter_free_text_and_edit_of_tags_and_orders(engine, tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text(CARDS)
    load(engine, path)
    assert listed(engine, "tag:T-1") == ["S-1"] == listed(engine, "t-1")
    assert listed(engine, "tag:none") == ["S-2", "S-3"]
    plan = edit.plan_edit(
        engine, ["S-2"], None, {"asset_tag": "T-2", "purchase_order": "INV 7"}, settings=Config()
    )
    edit.commit_edit(engine, plan, "labelled")
    assert (stored(engine, "S-2")["asset_tag"], stored(engine, "S-2")["purchase_order"]) == (
        "T-2",
        "INV 7",
    )
    with pytest.raises(UserError, match="Card S-1 already has asset tag 'T-1'"):
        edit.plan_edit(engine, ["S-3"], None, {"asset_tag": "T-1"}, settings=Config())
    with pytest.raises(UserError, match="An asset tag belongs to one card"):
        edit.plan_edit(engine, ["S-2", "S-3"], None, {"asset_tag": "T-3"}, settings=Config())


def test_cli_edit_takes_asset_tag_and_purchase_order(db_url, tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text(CARDS)
    assert runner.invoke(app, ["--db", db_url, "import", str(path)]).exit_code == 0
    args = ["--db", db_url, "edit", "S-3", "--asset-tag", "T-3", "--purchase-order", "PO-9"]
    result = runner.invoke(app, [*args, "--reason", "labels", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(app, ["--db", db_url, "cards", "tag:T-3", "--json"]).stdout)
    assert [(c["serial"], c["asset_tag"], c["purchase_order"]) for c in shown] == [
        ("S-3", "T-3", "PO-9")
    ]


def test_export_and_cards_json_carry_every_stored_field_and_round_trip(
    engine, tmp_path, new_engine
):
    path = tmp_path / "cards.csv"
    path.write_text(
        "serial,model,node,pci_bus_id,status,purchase_date,price,currency,supplier,"
        "service_life_years,notes,asset_tag,purchase_order\n"
        "S-1,H800 SXM,gpu-01,00000000:18:00.0,in_service,2023-03-01,38000,USD,Inspur,"
        "4,rack 3,T-1,PO-1\n"
    )
    assert load(engine, path, create_missing=True).new == 1
    out = io.StringIO()
    exporter.write_csv(engine, "", out, settings=Config())
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert {k: row[k] for k in ("asset_tag", "purchase_order", "price", "currency")} == {
        "asset_tag": "T-1",
        "purchase_order": "PO-1",
        "price": "38000",
        "currency": "USD",
    }
    assert row["warranty_end"] == "" and row["effective_warranty_end"]  # stored / by the rules
    assert (row["service_life_years"], row["effective_service_life_years"]) == ("4.0", "4.0")
    assert row["end_of_life"] == "2027-03-01"
    again = tmp_path / "export.csv"
    again.write_text(out.getvalue())
    fresh = new_engine()
    result = load(fresh, again, create_missing=True)
    assert (result.new, result.unknown_columns) == (1, [])  # computed columns: skipped quietly
    second = io.StringIO()
    exporter.write_csv(fresh, "", second, settings=Config())
    assert second.getvalue() == out.getvalue()
    (card,) = json.loads(runner.invoke(app, ["--db", str(engine.url), "cards", "--json"]).stdout)
    assert {k: card[k] for k in ("asset_tag", "purchase_order", "pci_bus_id", "notes")} == {
        "asset_tag": "T-1",
        "purchase_order": "PO-1",
        "pci_bus_id": "00000000:18:00.0",
        "notes": "rack 3",
    }
    assert card["stored_warranty_end"] is None
    assert card["warranty_end"] == card["effective_warranty_end"] == row["effective_warranty_end"]


def test_an_older_database_gets_the_new_columns_and_keeps_its_cards(db_url):
    from alembic import command

    from fleetui.db.engine import make_engine, resolve_url
    from fleetui.db.migrate import _alembic_config
    from fleetui.store import open_fleet

    old = make_engine(resolve_url(db_url))
    cfg = _alembic_config()
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.execute(
            text(
                "INSERT INTO gpu_model (key, vendor, name, fp16_tflops, export_class, "
                "nvml_names, aliases, interconnect, export_note, source) "
                "VALUES ('x', 'v', 'X', 1, 'none', '', '', '', '', '')"
            )
        )
        for serial in ("S1", "S2"):
            conn.execute(
                text(
                    "INSERT INTO card (serial, model_id, status, notes, version, created_at, "
                    f"updated_at) SELECT '{serial}', id, 'spare', '', 1, '2024-01-01', "
                    "'2024-01-01' FROM gpu_model"
                )
            )
    old.dispose()
    engine = open_fleet(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT serial, asset_tag, purchase_order FROM card")).all()
    assert sorted(rows) == [("S1", None, None), ("S2", None, None)]
    engine.dispose()


# ---------------------------------------------------------------- a new user's trial


def test_a_dry_run_with_errors_says_nothing_would_be_imported(db_url, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("serial,model\nA-1,H800 SXM\nA-2,Z9\n")
    result = runner.invoke(app, ["--db", db_url, "import", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert result.stdout == ""  # no "Would import: 0 new"
    assert "row 3, column 'model', value 'Z9': unknown model" in result.stderr
    assert "1 error; nothing would be imported" in result.stderr


def test_db_check_without_a_database_creates_none(tmp_path, monkeypatch):
    from fleetui.db.engine import default_path

    result = runner.invoke(app, ["db", "check"])
    assert result.exit_code == 1
    assert f"There is no database at {default_path()} yet" in result.stderr
    assert "fleetui import FILE" in result.stderr
    assert not default_path().exists() and not default_path().parent.exists()


def test_db_info_on_an_unreachable_server_names_it_and_why():
    pytest.importorskip("psycopg")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://ops:hunter2@127.0.0.1:{port}/fleet"
    result = runner.invoke(app, ["--db", url, "db", "info"])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith(f"fleetui: Cannot read the database at 127.0.0.1:{port} (")
    assert "refused" in message.lower() and "hunter2" not in message
    assert "\n" not in message
