"""Engine factory: one place that turns a path or URL into a configured SQLAlchemy engine."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from fleetui.core.places import data_dir
from fleetui.db.sqlfuncs import sqlite_lower

ENV_VAR = "FLEETUI_DB"
BUSY_TIMEOUT_MS = 10_000  # SQLite: how long a writer waits for another's lock
LOCK_TIMEOUT_MS = 15_000  # PostgreSQL: how long a statement waits for a row or table lock


class DatabaseURLError(ValueError):
    """The --db value is neither a usable path nor an SQLAlchemy URL."""


def default_path() -> Path:
    return data_dir() / "fleet.db"


def demo_path() -> Path:
    """The demo fleet lives beside the default database, never inside it."""
    return data_dir() / "demo.db"


def resolve_url(value: str | None = None) -> str:
    """--db wins over $FLEETUI_DB, which wins over the default file. Paths become sqlite URLs."""
    value = value or os.environ.get(ENV_VAR) or str(default_path())
    if "://" in value:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise DatabaseURLError(f"'{redact(value)}' is not a valid database URL.") from exc
        return value
    path = Path(value).expanduser()
    if path.is_dir():
        raise DatabaseURLError(f"{path} is a directory; give a database file path or URL.")
    if path != default_path() and path != demo_path() and not path.parent.is_dir():
        raise DatabaseURLError(f"The directory {path.parent} does not exist.")
    return f"sqlite:///{path.resolve()}"


# A URL (bare, or inside a message): its userinfo password runs to the *last* '@', because an
# unencoded '@' in a password is common and libpq and SQLAlchemy split such URLs differently.
_URL = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"]*")
_USERINFO = re.compile(r"^([^:]+://[^:@/?#]*):.*@(?=[^@]*$)", re.DOTALL)
# key=value secrets, in a URL's query or a libpq conninfo string (password, passfile,
# sslpassword, ...), also percent-encoded inside another parameter.
_SECRET_PARAM = re.compile(
    r"(?i)(\w*(?:pass|secret|token)\w*\s*(?:=|%3D)\s*)('(?:[^'\\]|\\.)*'|[^&\s'\"]+)"
)


def redact(text: str) -> str:
    """`text` (a URL, or a message that may quote URLs or conninfo) with every secret a database
    URL can carry replaced by ***: the userinfo password, and password-like parameters."""
    if _URL.match(text):  # a bare URL: its password may hold spaces or quotes too
        masked = _USERINFO.sub(r"\1:***@", text)
    else:
        masked = _URL.sub(lambda m: _USERINFO.sub(r"\1:***@", m[0]), text)
    return _SECRET_PARAM.sub(r"\1***", masked)


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, or None for other backends and in-memory databases."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    if parsed.query.get("uri") == "true" and parsed.database.startswith("file:"):
        return Path(urlsplit(parsed.database).path)  # sqlite:///file:PATH?mode=ro&uri=true
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets foreign keys, a busy timeout and fleetui_lower on every
    connection.

    Connecting changes no file (db.migrate.open_database switches a fleet database to WAL
    once it has checked the file is one)."""
    path = sqlite_path(url)
    if path is None:
        try:
            return create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"options": f"-c lock_timeout={LOCK_TIMEOUT_MS}"},
            )
        except (ImportError, NoSuchModuleError) as exc:
            backend = make_url(url).drivername
            hint = " (pip install 'fleetui[postgres]')" if backend.startswith("postgresql") else ""
            raise DatabaseURLError(
                f"The database driver for {backend} is not installed{hint}."
            ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


# SQLite's page cache per connection, in KiB (negative): each pooled connection keeps its own,
# so it is what a TUI's memory grows by; bulk writers take a larger one (db.bulk.bulk_cache).
READER_CACHE = -16384
WRITER_CACHE = -65536


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA cache_size={READER_CACHE}")
    cur.close()
    dbapi_conn.create_function("fleetui_lower", 1, sqlite_lower, deterministic=True)
