"""Shared fixtures: real SQLite files in a temporary directory, never the user's data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from fleetui import demo
from fleetui.store import open_fleet

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Temp XDG data and config dirs, no FLEETUI_DB or FLEETUI_CONFIG: no test touches, or
    depends on, the real user's inventory or settings."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.delenv("FLEETUI_DB", raising=False)
    monkeypatch.delenv("FLEETUI_CONFIG", raising=False)


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "fleet.db"


@pytest.fixture
def engine(db_path) -> Engine:
    engine = open_fleet(str(db_path))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory) -> Path:
    """A 2,000-card demo fleet built once per session; tests copy it before writing."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = open_fleet(str(path))
    demo.build(engine, cards=2000, seed=7)
    engine.dispose()
    return path


@pytest.fixture
def demo_engine(demo_file, tmp_path) -> Engine:
    """A private copy of the session's demo fleet."""
    import sqlite3

    copy = tmp_path / "demo-copy.db"
    with sqlite3.connect(demo_file) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    engine = open_fleet(str(copy))
    yield engine
    engine.dispose()
