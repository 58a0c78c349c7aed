"""The filter language (query.py parses it) turned into SQL conditions on cards."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Engine, and_, false, func, not_, or_, select

from fleetui import catalogue, config
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import HELD, NO_NAME
from fleetui.db.sqlfuncs import contains_text
from fleetui.db.tables import Card, GpuModel, Node, Project, Site, Team, table_of
from fleetui.inventory.query import Term, days, parse
from fleetui.lifecycle import conditions

card_t, model_t, node_t = table_of(Card), table_of(GpuModel), table_of(Node)
team_t, project_t, site_t = table_of(Team), table_of(Project), table_of(Site)
# The filter keys that name a card's row elsewhere; `key:none` finds cards without one.
FOREIGN_KEYS = {"node": card_t.c.node_id, "team": card_t.c.team_id, "project": card_t.c.project_id}


def where(
    engine: Engine, text: str, today: date | None = None, *, settings: config.Config
) -> ColumnElement[bool]:
    """The SQL condition for a filter string (UserError when it does not parse); warranty:
    and eol: terms are judged on `today` (the caller's; the clock's when not given)."""
    terms = parse(text)
    with engine.connect() as conn:
        return and_(true_(), *(_matched(conn, t, today, settings) for t in terms))


def true_() -> ColumnElement[bool]:
    return card_t.c.id.isnot(None)


def _named(column, term: Term) -> ColumnElement[bool]:
    """`key=value`: the whole name, case too; `key:value`: a part of it, in any case."""
    return column == term.value if term.exact else contains_text(column, term.value)


def _name_ids(conn, table, term: Term) -> list[int]:
    return list(conn.execute(select(table.c.id).where(_named(table.c.name, term))).scalars())


def _model_ids(conn, value: str, settings: config.Config, literal: bool = False) -> list[int]:
    """Models a `model:` term names (names compared without punctuation, so `model:"A100 80G"`
    finds A100-SXM4-80GB); free text (`literal`) names only models whose name holds it as typed,
    so `X-` is not `x` inside every SXM part."""
    specs = catalogue.matching(value, settings.model_aliases)
    if literal and catalogue.lookup(value, settings.model_aliases) is None:
        folded = value.casefold()
        specs = [
            s
            for s in specs
            if any(folded in n.casefold() for n in (s.key, s.name, *s.nvml_names, *s.aliases))
        ]
    keys = [m.key for m in specs]
    return list(conn.execute(select(model_t.c.id).where(model_t.c.key.in_(keys))).scalars())


def _prefix(column, value: str) -> ColumnElement[bool]:
    """Index-friendly prefix match; tries the value as typed, upper- and lower-cased."""
    variants = {value, value.upper(), value.lower()}
    return or_(*(and_(column >= v, column < v + "\U0010ffff") for v in variants))


def _hosts(term: Term):
    return select(node_t.c.id).where(_named(node_t.c.hostname, term))


def _matched(conn, term: Term, today: date | None, settings: config.Config) -> ColumnElement[bool]:
    """A term's condition; negated, the cards it does not match, a NULL (no team for `team:`)
    counting as not matched."""
    condition = _term(conn, term, today, settings)
    return not_(func.coalesce(condition, false())) if term.negated else condition


def _term(conn, term: Term, today: date | None, settings: config.Config) -> ColumnElement[bool]:
    key, value = term.key, term.value
    if key in FOREIGN_KEYS and value.lower() in NO_NAME and not term.quoted:
        return FOREIGN_KEYS[key].is_(None)
    if key == "serial":
        return _prefix(card_t.c.serial, value)
    if key == "uuid":
        return _prefix(card_t.c.uuid, value)
    if key == "tag":
        if value.lower() == "none" and not term.quoted:
            return card_t.c.asset_tag.is_(None)
        return _prefix(card_t.c.asset_tag, value)
    if key == "status":
        return card_t.c.status.in_(value.split(","))
    if key == "model":  # one model or several, comma-separated (as `plan --model` takes them)
        ids = []
        for name in filter(None, (n.strip() for n in value.split(","))):
            if not (found := _model_ids(conn, name, settings)):
                known = catalogue.lookup(name, settings.model_aliases) or catalogue.matching(
                    name, settings.model_aliases
                )
                if not known:
                    raise UserError(
                        f"No catalogue model is named '{name}' (fleetui models lists them)."
                    )
            ids += found
        return card_t.c.model_id.in_(ids)
    if key == "team":
        return card_t.c.team_id.in_(_name_ids(conn, team_t, term))
    if key == "project":
        return card_t.c.project_id.in_(_name_ids(conn, project_t, term))
    if key == "node":
        return card_t.c.node_id.in_(_hosts(term))
    if key in ("warranty", "eol"):
        return _lifecycle_term(conn, key, value, today or date.today(), settings)
    if key == "site":
        sites = select(node_t.c.id).join(site_t, site_t.c.id == node_t.c.site_id)
        return card_t.c.node_id.in_(sites.where(_named(site_t.c.name, term)))
    # free text: any of the fields
    alternatives = [
        _prefix(card_t.c.serial, value),
        _prefix(card_t.c.uuid, value),
        _prefix(card_t.c.asset_tag, value),
    ]
    for column, ids in (
        (card_t.c.model_id, _model_ids(conn, value, settings, literal=True)),
        (card_t.c.team_id, _name_ids(conn, team_t, term)),
        (card_t.c.project_id, _name_ids(conn, project_t, term)),
    ):
        if ids:
            alternatives.append(column.in_(ids))
    alternatives.append(card_t.c.node_id.in_(_hosts(term)))
    return or_(*alternatives) if alternatives else false()


def _lifecycle_term(
    conn, key: str, value: str, today: date, cfg: config.Config
) -> ColumnElement[bool]:
    """warranty:Nd / warranty:expired / eol:past, by the rules of fleetui.lifecycle."""
    if key == "warranty":  # warranties matter for cards a team holds
        held = card_t.c.status.in_(HELD)
        return and_(held, conditions.warranty_condition(conn, cfg, today, days(value)))
    return conditions.past_eol_condition(cfg, today, conditions.life_overrides(conn))
