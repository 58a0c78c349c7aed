"""Fast bulk inserts: tuples straight to the driver (SQLite's executemany, PostgreSQL's COPY;
the two backends fleetui runs on), values converted per column.

SQLAlchemy Core's executemany spends more time building per-row parameter dicts than SQLite
spends inserting. This keeps Core's type conversion but skips the per-row machinery.
"""

from __future__ import annotations

import gc
import importlib
import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Float, Table, func, select
from sqlalchemy.exc import OperationalError

from fleetui.db.engine import BUSY_TIMEOUT_MS, READER_CACHE, WRITER_CACHE
from fleetui.db.tables import GROWING_TABLES


def upsert(bind: Connection | Engine, table: Table) -> Any:
    """An INSERT with ON CONFLICT clauses in `bind`'s dialect. Imports only that dialect: a
    SQLite fleet never loads PostgreSQL's (a tenth of a second at start-up)."""
    return importlib.import_module(f"sqlalchemy.dialects.{bind.dialect.name}").insert(table)


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT rows (tuples in `columns` order) into `table` within the caller's transaction."""
    if rows:
        insert_columns(conn, table, columns, list(zip(*rows, strict=True)))


def insert_columns(
    conn: Connection, table: Table, columns: Sequence[str], values: Sequence[Sequence[Any]]
) -> None:
    """INSERT rows given column-wise: values[i] holds every row's value of columns[i]. A column
    with no value in any row is left out when it defaults to NULL: SQLite's inserts cost by the
    bound value, and a metrics store answering a few fields would bind millions of NULLs."""
    if not values or not len(values[0]):
        return
    kept = [
        i
        for i, (name, column) in enumerate(zip(columns, values, strict=True))
        if not _all_none(column) or not _null_default(table, name)
    ]
    columns, values = [columns[i] for i in kept], [values[i] for i in kept]
    quote = conn.dialect.identifier_preparer
    into = f"{quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)})"
    rows = zip(*_converted(_processors(conn, table, columns), values), strict=True)
    if conn.dialect.name == "postgresql":  # COPY: several times faster than INSERTs, even batched
        driver = conn.connection.driver_connection  # psycopg's own connection: it can COPY
        assert driver is not None  # None only once a connection is closed
        cursor = driver.cursor()
        with cursor, cursor.copy(f"COPY {into} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        _advance_sequences(conn, table, columns)
        return
    conn.exec_driver_sql(f"INSERT INTO {into} VALUES ({', '.join('?' * len(columns))})", list(rows))


def update_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    keys: Sequence[str] = ("id",),
) -> int:
    """UPDATE, within the caller's transaction, the row matching each of `rows` on `keys` (NULL
    matching NULL): each row holds the values of `columns` in order, `keys` among them; the
    other columns are set. A column no row has a value for is set to NULL in the statement
    instead of being bound per row (as insert_columns leaves it out). Returns how many rows
    matched."""
    if not rows:
        return 0
    at = {name: i for i, name in enumerate(columns)}
    sets = [name for name in columns if name not in keys]
    valued = _valued(rows, [at[name] for name in sets])
    bound = [name for name in sets if at[name] in valued]
    quote = conn.dialect.identifier_preparer
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    same = "IS" if conn.dialect.name == "sqlite" else "IS NOT DISTINCT FROM"
    assigned = ", ".join(f"{quote.quote(n)} = {mark if n in bound else 'NULL'}" for n in sets)
    where = " AND ".join(
        f"{quote.quote(k)} {same if table.c[k].nullable else '='} {mark}" for k in keys
    )
    named = [*bound, *keys]
    values = [_column(rows, at[name]) for name in named]
    params = list(zip(*_converted(_processors(conn, table, named), values), strict=True))
    done = conn.exec_driver_sql(
        f"UPDATE {quote.format_table(table)} SET {assigned} WHERE {where}", params
    )
    return done.rowcount


def _valued(rows: Sequence[Sequence[Any]], indexes: list[int]) -> set[int]:
    """Which of `indexes` some row has a value (not None) at. Most columns have one in the
    first row; the others are read together, as the distinct tuples they form."""
    found = {i for i in indexes if rows[0][i] is not None}
    rest = [i for i in indexes if i not in found]
    if len(rest) == 1:
        found.update(rest if not _all_none(_column(rows, rest[0])) else ())
    elif rest:
        for pattern in set(map(operator.itemgetter(*rest), rows)):
            found.update(i for i, value in zip(rest, pattern, strict=True) if value is not None)
    return found


def _column(rows: Sequence[Sequence[Any]], at: int) -> list[Any]:
    """Every row's value at `at` (a column taken out whole: no Python loop per row)."""
    return list(map(operator.itemgetter(at), rows))


def _all_none(column: Sequence[Any]) -> bool:
    return column[0] is None and column.count(None) == len(column)


def _processors(conn: Connection, table: Table, columns: Sequence[str]) -> list[tuple[Any, bool]]:
    """Core's bind processor of each column in `conn`'s dialect (None where it has none), and
    whether the column holds floats."""
    dialect = conn.dialect
    found = []
    for name in columns:
        kind = table.c[name].type
        found.append((kind.dialect_impl(dialect).bind_processor(dialect), isinstance(kind, Float)))
    return found


# Python types every driver binds as they are, and that a float column's processor only turns
# into floats: such columns are bound unconverted (a metrics store's round is 80,000 rows).
_NUMBERS = frozenset({float, int, type(None)})


def _converted(
    procs: Sequence[tuple[Any, bool]], values: Sequence[Sequence[Any]]
) -> list[Sequence[Any]]:
    """Each column's values as the driver takes them (Core's bind processing: dates to text on
    SQLite, ...)."""
    return [
        column
        if proc is None or (floats and _NUMBERS.issuperset(map(type, column)))
        else _convert(proc, column)
        for (proc, floats), column in zip(procs, values, strict=True)
    ]


def _null_default(table: Table, name: str) -> bool:
    column = table.c[name]
    return column.nullable is True and column.default is None and column.server_default is None


def _advance_sequences(conn: Connection, table: Table, columns: Sequence[str]) -> None:
    """PostgreSQL: rows given explicit serial ids leave the id sequence behind (the next plain
    INSERT would reuse an id); move it past the highest id. SQLite's rowids need nothing."""
    column = table.autoincrement_column
    if column is not None and column.name in columns:
        highest = select(func.coalesce(func.max(column), 1)).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        conn.execute(select(func.setval(sequence, highest)))


def _convert(processor, values: Sequence[Any]) -> list[Any]:
    """Bind-process a column's values, each distinct value once (dates and stamps repeat)."""
    memo = {v: processor(v) for v in set(values)}
    return list(map(memo.__getitem__, values))


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk job churns through millions of short-lived
    lists and tuples (reference counting still frees them): collections triggered by that
    churn alone cost a 1M-row import a quarter of its time and find nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def indexes_deferred(conn: Connection, table: Table) -> Iterator[None]:
    """Drop `table`'s secondary indexes for a bulk load into it, then build them once, sorted.

    Only worth it (and only done) when the table starts empty; all inside the caller's transaction.
    SQLite only: PostgreSQL's DROP INDEX locks the table against readers too (ACCESS
    EXCLUSIVE) until the load commits, where the writers' lock (db.locks) lets them read.
    """
    indexes = []
    if conn.dialect.name == "sqlite" and conn.execute(select(table.c[0]).limit(1)).first() is None:
        indexes = list(table.indexes)
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def refresh_statistics(conn: Connection) -> None:
    """Update the planner's statistics after a bulk change (SQLite needs it; PostgreSQL too).

    A full ANALYZE: SQLite's sampled one (analysis_limit) reads the first rows of each index
    and takes a column with three teams for one with a thousand, and the planner then picks
    the wrong index for the inventory's filters.

    SQLite keeps none for the logs (GROWING_TABLES): they grow with every move and poll, and
    nothing analyses them again in between, so their figures only ever say too few rows. A
    new demo's log holds one event; told so, the planner read undo's per-card lookups by
    scanning the whole log once per card. With no figures SQLite assumes a large table and
    uses the indexes. (Migration 0019 dropped the figures an older fleetui took; an older
    fleetui refuses the database since.) PostgreSQL re-analyses a growing table by itself.
    """
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("ANALYZE")
        return
    quote = conn.dialect.identifier_preparer.quote
    for name in conn.exec_driver_sql(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).scalars():
        if name not in GROWING_TABLES:
            conn.exec_driver_sql(f"ANALYZE {quote(name)}")


def refresh_statistics_if_idle(engine: Engine) -> None:
    """refresh_statistics after a bulk writer committed: never waits for another writer's lock
    and never fails (the statistics are a hint; the next bulk writer refreshes them), so work
    after a commit cannot turn that success into a failure."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        try:
            with conn.begin():
                if sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout=0")
                    refresh_statistics(conn)
                else:
                    conn.exec_driver_sql("ANALYZE (SKIP_LOCKED)")
        except OperationalError:
            pass
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


@contextmanager
def foreign_keys_trusted(conn: Connection) -> Iterator[None]:
    """SQLite: no per-row foreign-key lookups for a bulk writer whose ids it read from the
    parent tables inside its own write-locked transaction (`fleetui db check` still verifies).

    Enter before the transaction begins (SQLite ignores the pragma inside one). PostgreSQL
    keeps checking: only a superuser may switch its per-row key triggers off.
    """
    raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
    if raw is None:
        yield
        return
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        _set_back(conn, "PRAGMA foreign_keys=ON")


@contextmanager
def bulk_cache(conn: Connection) -> Iterator[None]:
    """SQLite: a 64 MiB page cache on this connection for a bulk load (index builds, million-
    row inserts), back to the readers' size after, so the pooled connection stays small."""
    raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
    if raw is None:
        yield
        return
    raw.execute(f"PRAGMA cache_size={WRITER_CACHE}")
    try:
        yield
    finally:
        _set_back(conn, f"PRAGMA cache_size={READER_CACHE}")


def _set_back(conn: Connection, pragma: str) -> None:
    """Put a connection setting back, unless the connection is gone: SQLAlchemy closes a
    connection interrupted mid-statement (Ctrl+C) and discards it, and failing here would
    replace the interrupt with a 'closed database' traceback."""
    if not conn.invalidated:
        conn.connection.dbapi_connection.execute(pragma)  # type: ignore[union-attr]
