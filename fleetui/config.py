"""Settings from $XDG_CONFIG_HOME/fleetui/config.toml (or $FLEETUI_CONFIG); every one optional.

    [lifecycle]
    warranty_months = 12          # when a card has no warranty end and nothing below applies
    service_life_years = 5        # when neither the card nor its model says otherwise
    salvage_fraction = 0.10       # book value never drops below this share of the price
    expiring_days = 90            # "expiring" means within this many days

    [lifecycle.warranty_months_by_model]     # catalogue keys or names people type
    "H800" = 36
    [lifecycle.warranty_months_by_supplier]
    "Inspur" = 36
    [lifecycle.service_life_by_model]
    "V100" = 4

    [cost]
    pue = 1.3                     # facility power / IT power
    tariff_per_kwh = 0.10         # in `currency`
    utilization = 0.7             # average draw as a share of TDP when no telemetry exists
    rack_ops_per_node_year = 6000 # rack space, networking, staff per 8-card node per year
    currency = "USD"

    [export]
    irreplaceable = ["A100", "H100"]   # models that can no longer be bought (adds to the
                                      # catalogue's export classes; see below)

    [models.aliases]              # what a name that fits several models means at this site
    "H800" = "H800 SXM 80GB"      # (import, `model:` filters, plans); a catalogue model

    [keymap]                      # a TUI key binding's id -> its keys (checked by the TUI)
    "inventory.filter" = "f"

    [scheduler]                   # where moves land (fleetui.scheduler; `fleetui sched`)
    kind = "slurm"                # or "kueue"; unset: no scheduler (sched export still works)
    cluster = ""                  # Slurm cluster (sacctmgr cluster=); "" when slurmdbd has one
    parent = "root"               # the Slurm account the team accounts hang under
    cohort = "fleetui"            # Kueue cohort of the teams' ClusterQueues
    teams = ["LLM"]               # the teams fleetui manages there (default: all; others untouched)
    [scheduler.names]             # team, or "team/project" -> account / queue / namespace name
                                  # (team and project names match ignoring case, as everywhere)
    "Ads ranking" = "ads"         # (default: the name in lower case, other characters as "-")
    [scheduler.gres]              # model -> Slurm GRES type (default: its short name, "h800")
    "H800" = "h800"
    [scheduler.products]          # model -> nvidia.com/gpu.product (default: its NVML name,
    "H800" = "NVIDIA-H800"        # spaces as "-", as GPU Feature Discovery writes it)

    [cost] currency is also the currency of imported prices that name none.

The defaults are those numbers. A model counts as irreplaceable when its export class says it
can no longer be bought here (controlled, or a made-for-a-rule variant now controlled), unless
the config lists it under [export] replaceable.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetui import catalogue
from fleetui.core import units
from fleetui.core.errors import UserError

# The most a warranty's months and a service life's years may be (see units.YEARS_KEPT).
MONTHS, YEARS = units.MOST_WARRANTY_MONTHS, units.MOST_SERVICE_YEARS


@dataclass(frozen=True)
class Lifecycle:
    warranty_months: int = 12
    service_life_years: float = 5.0
    salvage_fraction: float = 0.10
    expiring_days: int = 90
    warranty_months_by_model: dict[str, int] = field(default_factory=dict)  # catalogue key
    warranty_months_by_supplier: dict[str, int] = field(default_factory=dict)  # lower-case
    service_life_by_model: dict[str, float] = field(default_factory=dict)  # catalogue key


@dataclass(frozen=True)
class Cost:
    pue: float = 1.3
    tariff_per_kwh: float = 0.10
    utilization: float = 0.7
    rack_ops_per_node_year: float = 6000.0
    currency: str = "USD"


SCHEDULER_KINDS = ("slurm", "kueue")
SCHEDULER_NAMED = {"cluster": "", "parent": "root", "cohort": "fleetui"}  # with their defaults
# Names that fit Slurm and Kubernetes (a DNS-1123 label: a namespace, a queue)
NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
NAME_RULE = "not a name Slurm and Kubernetes accept (a-z, 0-9 and -, at most 63 characters)"
GRES = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a Slurm GRES type
LABEL = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")  # a Kubernetes label value


@dataclass(frozen=True)
class Scheduler:
    kind: str = ""  # "" (none), "slurm" or "kueue"
    cluster: str = ""
    parent: str = "root"
    cohort: str = "fleetui"
    teams: tuple[str, ...] | None = None  # None: every team
    names: dict[str, str] = field(default_factory=dict)  # "team" or "team/project" -> name
    gres: dict[str, str] = field(default_factory=dict)  # catalogue key -> GRES type
    products: dict[str, str] = field(default_factory=dict)  # catalogue key -> gpu.product


@dataclass(frozen=True)
class Config:
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    cost: Cost = field(default_factory=Cost)
    irreplaceable: frozenset[str] = frozenset()  # catalogue keys added by the config
    replaceable: frozenset[str] = frozenset()  # catalogue keys the config takes out
    model_aliases: dict[str, str] = field(default_factory=dict)  # normalized name -> key
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys (the TUI checks)
    scheduler: Scheduler = field(default_factory=Scheduler)
    source: str = "defaults"


def path() -> Path:
    if os.environ.get("FLEETUI_CONFIG"):
        return Path(os.environ["FLEETUI_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetui" / "config.toml"


def load(file: Path | None = None) -> Config:
    """The config, or the defaults when there is no file; UserError for a broken one, naming
    the file, the setting and its value. Read once, at start, by the entry points (the CLI's
    root command, the TUI's App), which pass the result down to the services. A file named
    by $FLEETUI_CONFIG must exist: a mistyped path would otherwise run every command on the
    defaults without a word."""
    file = file or path()
    if not file.exists():
        if os.environ.get("FLEETUI_CONFIG"):
            raise UserError(
                f"$FLEETUI_CONFIG names {file}, which does not exist; unset it to use the defaults."
            )
        return Config()
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{file} is not valid TOML: {exc}.") from None
    except OSError as exc:  # a folder, or a file this user may not read
        raise UserError(f"Cannot read the config file {file}: {exc.strerror}.") from None
    top = _Table(file, "", data, {"lifecycle", "cost", "export", "models", "keymap", "scheduler"})
    life = top.table("lifecycle", set(Lifecycle.__dataclass_fields__))
    cost = top.table("cost", set(Cost.__dataclass_fields__))
    export = top.table("export", {"irreplaceable", "replaceable"})
    models = top.table("models", {"aliases"})
    defaults, plain = Lifecycle(), Cost()
    return Config(
        lifecycle=Lifecycle(
            warranty_months=life.number(
                "warranty_months", int, defaults.warranty_months, most=MONTHS
            ),
            service_life_years=life.number(
                "service_life_years", float, defaults.service_life_years, most=YEARS
            ),
            salvage_fraction=life.number("salvage_fraction", float, defaults.salvage_fraction),
            expiring_days=life.number(
                "expiring_days", int, defaults.expiring_days, most=units.MOST_WINDOW_DAYS
            ),
            warranty_months_by_model=life.table("warranty_months_by_model").by_model(int, MONTHS),
            warranty_months_by_supplier={
                name.lower(): value
                for name, value in life.table("warranty_months_by_supplier").numbers(int, MONTHS)
            },
            service_life_by_model=life.table("service_life_by_model").by_model(float, YEARS),
        ),
        cost=Cost(
            pue=cost.number("pue", float, plain.pue),
            tariff_per_kwh=cost.number("tariff_per_kwh", float, plain.tariff_per_kwh),
            utilization=cost.number("utilization", float, plain.utilization),
            rack_ops_per_node_year=cost.number(
                "rack_ops_per_node_year", float, plain.rack_ops_per_node_year
            ),
            currency=cost.text("currency", plain.currency),
        ),
        irreplaceable=frozenset(export.model_list("irreplaceable")),
        replaceable=frozenset(export.model_list("replaceable")),
        model_aliases=models.table("aliases").aliases(),
        keymap=dict(top.table("keymap").texts()),
        scheduler=_scheduler(top.table("scheduler", {*Scheduler.__dataclass_fields__})),
        source=str(file),
    )


def _scheduler(table: _Table) -> Scheduler:
    kind = table.text("kind", "")
    if kind not in ("", *SCHEDULER_KINDS):
        raise table.fail("kind", kind, "not one of " + ", ".join(SCHEDULER_KINDS))
    teams = table.data.get("teams")
    if teams is not None and not (
        isinstance(teams, list) and all(isinstance(t, str) for t in teams)
    ):
        raise table.fail("teams", teams, "not a list of team names")
    names = dict(table.table("names").texts())
    named = {key: table.text(key, default) for key, default in SCHEDULER_NAMED.items()}
    for key, value in named.items():
        if value and not NAME.fullmatch(value):
            raise table.fail(key, value, NAME_RULE)
    for owner, name in names.items():
        if not NAME.fullmatch(name):
            raise table.table("names").fail(owner, name, NAME_RULE)
        if name == named["parent"]:
            raise table.table("names").fail(
                owner,
                name,
                "the parent account itself, which every team's goes under; name it otherwise",
            )
    for key, rule, why in (
        ("gres", GRES, "not a Slurm GRES type (letters, digits, _ . -)"),
        ("products", LABEL, "not a Kubernetes label value (letters, digits, - _ ., 63 at most)"),
    ):
        for model, value in table.table(key).texts():
            if not rule.fullmatch(value):
                raise table.table(key).fail(model, value, why)
    return Scheduler(
        kind=kind,
        cluster=named["cluster"],
        parent=named["parent"],
        cohort=named["cohort"],
        teams=None if teams is None else tuple(teams),
        names=names,
        gres=table.table("gres").by_model(str),
        products=table.table("products").by_model(str),
    )


class _Table:
    """One table of the file, read with errors that say `FILE: [table] key = value: why.`"""

    def __init__(self, file: Path, name: str, data: Any, known: set[str] | None = None):
        self.file, self.name, self.data = file, name, data
        if not isinstance(data, dict):
            raise UserError(f"{file}: {name} = {_shown(data)}: not a table.")
        unknown = sorted(data.keys() - known) if known is not None else []
        if unknown:
            where = f"[{name}] " if name else ""
            raise UserError(
                f"{file}: {where}{_quoted(unknown[0])} is not a setting; the settings here are "
                f"{', '.join(sorted(known or ()))}."
            )

    def fail(self, key: str, value: Any, why: str) -> UserError:
        return UserError(f"{self.file}: [{self.name}] {_quoted(key)} = {_shown(value)}: {why}.")

    def table(self, key: str, known: set[str] | None = None) -> _Table:
        name = f"{self.name}.{key}" if self.name else key
        return _Table(self.file, name, self.data.get(key, {}), known)

    def number(self, key: str, kind: type, default: Any, most: float | None = None) -> Any:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, value, "not a number")
        if kind is int and value != int(value):
            raise self.fail(key, value, "not a whole number")
        if value < 0:
            raise self.fail(key, value, "a negative number")
        if most is not None and value > most:
            raise self.fail(key, value, f"more than {most:,}")
        return kind(value)

    def text(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, value, "not a string")
        return value

    def numbers(self, kind: type, most: float | None = None) -> list[tuple[str, Any]]:
        return [(key, self.number(key, kind, None, most)) for key in self.data]

    def texts(self) -> list[tuple[str, str]]:
        return [(key, self.text(key, "")) for key in self.data]

    def by_model(self, kind: type, most: float | None = None) -> dict[str, Any]:
        """Model name -> number (or text), keyed by every catalogue model the name may mean."""
        return {
            spec.key: value
            for name, value in (self.texts() if kind is str else self.numbers(kind, most))
            for spec in self.models(name, value, name)
        }

    def model_list(self, key: str) -> list[str]:
        names = self.data.get(key, [])
        if not isinstance(names, list):
            raise self.fail(key, names, "not a list of model names")
        return [spec.key for name in names for spec in self.models(key, names, str(name))]

    def models(self, key: str, value: Any, name: str) -> list[catalogue.ModelSpec]:
        """The catalogue models `name` (written at `key = value`) may mean; at least one."""
        specs = catalogue.matching(name)
        if not specs:
            raise self.fail(key, value, f"unknown model {_shown(name)}")
        return specs

    def aliases(self) -> dict[str, str]:
        aliases = {}
        for name, target in self.texts():
            spec = catalogue.lookup(target)
            if spec is None:
                raise self.fail(
                    name,
                    target,
                    "not one catalogue model; use a name from `fleetui models`, "
                    "such as 'H800 SXM 80GB'",
                )
            aliases[catalogue.normalize(name)] = spec.key
        return aliases


def _quoted(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else in quotes."""
    return key if key and all(c.isalnum() or c in "_-" for c in key) else _shown(key)


def _shown(value: Any) -> str:
    """A value as TOML writes it, so the sentence quotes what the file says."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return str(value)


def irreplaceable(config: Config, spec: catalogue.ModelSpec) -> bool:
    """Whether cards of this model can no longer be bought (export rules), per the config."""
    if spec.key in config.replaceable:
        return False
    if spec.key in config.irreplaceable:
        return True
    return spec.export_class in ("controlled", "made_for_2022_rule")
