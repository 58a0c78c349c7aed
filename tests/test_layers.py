"""Runtime hygiene: the storage and domain layers load without the UI toolkit, and everything
lives in the one `fleetui` namespace."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_storage_and_services_never_import_textual():
    code = (
        "import sys; import fleetui.db.engine, fleetui.db.migrate, fleetui.db.tables; "
        "import fleetui.db.bulk, fleetui.inventory.cards, fleetui.inventory.summary; "
        "import fleetui.admin.demo, fleetui.catalogue, fleetui.store; "
        "assert 'textual' not in sys.modules, 'textual was imported'; "
        "assert not any(m.startswith('fleetui.screens') for m in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _modules_after(*args: str, columns: int = 80) -> set[str]:
    """The modules loaded by `fleetui ARGS` run as its own process (what a user waits for), in a
    terminal `columns` wide."""
    code = (
        "import sys\n"
        "from fleetui.cli import main\n"
        f"sys.argv = ['fleetui', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sys.modules), file=sys.stderr)"
    )
    env = {**os.environ, "COLUMNS": str(columns)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return set(result.stderr.split())


# Start-up: what a path never uses, it never imports (each costs a tenth of a second or more).
UI = {"textual", "rich"}
STORAGE = {"sqlalchemy", "sqlmodel", "pydantic", "alembic"}


def test_the_cli_loads_textual_only_to_launch_the_tui():
    code = "import sys, fleetui.cli; print(' '.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert loaded & (UI | STORAGE | {"sqlalchemy.dialects.postgresql"}) == set()
    assert not any(m.startswith("fleetui.") and m not in CLI_ROOT for m in loaded)


CLI_ROOT = {
    "fleetui.cli",
    "fleetui.cli.base",
    "fleetui.cli.root",
    "fleetui.cli.roothelp",
    "fleetui.core",
    "fleetui.core.errors",
    "fleetui.core.places",
}


@pytest.mark.parametrize("columns", [80, 60])
def test_help_lists_every_command_without_loading_any(columns):
    loaded = _modules_after("--help", columns=columns)
    assert loaded & (UI | STORAGE) == set()
    assert not any(m.startswith("fleetui.") and m not in CLI_ROOT for m in loaded)


def test_help_in_a_terminal_80_columns_wide_loads_not_even_typer():
    """Importing typer alone took three times as long as Python takes to start."""
    loaded = _modules_after("--help")
    assert "typer" not in loaded
    assert {m for m in loaded if m.startswith("fleetui.")} == {
        "fleetui.cli",
        "fleetui.cli.roothelp",
        "fleetui.core",
        "fleetui.core.places",
    }


@pytest.mark.parametrize("columns", [80, 60])  # roothelp's page, then typer's
def test_help_names_the_default_database_this_environment_has(columns, tmp_path):
    """--help said ~/.local/share/fleetui/fleet.db under any $XDG_DATA_HOME, while the errors
    named the real file."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "COLUMNS": str(columns)}
    code = "from fleetui.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"then{tmp_path}/fleetui/fleet.db)." in "".join(result.stdout.split())  # wrapped
    assert ".local/share" not in result.stdout


@pytest.mark.parametrize("columns", [80, 120, 79, 40])
@pytest.mark.parametrize("prog", ["fleetui", "f" * 50, "f" * 51])
def test_help_without_typer_is_the_page_typer_prints(columns, prog, tmp_path):
    """fleetui.cli.roothelp lays out the root's page itself: as typer does, at any width."""
    script = tmp_path / prog
    script.write_text("from fleetui.cli import main\nmain()\n")
    by_typer = (
        "import sys\nfrom fleetui.cli import app\nsys.argv[0] = sys.argv[1]\napp(sys.argv[2:])\n"
    )
    env = {**os.environ, "COLUMNS": str(columns)}

    def page(*command: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    ours = page(sys.executable, str(script), "--help")
    assert ours == page(sys.executable, "-c", by_typer, str(script), "--help")


def test_a_query_on_sqlite_loads_neither_postgresql_nor_the_ui(tmp_path):
    db = str(tmp_path / "fleet.db")
    _modules_after("--db", db, "db", "upgrade")  # creates the database: Alembic, a message
    loaded = _modules_after("--db", db, "cards", "--json")
    assert "fleetui.inventory.cards" in loaded  # the command ran
    assert loaded & (UI | {"alembic", "sqlalchemy.dialects.postgresql", "psycopg"}) == set()
    assert not any(
        m.startswith(("fleetui.cli.", "fleetui.screens"))
        for m in loaded - CLI_ROOT - {"fleetui.cli.cards"}
    )


def _tui_modules(db: Path, key: str) -> tuple[set[str], set[str]]:
    """The modules loaded by the TUI (its own process) once the dashboard is up, then once `key`
    was pressed and its work done."""
    code = (
        "import asyncio, sys\n"
        "from fleetui.app import FleetApp\n"
        "from fleetui.store import open_fleet\n"
        "async def main():\n"
        f"    app = FleetApp(open_fleet({str(db)!r}))\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause()\n"
        "        await app.workers.wait_for_complete()\n"
        "        print(' '.join(sys.modules))\n"
        f"        await pilot.press({key!r})\n"
        "        await app.workers.wait_for_complete()\n"
        "        print(' '.join(sys.modules))\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    started, after = (set(line.split()) for line in result.stdout.splitlines()[-2:])
    return started, after


def test_the_tui_loads_the_poller_only_when_the_telemetry_screen_opens(tmp_path):
    """aiohttp and NVML's bindings took a third of the TUI's start-up; most sessions never poll."""
    started, polled = _tui_modules(tmp_path / "fleet.db", "g")
    assert started & TELEMETRY == set()
    assert polled >= TELEMETRY


def test_the_tui_starts_with_only_the_dashboards_screens_and_services(tmp_path):
    """The other screens and the services only they use (import, moves, the scheduler, backups)
    took a tenth of the time to a complete dashboard at 1M cards; each loads when it opens."""
    started, opened = _tui_modules(tmp_path / "fleet.db", "i")
    screens = {m for m in started if m.startswith("fleetui.screens.")}
    assert screens == {f"fleetui.screens.{name}" for name in DASHBOARD_SCREENS}
    assert not any(m.startswith(OTHER_SERVICES) for m in started)
    assert {"fleetui.screens.inventory", "fleetui.screens.reallocate"} <= opened


# What the dashboard is built from (the screen, its widgets, the app's palette and keymap).
DASHBOARD_SCREENS = [
    "commands",
    "dashboard",
    "first_read",
    "footer",
    "freshness",
    "keep",
    "keymap",
    "messages",
    "plain",
    "work",
]
OTHER_SERVICES = (
    "fleetui.allocation",
    "fleetui.importing.importer",
    "fleetui.scheduler",
    "fleetui.admin",
    "fleetui.presentation",
)


TELEMETRY = {"aiohttp", "pynvml", "fleetui.telemetry.poller"}


def test_the_help_table_names_every_command_its_modules_and_its_summary():
    """COMMANDS is how --help lists commands and how a command finds its module: it must hold
    exactly what the modules of fleetui.cli register, with their own help texts."""
    import pkgutil
    from importlib import import_module

    import typer.main

    import fleetui.cli
    from fleetui.cli import COMMANDS, app

    for module in pkgutil.iter_modules(fleetui.cli.__path__):
        import_module(f"fleetui.cli.{module.name}")
    root = typer.main.get_group(app)
    registered = {
        **{c.name: c.callback.__module__ for c in app.registered_commands},
        **{
            g.name: {c.callback.__module__ for c in g.typer_instance.registered_commands}
            for g in app.registered_groups
        },
    }
    wanted = {}
    for name, modules in registered.items():
        modules = {modules} if isinstance(modules, str) else modules
        summary = " ".join((root.commands[name].help or "").split("\n\n")[0].split())
        wanted[name] = (tuple(sorted(m.rsplit(".", 1)[1] for m in modules)), summary)
    assert {name: (tuple(sorted(m)), h) for name, (m, h) in COMMANDS.items()} == wanted


def test_nothing_imports_db_or_screens_outside_the_fleetui_namespace():
    """db/ and screens/ are fleetui.db and fleetui.screens; importing them as top-level `db` or
    `screens` would load a second copy of every table and screen."""
    wrong = []
    for folder in ("fleetui", "db", "screens", "tests", "bench", "docs"):
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                wrong += [
                    f"{path.relative_to(ROOT)}: {name}"
                    for name in names
                    if name.split(".")[0] in ("db", "screens")
                ]
    assert wrong == []


def _literals(folders, skip=()):
    """(where, value) of every string constant in the source, but docstrings and command names."""
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" in path.parts or "migrations" in path.parts or path.name in skip:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
            }
            commands = {  # CLI command names, e.g. `fleetui repair`
                id(arg)
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "command"
                for arg in node.args
            }
            commands |= {  # and the lazy command table's keys (fleetui.cli.COMMANDS)
                id(key)
                for node in ast.walk(tree)
                if isinstance(node, ast.AnnAssign)
                and getattr(node.target, "id", "") == "COMMANDS"
                and isinstance(node.value, ast.Dict)
                for key in node.value.keys
            }
            skipped = docstrings | commands
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in skipped
                ):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value


def test_statuses_and_audit_actions_are_spelled_only_in_the_vocabulary():
    """A status or action written as a literal can drift from the one definition (a misspelt
    action is an event that history and undo never find); code names the enum members."""
    from fleetui.core.vocabulary import Action, Status

    spelled = {s.value for s in Status} | {a.value for a in Action if "." in a.value}
    found = [
        f"{where}: {value!r}"
        for where, value in _literals(("fleetui", "db", "screens"), skip={"vocabulary.py"})
        if value in spelled
    ]
    assert found == []


def test_audit_actions_are_compared_by_their_members():
    """Undotted actions ("undo", "move", "import") are plain words the test above cannot tell
    from prose, but a comparison with something named action is an action all the same."""
    from fleetui.core.vocabulary import Action

    actions = {a.value for a in Action}
    found = []
    for folder in ("fleetui", "db", "screens"):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts or path.name == "vocabulary.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Compare):
                    continue
                sides = [node.left, *node.comparators]
                named = any("action" in ast.unparse(s) for s in sides)
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {s.value!r}"
                    for s in sides
                    if named and isinstance(s, ast.Constant) and s.value in actions
                ]
    assert found == []


def test_parsing_an_import_runs_no_sql():
    """Cells and rows are parsed without the database; names reach it through stage.Names."""
    pure = ("cells.py", "columns.py", "csvfile.py", "parse.py")
    found = []
    for name in pure:
        tree = ast.parse((ROOT / "fleetui" / "importing" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module]
            found += [f"{name}: {m}" for m in names if m and m.split(".")[0] == "sqlalchemy"]
    assert found == []
