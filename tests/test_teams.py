"""Teams and projects through the CLI, as a new user meets them: quotas, names, lists. On both
backends."""

from __future__ import annotations

import json

import pytest
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
    for value in ("nan", "inf", "-inf"):
        result = cli(db_url, "teams", "quota", "LLM", "--pflops", value)
        assert result.exit_code == 1 and "A quota must be a number of PFLOPS" in result.output
    assert quotas(db_url) == {"LLM": (600, None)}
    listed = json.loads(cli(db_url, "projects", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["LLM/(no project)"]  # no project of its own
    result = cli(db_url, "teams", "quota", "LLM")
    assert result.exit_code == 0 and result.stdout.startswith("Quota of LLM now none. Batch ")
    assert quotas(db_url) == {"LLM": (None, None)}
    assert cli(db_url, "teams", "quota", "llm", "--cards", "8").stdout.startswith(
        "Quota of llm now 8 cards. Batch "
    )


def test_a_quota_number_not_given_is_kept_and_no_change_logs_nothing(db_url):
    """Setting the PFLOPS quota keeps the card quota (it cleared it); a quota set to what it
    was, or cleared when empty, says so and logs no batch; a change prints its batch, which
    undo takes back."""
    assert cli(db_url, "teams", "add", "LLM", "--cards", "600").exit_code == 0
    set_pflops = cli(db_url, "teams", "quota", "LLM", "--pflops", "2.5")
    assert quotas(db_url) == {"LLM": (600, 2.5)}
    assert set_pflops.stdout.startswith("Quota of LLM now 600 cards, 2.5 PFLOPS. Batch ")
    assert cli(db_url, "teams", "quota", "LLM", "--cards", "700").exit_code == 0
    assert quotas(db_url) == {"LLM": (700, 2.5)}
    before = cli(db_url, "history", "--json").stdout
    same = cli(db_url, "teams", "quota", "LLM", "--cards", "700")
    assert same.stdout == "Quota of LLM unchanged: 700 cards, 2.5 PFLOPS.\n"
    cleared = cli(db_url, "teams", "quota", "LLM")
    assert quotas(db_url) == {"LLM": (None, None)}
    empty = cli(db_url, "teams", "quota", "LLM")
    assert empty.stdout == "Quota of LLM unchanged: none.\n"
    assert len(json.loads(cli(db_url, "history", "--json").stdout)) == len(json.loads(before)) + 1
    undone = cli(db_url, "undo", cleared.stdout.split("undo ")[1].rstrip(").\n"))
    assert undone.exit_code == 0, undone.output
    assert quotas(db_url) == {"LLM": (700, 2.5)}


def test_names_differing_only_in_case_are_one_name(db_url):
    assert cli(db_url, "teams", "add", "Trial team").exit_code == 0
    result = cli(db_url, "teams", "add", "trial team")
    assert result.exit_code == 1
    assert "A team 'Trial team' exists already; names differing only in case are one name." in (
        result.output
    )
    assert cli(db_url, "teams", "add", "Other").exit_code == 0
    assert cli(db_url, "teams", "rename", "other", "TRIAL TEAM").exit_code == 1
    assert cli(db_url, "teams", "rename", "trial TEAM", "Trial Team").exit_code == 0  # itself
    assert cli(db_url, "projects", "add", "trial team", "sft").exit_code == 0
    result = cli(db_url, "projects", "add", "Trial Team", "SFT")
    assert result.exit_code == 1 and "That team has a project 'sft' already;" in result.output
    assert cli(db_url, "projects", "add", "Other", "SFT").exit_code == 0  # another team's
    result = cli(db_url, "teams", "delete", "trial team")
    assert "The team 'Trial Team' still holds 1 project;" in result.output
    assert set(quotas(db_url)) == {"Trial Team", "Other"}


def test_no_team_or_project_takes_a_name_that_passes_for_fleetuis_own_lines(db_url, tmp_path):
    """A team named (unassigned) was listed as the unassigned cards' line, and on the
    dashboard the two lines clashed. Adding, renaming and importing refuse such a name,
    and nothing is written."""
    assert cli(db_url, "teams", "add", "Ads").exit_code == 0
    for args in (
        ("teams", "add", "(unassigned)"),
        ("teams", "rename", "Ads", " (Ads) "),
        ("projects", "add", "Ads", "(no project)"),
    ):
        result = cli(db_url, *args)
        assert result.exit_code == 1, args
        assert "cannot name a" in result.output and "own lines in parentheses" in result.output
    cards = tmp_path / "cards.csv"
    cards.write_text(
        f"serial,model,team,project\nX-1,{MODEL},(unassigned),\nX-2,{MODEL},Ads,(none)\n"
    )
    result = cli(db_url, "import", str(cards), "--create-missing")
    assert result.exit_code == 1
    assert "row 2, column 'team', value '(unassigned)': cannot name a new team" in result.output
    assert "row 3, column 'project', value '(none)': cannot name a new project" in result.output
    assert set(quotas(db_url)) == {"Ads"}
    listed = json.loads(cli(db_url, "projects", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["Ads/(no project)"]  # no project of its own
    assert cli(db_url, "teams", "add", "Ads (old)").exit_code == 0  # parentheses within: fine


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("teams", "add", "none"), "filters and moves read none and - as no team or project"),
        (("teams", "add", " None "), "filters and moves read none and - as no team or project"),
        (("projects", "add", "Ads", "-"), "filters and moves read none and - as no team"),
        (("teams", "rename", "Ads", "Tab\there"), "a name holds no tab, line break or other"),
    ],
)
def test_no_team_or_project_takes_a_name_fleetui_reads_as_none(db_url, args, why):
    """A team named none took the cards of `--to-team none`, which README says go back to
    the free pool, and `team:none` still listed the cards of no team; a tab in a name broke
    its tables. Such names are refused, in one sentence, and nothing is written."""
    assert cli(db_url, "teams", "add", "Ads").exit_code == 0
    result = cli(db_url, *args)
    assert result.exit_code == 1 and why in result.stderr, result.output
    assert set(quotas(db_url)) == {"Ads"}


def test_projects_list_takes_a_team(db_url):
    for team, project in (("LLM", "sft"), ("LLM", "rl"), ("Ads", "ranking")):
        cli(db_url, "teams", "add", team)
        assert cli(db_url, "projects", "add", team, project).exit_code == 0
    result = cli(db_url, "projects", "list", "--team", "llm", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(p["name"] for p in json.loads(result.stdout)) == ["LLM/rl", "LLM/sft"]
    result = cli(db_url, "projects", "list", "--team", "Search")
    assert result.exit_code == 1 and "There is no team 'Search'" in result.output


def test_a_teams_project_lines_add_up_to_what_it_holds(demo_url):
    """projects list showed 136 + 144 = 280 cards of Ads ranking's 288: the cards in none of
    its projects had no line."""
    held = {t["name"]: t for t in json.loads(cli(demo_url, "teams", "list", "--json").stdout)}
    every = json.loads(cli(demo_url, "projects", "list", "--json").stdout)
    for team, mine in (
        (
            "Ads ranking",
            json.loads(cli(demo_url, "projects", "list", "--team", "ads ranking", "--json").stdout),
        ),
        *((t, [p for p in every if p["team"] == t]) for t in held),
    ):
        assert sum(p["cards"] for p in mine) == held[team]["cards"], team
        assert sum(p["pflops"] for p in mine) == pytest.approx(held[team]["pflops"], abs=0.005)
    ads = [p for p in every if p["team"] == "Ads ranking"]
    assert ads[-1]["name"] == "Ads ranking/(no project)" and ads[-1]["cards"] == 8
    rows = [
        r.split("│")
        for r in cli(demo_url, "projects", "list", "--team", "Ads ranking").stdout.splitlines()
    ]
    cards = [
        int(r[2].replace(",", ""))
        for r in rows
        if len(r) > 2 and r[2].strip().replace(",", "").isdigit()
    ]
    assert "Ads ranking/(no project)" in {r[1].strip() for r in rows if len(r) > 2}
    assert sum(cards) == held["Ads ranking"]["cards"]


def test_a_team_with_projects_and_no_cards_outside_them_has_no_no_project_line(db_url):
    """LLM's cards are all in its projects: no line of its own. Ads has no projects: its one
    line, as `teams list` lists it, with 0 cards."""
    cli(db_url, "teams", "add", "LLM")
    assert cli(db_url, "projects", "add", "LLM", "sft").exit_code == 0
    cli(db_url, "teams", "add", "Ads")
    listed = json.loads(cli(db_url, "projects", "list", "--json").stdout)
    assert sorted(p["name"] for p in listed) == ["Ads/(no project)", "LLM/sft"]


def test_projects_list_adds_up_to_the_teams_with_or_without_projects(db_url, tmp_path):
    """A team with no projects was left out of `projects list`, whose lines then fell short of
    `teams list`: it has its (no project) line, also under --team."""
    cards = tmp_path / "cards.csv"
    rows = [("P-1", "A", "p"), ("P-2", "A", ""), ("P-3", "B", ""), ("P-4", "B", "")]
    cards.write_text(
        "serial,model,team,project\n" + "".join(f"{s},{MODEL},{t},{p}\n" for s, t, p in rows)
    )
    assert cli(db_url, "import", str(cards), "--create-missing").exit_code == 0
    listed = json.loads(cli(db_url, "projects", "list", "--json").stdout)
    assert {p["name"]: p["cards"] for p in listed} == {
        "A/p": 1,
        "A/(no project)": 1,
        "B/(no project)": 2,
    }
    held = json.loads(cli(db_url, "teams", "list", "--json").stdout)
    assert sum(p["cards"] for p in listed) == sum(t["cards"] for t in held) == 4
    only_b = json.loads(cli(db_url, "projects", "list", "--team", "b", "--json").stdout)
    assert [(p["name"], p["cards"]) for p in only_b] == [("B/(no project)", 2)]
    assert cli(db_url, "teams", "add", "Empty").exit_code == 0  # as teams list shows it: 0
    empty = json.loads(cli(db_url, "projects", "list", "--team", "empty", "--json").stdout)
    assert [(p["name"], p["cards"]) for p in empty] == [("Empty/(no project)", 0)]


def test_lists_say_how_many_more_models_a_team_holds(demo_url):
    held = json.loads(cli(demo_url, "teams", "list", "--json").stdout)
    # The words as a reader reads them, whatever the width: a table's cell may wrap its text
    # over lines whose other cells are empty, or the table may be printed as records.
    shown = " ".join(cli(demo_url, "teams", "list").stdout.replace("│", " ").split())
    more = [len(team["by_model"]) - 3 for team in held if len(team["by_model"]) > 3]
    assert more  # the demo has teams holding more than three models
    assert shown.count(" more model") == len(more)
    for n in more:
        assert f"+{n} more model" in shown


def test_a_quota_change_in_the_history_says_whose_quota(db_url):
    assert cli(db_url, "teams", "add", "LLM").exit_code == 0
    assert cli(db_url, "projects", "add", "LLM", "sft").exit_code == 0
    assert cli(db_url, "teams", "quota", "LLM", "--cards", "700").exit_code == 0
    assert cli(db_url, "teams", "quota", "LLM", "--project", "sft", "--pflops", "2").exit_code == 0
    shown = cli(db_url, "history").stdout
    assert "  LLM: quota cards: none → 700\n" in shown
    assert "  LLM/sft: quota pflops: none → 2\n" in shown


def test_a_quota_of_zero_is_shown_as_zero_not_as_none(db_url):
    """A team barred from holding cards (quota 0) must not look unlimited."""
    assert cli(db_url, "teams", "add", "Zero", "--cards", "0").exit_code == 0
    listed = cli(db_url, "teams", "list").stdout
    assert "0/0 cards" in listed
    done = cli(db_url, "teams", "quota", "Zero", "--pflops", "0")
    assert done.stdout.startswith("Quota of Zero now 0 cards, 0 PFLOPS. Batch ")
    undone = cli(db_url, "undo", done.stdout.split("undo ")[1].rstrip(").\n"))
    assert "the quota of Zero is back to 0 cards" in undone.stdout
    tiny = cli(db_url, "teams", "quota", "Zero", "--pflops", "0.000001")
    assert "now 0 cards, 1e-06 PFLOPS" in tiny.stdout


MODEL = "H100 SXM5 80GB"  # 2 cards: 1.98 PFLOPS


def over_quota_fleet(db: str, tmp_path) -> None:
    """LLM holds 2 cards over a quota of 1 (its project pretrain within its own); Search holds
    exactly its quota of 2 cards but 1.98 PFLOPS over its quota of 1.5; Ads is within both."""
    cards = tmp_path / "cards.csv"
    rows = [("L-1", "LLM", "pretrain"), ("L-2", "LLM", "pretrain")]
    rows += [("S-1", "Search", ""), ("S-2", "Search", ""), ("A-1", "Ads", "")]
    cards.write_text(
        "serial,model,team,project\n" + "".join(f"{s},{MODEL},{t},{p}\n" for s, t, p in rows)
    )
    assert cli(db, "import", str(cards), "--create-missing").exit_code == 0
    for team, *quota in (
        ("LLM", "--cards", "1"),
        ("Search", "--cards", "2", "--pflops", "1.5"),
        ("Ads", "--cards", "2", "--pflops", "1"),
    ):
        assert cli(db, "teams", "quota", team, *quota).exit_code == 0
    assert cli(db, "teams", "quota", "LLM", "--project", "pretrain", "--cards", "5").exit_code == 0


def test_a_quota_exceeded_is_marked_over_in_the_lists_as_a_move_preview_warns(db_url, tmp_path):
    """`teams list` showed '2/1 card' like any other use: nothing said LLM was over its quota,
    though a move's preview warned so. Each quota exceeded is marked, by the same rule."""
    over_quota_fleet(db_url, tmp_path)
    shown: dict[str, str] = {}  # team: its quota use, its cell's lines joined
    for row in cli(db_url, "teams", "list").stdout.splitlines():
        cells = [c.strip() for c in row.split("│")[1:-1]]
        if cells and cells[0]:
            team = cells[0]
        if cells:
            shown[team] = f"{shown.get(team, '')} {cells[3]}".strip()
    assert shown["LLM"] == "2/1 card (over)"
    assert shown["Search"] == "2/2 cards, 2.0/1.5 PFLOPS (over)"
    assert shown["Ads"] == "1/2 cards, 1.0/1 PFLOPS"
    held = json.loads(cli(db_url, "teams", "list", "--json").stdout)
    assert {t["name"]: t["over_quota"] for t in held} == {"LLM": True, "Search": True, "Ads": False}
    projects = cli(db_url, "projects", "list").stdout
    assert "2/5 cards" in projects and "(over)" not in projects
    plan = cli(db_url, "plan", "A-1", "--to-team", "Search").stdout
    assert "! Search goes over its quota of 2 cards (3 cards after the move)." in plan
    assert "! Search stays over its quota of 1.5 PFLOPS" in plan


def test_an_unknown_project_of_a_named_team_names_the_team(demo_url):
    """'There is no project in that team' left the user to guess which team was meant."""
    result = CliRunner().invoke(
        app, ["--db", demo_url, "plan", "--count", "1", "--to-team", "LLM", "--to-project", "x9"]
    )
    assert result.exit_code == 1
    assert result.stderr == "fleetui: Team 'LLM' has no project 'x9' (fleetui projects list).\n"
