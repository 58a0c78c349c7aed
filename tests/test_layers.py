"""Runtime hygiene: the storage and domain layers load without the UI toolkit, and everything
lives in the one `fleetui` namespace."""

import ast
import subprocess
import sys
from pathlib import Path

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


def test_the_cli_loads_textual_only_to_launch_the_tui():
    code = "import sys, fleetui.cli; assert 'textual' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


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
