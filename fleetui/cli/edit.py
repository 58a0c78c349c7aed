"""Editing and deleting cards."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetui.cli.base import JsonOption, app, confirm, open_db, out, print_json, settings
from fleetui.core import units
from fleetui.presentation import describe_edit, undo_hint

Serials = Annotated[list[str] | None, typer.Argument(help="Serials of the cards.")]
Reason = Annotated[str, typer.Option(help="Why (required; goes in the log).")]
Actor = Annotated[str | None, typer.Option(help="Who (default: your OS user).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")]
Where = Annotated[str | None, typer.Option("--where", help="Edit the cards this filter matches.")]
Status = Annotated[
    str | None, typer.Option(help="Exactly one of in_service, spare, repair, retired, on_order.")
]
Notes = Annotated[str | None, typer.Option(help="Notes ('' clears them).")]
OnNode = Annotated[str | None, typer.Option("--node", help="A registered node ('' clears it).")]
Slot = Annotated[str | None, typer.Option(help="PCI bus id (one card only; '' clears it).")]
Supplier = Annotated[str | None, typer.Option(help="Supplier ('' clears it).")]
Price = Annotated[str | None, typer.Option(help="Price: '¥95,000', 'USD 30000' ('' clears it).")]
WarrantyEnd = Annotated[str | None, typer.Option(help="Warranty end date ('' clears it).")]
ServiceLife = Annotated[str | None, typer.Option(help="Service life in years ('' clears it).")]
AssetTag = Annotated[str | None, typer.Option(help="Asset tag, unique to one card ('' clears it).")]
PurchaseOrder = Annotated[
    str | None, typer.Option(help="Purchase-order or invoice reference ('' clears it).")
]


REVIEW = "review with --dry-run"


def _show(lines: list[str], as_dict: dict, as_json: bool) -> None:
    if as_json:
        print_json(as_dict)
        return
    for line in lines:
        out.print(line, highlight=False, markup=False)


@app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    serials: Serials = None,
    where: Where = None,
    status: Status = None,
    notes: Notes = None,
    node: OnNode = None,
    slot: Slot = None,
    supplier: Supplier = None,
    price: Price = None,
    warranty_end: WarrantyEnd = None,
    service_life_years: ServiceLife = None,
    asset_tag: AssetTag = None,
    purchase_order: PurchaseOrder = None,
    reason: Reason = "",
    actor: Actor = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    as_json: JsonOption = False,
) -> None:
    """Change fields of cards, as one audited batch (`fleetui undo` takes it back); fields not
    given stay as they are. Values are read as `import` reads them, but a status exactly."""
    from fleetui.core.errors import UserError
    from fleetui.inventory import edit

    if not reason.strip() and not dry_run:
        raise UserError("Say why: an edit needs --reason.")
    engine = open_db(ctx)
    fields = {
        "status": status,
        "notes": notes,
        "node": node,
        "slot": slot,
        "supplier": supplier,
        "price": price,
        "warranty_end": warranty_end,
        "service_life_years": service_life_years,
        "asset_tag": asset_tag,
        "purchase_order": purchase_order,
    }
    plan = edit.plan_edit(engine, serials or [], where, fields, settings=settings(ctx))
    if dry_run:
        _show(describe_edit(plan), plan.as_dict(), as_json)
        return
    confirm(yes, describe_edit(plan), "Change these cards?", REVIEW, "edit")
    batch = edit.commit_edit(engine, plan, reason, actor)
    if as_json:
        print_json(plan.as_dict() | {"batch_id": batch})
        return
    out.print(
        f"Changed {units.counted(len(plan.cards), 'card')}. {undo_hint(batch)}", highlight=False
    )


@app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    serials: Serials = None,
    reason: Reason = "",
    actor: Actor = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    as_json: JsonOption = False,
) -> None:
    """Delete cards entered by mistake, as one audited batch; `fleetui undo` re-creates them
    with their history. (A card that left the fleet is better kept: `edit --status retired`.)"""
    from fleetui.core.errors import UserError
    from fleetui.inventory import edit

    if not reason.strip() and not dry_run:
        raise UserError("Say why: a delete needs --reason.")
    engine = open_db(ctx)
    cards = edit.plan_delete(engine, serials or [])
    preview = [f"Delete {units.counted(len(cards), 'card')}:"]
    preview += [f"  {c.serial}" for c in cards[:20]]
    preview += [f"  … and {units.counted(len(cards) - 20, 'more card')}"] if len(cards) > 20 else []
    if dry_run:
        _show(preview, {"delete": [c.serial for c in cards]}, as_json)
        return
    confirm(yes, preview, "Delete these cards?", REVIEW, "delete")
    batch = edit.commit_delete(engine, cards, reason, actor)
    if as_json:
        print_json({"deleted": [c.serial for c in cards], "batch_id": batch})
        return
    out.print(f"Deleted {units.counted(len(cards), 'card')}. {undo_hint(batch)}", highlight=False)
