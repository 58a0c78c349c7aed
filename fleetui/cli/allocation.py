"""Teams, projects, plans, moves and history."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer

from fleetui.cli.base import (
    CsvOption,
    JsonOption,
    app,
    confirm,
    err,
    open_db,
    out,
    print_json,
    report_app,
    settings,
    subgroup,
)
from fleetui.cli.tables import print_table
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.presentation import batch_lines, describe_move, event_lines, undo_hint

# ---------------------------------------------------------------- teams and projects

teams_app = subgroup("teams", "Teams: add, list, rename, delete, quotas.")
projects_app = subgroup("projects", "Projects of teams: add, list, rename, delete.")
OfTeam = Annotated[str | None, typer.Option("--team", help="The project's team.")]
QuotaCards = Annotated[int | None, typer.Option("--cards", help="Quota in cards.")]
QuotaPflops = Annotated[float | None, typer.Option("--pflops", help="Quota in PFLOPS.")]
# The quota options' first names, still read (unlisted) so that scripts using them keep working.
OLD_NAMES = {"quota-cards": "cards", "quota-pflops": "pflops"}  # click hands over the name
QUOTA_ALIASES = {"token_normalize_func": lambda token: OLD_NAMES.get(token, token)}


@teams_app.command("add", context_settings=QUOTA_ALIASES)
def teams_add(
    ctx: typer.Context, name: str, quota_cards: QuotaCards = None, quota_pflops: QuotaPflops = None
) -> None:
    """Add a team."""
    from fleetui.allocation import teams

    batch = teams.add_team(open_db(ctx), name, quota_cards, quota_pflops)
    out.print(f"Team '{name.strip()}' added. {undo_hint(batch)}", highlight=False)


@teams_app.command("rename")
def teams_rename(ctx: typer.Context, old: str, new: str) -> None:
    """Rename a team (its cards and projects stay with it)."""
    from fleetui.allocation import teams

    batch = teams.rename_team(open_db(ctx), old, new)
    out.print(f"Team '{old}' is now '{new.strip()}'. {undo_hint(batch)}", highlight=False)


@teams_app.command("delete")
def teams_delete(ctx: typer.Context, name: str) -> None:
    """Delete a team that holds no cards and no projects."""
    from fleetui.allocation import teams

    batch = teams.delete_team(open_db(ctx), name)
    out.print(f"Team '{name.strip()}' deleted. {undo_hint(batch, False)}", highlight=False)


@teams_app.command("quota", context_settings=QUOTA_ALIASES)
def teams_quota(
    ctx: typer.Context,
    team: str,
    project: Annotated[str | None, typer.Option(help="Set the project's quota instead.")] = None,
    quota_cards: QuotaCards = None,
    quota_pflops: QuotaPflops = None,
) -> None:
    """Set a team's or project's quota (a number not given is kept; neither: clear it)."""
    from fleetui.allocation import teams

    batch, now = teams.set_quota(open_db(ctx), team, project, quota_cards, quota_pflops)
    owner = f"{team.strip()}/{project.strip()}" if project else team.strip()
    quota = teams.quota_text(now) or "none"
    if batch is None:
        out.print(f"Quota of {owner} unchanged: {quota}.", highlight=False)
    else:
        out.print(f"Quota of {owner} now {quota}. {undo_hint(batch)}", highlight=False)


@teams_app.command("list")
def teams_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Teams with their cards, PFLOPS, quota use and cards per model."""
    _print_holdings(open_db(ctx), projects=False, as_json=as_json)


@projects_app.command("add", context_settings=QUOTA_ALIASES)
def projects_add(
    ctx: typer.Context,
    team: str,
    name: str,
    quota_cards: QuotaCards = None,
    quota_pflops: QuotaPflops = None,
) -> None:
    """Add a project to a team."""
    from fleetui.allocation import teams

    batch = teams.add_project(open_db(ctx), team, name, quota_cards, quota_pflops)
    out.print(f"Project '{name.strip()}' added to {team}. {undo_hint(batch)}", highlight=False)


@projects_app.command("rename")
def projects_rename(ctx: typer.Context, old: str, new: str, team: OfTeam = None) -> None:
    """Rename a project (its cards stay with it)."""
    from fleetui.allocation import teams

    batch = teams.rename_project(open_db(ctx), team, old, new)
    out.print(f"Project '{old}' is now '{new.strip()}'. {undo_hint(batch)}", highlight=False)


@projects_app.command("delete")
def projects_delete(ctx: typer.Context, name: str, team: OfTeam = None) -> None:
    """Delete a project that holds no cards."""
    from fleetui.allocation import teams

    batch = teams.delete_project(open_db(ctx), team, name)
    out.print(f"Project '{name.strip()}' deleted. {undo_hint(batch, False)}", highlight=False)


@projects_app.command("list")
def projects_list(
    ctx: typer.Context,
    team: Annotated[str | None, typer.Option("--team", help="Only this team's projects.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Projects with their cards, PFLOPS and quota use."""
    _print_holdings(open_db(ctx), projects=True, as_json=as_json, team=team)


def _print_holdings(engine, projects: bool, as_json: bool, team: str | None = None) -> None:
    from fleetui.allocation import teams

    rows = teams.project_lines(engine, team) if projects else teams.holdings(engine)
    if as_json:
        print_json([h.as_dict() for h in rows])
        return
    print_table(
        ("Project" if projects else "Team", "Cards", "PFLOPS", "Quota use", "Models"),
        [(h.name, f"{h.cards:,}", f"{h.pflops:,.1f}", h.quota_use(), _top_models(h)) for h in rows],
        right=("Cards", "PFLOPS"),
        text=("Quota use", "Models"),
    )


def _top_models(holding, shown: int = 3) -> str:
    """The models it holds most of, with how many more it holds ('+2 more models')."""
    models = [f"{m} {n:,}" for m, n in holding.by_model.items()]
    more = len(models) - shown
    return ", ".join(
        models[:shown] + ([f"+{units.counted(more, 'more model')}"] if more > 0 else [])
    )


# ---------------------------------------------------------------- plan and move

SerialsArg = Annotated[list[str] | None, typer.Argument(help="Serials of the cards to move.")]
ToTeam = Annotated[
    str | None,
    typer.Option("--to-team", help="Team that gets the cards (none: back to the free pool)."),
]
ToProject = Annotated[str | None, typer.Option("--to-project", help="Project that gets them.")]
Count = Annotated[int | None, typer.Option("--count", help="How many cards to find.")]
Pflops = Annotated[float | None, typer.Option("--pflops", help="How much compute to find.")]
Models = Annotated[str | None, typer.Option("--model", help="Model(s), comma-separated.")]
FromTeam = Annotated[
    str | None,
    typer.Option("--from-team", help="Take from this team (none: the cards of no team)."),
]
FromProject = Annotated[
    str | None,
    typer.Option(
        "--from-project",
        help='Take from this project; "(no project)": the --from-team\'s cards in no project.',
    ),
]


def _plan(ctx, engine, serials, to_team, to_project, count, pflops, model, from_team, from_project):
    from fleetui.allocation import moves

    if count is None and pflops is None:
        return moves.plan_cards(engine, serials or [], to_team, to_project, settings=settings(ctx))
    if serials:
        raise UserError("Give serials or --count/--pflops, not both.")
    models = [m.strip() for m in model.split(",")] if model else None
    return moves.plan_request(
        engine,
        to_team,
        to_project,
        count,
        pflops,
        models,
        from_team,
        from_project,
        today=date.today(),
        settings=settings(ctx),
    )


def _show_plan(plan, as_json: bool) -> None:

    if as_json:
        print_json(plan.as_dict())
    else:
        for line in describe_move(plan):
            out.print(line, highlight=False, markup=False)


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    serials: SerialsArg = None,
    to_team: ToTeam = None,
    to_project: ToProject = None,
    count: Count = None,
    pflops: Pflops = None,
    model: Models = None,
    from_team: FromTeam = None,
    from_project: FromProject = None,
    as_json: JsonOption = False,
) -> None:
    """Preview a move (same arguments as `move`); writes nothing."""
    plan = _plan(
        ctx,
        open_db(ctx),
        serials,
        to_team,
        to_project,
        count,
        pflops,
        model,
        from_team,
        from_project,
    )
    _show_plan(plan, as_json)


@app.command("move")
def move_cmd(
    ctx: typer.Context,
    serials: SerialsArg = None,
    to_team: ToTeam = None,
    to_project: ToProject = None,
    count: Count = None,
    pflops: Pflops = None,
    model: Models = None,
    from_team: FromTeam = None,
    from_project: FromProject = None,
    reason: Annotated[str, typer.Option(help="Why (required; goes in the log).")] = "",
    actor: Annotated[str | None, typer.Option(help="Who (default: your OS user).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Move cards between teams/projects: named serials, or a request by count or PFLOPS."""
    from fleetui.allocation import moves

    if not reason.strip():
        raise UserError("Say why: a move needs --reason.")
    engine = open_db(ctx)
    plan = _plan(
        ctx, engine, serials, to_team, to_project, count, pflops, model, from_team, from_project
    )
    confirm(yes, describe_move(plan), "Move these cards?", "review with `fleetui plan`", "move")
    batch = moves.commit(engine, plan, reason, actor)
    if as_json:
        print_json(plan.as_dict() | {"batch_id": batch})
    else:
        out.print(
            f"Moved {units.counted(len(plan.cards), 'card')} to {plan.target.label()}. "
            + undo_hint(batch),
            highlight=False,
        )


# ---------------------------------------------------------------- history and reports


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    card: Annotated[str | None, typer.Option("--card", help="One card's events (serial).")] = None,
    team: Annotated[
        str | None,
        typer.Option("--team", help="Batches moving cards in/out, or changing the team."),
    ] = None,
    project: Annotated[str | None, typer.Option("--project")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this date (2026-01-31).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many batches.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """The audit log: batches newest first, or one card's events."""
    from fleetui.allocation import history
    from fleetui.inventory.events import card_events

    if card and (team or project):
        raise UserError(
            "--card lists one card's events; --team and --project choose batches: give one or "
            "the other."
        )
    engine = open_db(ctx)
    start = history.parse_since(since, "--since")
    if card:
        events = [e for e in card_events(engine, card) if start is None or e["at"] >= start]
        if as_json:
            print_json(events)
            return
        _say_none(events, "events of " + card, since)
        _print_lines(event_lines(e) for e in events)
        return
    found = history.batches(engine, team, project, since, limit)
    if as_json:
        print_json([b.as_dict() for b in found])
        return
    filters = [f"{k} {v}" for k, v in (("team", team), ("project", project)) if v]
    _say_none(found, "batches" + (f" for {' and '.join(filters)}" if filters else ""), since)
    _print_lines(batch_lines(b) for b in found)


def _say_none(found: list, what: str, since: str | None) -> None:
    """A sentence where nothing is found, not a blank screen (a hang? a broken log?)."""
    if not found:
        said = f"No {what}" + (f" since {since}" if since else "") + "."
        err.print(said, highlight=False, markup=False)


def _print_lines(entries) -> None:
    """Entries of lines (each already fits 80 columns), a blank line between entries."""
    for i, lines in enumerate(entries):
        for line in [""] * bool(i) + lines:
            out.print(line, highlight=False, markup=False, soft_wrap=True)


@report_app.command("allocation")
def report_allocation(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The date (2026-01-31); default today.")
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Who held how many cards and PFLOPS at the end of a past date: today's, less what changed
    since."""
    from fleetui.allocation import history
    from fleetui.importing.cells import parse_day

    as_of = (parse_day(as_of, "--as-of") if as_of is not None else date.today()).isoformat()
    rows = history.allocation_as_of(open_db(ctx), as_of)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    if as_csv:  # the same header with no rows: a spreadsheet's columns stay put
        from fleetui.importing.csvfile import write_rows

        write_rows(sys.stdout, ["team", "cards", "pflops"], (r.as_dict().values() for r in rows))
        return
    if not rows:
        out.print(f"No team held any card at the end of {as_of}.", highlight=False)
        return
    print_table(
        ("Team", "Cards", "PFLOPS"),
        [(r.team, f"{r.cards:,}", f"{r.tflops / 1000:,.1f}") for r in rows],
        title=f"Allocation at the end of {as_of}",
        right=("Cards", "PFLOPS"),
    )
