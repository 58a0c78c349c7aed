"""Metrics stores as telemetry sources: the fleet's DCGM series read from Prometheus (or
VictoriaMetrics, Thanos: the same query API) instead of from every node.

A poll of a store is a fixed handful of PromQL instant queries over the whole fleet, never a
request per node: the latest value of each field in prometheus.DCGM_FIELDS, and the average and
peak GPU utilization over the idle window, each grouped by dcgm-exporter's identity labels. An
answer that is an error, has warnings (a partial answer), or does not come in time makes the
store stale, with the reason kept; nothing from it is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.db.tables import GpuHourly, GpuSample, Node, Source, require_fit, table_of
from fleetui.telemetry import http, prometheus, samples

source_t, node_t = table_of(Source), table_of(Node)
sample_t, hourly_t = table_of(GpuSample), table_of(GpuHourly)
QUERY_PAGE = "/api/v1/query"
MAX_RESPONSE = 512 << 20  # a whole fleet's series in one answer
UTIL = "DCGM_FI_DEV_GPU_UTIL"
WINDOW = dict(zip(samples.WINDOW, ("avg_over_time",), strict=True))
_MATCHER = re.compile(r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*')


# ---------------------------------------------------------------- registering


def selector(match: str) -> str:
    """`--match` as label matchers without braces (`job="dcgm"`), braces optional when given;
    UserError unless it is a comma-separated list of matchers."""
    inner = match.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    rest = inner
    while rest.strip():
        found = _MATCHER.match(rest)
        if not found:
            raise UserError(
                f"--match {units.quoted(match)} is not a list of label matchers, "
                'e.g. job="dcgm",cluster=~"a|b".'
            )
        rest = rest[found.end() :]
        if rest and not rest.startswith(","):
            raise UserError(f"--match {units.quoted(match)}: separate label matchers with commas.")
        rest = rest[1:]
    return inner.strip().rstrip(",")


def add_source(
    engine: Engine,
    name: str,
    url: str,
    match: str = "",
    token_file: str | None = None,
    ca_file: str | None = None,
    basic_auth_file: str | None = None,
    replace: bool = False,
) -> None:
    """Register a metrics store (`replace`: re-point the one of that name); the credential
    files are checked and their paths stored, never their contents."""
    name = name.strip()
    require_fit(source_t.c.name, name, "source name")
    if not name:
        raise UserError("A source needs a name.")
    endpoint = http.Endpoint(
        http.check_url(url).rstrip("/").removesuffix(QUERY_PAGE),
        http.file_path(token_file),
        http.file_path(basic_auth_file),
        http.file_path(ca_file),
    )
    http.check_credentials(endpoint)
    values = {
        "url": endpoint.url,
        "match": selector(match),
        "token_file": endpoint.token_file,
        "basic_auth_file": endpoint.basic_auth_file,
        "ca_file": endpoint.ca_file,
        "failures": 0,
        "problem": "",
    }
    with engine.begin() as conn:
        found = conn.execute(select(source_t.c.id).where(source_t.c.name == name)).scalar()
        if found is None:
            conn.execute(insert(source_t).values(name=name, **values))
        elif not replace:
            raise UserError(f"A source '{name}' exists already; pass --replace to re-point it.")
        else:
            conn.execute(update(source_t).where(source_t.c.id == found).values(values))


def sources(engine: Engine) -> list[dict]:
    """Registered stores with how many nodes each reports, by name."""
    from sqlalchemy import func

    nodes = (
        select(func.count())
        .where(node_t.c.source_id == source_t.c.id)
        .scalar_subquery()
        .label("nodes")
    )
    with engine.connect() as conn:
        rows = conn.execute(select(source_t, nodes).order_by(source_t.c.name)).mappings().all()
    return [dict(r) for r in rows]


def remove_source(engine: Engine, name: str) -> int:
    """Forget a store and the readings it gave; its nodes stay (as plain nodes: they may hold
    cards). Returns how many nodes it reported."""
    with engine.begin() as conn:
        found = conn.execute(select(source_t.c.id).where(source_t.c.name == name.strip())).scalar()
        if found is None:
            raise UserError(f"No source is named '{name.strip()}'.")
        owned = select(node_t.c.id).where(node_t.c.source_id == found)
        count = len(conn.execute(owned).all())
        for readings in (sample_t, hourly_t):
            conn.execute(delete(readings).where(readings.c.node_id.in_(owned)))
        conn.execute(
            update(node_t)
            .where(node_t.c.source_id == found)
            .values(source_id=None, failures=0, polled_at=None, last_seen_at=None)
        )
        conn.execute(delete(source_t).where(source_t.c.id == found))
    return count


def endpoint(source: dict) -> http.Endpoint:
    return http.Endpoint(
        source["url"] + QUERY_PAGE,
        source["token_file"],
        source["basic_auth_file"],
        source["ca_file"],
    )


# ---------------------------------------------------------------- querying


def queries(match: str, window_hours: int) -> dict[str, str]:
    """GpuSample attribute -> the PromQL that reads it for the whole fleet, utilization (with
    the GPUs' identities) first. Each is grouped by dcgm-exporter's labels that place a GPU
    (or, for utilization, identify it: samples.STORE_PLACE, STORE_IDENTITY), joined by the store
    into the one label samples.store_rows reads (label_join)."""
    series = {name: f"{name}{{{match}}}" for name in prometheus.DCGM_FIELDS}
    util = prometheus.DCGM_FIELDS[UTIL]
    found = {util: _grouped(series[UTIL], samples.STORE_IDENTITY)}
    names: dict[str, list[str]] = {}  # one attribute may have two names (DCGM renamed some)
    for name, attr in prometheus.DCGM_FIELDS.items():
        if attr in samples.SAMPLE_COLUMNS:  # a field no sample keeps is not asked for
            names.setdefault(attr, []).append(series[name])
    for attr, named in names.items():
        found.setdefault(attr, _grouped(" or ".join(named), samples.STORE_PLACE))
    for attr, function in WINDOW.items():
        found[attr] = _grouped(f"{function}({series[UTIL]}[{window_hours}h])", samples.STORE_PLACE)
    return found


def _grouped(vector: str, labels: tuple[str, ...]) -> str:
    """`vector`'s highest value per distinct `labels`, those joined into samples.STORE_KEY.
    One label per series, not six: an answer for 80,000 GPUs decodes in half the time."""
    key, sep = samples.STORE_KEY, samples.STORE_SEP.encode("unicode_escape").decode()
    names = ", ".join(f'"{label}"' for label in labels)
    return f'max by ({key}) (label_join({vector}, "{key}", "{sep}", {names}))'


@dataclass(repr=False)  # asyncio.run may repr its task's result: never all the GPUs
class Answer:
    """A store's GPUs by hostname, or why it is stale."""

    hosts: dict[str, list[list] | str]  # sample rows by hostname, or why not (samples.store_rows)
    problem: str = ""


async def fetch(client: http.Client, source: dict, window_hours: int, timeout: float) -> Answer:
    """Every query of one store, one after another (a store refuses heavy queries at once when
    they would not fit its memory together); the first failure makes the answer stale."""
    target = endpoint(source)
    results = {}
    try:
        for attr, query in queries(source["match"], window_hours).items():
            body = await client.get(target, {"query": query}, MAX_RESPONSE, timeout)
            results[attr] = _vector(body)
        hosts = samples.store_rows(results)
        if not hosts:  # a store that reports no GPU: most likely --match picks no series
            picked = f" matching {{{source['match']}}}" if source["match"] else ""
            return Answer({}, f"it has no {UTIL} series{picked} with a recent value on a host")
        return Answer(hosts)
    except http.Refused as exc:
        return Answer({}, _error(exc.body) or str(exc))
    except (ConnectionError, UserError, ValueError) as exc:
        return Answer({}, str(exc) or exc.__class__.__name__)


def _error(body: bytes) -> str:
    try:
        answer: Any = http.decode_json(body)
        return f"{answer['errorType']}: {answer['error']}"
    except (ValueError, KeyError, TypeError):
        return ""


def _vector(body: bytes) -> list[dict]:
    """The series of an instant query's answer; ValueError in words for an error or a partial
    answer (one with warnings)."""
    try:
        answer = http.decode_json(body)
    except ValueError:
        raise ValueError("its answer is not JSON") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        why = _error(body) or "not a query answer"
        raise ValueError(f"it answered {why}")
    if answer.get("warnings"):
        raise ValueError(f"a partial answer: {str(answer['warnings'][0])[:200]}")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise ValueError("its answer is not an instant vector")
    result = data.get("result")
    if not isinstance(result, list):
        raise ValueError("its answer has no list of series")
    return result
