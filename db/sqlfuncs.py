"""SQL functions spelled differently per backend, for set-based writes of audit events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, literal
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
