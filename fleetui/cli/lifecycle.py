"""Lifecycle reports and repairs."""

from __future__ import annotations

import re
import sys
from datetime import date
from typing import Annotated

import typer

from fleetui.cli.base import (
    CsvOption,
    JsonOption,
    app,
    open_db,
    out,
    print_json,
    report_app,
    settings,
)
from fleetui.cli.tables import print_table
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.presentation import undo_hint

# ---------------------------------------------------------------- lifecycle

TodayOption = Annotated[
    str | None, typer.Option("--today", help="Report as if it were this date (2027-01-31).")
]


def _today(value: str | None) -> date:
    from fleetui.importing.cells import parse_day

    return parse_day(value, "--today") if value is not None else date.today()


def _snapshot(ctx: typer.Context, today: str | None, report: str, window: int = 0):
    """The groups of cards the report reads (lifecycle.report_snapshot)."""
    from fleetui.lifecycle import rules as lifecycle

    return lifecycle.report_snapshot(open_db(ctx), settings(ctx), _today(today), report, window)


# Report columns as headings; shares (fractions in JSON and CSV) read as percentages in tables.
HEADINGS = {
    "cards": "Cards",
    "pflops": "PFLOPS",
    "first_expiry": "First expiry",
    "currency": "Currency",
    "purchase": "Purchase",
    "book_value": "Book value",
    "irreplaceable_cards": "Irreplaceable cards",
    "irreplaceable_pflops": "Irreplaceable PFLOPS",
    "share": "Irreplaceable share",
    "purchase_per_year": "Purchase / yr",
    "power_per_year": "Power / yr",
    "rack_ops_per_year": "Rack+ops / yr",
    "total_per_year": "Total / yr",
    "split_purchase_ops_power": "Split purchase:ops:power",
    "other_currency_cards": "Cards in other currencies",
    "repairs": "Repairs",
    "in_warranty": "In warranty",
    "out_of_warranty": "Out of warranty",
    "cost_in_warranty": "Cost in",
    "cost_out_of_warranty": "Cost out",
}
SHARES = {"share"}
FIGURES = ("label", "cards", "pflops")  # every lifecycle report's first columns


def _cell(column: str, value: object) -> str:
    if column in SHARES and isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print_rows(
    rows,
    as_json: bool,
    as_csv: bool,
    title: str,
    label: str,
    nothing: str,
    columns: tuple[str, ...] = FIGURES,
) -> None:
    """Report rows as JSON, CSV or a table under real headings: `label` heads the rows' labels;
    with no rows, a table prints the sentence `nothing` instead, and a CSV its header alone,
    from `columns` (the keys of the report's rows: a script reads the same header)."""
    dicts = [r.as_dict() for r in rows]
    if as_json:
        print_json(dicts)
        return
    columns = tuple(dicts[0]) if dicts else columns
    if as_csv:
        from fleetui.importing.csvfile import write_rows

        header = [re.sub(r"\W+", "_", label.lower()) if c == "label" else c for c in columns]
        write_rows(sys.stdout, header, (d.values() for d in dicts))
        return
    if not dicts:
        out.print(nothing, highlight=False, markup=False)
        return
    headings = [HEADINGS.get(column, column.replace("_", " ")) for column in columns[1:]]
    print_table(
        [label, *headings],
        [[_cell(column, v) for column, v in d.items()] for d in dicts],
        title=title,
        right=headings,
    )


@report_app.command("warranty")
def report_warranty(
    ctx: typer.Context,
    within: Annotated[str, typer.Option(help="Window, e.g. 90d.")] = "90d",
    by: Annotated[str, typer.Option(help="team, model or supplier.")] = "team",
    today: TodayOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cards whose warranty ends within a window, grouped by team, model or supplier."""
    from fleetui.lifecycle import rules as lifecycle

    if by not in ("team", "model", "supplier"):
        raise UserError("--by takes team, model or supplier.")
    from fleetui.inventory.query import days as window

    days = window(within.strip())
    if days is None:
        raise UserError(
            f"--within {units.quoted(within)}: give days, like 90d "
            f"(at most {units.MOST_WINDOW_DAYS:,})."
        )
    rows = lifecycle.warranty_expiring(_snapshot(ctx, today, "warranty", days), days, by)
    _print_rows(
        rows,
        as_json,
        as_csv,
        f"Warranties ending within {units.counted(days, 'day')}, by {by}",
        by.capitalize(),
        f"No held card's warranty ends within {units.counted(days, 'day')}.",
        (*FIGURES, "first_expiry"),
    )


@report_app.command("cliff")
def report_cliff(
    ctx: typer.Context,
    years: int = 3,
    today: TodayOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cards and PFLOPS reaching end of service life per quarter."""
    from fleetui.lifecycle import rules as lifecycle

    rows = lifecycle.retirement_cliff(_snapshot(ctx, today, "cliff", years), years)
    _print_rows(
        rows,
        as_json,
        as_csv,
        f"Retirement cliff, next {units.counted(years, 'year')}",
        "Quarter",
        f"No held card reaches the end of its service life in the next "
        f"{units.counted(years, 'year')}.",
    )


def _simple_report(
    name: str, compute: str, title: str, label: str, nothing: str, doc: str, extra=()
) -> None:
    """Register `fleetui report NAME`: lifecycle.COMPUTE over today's snapshot, as a table;
    `extra`: its rows' columns after FIGURES."""

    def command(
        ctx: typer.Context,
        today: TodayOption = None,
        as_json: JsonOption = False,
        as_csv: CsvOption = False,
    ) -> None:
        from fleetui.lifecycle import rules as lifecycle

        rows = getattr(lifecycle, compute)(_snapshot(ctx, today, name))
        _print_rows(rows, as_json, as_csv, title, label, nothing, (*FIGURES, *extra))

    command.__doc__ = doc
    report_app.command(name)(command)


_simple_report(
    "eol",
    "past_end_of_life",
    "In service past end of life",
    "Team / model",
    "No card is in service past its end of life.",
    "Cards still in service past their end of life, per team and model.",
)
_simple_report(
    "book-value",
    "book_values",
    "Book value per team",
    "Team",
    "No priced card is held.",
    "Purchase price and straight-line book value per team; cards on order (not yet "
    "depreciating) on a line of their own.",
    ("currency", "purchase", "book_value"),
)
_simple_report(
    "irreplaceable",
    "irreplaceable_share",
    "Irreplaceable compute per team",
    "Team",
    "No card is in service or spare.",
    "Per team, the share of its compute on models that can no longer be bought.",
    ("irreplaceable_cards", "irreplaceable_pflops", "share"),
)


@report_app.command("cost")
def report_cost(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="team or project.")] = "team",
    today: TodayOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Yearly cost of ownership per team or project: depreciation, power, rack/ops."""
    from fleetui.lifecycle import rules as lifecycle

    if by not in ("team", "project"):
        raise UserError("--by takes team or project.")
    rows = lifecycle.cost_of_ownership(_snapshot(ctx, today, "cost"), by)
    _print_rows(
        rows,
        as_json,
        as_csv,
        "Cost of ownership per year",
        "Team" if by == "team" else "Team/project",
        "No card is held, so nothing costs anything.",
        (
            *FIGURES,
            "currency",
            "purchase_per_year",
            "power_per_year",
            "rack_ops_per_year",
            "total_per_year",
            "split_purchase_ops_power",
            "other_currency_cards",
        ),
    )


@report_app.command("repairs")
def report_repairs(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Repairs returned and their cost, in and out of warranty."""
    from dataclasses import fields

    from fleetui.allocation import history
    from fleetui.lifecycle import repairs

    rows = repairs.cost_report(open_db(ctx), history.parse_since(since, "--since"))
    _print_rows(
        rows,
        as_json,
        as_csv,
        "Repair cost",
        "Currency",
        "No repair has come back" + (f" since {since}." if since else "."),
        tuple(f.name for f in fields(repairs.RepairCost)),
    )


@app.command("repair")
def repair_cmd(
    ctx: typer.Context,
    serial: str,
    ticket: Annotated[str | None, typer.Option(help="RMA or ticket number (sending).")] = None,
    vendor: Annotated[str, typer.Option(help="Who repairs it.")] = "",
    returned: Annotated[bool, typer.Option("--returned", help="It came back.")] = False,
    cost: Annotated[str | None, typer.Option(help="What the repair cost, e.g. 1200 USD.")] = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    today: TodayOption = None,
) -> None:
    """Send a card to repair (--ticket, --vendor) or bring it back (--returned [--cost])."""
    from fleetui.lifecycle import repairs

    engine = open_db(ctx)
    if returned:
        batch = repairs.receive(engine, serial, cost, settings(ctx), _today(today), reason)
        out.print(
            f"Card {serial} is back from repair, as a spare. {undo_hint(batch)}", highlight=False
        )
        return
    if cost:
        raise UserError("--cost goes with --returned.")
    batch = repairs.send(engine, serial, ticket or "", vendor, reason)
    out.print(
        f"Card {serial} is in repair under ticket {ticket}. {undo_hint(batch)}", highlight=False
    )
