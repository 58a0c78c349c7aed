"""fleetui's own /metrics (prometheus-client): allocation beside utilization in the dashboards ops
already run. A Collector computes every family on each scrape with a few SQL aggregates (GROUP BY
over the card table's covering index), never loading cards. Loopback by default; any other
address needs a bearer token file, as the agent does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, and_, func, select

from fleetui.config import Config
from fleetui.core import units
from fleetui.core.errors import UserError
from fleetui.core.vocabulary import HELD, NO_PROJECT, UNASSIGNED, Status
from fleetui.db.tables import Card, GpuModel, Project, Team, table_of
from fleetui.lifecycle.rules import past_eol_condition, warranty_condition
from fleetui.telemetry import health
from fleetui.telemetry.agent import bearer_matches, is_loopback
from fleetui.telemetry.reconcile import idle_serials

card_t, model_t, team_t = table_of(Card), table_of(GpuModel), table_of(Team)
project_t = table_of(Project)
COMPUTING = (Status.IN_SERVICE, Status.SPARE)  # cards whose PFLOPS count, as on the dashboard
PFLOPS_DECIMALS = 5  # the catalogue gives TFLOPS to 0.01; further digits are float noise


class FleetCollector(Collector):
    """Every family computed from the database when Prometheus scrapes."""

    def __init__(self, engine: Engine, config: Config, today: Callable[[], date]) -> None:
        self.engine, self.config, self.today = engine, config, today

    def collect(self) -> Iterator[GaugeMetricFamily]:
        today = self.today()
        with self.engine.connect() as conn:
            teams: dict[int | None, str] = dict(
                conn.execute(select(team_t.c.id, team_t.c.name)).all()
            )
            projects: dict[int | None, str] = dict(
                conn.execute(select(project_t.c.id, project_t.c.name)).all()
            )
            models = {
                r.id: (r.name, r.fp16_tflops)
                for r in conn.execute(select(model_t.c.id, model_t.c.name, model_t.c.fp16_tflops))
            }
            by_group = conn.execute(
                select(
                    card_t.c.team_id,
                    card_t.c.project_id,
                    card_t.c.model_id,
                    card_t.c.status,
                    func.count(),
                ).group_by(
                    card_t.c.team_id, card_t.c.project_id, card_t.c.model_id, card_t.c.status
                )
            ).all()

            def per_team(condition) -> list[tuple[int | None, int]]:
                query = select(card_t.c.team_id, func.count()).where(condition)
                return [(t, n) for t, n in conn.execute(query.group_by(card_t.c.team_id))]

            expiring_days = self.config.lifecycle.expiring_days
            expiring = per_team(
                and_(
                    card_t.c.status.in_(HELD),
                    warranty_condition(conn, self.config, today, expiring_days),
                )
            )
            expired = per_team(
                and_(card_t.c.status.in_(HELD), warranty_condition(conn, self.config, today, None))
            )
            overrides = conn.execute(
                select(card_t.c.service_life_years)
                .where(card_t.c.service_life_years > 0)
                .distinct()
            ).scalars()
            past_eol = per_team(past_eol_condition(self.config, today, list(overrides)))
            idle = per_team(card_t.c.serial.in_(idle_serials()))
        labels = ["team", "project", "model", "status"]
        cards = GaugeMetricFamily("fleetui_cards", "Cards in the inventory.", labels=labels)
        pflops = GaugeMetricFamily(
            "fleetui_pflops",
            "Dense FP16/BF16 PFLOPS of cards in service or spare (others count none).",
            labels=labels,
        )
        for team_id, project_id, model_id, status, count in by_group:
            name, tflops = models[model_id]
            values = [teams.get(team_id, UNASSIGNED), projects.get(project_id, NO_PROJECT)]
            values += [name, status]
            cards.add_metric(values, count)
            computing = status in COMPUTING
            pflops.add_metric(
                values, round(count * tflops / 1000, PFLOPS_DECIMALS) if computing else 0.0
            )
        yield cards
        yield pflops
        for metric, help_text, rows in (
            (
                "fleetui_cards_warranty_expiring",
                f"Held cards whose warranty ends within {units.counted(expiring_days, 'day')}.",
                expiring,
            ),
            ("fleetui_cards_warranty_expired", "Held cards out of warranty.", expired),
            ("fleetui_cards_past_end_of_life", "Cards in service past end of life.", past_eol),
            ("fleetui_cards_idle", "Cards under 5% utilization over 24 hours.", idle),
        ):
            family = GaugeMetricFamily(metric, help_text, labels=["team"])
            for team_id, count in rows:
                family.add_metric([teams.get(team_id, UNASSIGNED)], count)
            yield family
        family = GaugeMetricFamily(
            "fleetui_cards_sick",
            "Cards whose GPU reports evidence needing a reset, a reboot or an RMA, by the "
            "worst action NVIDIA gives for it.",
            labels=["team", "action"],
        )
        # as `fleetui health` lists them (one rule): each sick GPU once, by its worst action,
        # none already in hand; a GPU no card matches is a team's no more than the list's
        sick = Counter(
            (card.team or UNASSIGNED, card.action)
            for card in health.sick_cards(self.engine, self.config, today)
        )
        for (team, action), count in sorted(sick.items()):
            family.add_metric([team, action], count)
        yield family


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def make_exporter(
    engine: Engine,
    config: Config,
    host: str,
    port: int,
    token: bytes | None,
    today: Callable[[], date] = date.today,
) -> WSGIServer:
    """A WSGI server serving the fleet's metrics; off loopback only with a bearer token."""
    if not is_loopback(host) and token is None:
        raise UserError(
            f"Listening on {host} needs --token-file: only loopback is served without a token."
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(engine, config, today))
    metrics = make_wsgi_app(registry)

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Length", "0")])
            return [b""]
        if token is not None and not bearer_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        return metrics(environ, start_response)

    return make_server(host, port, app, handler_class=_Quiet)
