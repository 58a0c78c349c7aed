"""Fast bulk inserts: tuples straight to the driver's executemany, values bound per column.

SQLAlchemy Core's executemany spends more time building per-row parameter dicts than SQLite
spends inserting. This keeps Core's SQL and type conversion but skips the per-row machinery.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT rows (tuples in `columns` order) into `table` within the caller's transaction."""
    if not rows:
        return
    dialect = conn.dialect
    procs = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    if any(procs):
        columns_values = list(zip(*rows, strict=True))
        converted = [
            _convert(p, values) if p else values
            for p, values in zip(procs, columns_values, strict=True)
        ]
        rows = list(zip(*converted, strict=True))
    stmt = table.insert().values({c: bindparam(c) for c in columns})
    compiled = stmt.compile(dialect=dialect)
    if compiled.positiontup is not None:
        order = [columns.index(name) for name in compiled.positiontup]
        params: Any = (
            rows
            if order == list(range(len(columns)))
            else [tuple(r[i] for i in order) for r in rows]
        )
    else:
        params = [dict(zip(columns, r, strict=True)) for r in rows]
    conn.exec_driver_sql(str(compiled), params)


def _convert(processor, values: Sequence[Any]) -> list[Any]:
    """Bind-process a column's values; memoized, as dates and stamps repeat across rows."""
    memo: dict[Any, Any] = {}
    out = []
    for v in values:
        try:
            out.append(memo[v])
        except KeyError:
            out.append(memo.setdefault(v, processor(v)))
    return out


@contextmanager
def indexes_deferred(conn: Connection, table: Table) -> Iterator[None]:
    """Drop `table`'s secondary indexes for a bulk load into it, then build them once, sorted.

    Only worth it (and only done) when the table starts empty; all inside the caller's transaction.
    """
    empty = conn.execute(select(table.c[0]).limit(1)).first() is None
    indexes = list(table.indexes) if empty else []
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def refresh_statistics(conn: Connection) -> None:
    """Update the planner's statistics after a bulk change (SQLite needs it; PostgreSQL too)."""
    conn.exec_driver_sql("ANALYZE")
