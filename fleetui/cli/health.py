"""GPU health, RMAs and fleetui's own metrics exporter."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetui.cli.base import JsonOption, app, confirm, err, open_db, out, print_json, settings
from fleetui.cli.lifecycle import TodayOption, _today
from fleetui.cli.tables import print_table
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import COMPUTING, IN_HAND, Status
from fleetui.presentation import undo_hint


@app.command("health")
def health_cmd(
    ctx: typer.Context,
    every: Annotated[
        bool, typer.Option("--all", help="Also cards already in repair or retired.")
    ] = False,
    as_json: JsonOption = False,
    today: TodayOption = None,
) -> None:
    """Sick cards, worst first: evidence, NVIDIA's action, team, node, warranty and supplier."""
    from fleetui.telemetry import health, reconcile

    engine = open_db(ctx)
    found = health.sick_if_known(engine, settings(ctx), _today(today), in_hand=True)
    if found is None:
        reconcile.require_seen(engine)  # raises, saying how to register and poll
        found = []  # a poll answered meanwhile, with nothing sick
    cards = found if every else [c for c in found if c.status not in IN_HAND]
    if as_json:
        print_json([c.as_dict() for c in cards])
        return
    stale = reconcile.not_compared(engine)
    if stale:  # their GPUs' evidence is as last seen, and new evidence cannot show
        said = units.counted(stale, "node")
        err.print(f"{said} did not answer the last poll: health as last seen.", highlight=False)
    in_hand = len(found) - len(cards)
    if in_hand:
        said = units.counted(in_hand, "sick card")
        err.print(f"{said} in repair or retired not listed (--all lists them).", highlight=False)
    if not cards:
        out.print("No GPU reports anything that needs a hand.", highlight=False)
        return
    print_table(
        ("Serial", "Node", "Bus", "Team", "Action", "Evidence", "Warranty", "Supplier"),
        [
            (
                c.serial,
                c.node,
                c.pci_bus_id,
                c.team or "-",
                health.ACTION_TEXT[c.action] + _status_note(c.status),
                "\n".join(c.evidence),
                f"{c.warranty} ({c.warranty_end})" if c.warranty_end else c.warranty,
                c.supplier or "-",
            )
            for c in cards
        ],
        title=f"{units.counted(len(cards), 'card')} needing a hand",
        text=("Action", "Evidence", "Warranty"),
    )


def _status_note(status: str | None) -> str:
    """What the Action column adds: nothing for a card in service, else its status, or that no
    card matches the GPU."""
    if status == Status.IN_SERVICE:
        return ""
    return "\n(not in the inventory)" if status is None else f"\n(status: {status})"


@app.command("rma")
def rma_cmd(
    ctx: typer.Context,
    serial: str,
    out_file: Annotated[
        str | None,
        typer.Option("--out", help="Packet file (markdown; the JSON goes beside it as .json)."),
    ] = None,
    ticket: Annotated[str | None, typer.Option(help="The supplier's RMA number, if known.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
    today: TodayOption = None,
) -> None:
    """Open a card's repair and write its RMA packet (markdown and JSON); undo reverts it."""
    from fleetui.telemetry import rma

    engine = open_db(ctx)
    day = _today(today)
    card = rma.build(engine, serial, settings(ctx), day)
    if not card["health"]:  # allowed (a fault seen by eye), but said, as the packet does
        err.print(
            f"Card {serial} has no health evidence (no reading or Xid of it calls for a hand); "
            "the packet says so.",
            highlight=False,
        )
        if card["status"] in COMPUTING:  # a typo in a serial must not take a card away
            check = f"check the card with `fleetui cards {serial}`"
            confirm(yes, [], f"Take {serial} out of service into repair?", check, "open it")
    packet, paths = rma.open_rma(engine, serial, settings(ctx), day, out_file, ticket)
    if as_json:
        print_json(packet.data | {"files": [str(p) for p in paths], "batch": packet.batch})
        return
    packet_files = f"packet {paths[0]} and {paths[1]}."
    if packet.batch:
        out.print(
            f"Card {serial}: repair opened; {packet_files} {undo_hint(packet.batch)}",
            highlight=False,
        )
    else:
        out.print(
            f"Card {serial}: already in repair under ticket {packet.data['ticket']}, no second "
            f"repair opened; {packet_files}",
            highlight=False,
        )


@app.command("exporter")
def exporter_cmd(
    ctx: typer.Context,
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve on.")] = "127.0.0.1:9401",
    token_file: Annotated[
        str | None, typer.Option(help="File holding the bearer token; required off loopback.")
    ] = None,
) -> None:
    """Serve fleetui's own metrics at /metrics: cards and PFLOPS per team, sick and idle cards."""
    from fleetui.telemetry import agent, exporter

    host, port = agent.parse_listen(listen)
    token = None if token_file is None else agent.read_token(token_file)
    try:
        server = exporter.make_exporter(open_db(ctx), settings(ctx), host, port, token)
    except OSError as exc:
        raise UserError(f"Cannot listen on {listen}: {exc.strerror}.") from None
    err.print(f"fleetui exporter serving http://{listen}/metrics", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
