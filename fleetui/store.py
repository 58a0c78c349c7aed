"""Opening the fleet database: resolve --db / $FLEETUI_DB, migrate, sync the catalogue."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from db.engine import DatabaseURLError, redact, resolve_url
from db.migrate import SchemaTooNewError, open_database
from fleetui import catalogue
from fleetui.errors import SchemaTooNew, UserError


def database_url(db: str | None = None) -> str:
    """The URL --db / $FLEETUI_DB / the default names, or a UserError saying what is wrong."""
    try:
        return resolve_url(db)
    except DatabaseURLError as exc:
        raise UserError(str(exc)) from None


def open_fleet(db: str | None = None) -> Engine:
    """An engine on an up-to-date fleet database, or a UserError that says what is wrong."""
    url = database_url(db)
    try:
        engine = open_database(url)
        catalogue.sync(engine)
    except DatabaseURLError as exc:
        raise UserError(str(exc)) from None
    except SchemaTooNewError as exc:
        raise SchemaTooNew(str(exc)) from None
    except OperationalError as exc:
        raise UserError(f"Cannot open the database {redact(url)}: {_reason(exc)}.") from None
    except SQLAlchemyError as exc:
        raise UserError(f"The database {redact(url)} failed: {_reason(exc)}.") from None
    return engine


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0].rstrip(".")


BUSY = (
    "The inventory is busy: another ops box held the cards too long; nothing was changed, "
    "try again."
)


def is_busy(exc: BaseException) -> bool:
    """A lock wait that timed out (SQLite 'database is locked', PostgreSQL lock_timeout)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "lock timeout" in text
