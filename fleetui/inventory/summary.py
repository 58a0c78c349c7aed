"""Fleet totals for the dashboard: cards by status, compute per team and per model.

Compute counts cards that can run work today: in service or spare. Cards in repair, retired or
on order are counted as cards but add no PFLOPS.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlmodel import col

from fleetui.core import units
from fleetui.core.vocabulary import CARD_STATUSES, HELD, UNASSIGNED
from fleetui.db.tables import Card, GpuModel, Team, table_of


@dataclass(frozen=True)
class Line:
    name: str
    cards: int
    tflops: float
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    total_cards: int
    total_tflops: float
    by_status: dict[str, int]
    teams: list[Line]
    models: list[Line]


def fleet_summary(engine: Engine) -> Summary:
    """All dashboard figures from one GROUP BY over a covering index."""
    card = table_of(Card)
    query = select(card.c.team_id, card.c.model_id, card.c.status, func.count()).group_by(
        card.c.team_id, card.c.model_id, card.c.status
    )
    with engine.connect() as conn:
        groups = conn.execute(query).all()
        teams = dict(conn.execute(select(col(Team.id), col(Team.name))).all())
        models = {
            r.id: r
            for r in conn.execute(
                select(col(GpuModel.id), col(GpuModel.name), col(GpuModel.fp16_tflops))
            )
        }
    by_status: Counter[str] = Counter()
    team_cards: Counter[str] = Counter()
    team_tflops: defaultdict[str, float] = defaultdict(float)
    model_status: defaultdict[str, Counter[str]] = defaultdict(Counter)
    model_tflops: defaultdict[str, float] = defaultdict(float)
    for team_id, model_id, status, n in groups:
        model = models[model_id]
        team = teams.get(team_id, UNASSIGNED)
        by_status[status] += n
        model_status[model.name][status] += n
        if status in HELD:
            team_cards[team] += n
        tflops = units.computing(status, n) * model.fp16_tflops
        team_tflops[team] += tflops
        model_tflops[model.name] += tflops
    team_lines = [Line(t, team_cards[t], team_tflops[t]) for t in team_cards]
    model_lines = [
        Line(m, sum(c.values()), model_tflops[m], {s: c[s] for s in CARD_STATUSES if c[s]})
        for m, c in model_status.items()
    ]
    return Summary(
        total_cards=sum(by_status.values()),
        total_tflops=sum(team_tflops.values()),
        by_status={s: by_status[s] for s in CARD_STATUSES},
        teams=sorted(team_lines, key=lambda line: -line.tflops),
        models=sorted(model_lines, key=lambda line: -line.tflops),
    )
