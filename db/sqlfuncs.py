"""SQL spelled differently per backend: set-based writes of audit events, text search, SQLite
index hints and orders read from no index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Table, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction


class json_object(GenericFunction):
    """json_object('k1', v1, 'k2', v2, ...) on SQLite; json_build_object(...) on PostgreSQL."""

    type = JSON()
    inherit_cache = True

    def __init__(self, pairs: dict[str, Any]) -> None:
        args = []
        for key, value in pairs.items():
            args += [literal(key), value]
        super().__init__(*args)


@compiles(json_object, "postgresql")
def _pg_json_object(element, compiler, **kw) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object)
def _json_object(element, compiler, **kw) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


class contains_text(GenericFunction):
    """contains_text(haystack, needle): the needle occurs in the haystack, ignoring case in every
    script and taking no character (%, _) as a wildcard. SQLite's lower() folds only ASCII, so
    there it calls Python's str.lower, which db.engine registers on every connection as
    fleetui_lower; PostgreSQL's lower() folds by the database's locale (C.UTF-8 or a language's)."""

    type = Boolean()
    inherit_cache = True


@compiles(contains_text, "postgresql")
def _pg_contains_text(element, compiler, **kw) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strpos(lower({haystack}), lower({needle})) > 0)"


@compiles(contains_text)
def _contains_text(element, compiler, **kw) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    # The built-in lower() where the haystack is ASCII (as many bytes as characters): the same
    # result as fleetui_lower, without a call into Python per row.
    folded = (
        f"CASE WHEN length(CAST({haystack} AS BLOB)) = length({haystack}) THEN lower({haystack}) "
        f"ELSE fleetui_lower({haystack}) END"
    )
    return f"(instr({folded}, fleetui_lower({needle})) > 0)"


def sqlite_lower(text: str | None) -> str | None:
    """fleetui_lower for SQLite: PostgreSQL's lower-casing, in every script. Like PostgreSQL, it
    lowers letter by letter: Python's str.lower would write a word-final Σ as ς, not σ."""
    if text is None:
        return None
    return text.lower() if "Σ" not in text else "".join(c.lower() for c in text)


@compiles(Table, "sqlite")
def _sqlite_table(element, compiler, fromhints=None, **kw) -> str:
    """A table with its `select().with_hint(table, "INDEXED BY ix", "sqlite")`: SQLAlchemy's
    SQLite dialect drops table hints, and some plans need one (PostgreSQL is told nothing)."""
    text = compiler.visit_table(element, fromhints=fromhints, **kw)
    hint = (fromhints or {}).get(element) if kw.get("asfrom") and not kw.get("ashint") else None
    return f"{text} {hint}" if hint else text


class unindexed(GenericFunction):
    """unindexed(x): the value of x, read from no index. SQLite's planner assumes matches are
    spread evenly along every index, so for `WHERE model IN (...) ORDER BY serial LIMIT 100` it
    walks the serial index expecting a match every few rows; when matches cluster (a model's
    serials share a vendor prefix) that walk reads most of the fleet. Ordering by
    unindexed(serial) makes it find the matches by the condition's own indexes and sort them.
    SQLite spells it with a unary + (its documented way); PostgreSQL gets x unchanged."""

    inherit_cache = True


@compiles(unindexed, "sqlite")
def _sqlite_unindexed(element, compiler, **kw) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(unindexed)
def _plain_unindexed(element, compiler, **kw) -> str:
    return compiler.process(element.clauses, **kw)
