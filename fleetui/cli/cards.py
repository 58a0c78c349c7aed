"""The GPU catalogue and the card list."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetui import catalogue
from fleetui.cli.base import JsonOption, app, number, open_db, print_json, settings
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.inventory import cards as inventory
from fleetui.inventory.query import quote

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from fleetui.config import Config

# ---------------------------------------------------------------- catalogue


@app.command("models")
def models_cmd(as_json: JsonOption = False) -> None:
    """List the GPU catalogue: memory, dense FP16/BF16 TFLOPS, TDP, TPP, export class, source."""
    specs = catalogue.models()
    if as_json:
        print_json([_model_json(s) for s in specs])
        return
    from fleetui.cli.tables import print_table

    figures = ("Mem GB", "FP16 TFLOPS", "TDP W", "TPP")
    print_table(
        ("Model", "Vendor", *figures, "Export class"),
        [
            (
                s.name,
                s.vendor,
                number(s.memory_gb),
                number(s.fp16_tflops),
                number(s.tdp_w),
                number(s.tpp),
                s.export_class,
            )
            for s in specs
        ],
        title=f"GPU catalogue ({units.counted(len(specs), 'model')})",
        right=figures,
    )


def _model_json(spec: catalogue.ModelSpec) -> dict[str, Any]:
    values = spec.row()
    values["nvml_names"] = list(spec.nvml_names)
    values["aliases"] = list(spec.aliases)
    return values


# ---------------------------------------------------------------- cards


# `cards -team:llm`: a word starting with one `-` is a negated filter term, not an option (the
# command has no short options, so click keeps such a word as an argument, in its place).
@app.command("cards", context_settings={"ignore_unknown_options": True})
def cards_cmd(
    ctx: typer.Context,
    terms: Annotated[
        list[str] | None,
        typer.Argument(
            help="Filter terms, e.g. team:llm model:h800 status:spare (all must match)."
        ),
    ] = None,
    as_json: JsonOption = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N cards (table default 50).")
    ] = None,
    sort: Annotated[str, typer.Option(help=f"One of: {', '.join(inventory.SORTS)}.")] = "serial",
) -> None:
    """List cards matching a filter (the TUI's `/` syntax)."""
    query = _query(terms or [])
    engine = open_db(ctx)
    if as_json:
        found = inventory.cards(engine, query, limit, sort, settings=settings(ctx))
        _stream_json(_with_stored_fields(engine, found, settings(ctx)))
        return
    if not sys.stdout.isatty():  # piped: tab-separated, every matching card unless --limit
        _stream_tsv(inventory.cards(engine, query, limit, sort, settings=settings(ctx)))
        return
    from fleetui.cli.base import err  # rich only for a table: --json and pipes start faster
    from fleetui.cli.tables import print_table

    shown = limit if limit is not None else 50
    rows = list(inventory.cards(engine, query, shown, sort, settings=settings(ctx)))
    if not rows:  # a terminal gets a sentence, not an empty table
        said = (
            f"No card matches {units.quoted(query)}."
            if query.strip()
            else "The inventory holds no cards."
        )
        err.print(said, markup=False, highlight=False)
        return
    print_table(
        [c.replace("_", " ") for c in TABLE_COLUMNS],
        [[str(v or "") for v in map(row.as_dict().get, TABLE_COLUMNS)] for row in rows],
    )
    total = inventory.count(engine, query, settings=settings(ctx))
    if total > len(rows):
        err.print(
            f"{units.count(len(rows))} of {units.counted(total, 'card')} shown; "
            "use --limit or --json."
        )


TABLE_COLUMNS = ("serial", "model", "node", "team", "project", "status", "warranty_end")


def _query(terms: list[str]) -> str:
    """The filter the shell's words make. One word is the whole query ('team:llm status:spare');
    among several, `team:"Ads ranking"` arrives as `team:Ads ranking`, so a word holding a space
    is quoted again (its value, after a `key:`)."""
    if typo := next((t for t in terms if t.startswith("--") and len(t) > 2), None):
        raise UserError(f"No such option: {typo.split('=')[0]} (fleetui cards --help lists them).")
    if len(terms) == 1:
        return terms[0]
    words = []
    for term in terms:
        if any(c.isspace() for c in term) and '"' not in term:
            key, colon, value = term.partition(":")
            term = f"{key}:{quote(value)}" if colon and " " not in key else quote(term)
        words.append(term)
    return " ".join(words)


def _stream_tsv(rows) -> None:
    from fleetui.importing.csvfile import write_rows

    write_rows(sys.stdout, inventory.COLUMNS, (row.as_dict().values() for row in rows), tsv=True)


def _with_stored_fields(
    engine: Engine, rows: Iterator[inventory.CardRow], cfg: Config
) -> Iterator[dict[str, Any]]:
    """Each listed card as the list shows it (`warranty_end` by the rules), plus every field
    `export` writes, its own warranty end as `stored_warranty_end`; read 1,000 cards at a time."""
    from fleetui.inventory import export

    page: list[inventory.CardRow] = []
    for row in chain(rows, [None]):
        if row is not None:
            page.append(row)
            if len(page) < 1000:
                continue
        stored = export.records(engine, [r.id for r in page], settings=cfg)
        for listed in page:
            full = stored.get(listed.id, {"warranty_end": None})
            yield full | {"stored_warranty_end": full["warranty_end"]} | listed.as_dict()
        page = []


def _stream_json(rows: Iterator[dict[str, Any]]) -> None:
    """A JSON array written row by row, so a million cards never sit in memory at once."""
    write = sys.stdout.write
    write("[")
    for i, row in enumerate(rows):
        write(("," if i else "") + "\n  " + json.dumps(row, default=str, ensure_ascii=False))
    write("\n]\n")
