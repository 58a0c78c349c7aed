"""Runtime hygiene: the storage and domain layers load without the UI toolkit."""

import subprocess
import sys


def test_storage_and_services_never_import_textual():
    code = (
        "import sys; import db.engine, db.migrate, db.tables, db.bulk; "
        "import fleetui.inventory, fleetui.summary, fleetui.demo, fleetui.catalogue; "
        "import fleetui.store; "
        "assert 'textual' not in sys.modules, 'textual was imported'; "
        "assert not any(m == 'screens' or m.startswith('screens.') for m in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_cli_loads_textual_only_to_launch_the_tui():
    code = "import sys, fleetui.cli; assert 'textual' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
