"""What an import is asked to do (its options) and what it did (its result)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetui import config
from fleetui.core import units
from fleetui.importing.cells import RowError


@dataclass
class ImportOptions:
    dry_run: bool = False
    overrides: dict[str, str] = field(default_factory=dict)
    on_existing: str = "update"  # update | skip | error
    skip_invalid: bool = False
    create_missing: bool = False
    date_format: str | None = None
    currency: str | None = None
    node: str | None = None
    team: str | None = None
    project: str | None = None
    sheet: str | None = None  # of an .xlsx workbook; default its first
    actor: str | None = None
    reason: str = ""
    config: config.Config = field(kw_only=True)  # the settings, read once by the entry point


@dataclass
class ImportResult:
    file: str
    encoding: str
    delimiter: str
    layout: str  # "utf-8, delimiter ','" or "sheet 'Cards'"
    mapping: dict[str, str]  # column header -> field
    unknown_columns: list[str]
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    error_count: int = 0
    missing_errors: int = 0  # of them, naming a team, project or node the inventory lacks
    errors: list[RowError] = field(default_factory=list)
    batch_id: str | None = None
    dry_run: bool = False
    written: bool = False
    rejected_file: str | None = None
    rejected_rows: dict[int, str] = field(default_factory=dict, repr=False)  # row -> reasons
    rejected_width: int = field(default=0, repr=False)  # cells in the widest rejected row
    model_changes: int = 0  # existing cards whose model the import changes
    model_changed: list[str] = field(default_factory=list)  # their serials (the first 100)
    holder_changes: int = 0  # existing cards the import moves to another team or project
    holder_changed: list[str] = field(default_factory=list)  # their serials (the first 100)
    bare_currency: str | None = None  # what prices naming no currency were read in, and why

    @property
    def nothing_valid(self) -> bool:
        """Every row was rejected (--skip-invalid): then nothing is written."""
        return bool(self.rejected) and not (self.new + self.changed + self.unchanged + self.skipped)

    def remedy(self) -> str:
        """What imports the rows its errors refuse."""
        if self.missing_errors == self.error_count:
            return (
                "Each names a team, project or node the inventory lacks: pass --create-missing "
                "to create them."
            )
        fix = "Fix them, or pass --skip-invalid to write the valid rows"
        if not self.missing_errors:
            return f"{fix}."
        missing = units.counted(self.missing_errors, "error")
        lacks = "naming a team, project or node the inventory lacks"
        return f"{fix} (for the {missing} {lacks}, pass --create-missing)."

    def summary(self) -> str:
        parts = [f"{self.new:,} new", f"{self.changed:,} changed", f"{self.unchanged:,} unchanged"]
        if self.skipped:
            parts.append(f"{self.skipped:,} existing skipped")
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected")
        text = ", ".join(parts)
        for n, serials, what in (
            (self.model_changes, self.model_changed, "changed model"),
            (self.holder_changes, self.holder_changed, "moved to another team or project"),
        ):
            if n:
                text += f"; {units.counted(n, 'card')} {what}: {units.listed(serials, 10, n)}"
        if self.bare_currency:
            text += f"; prices without a currency read as {self.bare_currency}"
        return text

    def as_dict(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values.pop("rejected_rows")
        values.pop("rejected_width")
        values["errors"] = [e.__dict__ for e in self.errors]
        return values
