"""Lifecycle reports and repairs."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from fleetui.cli.base import JsonOption, app, open_db, out, print_json, report_app, settings
from fleetui.core.errors import UserError

# ---------------------------------------------------------------- lifecycle

CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")]
TodayOption = Annotated[
    str | None, typer.Option("--today", help="Report as if it were this date (2027-01-31).")
]


def _today(value: str | None) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--today {value!r} is not a date like 2027-01-31.") from None


def _snapshot(ctx: typer.Context, today: str | None, report: str, window: int = 0):
    """The groups of cards the report reads (lifecycle.report_snapshot)."""
    from fleetui.lifecycle import rules as lifecycle

    return lifecycle.report_snapshot(open_db(ctx), settings(ctx), _today(today), report, window)


def _print_rows(rows, as_json: bool, as_csv: bool, title: str) -> None:
    """Report rows as JSON, CSV or a table (label, cards, PFLOPS and each row's extras)."""
    dicts = [r.as_dict() for r in rows]
    if as_json:
        print_json(dicts)
        return
    columns = list(dicts[0]) if dicts else ["label", "cards", "pflops"]
    if as_csv:
        from fleetui.importing.csvfile import write_rows

        write_rows(sys.stdout, columns, (d.values() for d in dicts))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column == "label" else "right")
    for d in dicts:
        table.add_row(
            *(
                f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
                for v in d.values()
            )
        )
    out.print(table)


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
    try:
        days = int(within.strip().rstrip("dD"))
    except ValueError:
        raise UserError(f"--within {within!r}: give days, like 90d.") from None
    rows = lifecycle.warranty_expiring(_snapshot(ctx, today, "warranty", days), days, by)
    _print_rows(rows, as_json, as_csv, f"Warranties ending within {days} days, by {by}")


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
    _print_rows(rows, as_json, as_csv, f"Retirement cliff, next {years} years")


def _simple_report(name: str, compute: str, title: str, doc: str) -> None:
    """Register `fleetui report NAME`: lifecycle.COMPUTE over today's snapshot, as a table."""

    def command(
        ctx: typer.Context,
        today: TodayOption = None,
        as_json: JsonOption = False,
        as_csv: CsvOption = False,
    ) -> None:
        from fleetui.lifecycle import rules as lifecycle

        rows = getattr(lifecycle, compute)(_snapshot(ctx, today, name))
        _print_rows(rows, as_json, as_csv, title)

    command.__doc__ = doc
    report_app.command(name)(command)


_simple_report(
    "eol",
    "past_end_of_life",
    "In service past end of life",
    "Cards still in service past their end of life, per team and model.",
)
_simple_report(
    "book-value",
    "book_values",
    "Book value per team",
    "Purchase price and straight-line book value per team.",
)
_simple_report(
    "irreplaceable",
    "irreplaceable_share",
    "Irreplaceable compute per team",
    "Per team, the share of its compute on models that can no longer be bought.",
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
    _print_rows(rows, as_json, as_csv, "Cost of ownership per year")


@report_app.command("repairs")
def report_repairs(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOption = False,
) -> None:
    """Repairs returned and their cost, in and out of warranty."""
    from fleetui.allocation import history
    from fleetui.lifecycle import repairs

    rows = repairs.cost_report(open_db(ctx), history.parse_since(since))
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    table = Table(title="Repair cost")
    for column in ("Currency", "Repairs", "In warranty", "Out of warranty", "Cost in", "Cost out"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.currency,
            f"{r.repairs:,}",
            f"{r.in_warranty:,}",
            f"{r.out_of_warranty:,}",
            f"{r.cost_in_warranty:,.2f}",
            f"{r.cost_out_of_warranty:,.2f}",
        )
    out.print(table)


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
            f"Card {serial} is back from repair, as a spare (batch {batch[:8]}).", highlight=False
        )
        return
    if cost:
        raise UserError("--cost goes with --returned.")
    batch = repairs.send(engine, serial, ticket or "", vendor, reason)
    out.print(
        f"Card {serial} is in repair under ticket {ticket} (batch {batch[:8]}).", highlight=False
    )
