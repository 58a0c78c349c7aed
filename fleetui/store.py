"""Opening the fleet database: resolve --db / $FLEETUI_DB, migrate, sync the catalogue."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from fleetui import catalogue
from fleetui.core.errors import SchemaTooNew, UserError
from fleetui.db.engine import ENV_VAR, DatabaseURLError, redact, resolve_url
from fleetui.db.migrate import (
    HEAD,
    BrokenReferencesError,
    ForeignDatabaseError,
    SchemaTooNewError,
    open_database,
)


def database_url(db: str | None = None) -> str:
    """The URL --db / $FLEETUI_DB / the default names, or a UserError saying what is wrong."""
    try:
        url = resolve_url(db)
        host = make_url(url).host or ""
    except DatabaseURLError as exc:
        raise UserError(str(exc)) from None
    except ValueError:  # a port SQLAlchemy cannot read, as after an '@' in the password
        url = db or os.environ.get(ENV_VAR, "")
        if url.count("@") < 2:
            raise UserError(f"'{redact(url)}' is not a valid database URL.") from None
        host = "@"
    if "@" in host:  # SQLAlchemy ends the password at its first '@', libpq at the last
        raise UserError(f"The password in {redact(url)} holds an '@'; write it as %40.")
    return url


def open_fleet(db: str | None = None) -> Engine:
    """An engine on an up-to-date fleet database, or a UserError that says what is wrong."""
    url = database_url(db)
    try:
        engine = open_database(url, lambda old: _say_upgrading(url, old))
        catalogue.sync(engine)
    except (DatabaseURLError, ForeignDatabaseError, BrokenReferencesError) as exc:
        raise UserError(str(exc)) from None
    except SchemaTooNewError as exc:
        raise SchemaTooNew(str(exc)) from None
    except OperationalError as exc:
        raise UserError(f"Cannot open the database {redact(url)}: {_unopened(url, exc)}.") from None
    except SQLAlchemyError as exc:
        raise UserError(f"The database {redact(url)} failed: {reason(exc)}.") from None
    return engine


def _unopened(url: str, exc: OperationalError) -> str:
    """Why a database did not open: SQLite's words, unless its folder is read-only here, where
    SQLite says "attempt to write" even to a command that only reads."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        folder = Path(parsed.database).expanduser().absolute().parent
        if folder.is_dir() and not os.access(folder, os.W_OK):
            return (
                f"its folder {folder} is read-only here, and SQLite writes beside the database "
                "(its -wal and -shm journal files) even for a command that only reads; use a "
                "folder you can write to"
            )
    return reason(exc)


def _say_upgrading(url: str, old: str) -> None:
    print(
        f"Upgrading {redact(url)} from schema {old} to {HEAD} (once; on a large inventory this "
        "can take a minute).",
        file=sys.stderr,
        flush=True,
    )


def reason(exc: SQLAlchemyError) -> str:
    """The driver's first line of what went wrong, passwords redacted."""
    orig = getattr(exc, "orig", None) or exc
    return redact(str(orig).strip().splitlines()[0].rstrip("."))


BUSY = (
    "The inventory is busy: another ops box held the cards too long; nothing was changed, "
    "try again."
)


# What the database said -> the sentence for it; each leaves the failed transaction rolled back.
PROBLEMS = (
    (("database is locked", "lock timeout"), BUSY),
    (
        ("database or disk is full", "no space left on device", "could not extend file"),
        "The disk holding the database is full; nothing was changed. Free some space and try "
        "again.",
    ),
    (
        ("readonly database", "read-only transaction", "permission denied"),
        "The database is read-only here (check the permissions of the file and its directory); "
        "nothing was changed.",
    ),
    (
        ("disk image is malformed", "file is not a database", "could not read block"),
        "The database is damaged (run `fleetui db check`, then restore a backup); nothing was "
        "changed.",
    ),
)


def is_busy(exc: BaseException) -> bool:
    """A lock wait that timed out (SQLite 'database is locked', PostgreSQL lock_timeout)."""
    return database_problem(exc) == BUSY


def database_problem(exc: BaseException) -> str | None:
    """The one sentence for a database failure the user can act on (busy, disk full, read-only,
    damaged), or None for a failure that is a bug."""
    text = str(getattr(exc, "orig", exc)).lower()
    for needles, sentence in PROBLEMS:
        if any(needle in text for needle in needles):
            return sentence
    return None


@contextmanager
def busy_as_user_error() -> Iterator[None]:
    """Turn a database failure the user can act on (a lock wait that timed out, a full disk, a
    read-only file) into its one-sentence UserError (nothing was changed: the transaction it
    happened in rolls back)."""
    try:
        yield
    except DatabaseError as exc:
        sentence = database_problem(exc)
        if sentence is None:
            raise
        raise UserError(sentence) from None


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction for the services: committed on success, rolled back on any error,
    and a lock timeout reported as BUSY, so CLI and TUI callers only handle UserError."""
    with busy_as_user_error(), engine.begin() as conn:
        yield conn
