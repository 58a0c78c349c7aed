"""GPUs on this host, the agent, nodes, polling and reconciliation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from fleetui.cli.base import JsonOption, app, err, number, open_db, out, print_json, subgroup
from fleetui.cli.tables import print_table
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.presentation import undo_hint

# ---------------------------------------------------------------- telemetry


@app.command("agent")
def agent_cmd(
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve on.")] = "127.0.0.1:9400",
    token_file: Annotated[
        str | None, typer.Option(help="File holding the bearer token; required off loopback.")
    ] = None,
    xid_log: Annotated[
        str | None,
        typer.Option(help="Kernel log to read Xids from: /dev/kmsg, /var/log/kern.log, ..."),
    ] = None,
) -> None:
    """Serve this host's GPU telemetry: /snapshot (JSON) and /metrics (Prometheus text)."""
    from fleetui.telemetry import agent, nvml, xidlog

    host, port = agent.parse_listen(listen)
    xids = xidlog.XidLog(xid_log) if xid_log else None
    try:
        server = agent.make_server(
            host,
            port,
            None if token_file is None else agent.read_token(token_file),
            lambda: nvml.collect(xids=xids),
        )
    except OSError as exc:
        raise UserError(f"Cannot listen on {listen}: {exc.strerror}.") from None
    err.print(f"fleetui agent serving http://{listen}/snapshot and /metrics", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


@app.command("gpus")
def gpus_cmd(as_json: JsonOption = False) -> None:
    """This host's GPUs as NVML sees them now (what the agent would serve)."""
    from fleetui.telemetry import nvml

    snap = nvml.collect()
    if as_json:  # the snapshot, its error in it; the exit status says it as the table's does
        print_json(snap.as_dict())
        if snap.error:
            raise typer.Exit(1)
        return
    if snap.error:
        raise UserError(snap.error + ".")
    print_table(
        ("GPU", "Name", "Serial", "Bus", "Util %", "Mem MiB", "°C", "W", "Health"),
        [
            (
                str(g.index),
                g.name or "",
                g.serial or "",
                g.pci_bus_id or "",
                number(g.util_gpu),
                number(g.memory_used_mib),
                number(g.temperature_c),
                number(g.power_w),
                ", ".join(g.health()) or "ok",
            )
            for g in snap.gpus
        ],
        title=f"{snap.hostname}: {units.counted(len(snap.gpus), 'GPU')}, driver {snap.driver}",
        text=("Health",),
    )


nodes_app = subgroup("nodes", "Nodes whose telemetry fleetui polls.")
ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Re-point nodes registered already.")
]


@nodes_app.command("add")
def nodes_add(
    ctx: typer.Context,
    host: str,
    agent: Annotated[str | None, typer.Option("--agent", help="fleetui agent URL.")] = None,
    dcgm: Annotated[str | None, typer.Option("--dcgm", help="dcgm-exporter URL.")] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            help="File with this node's bearer token (its path is stored, not the token; "
            "default for agents: $FLEETUI_AGENT_TOKEN_FILE).",
        ),
    ] = None,
    basic_auth_file: Annotated[
        str | None,
        typer.Option(help="File with user:password for basic auth (its path is stored)."),
    ] = None,
    ca_file: Annotated[
        str | None, typer.Option(help="PEM bundle to check the node's https certificate with.")
    ] = None,
    replace: ReplaceOption = False,
) -> None:
    """Register a node and where its telemetry is (a fleetui agent or a dcgm-exporter);
    --replace re-points one registered already."""
    from fleetui.telemetry import poller

    if agent is not None and dcgm is None:
        url, kind = agent, "agent"
    elif dcgm is not None and agent is None:
        url, kind = dcgm, "dcgm"
    else:
        raise UserError("Give the node's --agent URL or its --dcgm URL.")
    poller.add_node(
        open_db(ctx), host, url, kind, token_file, basic_auth_file, ca_file, replace=replace
    )
    out.print(f"Node {host} registered.", highlight=False)


@nodes_app.command("import")
def nodes_import(ctx: typer.Context, file: str, replace: ReplaceOption = False) -> None:
    """Register many nodes from a CSV with columns hostname, kind (agent or dcgm), url."""
    from fleetui.telemetry import poller

    count = poller.add_nodes_from_csv(open_db(ctx), file, replace)
    out.print(f"{units.counted(count, 'node')} registered.", highlight=False)


@nodes_app.command("rename")
def nodes_rename(ctx: typer.Context, old: str, new: str) -> None:
    """Rename a node (its cards stay on it)."""
    from fleetui.allocation import teams

    batch = teams.rename_node(open_db(ctx), old, new)
    out.print(f"Node {old} is now {new.strip()}. {undo_hint(batch)}", highlight=False)


@nodes_app.command("remove")
def nodes_remove(ctx: typer.Context, host: str) -> None:
    """Remove a node that holds no cards (its telemetry readings go with it)."""
    from fleetui.allocation import teams

    batch = teams.remove_node(open_db(ctx), host)
    out.print(f"Node {host.strip()} removed. {undo_hint(batch, False)}", highlight=False)


@nodes_app.command("unwatch")
def nodes_unwatch(ctx: typer.Context, host: str) -> None:
    """Stop polling a node; the node and its cards stay (`nodes add` polls it again)."""
    from fleetui.telemetry import poller

    poller.unwatch_node(open_db(ctx), host)
    out.print(f"Node {host.strip()} is no longer polled.", highlight=False)


@nodes_app.command("list")
def nodes_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Registered nodes and those metrics stores report, their endpoints, when they last
    answered and why not."""
    from fleetui.telemetry import poller

    found = poller.listed(open_db(ctx))
    if as_json:
        print_json(
            [{k: str(v) if isinstance(v, datetime) else v for k, v in n.items()} for n in found]
        )
        return
    if not found:  # nodes that only hold cards are not listed: nothing polls them
        err.print(
            "No node is registered for telemetry: `fleetui nodes add HOST --agent URL` "
            "(or --dcgm URL) registers one, `fleetui sources add` a metrics store.",
            highlight=False,
        )
        return
    rows = []
    for n in found:
        seen = f"{n['last_seen_at']:%Y-%m-%d %H:%M:%S}" if n["last_seen_at"] else "never"
        rows.append(
            (
                n["hostname"],
                n["telemetry_kind"] or f"via {n['source']}",  # a store's: `sources list` has it
                n["telemetry_url"] or "",
                seen,
                str(n["failures"]),
                n["problem"],
            )
        )
    print_table(("Node", "Kind", "URL", "Last seen", "Failures", "Last problem"), rows)


@app.command("poll")
def poll_cmd(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False,
    interval: Annotated[
        float, typer.Option(min=1.0, help="Seconds between rounds (at least 1).")
    ] = 10.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per node.")] = 2.0,
) -> None:
    """Poll the registered nodes and metrics stores (each round starts after the previous one
    finished; a node or store that failed is asked again after a wait that doubles, but --once
    asks every one); with none registered, read this host's GPUs through NVML."""
    import time

    from fleetui.telemetry import poller

    engine = open_db(ctx)
    local = not poller.registered(engine)  # nothing registered: this host's own GPUs via NVML
    while True:
        started = time.monotonic()
        result = (
            poller.poll_local(engine)
            if local
            else poller.poll_once(engine, timeout=timeout, back_off=not once)
        )
        out.print(result.summary(), highlight=False)
        for failure in result.failed[:10]:
            err.print(f"  {failure}", highlight=False, markup=False)
        if once:
            if result.failed and not (result.answered or result.stores_answered):
                raise typer.Exit(1)  # every node and store failed (listed above)
            return
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


reconcile_app = subgroup(
    "reconcile",
    "What telemetry and the inventory disagree on, and fixing it.",
    no_args_is_help=False,
)


@reconcile_app.callback(invoke_without_command=True)
def reconcile_cmd(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List what telemetry and the inventory disagree on: unknown, missing, moved, model.
    Exit 0: they agree; 1: discrepancies (listed); 2: no node or store answered its last poll."""
    from fleetui.telemetry import reconcile

    if ctx.invoked_subcommand is not None:
        return
    engine = open_db(ctx)
    reconcile.require_fresh(engine)
    found = reconcile.discrepancies(engine)
    if as_json:
        print_json([d.as_dict() for d in found])
    else:
        for d in found:
            out.print(
                f"{d.kind:8} {d.node} {d.pci_bus_id or '-'} {d.serial or '-'}: {d.detail}",
                highlight=False,
                markup=False,
            )
        if not found:
            out.print("Telemetry and the inventory agree.", highlight=False)
        if stale := reconcile.not_compared(engine):
            err.print(
                f"Not compared: {units.counted(stale, 'node')} whose last poll failed "
                "(`fleetui nodes list` says why).",
                highlight=False,
            )
    if found:
        raise typer.Exit(1)


@reconcile_app.command("fix")
def reconcile_fix(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="Serial or UUID of the card or GPU.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Fix every discrepancy.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fix discrepancies as the Telemetry screen's `f` does (unknown: add it; moved: record
    where seen; missing: take off its node), each an undoable batch. Exit 1 if any is left."""
    from fleetui.telemetry import reconcile

    if (key is None) == (not every):
        raise UserError("Give a serial or UUID, or --all.")
    engine = open_db(ctx)
    reconcile.require_fresh(engine)
    found = reconcile.discrepancies(engine)
    chosen = found if key is None else reconcile.matching(found, key)
    results = []
    for d in chosen:
        try:
            fixed = reconcile.fix(engine, d)
            results.append(d.as_dict() | {"done": fixed.said, "batch": fixed.batch})
        except UserError as exc:
            results.append(d.as_dict() | {"error": str(exc)})
    if as_json:
        print_json(results)
    else:
        for r in results:
            line = (
                f"{r['done']} {undo_hint(r['batch'])}"
                if "done" in r
                else f"{r['kind']} {r['serial'] or '-'}: {r['error']}"
            )
            out.print(line, highlight=False, markup=False)
        if not results:
            out.print("Telemetry and the inventory agree: nothing to fix.", highlight=False)
    if any("error" in r for r in results):
        raise typer.Exit(1)
