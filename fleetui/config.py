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

    [cost] currency is also the currency of imported prices that name none.

The defaults are those numbers. A model counts as irreplaceable when its export class says it
can no longer be bought here (controlled, or a made-for-a-rule variant now controlled), unless
the config lists it under [export] replaceable.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetui import catalogue
from fleetui.core.errors import UserError


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


@dataclass(frozen=True)
class Config:
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    cost: Cost = field(default_factory=Cost)
    irreplaceable: frozenset[str] = frozenset()  # catalogue keys added by the config
    replaceable: frozenset[str] = frozenset()  # catalogue keys the config takes out
    model_aliases: dict[str, str] = field(default_factory=dict)  # normalized name -> key
    source: str = "defaults"


def path() -> Path:
    if os.environ.get("FLEETUI_CONFIG"):
        return Path(os.environ["FLEETUI_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetui" / "config.toml"


def load(file: Path | None = None) -> Config:
    """The config, or the defaults when there is no file; UserError for a broken one."""
    file = file or path()
    if not file.exists():
        return Config()
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{file} is not valid TOML: {exc}.") from None
    try:
        life = data.get("lifecycle", {})
        cost = data.get("cost", {})
        export = data.get("export", {})
        return Config(
            lifecycle=Lifecycle(
                warranty_months=int(life.get("warranty_months", 12)),
                service_life_years=float(life.get("service_life_years", 5)),
                salvage_fraction=float(life.get("salvage_fraction", 0.10)),
                expiring_days=int(life.get("expiring_days", 90)),
                warranty_months_by_model=_by_model(life.get("warranty_months_by_model", {}), int),
                warranty_months_by_supplier={
                    k.lower(): int(v)
                    for k, v in life.get("warranty_months_by_supplier", {}).items()
                },
                service_life_by_model=_by_model(life.get("service_life_by_model", {}), float),
            ),
            cost=Cost(**{k: v for k, v in cost.items() if k in Cost.__dataclass_fields__}),
            irreplaceable=frozenset(_keys(export.get("irreplaceable", []))),
            replaceable=frozenset(_keys(export.get("replaceable", []))),
            model_aliases=_aliases(file, data.get("models", {}).get("aliases", {})),
            source=str(file),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{file}: a setting has the wrong type ({exc}).") from None


def _keys(names: list[str]) -> list[str]:
    keys = []
    for name in names:
        specs = catalogue.matching(str(name))
        if not specs:
            raise ValueError(f"unknown model {name!r}")
        keys += [s.key for s in specs]
    return keys


def _aliases(file: Path, table: dict[str, str]) -> dict[str, str]:
    aliases = {}
    for name, target in table.items():
        spec = catalogue.lookup(str(target))
        if spec is None:
            raise UserError(
                f"{file}: [models.aliases] {name!r} = {target!r} does not name one catalogue "
                "model; use a name from `fleetui models`, such as 'H800 SXM 80GB'."
            )
        aliases[catalogue.normalize(name)] = spec.key
    return aliases


def _by_model(table: dict[str, Any], kind) -> dict[str, Any]:
    return {key: kind(value) for name, value in table.items() for key in _keys([name])}


def irreplaceable(config: Config, spec: catalogue.ModelSpec) -> bool:
    """Whether cards of this model can no longer be bought (export rules), per the config."""
    if spec.key in config.replaceable:
        return False
    if spec.key in config.irreplaceable:
        return True
    return spec.export_class in ("controlled", "made_for_2022_rule")
