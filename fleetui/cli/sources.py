"""Metrics stores as telemetry sources: add, list, remove."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from fleetui.cli.base import JsonOption, open_db, out, print_json, subgroup
from fleetui.cli.tables import print_table
from fleetui.core import units

sources_app = subgroup("sources", "Metrics stores (Prometheus, VictoriaMetrics, Thanos) polled.")
ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Re-point a source of that name registered already.")
]


@sources_app.command("add")
def sources_add(
    ctx: typer.Context,
    name: str,
    prometheus: Annotated[
        str,
        typer.Option(
            "--prometheus", help="The store's base URL (Prometheus, VictoriaMetrics, Thanos)."
        ),
    ],
    match: Annotated[
        str, typer.Option("--match", help='Label matchers picking the fleet, e.g. job="dcgm".')
    ] = "",
    token_file: Annotated[
        str | None, typer.Option(help="File with the store's bearer token (its path is stored).")
    ] = None,
    basic_auth_file: Annotated[
        str | None,
        typer.Option(help="File with user:password for basic auth (its path is stored)."),
    ] = None,
    ca_file: Annotated[
        str | None, typer.Option(help="PEM bundle to check the store's https certificate with.")
    ] = None,
    replace: ReplaceOption = False,
) -> None:
    """Register a metrics store holding dcgm-exporter's series (--replace re-points one)."""
    from fleetui.telemetry import sources

    sources.add_source(
        open_db(ctx), name, prometheus, match, token_file, ca_file, basic_auth_file, replace
    )
    out.print(f"Source {name.strip()} registered.")


@sources_app.command("list")
def sources_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Registered stores, the nodes each reports, when each last answered, and why not."""
    from fleetui.telemetry import sources

    found = sources.sources(open_db(ctx))
    if as_json:
        print_json(
            [{k: str(v) if isinstance(v, datetime) else v for k, v in s.items()} for s in found]
        )
        return
    rows = []
    for s in found:
        seen = f"{s['last_seen_at']:%Y-%m-%d %H:%M:%S}" if s["last_seen_at"] else "never"
        rows.append(
            (
                s["name"],
                s["url"],
                s["match"],
                f"{s['nodes']:,}",
                seen,
                str(s["failures"]),
                s["problem"],
            )
        )
    print_table(
        ("Source", "URL", "Match", "Nodes", "Last seen", "Failures", "Problem"),
        rows,
        text=("Problem",),
    )


@sources_app.command("remove")
def sources_remove(ctx: typer.Context, name: str) -> None:
    """Forget a store and its readings; the nodes it reported stay as plain nodes."""
    from fleetui.telemetry import sources

    count = sources.remove_source(open_db(ctx), name)
    out.print(
        f"Source {name.strip()} removed; {units.counted(count, 'node')} kept, without readings.",
        highlight=False,
    )
