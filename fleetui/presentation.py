"""Text that the CLI and the TUI both show: plan previews, import error rows, history lines.

Plain strings only (no Rich, no Textual): the CLI prints them, the screens show them literally.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleetui.core import units

if TYPE_CHECKING:
    from fleetui.allocation.history import Batch
    from fleetui.allocation.plans import Plan
    from fleetui.importing.cells import RowError
    from fleetui.importing.outcome import ImportResult
    from fleetui.inventory.edit import EditPlan

WIDTH = 80  # the CLI's lines fit a standard terminal

# ---------------------------------------------------------------- plans


def describe_move(plan: Plan, limit: int = 20) -> list[str]:
    """A move's preview as lines of text."""
    lines = [
        f"Move {units.counted(len(plan.cards), 'card')} ({units.compute(plan.tflops)}) "
        f"to {plan.target.label()}.",
        *plan.explanation,
        "",
    ]
    lines += [f"  {d}" for d in plan.deltas]
    lines += [f"  ! {w}" for w in plan.quota_warnings]
    lines.append("")
    for card in plan.cards[:limit]:
        lines.append(f"  {card.serial}  {card.model}  {card.node or '-'}  {card.status}")
    return lines + _more(len(plan.cards), limit)


def describe_edit(plan: EditPlan, limit: int = 20) -> list[str]:
    """An edit's preview as lines of text."""
    changes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in plan.shown.items())
    lines = [f"Set {changes} on {units.counted(len(plan.cards), 'card')}."]
    if plan.unchanged:
        lines.append(f"{units.counted(plan.unchanged, 'card')} already hold these values.")
    lines += [f"  {c.serial}" for c in plan.cards[:limit]]
    return lines + _more(len(plan.cards), limit)


def _more(cards: int, limit: int) -> list[str]:
    return [f"  … and {units.counted(cards - limit, 'more card')}"] if cards > limit else []


# ---------------------------------------------------------------- import errors


@dataclass(frozen=True)
class ErrorGroup:
    """Rows with the same problem in the same column and value, e.g. one unknown team."""

    rows: list[int]
    column: str
    value: str
    reason: str

    def where(self) -> str:
        """Every row it happened on, as ranges: "rows 2-4, 9, 12"."""
        return ("row " if len(self.rows) == 1 else "rows ") + _ranges(self.rows)

    def __str__(self) -> str:
        where = self.where()
        where += f", column '{self.column}'" if self.column else ""
        value = f", value '{self.value}'" if self.value else ""
        return f"{where}{value}: {self.reason}"


def import_refusal(result: ImportResult) -> str | None:
    """Why an import writes (or would write) nothing because of its errors; None when it
    imports its valid rows. The CLI and the Import screen both say it, never "Imported"."""
    if result.error_count and not result.written and not result.rejected:
        nothing = "nothing would be imported" if result.dry_run else "nothing was written"
        return f"{units.counted(result.error_count, 'error')}; {nothing}. {result.remedy()}"
    if result.nothing_valid:
        nothing = "would be" if result.dry_run else "was"
        kept = f"; the rows and why are in {result.rejected_file}" if result.rejected_file else ""
        return f"Nothing {nothing} imported: every row is invalid{kept}."
    return None


def group_errors(errors: list[RowError]) -> list[ErrorGroup]:
    """Errors grouped by (column, value, reason), in order of first appearance."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for e in errors:
        groups.setdefault((e.column, e.value, e.reason), []).append(e.row)
    return [ErrorGroup(rows, *key) for key, rows in groups.items()]


def _ranges(rows: list[int], limit: int = 12) -> str:
    spans: list[str] = []
    start = prev = rows[0]
    for row in [*rows[1:], None]:
        if row is not None and row == prev + 1:
            prev = row
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if row is not None:
            start = prev = row
    text = ", ".join(spans[:limit])
    more = units.counted(len(spans) - limit, "more range")
    return text + (f" and {more}" if len(spans) > limit else "")


# ---------------------------------------------------------------- history


def undo_hint(batch: str, undoable: bool = True) -> str:
    """The sentence a CLI write ends with: the batch it logged and how to take it back (a
    delete of a team, project or node logs only the name: an undo refuses it, so say so)."""
    if not undoable:
        return f"Batch {batch[:8]} (an undo cannot bring back what a delete removed)."
    return f"Batch {batch[:8]} (undo: fleetui undo {batch[:8]})."


def history_hint(batch: str) -> str:
    """The TUI's word on a write: its batch, and where to undo it."""
    return f"batch {batch[:8]}; undo from History"


def batch_lines(batch: Batch) -> list[str]:
    """A batch as lines of at most WIDTH characters."""
    head = f"{batch.at:%Y-%m-%d %H:%M}  {batch.batch_id[:8]}  {batch.actor}  {batch.action}"
    if batch.cards:
        head += f"  {units.counted(batch.cards, 'card')}"
    if batch.mark():
        head += f"  [{batch.mark()}]"
    out = _wrapped(head, "")
    out += _wrapped(batch.summary) if batch.summary else []
    return out + (_wrapped(f"why: {batch.reason}") if batch.reason else [])


def event_lines(event: dict[str, Any]) -> list[str]:
    """One event of a card's history (inventory.events.card_events') as lines of at most WIDTH."""
    head = f"{event['at']:%Y-%m-%d %H:%M}  {event['batch_id'][:8]}  {event['actor']}  "
    head += event["action"]
    if event["undone_by"]:
        head += f"  [undone by {event['undone_by'][:8]}]"
    lines = _wrapped(head, "")
    for change in event["changes"]:
        lines += _wrapped(change)
    return lines + (_wrapped(f"why: {event['reason']}") if event["reason"] else [])


def _wrapped(text: str, indent: str = "  ") -> list[str]:
    """`text` wrapped to WIDTH; its own line breaks shown as ⏎, as the TUI shows them (wrapping
    made them spaces: a note's two lines read as one)."""
    return textwrap.wrap(
        "⏎".join(text.splitlines()),
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
    )
