"""Card statuses, audit action names and the unassigned team's label, defined once.

They are StrEnums: each member is the very string stored in the database (and equal to it), so
code may compare stored values with members and pass members wherever a string goes.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    IN_SERVICE = "in_service"
    SPARE = "spare"
    REPAIR = "repair"
    RETIRED = "retired"
    ON_ORDER = "on_order"


CARD_STATUSES = tuple(Status)  # in the order lists and summaries show them
COMPUTING = (Status.IN_SERVICE, Status.SPARE)  # cards whose compute counts
HELD = (Status.IN_SERVICE, Status.SPARE, Status.REPAIR)  # cards a team holds
UNASSIGNED = "(unassigned)"  # the team shown for cards that no team holds
NO_PROJECT = "(no project)"  # the project shown for a team's cards in none of its projects
MOVABLE = (Status.SPARE, Status.IN_SERVICE)  # never retired, in repair or on order
# a sick card in repair or retired is in hand: no alert counts it, `health --all` lists it
IN_HAND = (Status.REPAIR, Status.RETIRED)


class Action(StrEnum):
    """The `action` of an audit event (at most 32 characters)."""

    IMPORT = "import"  # an import's summary (no card)
    IMPORT_CREATE = "import.create"
    IMPORT_UPDATE = "import.update"
    IMPORT_PROJECT = "import.project"  # what an import created, see IMPORT_CREATED
    IMPORT_TEAM = "import.team"
    IMPORT_NODE = "import.node"
    MOVE = "move"
    MOVE_BATCH = "move.batch"  # a plan's summary (no card)
    UNDO = "undo"  # an undo's summary (no card)
    UNDO_CARD = "undo.card"
    RECONCILE_ADD = "reconcile.add"
    RECONCILE_MOVE = "reconcile.move"
    RECONCILE_MISSING = "reconcile.missing"
    REPAIR_SEND = "repair.send"
    REPAIR_RETURN = "repair.return"
    TEAM_ADD = "team.add"
    TEAM_RENAME = "team.rename"
    TEAM_DELETE = "team.delete"
    PROJECT_ADD = "project.add"
    PROJECT_RENAME = "project.rename"
    PROJECT_DELETE = "project.delete"
    NODE_RENAME = "node.rename"
    NODE_REMOVE = "node.remove"
    QUOTA_SET = "quota.set"
    CARD_EDIT = "card.edit"
    CARD_EDIT_BATCH = "card.edit.batch"  # an edit's summary (no card)
    CARD_DELETE = "card.delete"  # `before` keeps every value of the card, for undo
    CARD_DELETE_BATCH = "card.delete.batch"  # a delete's summary (no card)
    SCHED_APPLY = "sched.apply"  # a scheduler apply (no card): each account before and after
    DEMO_BUILD = "demo.build"  # marks a database as demo's, durably (the log is append-only)


# What an import logs, beside its summary, for each project, team and node it created (no card;
# `after` holds the new row's id and name), so that undoing the import can remove them.
IMPORT_CREATED = (Action.IMPORT_PROJECT, Action.IMPORT_TEAM, Action.IMPORT_NODE)
# The events that bring a card into the inventory.
CARD_CREATES = (Action.IMPORT_CREATE, Action.RECONCILE_ADD)


OWN_LINES = f"fleetui names its own lines in parentheses, as {UNASSIGNED} and {NO_PROJECT}"
NO_NAME = ("none", "-")  # what filters (team:none) and moves (--to-team none) read as no team


def unfit_name(name: str) -> str | None:
    """Why `name` cannot name a new team or project, or None. One in parentheses would pass
    for fleetui's own lines (OWN_LINES); `none` or `-` would be read as no team at all (a team
    named none took `--to-team none`'s cards); a tab or line break would break every table."""
    name = name.strip()
    if name.startswith("(") and name.endswith(")"):
        return OWN_LINES
    if name.casefold() in NO_NAME:
        return "filters and moves read none and - as no team or project"
    if not name.isprintable():
        return "a name holds no tab, line break or other control character"
    return None
