"""Shared fixtures: every database test runs on a real SQLite file and on a real PostgreSQL
server that the session starts itself (skipped, with one line, where its binaries are absent)."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from fleetui.admin import demo
from fleetui.store import open_fleet
from tests import pgserver

SHARED = Path(__file__).resolve().parents[2] / "shared"
BACKENDS = ["sqlite", "postgresql"]
_names = itertools.count(1)

# The suite runs the same property-test examples every time, so its verdict on a commit does
# not change from one run to the next; `pytest --hypothesis-profile=explore` searches new ones
# (a failure it finds becomes an ordinary test).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Temp XDG data and config dirs, no FLEETUI_DB or FLEETUI_CONFIG: no test touches, or
    depends on, the real user's inventory or settings."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.delenv("FLEETUI_DB", raising=False)
    monkeypatch.delenv("FLEETUI_CONFIG", raising=False)


@pytest.fixture(scope="session")
def pg_server():
    bindir = pgserver.binaries()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = pgserver.Server(bindir)
    url = server.start()
    yield url
    server.stop()


class PgDatabases:
    """Creates and drops databases on the session's server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")

    def create(self, template: str | None = None) -> str:
        name = f"t{next(_names)}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}{clause}"))
        return f"{self.base}/{name}"

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def pg_databases(pg_server):
    return PgDatabases(pg_server)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, tmp_path, request) -> str:
    """A new, empty database's URL (or SQLite path) on the test's backend."""
    if backend == "sqlite":
        return str(tmp_path / "fleet.db")
    databases = request.getfixturevalue("pg_databases")
    url = databases.create()
    request.addfinalizer(lambda: databases.drop(url))
    return url


@pytest.fixture
def db_path(tmp_path) -> Path:
    """A SQLite file, for the tests about SQLite itself."""
    return tmp_path / "fleet.db"


@pytest.fixture
def engine(db_url) -> Engine:
    engine = open_fleet(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def new_engine(backend, tmp_path, request):
    """A factory of further empty databases on the same backend."""
    made = []

    def make() -> Engine:
        if backend == "sqlite":
            engine = open_fleet(str(tmp_path / f"extra{len(made)}.db"))
        else:
            databases = request.getfixturevalue("pg_databases")
            url = databases.create()
            request.addfinalizer(lambda: databases.drop(url))
            engine = open_fleet(url)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory) -> Path:
    """A 2,000-card demo fleet built once per session; tests copy it before writing."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = open_fleet(str(path))
    demo.build(engine, cards=2000, seed=7)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_demo_template(pg_databases) -> str:
    """The same demo fleet in a PostgreSQL database that tests clone as a template."""
    url = pg_databases.create()
    engine = open_fleet(url)
    demo.build(engine, cards=2000, seed=7)
    engine.dispose()
    return url.rsplit("/", 1)[1]


@pytest.fixture
def demo_url(backend, demo_file, tmp_path, request) -> str:
    """A private copy of the session's demo fleet on the test's backend."""
    if backend == "sqlite":
        copy = tmp_path / "demo-copy.db"
        with sqlite3.connect(demo_file) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        return str(copy)
    databases = request.getfixturevalue("pg_databases")
    url = databases.create(template=request.getfixturevalue("pg_demo_template"))
    request.addfinalizer(lambda: databases.drop(url))
    return url


@pytest.fixture
def demo_engine(demo_url) -> Engine:
    engine = open_fleet(demo_url)
    yield engine
    engine.dispose()
