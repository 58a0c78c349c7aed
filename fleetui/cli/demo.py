"""The demo fleet."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import Engine

from fleetui.admin import demo
from fleetui.cli.base import Created, app, db_target, err, launch, need_terminal, settings
from fleetui.core import units
from fleetui.db.engine import demo_path, redact, sqlite_path
from fleetui.store import database_url

# ---------------------------------------------------------------- demo


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    cards: Annotated[int, typer.Option(help="About how many cards.")] = 2000,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet.")] = 7,
    no_launch: Annotated[bool, typer.Option("--no-launch", help="Build only.")] = False,
) -> None:
    """Build a realistic demo fleet in its own database (rebuilt each run) and open the TUI.
    Never $FLEETUI_DB; --db only names a new or empty database or one demo built."""
    if not no_launch:  # asked before the build, which takes a while and replaces the demo
        need_terminal("`fleetui demo` opens the TUI (`--no-launch` only builds the demo)")
    target = db_target(ctx) or str(demo_path())
    path = sqlite_path(database_url(target))
    is_new = path is not None and not path.exists()

    def opened(engine: Engine) -> None:
        # removed if the build fails or is interrupted (Group); a demo is not "empty"
        if is_new and path is not None:
            ctx.find_root().obj["created"] = Created(engine, path, announce=False)

    if cards >= 50_000:
        from rich.progress import Progress

        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("Building the demo fleet", total=cards)
            engine, written = demo.rebuild(
                target, cards, seed, lambda n, _: bar.update(task, completed=n), opened
            )
    else:
        engine, written = demo.rebuild(target, cards, seed, opened=opened)
    where = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    where = where or redact(str(engine.url))
    err.print(
        f"Demo fleet: {units.counted(written, 'card')} in {where}; the other commands read "
        f"it with --db, e.g. `fleetui --db {where} history`.",
        highlight=False,
        markup=False,
    )
    if not no_launch:
        launch(engine, settings=settings(ctx))
