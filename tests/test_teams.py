"""Teams and projects through the CLI, as a new user meets them: quotas, names, lists. On both
backends."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fleetui.cli import app


def cli(db: str, *args: str):
    return CliRunner().invoke(app, ["--db", db, *args])


def quotas(db: str) -> dict[str, tuple]:
    teams = json.loads(cli(db, "teams", "list", "--json").stdout)
    return {t["name"]: (t["quota_cards"], t["quota_pflops"]) for t in teams}


def test_a_negative_quota_is_refused_and_a_quota_without_numbers_is_cleared(db_url):
    assert cli(db_url, "teams", "add", "LLM", "--cards", "600").exit_code == 0
    for option, value in (("--cards", "-5"), ("--pflops", "-1"), ("--quota-cards", "-5")):
        for command in (
            ["teams", "quota", "LLM"],
            ["teams", "add", "X"],
            ["projects", "add", "LLM", "p"],
        ):
            result = cli(db_url, *command, option, value)
            assert result.exit_code == 1, (command, option)
            assert "fleetui: A quota cannot be negative (-" in result.output
    assert quotas(db_url) == {"LLM": (600, None)}
    assert json.loads(cli(db_url, "projects", "list", "--json").stdout) == []
    result = cli(db_url, "teams", "quota", "LLM")
    assert result.exit_code == 0 and result.stdout == "Quota of LLM cleared.\n"
    assert quotas(db_url) == {"LLM": (None, None)}
    assert cli(db_url, "teams", "quota", "llm", "--cards", "8").stdout == "Quota of llm set.\n"
