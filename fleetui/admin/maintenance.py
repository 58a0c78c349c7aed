"""Backups, restores and consistency checks of the fleet database, on either backend.

- SQLite: backups use SQLite's online backup API, so they are consistent while the TUI (or an
  import) runs; a restore copies a backup file into an empty database.
- PostgreSQL: `pg_dump -Fc` and `pg_restore`, found on PATH or in /usr/lib/postgresql; the
  password goes to them in the environment (PGPASSWORD), never on a command line or in output.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DatabaseError

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.db import holdings
from fleetui.db.engine import redact, sqlite_path
from fleetui.db.migrate import HEAD, current_revision
from fleetui.db.tables import BatchSummary, Card, Event, Project, table_of

SQLITE_MAGIC = b"SQLite format 3\x00"


def backup(engine: Engine, dest: str) -> str:
    """Write a backup of the database to `dest` (which must not exist); returns a summary."""
    target = Path(dest).expanduser()
    if target.exists():
        raise UserError(f"{target} exists already; back up to a new file.")
    if not target.parent.is_dir():
        raise UserError(f"The directory {target.parent} does not exist.")
    url = engine.url.render_as_string(hide_password=False)
    source = sqlite_path(url)
    if source is not None:
        damage = _sqlite_verdict(engine, "quick_check")
        if damage:
            raise UserError(
                f"{source} is damaged ({damage[0]}); nothing was copied. Restore an earlier "
                "backup, or see `fleetui db check --full`."
            )
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return f"Backed up {source} to {target} ({units.counted(target.stat().st_size, 'byte')})."
    _run_pg("pg_dump", url, ["-Fc", "--no-owner", "-f", str(target)])
    return f"Backed up {redact(url)} to {target} ({units.counted(target.stat().st_size, 'byte')})."


def restore(engine: Engine, src: str) -> str:
    """Restore a backup into this database, which must hold no cards and no history."""
    source = Path(src).expanduser()
    if not source.is_file():
        raise UserError(f"There is no backup file {source}.")
    with engine.connect() as conn:
        held = conn.execute(select(func.count()).select_from(Card)).scalar_one()
        logged = conn.execute(select(func.count()).select_from(Event)).scalar_one()
    if held or logged:
        raise UserError(
            "Restore only into an empty database: this one holds "
            f"{units.counted(held, 'card')} and {units.counted(logged, 'audit event')}."
        )
    url = engine.url.render_as_string(hide_password=False)
    is_sqlite_backup = source.read_bytes()[:16] == SQLITE_MAGIC
    target = sqlite_path(url)
    engine.dispose()
    if target is not None:
        if not is_sqlite_backup:
            raise UserError(f"{source} is not an SQLite backup (fleetui backup of an SQLite file).")
        with sqlite3.connect(source) as src_conn, sqlite3.connect(target) as dst:
            src_conn.backup(dst)
        return f"Restored {source} into {target}."
    if is_sqlite_backup:
        raise UserError(
            f"{source} is an SQLite backup; restore it into an SQLite file, then "
            "`fleetui export` / `fleetui import` to move the cards to PostgreSQL."
        )
    _run_pg(
        "pg_restore",
        url,
        ["--clean", "--if-exists", "--no-owner", "--single-transaction", str(source)],
        database_flag="-d",
    )
    return f"Restored {source} into {redact(url)}."


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise UserError(
        f"{name} is not installed (it comes with the PostgreSQL client, e.g. "
        "apt install postgresql-client-15); back up with your database's own tools."
    )


def _run_pg(tool: str, url: str, args: list[str], database_flag: str = "-d") -> None:
    parsed = make_url(url)
    password = parsed.password or parsed.query.get("password")
    env = dict(os.environ)
    if password:  # in the environment, not on a command line that `ps` shows
        env["PGPASSWORD"] = str(password)
    bare = URL.create(  # URL.set(password=None) would keep the password
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database
    )
    conninfo = bare.update_query_dict(
        {k: v for k, v in parsed.query.items() if k != "password"}
    ).render_as_string(hide_password=False)
    command = [_pg_binary(tool), database_flag, conninfo, *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode:
        first = (result.stderr.strip().splitlines() or ["failed"])[0]
        raise UserError(f"{tool} failed: {redact(first)}.")


def _sqlite_verdict(engine: Engine, pragma: str) -> list[str]:
    """What SQLite's quick_check or integrity_check finds wrong ([] when the file is sound);
    a page too damaged to check at all is a finding too, not a crash."""
    try:
        with engine.connect() as conn:
            verdict = conn.exec_driver_sql(f"PRAGMA {pragma}").scalars().all()
    except DatabaseError as exc:
        return [str(exc.orig or exc).strip().splitlines()[0]]
    if verdict == ["ok"]:
        return []
    lines = (line for row in verdict for line in str(row).splitlines())
    return [line for line in lines if not line.startswith("*** in database")]


@dataclass(frozen=True)
class Problem:
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


def check(engine: Engine, full: bool = False) -> list[Problem]:
    """Integrity, foreign keys and the invariants fleetui relies on; [] when all is well."""
    problems: list[Problem] = []
    with engine.connect() as conn:
        revision = current_revision(engine)
        if revision != HEAD:
            problems.append(Problem("schema", f"at {revision}, fleetui expects {HEAD}"))
        if conn.dialect.name == "sqlite":
            damage = _sqlite_verdict(engine, "integrity_check" if full else "quick_check")
            problems += [Problem("integrity", line) for line in damage[:20]]
            if damage:  # the checks below would read the damaged pages
                return problems
            for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                problems.append(Problem("foreign key", f"{table} row {rowid} -> missing {parent}"))
        card, project, event = table_of(Card), table_of(Project), table_of(Event)
        mismatched = conn.execute(
            select(func.count())
            .select_from(card.join(project, project.c.id == card.c.project_id))
            .where(func.coalesce(card.c.team_id, -1) != project.c.team_id)
        ).scalar_one()
        if mismatched:
            problems.append(
                Problem(
                    "projects", f"{units.counted(mismatched, 'card')} in a project of another team"
                )
            )
        # One pass over the card events: the version each records, and whether the log's last
        # word on a card still in the inventory is that it was deleted.
        deleted = event.c.after["deleted"].as_boolean().is_(True)
        ahead, present = conn.execute(
            select(
                func.count().filter(event.c.card_version > card.c.version),
                func.count().filter(and_(event.c.card_version == card.c.version, deleted)),
            ).select_from(event.join(card, card.c.id == event.c.card_id))
        ).one()
        if present:
            problems.append(
                Problem(
                    "history",
                    f"{units.counted(present, 'card')} in the inventory that the audit log "
                    "last records as deleted",
                )
            )
        if ahead:
            problems.append(
                Problem(
                    "history",
                    f"{units.counted(ahead, 'audit event')} record a card version newer than "
                    "the card's",
                )
            )
        problems += _batch_summaries(conn)
        off = sum(abs(n) for *_, n in conn.execute(holdings.unaccounted()))
        if off:
            problems.append(
                Problem(
                    "holdings",
                    "the holdings ledger does not add up to today's cards: "
                    f"{units.counted(off, 'card')} off",
                )
            )
        if conn.dialect.name == "postgresql":
            triggers = conn.execute(
                text(
                    "SELECT count(*) FROM pg_trigger WHERE tgname IN "
                    "('event_append_only', 'event_no_truncate')"
                )
            ).scalar_one()
            if triggers != 2:
                problems.append(Problem("audit log", "the append-only triggers are missing"))
    return problems


def _batch_summaries(conn: Connection) -> list[Problem]:
    """Whether the `batch` rows add up to the audit log: as many batches, as many card events,
    the same newest event (totals, read from indexes, not a regrouping of every event)."""
    event, batch = table_of(Event), table_of(BatchSummary)
    batch_ids = select(event.c.batch_id).distinct().subquery()
    logged = conn.execute(  # each read from its own index (one scan of the table: seconds)
        select(
            select(func.count()).select_from(batch_ids).scalar_subquery(),
            select(func.count()).where(event.c.card_id.isnot(None)).scalar_subquery(),
            select(func.coalesce(func.max(event.c.id), 0)).scalar_subquery(),
        )
    ).one()
    kept = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(batch.c.cards), 0),
            func.coalesce(func.max(batch.c.last_event_id), 0),
        )
    ).one()
    if tuple(logged) == tuple(kept):
        return []
    return [
        Problem(
            "batches",
            f"the batch summaries count {units.counted(kept[0], 'batch')} of "
            f"{units.counted(kept[1], 'card event')} up to event {kept[2]}; the audit log "
            f"has {logged[0]:,} of {logged[1]:,} up to {logged[2]}",
        )
    ]
