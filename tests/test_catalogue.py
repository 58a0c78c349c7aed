"""The spec catalogue: coverage of the sourced reference, lookups, compute figures."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import select, update

from fleetui import catalogue
from fleetui.core import units
from fleetui.db.tables import GpuModel
from tests.conftest import SHARED

REFERENCE = SHARED / "reference" / "gpu_specs.csv"


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is not beside the repo")
def test_every_reference_model_with_an_fp16_figure_is_in_the_catalogue_with_its_source():
    rows = [r for r in csv.DictReader(REFERENCE.open()) if r["fp16_dense_tflops"].strip()]
    shipped = {s.source for s in catalogue.models()}
    missing = [r["model"] for r in rows if r["source"] not in shipped]
    assert missing == []
    assert len(catalogue.models()) == len(rows)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm5-80gb"),
        ("Tesla V100-SXM2-32GB", "v100-sxm2-32gb"),
        ("NVIDIA H800", "h800-sxm"),
        ("A100 SXM 80G", "a100-sxm4-80gb"),
        ("a100 sxm4 80gb", "a100-sxm4-80gb"),
        ("H800 SXM", "h800-sxm"),
        ("H100 80GB HBM3", "h100-sxm5-80gb"),
        ("RTX 4090", "rtx-4090"),
        ("H20", "h20"),
        ("910B", "ascend-910b"),
        ("MI300X", "mi300x"),
        ("NVIDIA A100 80GB PCIe", "a100-pcie-80gb"),
        ("NVIDIA L40S", "l40s"),
    ],
)
def test_lookup_by_nvml_name_and_by_the_short_names_people_type(typed, expected):
    spec = catalogue.lookup(typed)
    assert spec is not None and spec.key == expected


def test_a_name_shared_by_several_models_names_none_but_filters_match_all():
    assert catalogue.lookup("A100") is None
    assert {s.key for s in catalogue.matching("a100")} == {
        "a100-pcie-40gb",
        "a100-pcie-80gb",
        "a100-sxm4-40gb",
        "a100-sxm4-80gb",
    }


@pytest.mark.parametrize(
    ("typed", "fits"),
    [
        ("H800", {"h800-sxm", "h800-pcie"}),
        ("A800 80G", {"a800-sxm4-80gb", "a800-pcie-80gb"}),
        ("A100 80G", {"a100-sxm4-80gb", "a100-pcie-80gb"}),
        ("H100", {"h100-sxm5-80gb", "h100-pcie", "h100-nvl"}),
        ("V100", {"v100-sxm2-32gb", "v100-pcie-32gb"}),
    ],
)
def test_a_short_name_that_fits_an_sxm_and_a_pcie_part_picks_neither(typed, fits):
    assert catalogue.lookup(typed) is None
    assert {s.key for s in catalogue.candidates(typed)} == fits
    settled = {catalogue.normalize(typed): sorted(fits)[0]}
    assert catalogue.lookup(typed, settled).key == sorted(fits)[0]


def test_unknown_model_suggests_the_closest_entry():
    assert catalogue.lookup("A10O 80G") is None
    assert catalogue.suggest("A10O 80G") == "A100 SXM4 80GB"


def test_compute_is_dense_fp16_and_export_classes_follow_the_rules():
    h100 = catalogue.lookup("H100 SXM")
    assert h100.fp16_tflops == 989 and h100.tpp == 15832
    assert catalogue.lookup("H800 PCIe").export_class == "made_for_2022_rule"
    assert str(catalogue.lookup("A800 SXM").controlled_since) == "2023-11-17"
    assert catalogue.lookup("H20").export_class == "made_for_2023_rule"
    assert catalogue.lookup("L20").export_class == "made_for_2023_rule"
    assert all(s.export_class in catalogue.EXPORT_CLASSES for s in catalogue.models())
    assert all(s.source for s in catalogue.models())


def test_totals_read_in_pflops_then_eflops():
    assert units.compute(8 * 989) == "7.9 PFLOPS"
    assert units.compute(1_000_000 * 989) == "989.00 EFLOPS"


def test_opening_a_database_repairs_a_changed_catalogue_row(engine):
    with engine.begin() as conn:
        conn.execute(update(GpuModel).where(GpuModel.key == "h20").values(fp16_tflops=1.0))
    catalogue.sync(engine)
    with engine.connect() as conn:
        assert (
            conn.execute(select(GpuModel.fp16_tflops).where(GpuModel.key == "h20")).scalar() == 148
        )
        assert conn.execute(select(GpuModel.id)).all().__len__() == len(catalogue.models())


def test_every_family_name_that_fits_several_parts_lists_them():
    """`A100` fits four parts as `H800` fits two: a short name never picks one."""
    exact = {
        catalogue.normalize(n) for s in catalogue.models() for n in (s.key, s.name, *s.nvml_names)
    }
    families: dict[str, set[str]] = {}
    for spec in catalogue.models():
        for name in (spec.name, *spec.nvml_names):
            families.setdefault(catalogue.family(name), set()).add(spec.key)
    shared = {f: keys for f, keys in families.items() if len(keys) > 1 and f not in exact}
    assert "a100" in shared and "h800" in shared
    for name, keys in shared.items():
        assert {s.key for s in catalogue.candidates(name)} == keys, name
        assert catalogue.lookup(name) is None


def test_a_suggestion_for_a_cut_short_name_is_a_name_it_begins():
    """`A100P` is answered with an A100 PCIe, never with a shorter name (A10) or a neighbour."""
    index = catalogue._index()
    for key in index:
        for cut in (key[:n] for n in range(3, len(key))):
            if cut not in index:
                suggested = catalogue.lookup(catalogue.suggest(cut) or "")
                assert any(k.startswith(cut) and suggested in index[k] for k in index), cut
