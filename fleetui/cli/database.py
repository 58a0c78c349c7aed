"""The database: info, upgrade, check, backup and restore."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from fleetui.admin import demo
from fleetui.cli.base import (
    JsonOption,
    app,
    db_target,
    no_database,
    open_db,
    out,
    print_json,
    subgroup,
)
from fleetui.core.errors import UserError
from fleetui.db.engine import redact, sqlite_path
from fleetui.store import database_url, open_fleet, reason

db_app = subgroup("db", "Inspect or upgrade the database.")

# ---------------------------------------------------------------- db


@db_app.command("info")
def db_info(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where the database is, its schema revision and size. Never changes it."""
    from fleetui.db.engine import DatabaseURLError, make_engine
    from fleetui.db.migrate import current_revision, known_revisions

    url = database_url(db_target(ctx))
    path = sqlite_path(url)
    if path is not None and not path.exists():  # connecting would create it
        raise UserError(no_database(path))
    try:
        engine = make_engine(url)
    except DatabaseURLError as exc:
        raise UserError(str(exc)) from None
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise UserError(unreadable(url, exc)) from None
    head, known = known_revisions()
    state = (
        "up to date"
        if current == head
        else "new (no schema yet)"
        if current is None
        else ("needs upgrade" if current in known else "newer than this fleetui")
    )
    info: dict[str, Any] = {
        "url": redact(url),
        "backend": engine.dialect.name,
        "schema": current,
        "code_schema": head,
        "state": state,
    }
    if path is not None:
        info["file_bytes"] = path.stat().st_size
    if current == head or current in known:  # every schema fleetui wrote has its card table
        info["cards"] = demo.card_count(engine)
    engine.dispose()
    if as_json:
        print_json(info)
    else:
        for key, value in info.items():
            out.print(f"{key:12} {value}", highlight=False)


def unreadable(url: str, exc: SQLAlchemyError) -> str:
    """One sentence: which database could not be read (where, for a server) and the driver's
    reason, every password redacted."""
    parsed = make_url(url)
    where = (
        f"at {parsed.host}:{parsed.port or 5432} ({redact(url)})" if parsed.host else redact(url)
    )
    return f"Cannot read the database {where}: {reason(exc)}."


@db_app.command("check")
def db_check(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="SQLite: the slow, complete integrity_check instead of quick_check."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check integrity, foreign keys and fleetui's invariants. Exit 0: all well; 1: problems
    (listed); 2: a database from a newer fleetui."""
    from fleetui.admin import maintenance

    problems = maintenance.check(open_db(ctx), full)
    if as_json:
        print_json([p.__dict__ for p in problems])
    else:
        for problem in problems:
            out.print(str(problem), highlight=False, markup=False)
        if not problems:
            out.print("All checks passed.", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command("backup")
def backup_cmd(ctx: typer.Context, dest: Annotated[str, typer.Argument(help="New file.")]) -> None:
    """Back up the database (safe while fleetui runs). SQLite: a copy; PostgreSQL: pg_dump -Fc."""
    from fleetui.admin import maintenance

    out.print(maintenance.backup(open_db(ctx), dest), highlight=False)


@app.command("restore")
def restore_cmd(
    ctx: typer.Context, src: Annotated[str, typer.Argument(help="A file from `fleetui backup`.")]
) -> None:
    """Restore a backup into an empty database."""
    from fleetui.admin import maintenance

    out.print(maintenance.restore(open_db(ctx, fills=True), src), highlight=False)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (opening the database does this too)."""
    from fleetui.db.migrate import current_revision

    engine = open_fleet(db_target(ctx))
    out.print(
        f"{redact(str(engine.url))} is at schema {current_revision(engine)}.", highlight=False
    )
