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
