"""README's command table promises only options the commands take: a new user's
`projects add eval --team LLM` and `report allocation --csv` met 'No such option'."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from fleetui.cli import COMMANDS
from fleetui.cli.root import load

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")


def _synopses() -> list[tuple[list[str], set[str]]]:
    """(command words, options) of each command the table's first column spells out; words
    given as alternatives (`add\\|rename`) make one synopsis each, all with the options."""
    found = []
    for row in re.findall(r"^\| (`fleetui .*?) \| ", README, re.M):
        for span in re.findall(r"`([^`]+)`", row):
            paths: list[list[str]] = [[]]
            for word in span.removeprefix("fleetui ").split():
                if not re.fullmatch(r"[a-z][a-z-]*(\\\|[a-z][a-z-]*)*", word):
                    break
                paths = [[*p, w] for p in paths for w in word.split("\\|")]
            options = set(re.findall(r"(--[a-z][a-z-]*)", span))
            found += [(p, options) for p in paths if p and p[0] in COMMANDS]
    return found


def test_every_option_the_command_table_names_is_one_the_command_takes():
    synopses = _synopses()
    assert len(synopses) > 20
    for path, options in synopses:
        command = load(path[0])
        for word in path[1:]:
            if not isinstance(command, typer.main.TyperGroup) or word not in command.commands:
                break
            command = command.commands[word]
        taken = {o for p in command.params for o in p.opts}
        assert options <= taken, f"{' '.join(path)}: {sorted(options - taken)}"
