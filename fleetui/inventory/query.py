"""The filter language shared by the TUI's `/` box and `fleetui cards QUERY`.

Whitespace-separated terms, all of which must match:
  free text         the start of a serial, UUID or asset tag, or part of a model, node, team or
                    project name
  key:value         serial, uuid, tag (asset tag), model, node (or host), site, team, project,
                    status
  key:"two words"   quotes for values with spaces (a quote opens only at a word's or a value's
                    start: O'Brien is a name); quote() writes any value so
  team="Ads"        the team named exactly that (also project=, node=, site=)
  status:spare,rep  any of several statuses
  team:none         cards without a team (also project:none, node:none, tag:none; a quoted
                    "none" is a name)
  warranty:30d      a held card's warranty ends within 30 days (any number); warranty:expired
  eol:past          in service past the end of its service life
  -term             the cards the term does not match: -team:llm, -status:retired, -h800 (a
                    card with no team is not in llm); quote a value that starts with - ("-5")
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import CARD_STATUSES, Status

# The syntax as README's "The filter language" table has it (a test keeps them equal); `?` shows it.
SYNTAX = [
    (
        "`h800`, `1230001`, `bj1-`",
        "free text: the start of a serial, UUID or asset tag, or part of a model, node, team or "
        "project name",
    ),
    (
        "`tag:GPU-00`, `tag:none`",
        "asset tag starts with (case as typed, upper or lower); cards with no tag",
    ),
    (
        "`team:llm`",
        'team name contains `llm` (case-insensitive); `team:"Ads ranking"` for spaces; a quote '
        "opens only at a value's start (`team:O'Brien`), `\\\"` is one inside quotes",
    ),
    (
        '`team="Ads ranking"`',
        "the team named exactly that, case too (also `project=`, `node=`, `site=`)",
    ),
    (
        '`model:h800`, `model:"A100 80G"`, `model:h800,a800`',
        "a catalogue model by any of its names; `model:a100` matches every A100 variant; "
        "commas for several; a name no model has is an error",
    ),
    (
        "`status:spare`",
        "`in_service`, `spare`, `repair`, `retired`, `on_order` (a prefix is enough); commas for "
        "several (`status:in_service,spare,repair`: the cards teams hold)",
    ),
    ("`node:bj1-h800`, `site:sh2`", "node hostname or site name contains the value"),
    (
        "`project:sft`, `serial:1230`, `uuid:GPU-1f`",
        "project name contains; serial/UUID starts with",
    ),
    ("`team:none`", "cards held by no team (also `project:none`, `node:none`)"),
    (
        "`warranty:90d`, `warranty:expired`",
        "held cards whose warranty ends within 90 days (any number) / has ended, by the rules below",  # noqa: E501
    ),
    ("`eol:past`", "cards in service past the end of their service life"),
    (
        "`-team:llm`, `-status:retired`, `-h800`",
        "`-` before a term: the cards it does not match (`-team:llm` keeps the cards of no "
        'team); quote free text that starts with `-` (`"-5"`)',
    ),
]
KEYS = (
    "serial",
    "uuid",
    "tag",
    "model",
    "node",
    "site",
    "team",
    "project",
    "status",
    "warranty",
    "eol",
)
KEY_ALIASES = {
    "host": "node",
    "hostname": "node",
    "gpu": "model",
    "state": "status",
    "asset_tag": "tag",
}
STATUS_ALIASES = {
    "in service": Status.IN_SERVICE,
    "inservice": Status.IN_SERVICE,
    "service": Status.IN_SERVICE,
}


EXACT_KEYS = ("team", "project", "node", "site")  # name keys that take `=`: the whole name
QUOTES = "\"'"
_KEY = re.compile(r"([^\s:=\"']+)([:=])")


@dataclass(frozen=True)
class Term:
    key: str | None  # None: free text
    value: str
    exact: bool = False  # key=value: the whole name, case too
    quoted: bool = False  # written in quotes: `team:"none"` is a team named none
    negated: bool = False  # -term: the cards the term does not match


def quote(value: str) -> str:
    """`value` as a filter reads it back, whatever it holds: every filter the app builds from
    data (`team=` + quote(name)) goes through here."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _words(text: str) -> list[tuple[str, str, str, bool, bool]]:
    """(key, separator, value, quoted, negated) per word; key and separator empty for free
    text. A `-` starting a word (not the whole word) negates it. A quote opens only at a word's
    or a value's start and runs to its match (`\\` escapes that quote or a backslash inside);
    elsewhere a quote is a plain character."""
    words: list[tuple[str, str, str, bool, bool]] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return words
        negated = text[i] == "-" and i + 1 < len(text) and not text[i + 1].isspace()
        i += negated
        key = sep = ""
        if (found := _KEY.match(text, i)) and (found[2] == ":" or _key(found[1]) in KEYS):
            key, sep, i = found[1], found[2], found.end()
        value, quoted = [], i < len(text) and text[i] in QUOTES
        if quoted:
            mark, i = text[i], i + 1
            while i < len(text) and text[i] != mark:
                escaped = text[i] == "\\" and text[i + 1 : i + 2] in (mark, "\\")
                value.append(text[i + escaped])
                i += 1 + escaped
            if i == len(text):
                raise UserError(f"The filter {units.quoted(text)} has an unclosed quote.")
            i += 1
        while i < len(text) and not text[i].isspace():
            value.append(text[i])
            i += 1
        words.append((key, sep, "".join(value), quoted, negated))


def _key(typed: str) -> str:
    return KEY_ALIASES.get(typed.lower(), typed.lower())


def parse(text: str) -> list[Term]:
    """Split a filter into terms, or raise UserError naming what is wrong."""
    terms = []
    for typed, sep, value, quoted, negated in _words(text):
        if not sep:
            terms.append(Term(None, value, quoted=quoted, negated=negated))
            continue
        key = _key(typed)
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; use one of {', '.join(KEYS)}."
            raise UserError(f"Unknown filter key '{key}'{hint}")
        if sep == "=" and key not in EXACT_KEYS:
            raise UserError(
                f"{key}= is not a filter; write {key}:value (only {', '.join(EXACT_KEYS)} take =, "
                "for a whole name)."
            )
        if not value:
            raise UserError(f"The filter key '{key}{sep}' needs a value.")
        if key == "status":
            value = ",".join(status(v) for v in value.split(",") if v.strip())
        if key == "warranty" and value.lower() != "expired" and _days(value) is None:
            raise UserError(
                f"warranty:{value}: use a number of days (warranty:90d, at most "
                f"{units.MOST_WINDOW_DAYS:,}) or warranty:expired."
            )
        if key == "eol" and value.lower() != "past":
            raise UserError("eol: takes only eol:past.")
        terms.append(Term(key, value, exact=sep == "=", quoted=quoted, negated=negated))
    return terms


def status(value: str) -> str:
    """A card status from what a user typed ('spare', 'in service', 'rep'), or UserError."""
    typed = value.strip().lower().replace("-", "_")
    typed = STATUS_ALIASES.get(typed, typed)
    found = [s for s in CARD_STATUSES if s.startswith(typed.replace(" ", "_"))]
    if len(found) > 1:  # a prefix of several: name them, it is a typo away from either
        could = ", ".join(found[:-1]) + f" or {found[-1]}"
        raise UserError(f"status:{value} is ambiguous: {could}.")
    if not found:
        raise UserError(f"Unknown status '{value}'; use one of {', '.join(CARD_STATUSES)}.")
    return found[0]


def _days(value: str) -> int | None:
    """90d or 90 -> 90; None for anything else, or more than units.MOST_WINDOW_DAYS."""
    digits = value.lower().removesuffix("d")
    days = int(digits) if digits.isdigit() else None
    return days if days is not None and days <= units.MOST_WINDOW_DAYS else None


def days(value: str) -> int | None:
    """warranty:90d -> 90; warranty:expired -> None."""
    return _days(value)
