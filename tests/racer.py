"""The fleetui CLI in a child process that signals from inside its own transaction.

    python -m tests.racer --db URL move ...      (the arguments are the CLI's)

FLEETUI_TEST_SAY=PATTERN: print "writing" just before the first SQL statement matching the
regular expression PATTERN runs. FLEETUI_TEST_HOLD=PATTERN: once the first statement matching
PATTERN has run (so inside the transaction, holding its locks), print "holding" and wait for a
line on stdin; a test then releases it, starts a rival, or kills it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, event


def _signal_at(variable: str, when: str, word: str) -> None:
    pattern = os.environ.get(variable, "")
    fired = []

    def fire(conn, cursor, statement, *args) -> None:
        if pattern and not fired and re.search(pattern, statement.strip(), re.I | re.S):
            fired.append(True)
            print(word, flush=True)
            if when == "after_cursor_execute":
                sys.stdin.readline()

    event.listen(Engine, when, fire)


def start(args: list[str], say: str = "", hold: str = "") -> subprocess.Popen:
    """A child running `fleetui ARGS`, signalling as the module docstring says."""
    env = dict(os.environ, FLEETUI_TEST_SAY=say, FLEETUI_TEST_HOLD=hold)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.racer", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )


def wait_for(child: subprocess.Popen, word: str) -> None:
    """Read the child's output up to the line `word` (it must come)."""
    for line in child.stdout:
        if line.strip() == word:
            return
    raise AssertionError(f"the child ended before '{word}': {child.stderr.read()}")


if __name__ == "__main__":
    _signal_at("FLEETUI_TEST_SAY", "before_cursor_execute", "writing")
    _signal_at("FLEETUI_TEST_HOLD", "after_cursor_execute", "holding")
    from fleetui.cli import main

    sys.argv[0] = "fleetui"
    main()
