"""The built-in GPU/accelerator spec catalogue (fleetui/data/gpu_catalogue.csv).

Every row keeps its `source`; figures come from ../shared/reference/gpu_specs.csv. Compute per
card is the dense FP16/BF16 tensor figure (no sparsity), the number leadership counts.

Export classes:
- uncontrolled: below the ECCN 3A090 thresholds of the 2022 and 2023 rules.
- controlled: covered by the Oct 2022 rule or the Nov 2023 rule (`controlled_since`).
- made_for_2022_rule: China variants cut to pass the Oct 2022 rule (A800, H800), controlled
  since Nov 17 2023.
- made_for_2023_rule: variants cut to pass the 2023 rule (H20, L20, L2, RTX 4090 D).
- domestic: Chinese-made parts (Ascend, Biren, Moore Threads, Cambricon).
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from sqlalchemy import Engine, select

from fleetui.db.bulk import upsert
from fleetui.db.tables import GpuModel, table_of

EXPORT_CLASSES = (
    "uncontrolled",
    "controlled",
    "made_for_2022_rule",
    "made_for_2023_rule",
    "domestic",
)


@dataclass(frozen=True)
class ModelSpec:
    key: str
    vendor: str
    name: str
    nvml_names: tuple[str, ...]
    aliases: tuple[str, ...]
    memory_gb: float | None
    mem_bw_gbs: float | None
    fp16_tflops: float
    fp32_tflops: float | None
    fp64_tflops: float | None
    tdp_w: int | None
    interconnect: str
    launch_year: int | None
    list_price_usd: int | None
    tpp: int | None
    export_class: str
    controlled_since: date | None
    export_note: str
    source: str

    def row(self) -> dict[str, object]:
        """Column values for the gpu_model table."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values["nvml_names"] = ";".join(self.nvml_names)
        values["aliases"] = ";".join(self.aliases)
        return values


def _num(text: str, kind: type = float):
    return kind(float(text)) if text.strip() else None


def _parse(row: dict[str, str]) -> ModelSpec:
    return ModelSpec(
        key=row["key"],
        vendor=row["vendor"],
        name=row["name"],
        nvml_names=tuple(n for n in row["nvml_names"].split(";") if n),
        aliases=tuple(a for a in row["aliases"].split(";") if a),
        memory_gb=_num(row["memory_gb"]),
        mem_bw_gbs=_num(row["mem_bw_gbs"]),
        fp16_tflops=float(row["fp16_tflops"]),
        fp32_tflops=_num(row["fp32_tflops"]),
        fp64_tflops=_num(row["fp64_tflops"]),
        tdp_w=_num(row["tdp_w"], int),
        interconnect=row["interconnect"],
        launch_year=_num(row["launch_year"], int),
        list_price_usd=_num(row["list_price_usd"], int),
        tpp=_num(row["tpp"], int),
        export_class=row["export_class"],
        controlled_since=date.fromisoformat(row["controlled_since"])
        if row["controlled_since"]
        else None,
        export_note=row["export_note"],
        source=row["source"],
    )


@cache
def models() -> tuple[ModelSpec, ...]:
    """All catalogue entries, in file order."""
    text = resources.files("fleetui").joinpath("data/gpu_catalogue.csv").read_text("utf-8")
    return tuple(_parse(r) for r in csv.DictReader(text.splitlines()))


def normalize(name: str) -> str:
    """Lookup key: case, spaces and punctuation ignored; '80GB' and '80G' are the same."""
    key = re.sub(r"[^0-9a-z]", "", name.lower())
    return re.sub(r"(\d)gb", r"\1g", key)


_VENDOR_PREFIXES = ("nvidia", "tesla", "geforce", "amd", "instinct", "huawei", "ascend", "intel")
# Words that tell apart variants of one part: a short name without them may mean any variant.
VARIANT_WORDS = re.compile(r"sxm\d?|pcie|nvl|hbm\d?e?|\d+g")


def _keys(spec: ModelSpec) -> set[str]:
    names = {spec.key, spec.name, *spec.nvml_names, *spec.aliases}
    keys = {normalize(n) for n in names}
    for alias in spec.aliases:
        keys.add(normalize(f"{spec.vendor} {alias}"))
    for key in list(keys):
        for prefix in _VENDOR_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                keys.add(key[len(prefix) :])
    return keys


@cache  # the catalogue's names, compared pairwise once per process by _index()
def _words(name: str) -> frozenset[str]:
    """'NVIDIA A100-SXM4-80GB' -> {a100, sxm4, 80g}: vendor words dropped."""
    words = re.findall(r"[0-9a-z]+", re.sub(r"(\d)gb\b", r"\1g", name.lower()))
    return frozenset(w for w in words if w not in _VENDOR_PREFIXES)


def family(name: str) -> str:
    """A name less its vendor and variant words, as a lookup key: 'A100 PCIe 80GB' -> 'a100'."""
    words = re.findall(r"[0-9a-z]+", re.sub(r"(\d)gb\b", r"\1g", name.lower()))
    return "".join(w for w in words if w not in _VENDOR_PREFIXES and not VARIANT_WORDS.fullmatch(w))


def _fits(name: str, spec: ModelSpec) -> bool:
    """Whether one of the spec's names is `name` plus only variant words (H800 -> H800 PCIe)."""
    words = _words(name)
    return any(
        words <= (full := _words(n)) and all(VARIANT_WORDS.fullmatch(w) for w in full - words)
        for n in (spec.name, *spec.nvml_names, *spec.aliases)
    )


@cache
def _index() -> dict[str, tuple[ModelSpec, ...]]:
    """Lookup key -> the models it may mean. Keys, catalogue names and NVML names mean their
    own model; a short name (an alias, or a family: a name less its variant words) means every
    model it fits (`H800`: the SXM and the PCIe part; `A100`: each A100)."""
    exact: dict[str, list[ModelSpec]] = {}
    for spec in models():
        for name in (spec.key, spec.name, *spec.nvml_names):
            exact.setdefault(normalize(name), []).append(spec)
    index: dict[str, tuple[ModelSpec, ...]] = {}
    for spec in models():
        for key in _keys(spec) - set(exact):
            index[key] = tuple(dict.fromkeys([*index.get(key, ()), spec]))
    for spec in models():
        for alias in spec.aliases:
            fit = tuple(s for s in models() if s is not spec and _fits(alias, s))
            for key in _keys(spec) - set(exact):
                if key in (normalize(alias), normalize(f"{spec.vendor} {alias}")):
                    index[key] = tuple(dict.fromkeys([*index[key], *fit]))
    for spec in models():
        for name in (spec.name, *spec.nvml_names):
            if (key := family(name)) and key not in exact:
                index[key] = tuple(dict.fromkeys([*index.get(key, ()), spec]))
    return index | {k: tuple(dict.fromkeys(v)) for k, v in exact.items()}


def candidates(name: str, aliases: dict[str, str] | None = None) -> tuple[ModelSpec, ...]:
    """The models a name may mean; `aliases` (normalized name -> key, the config's
    [models.aliases]) settles the names a site uses for one model."""
    key = normalize(name)
    if aliases and key in aliases:
        return (by_key()[aliases[key]],)
    return _index().get(key, ())


def lookup(name: str, aliases: dict[str, str] | None = None) -> ModelSpec | None:
    """The model an NVML name, catalogue name, key or short name refers to; None when it
    refers to none or to several (`A100`, `H800`) and `aliases` does not settle it."""
    found = candidates(name, aliases)
    return found[0] if len(found) == 1 else None


@cache
def by_key() -> dict[str, ModelSpec]:
    return {s.key: s for s in models()}


def suggest(name: str) -> str | None:
    """The closest catalogue name to a name lookup() does not know: the closest one that
    starts with it where there is one (so never A10 for A100P, but A100 PCIe)."""
    index, key = _index(), normalize(name)
    longer = [k for k in index if k.startswith(key)]
    close = difflib.get_close_matches(key, longer or list(index), n=1, cutoff=0 if longer else 0.6)
    return index[close[0]][0].name if close else None


def matching(term: str, aliases: dict[str, str] | None = None) -> list[ModelSpec]:
    """Models a filter term names: the exact model when it is one, else every name containing it."""
    exact = lookup(term, aliases)
    if exact:
        return [exact]
    needle = normalize(term)
    if not needle or any(c.isalnum() and not c.isascii() for c in term):
        return []  # nothing left, or letters no catalogue name (all ASCII) contains
    return [s for s in models() if any(needle in k for k in _keys(s))]


def sync(engine: Engine) -> None:
    """Insert new catalogue entries and refresh changed ones (matched by key)."""
    wanted = {s.key: s.row() for s in models()}
    with engine.begin() as conn:
        have = {r["key"]: dict(r) for r in conn.execute(select(table_of(GpuModel))).mappings()}
        changed = [
            row
            for key, row in wanted.items()
            if key not in have or any(have[key].get(c) != v for c, v in row.items())
        ]
        if not changed:
            return
        table = table_of(GpuModel)
        stmt = upsert(conn, table)
        update = {c: stmt.excluded[c] for c in changed[0] if c != "key"}
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=update), changed)
