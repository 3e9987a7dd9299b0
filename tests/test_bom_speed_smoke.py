"""The BOM speed benchmark runs end to end on a small BOM and reports every figure it promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_bom_benchmark_measures_build_validation_and_the_reference_baseline() -> None:
    spec = importlib.util.spec_from_file_location("bom_speed", ROOT / "benchmarks" / "bom_speed.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    figures = module.measure(components=20, repeat=1, first_build=False)

    assert set(figures) == {
        "components",
        "build",
        "validate_json",
        "build_and_validate",
        "library_build_and_validate",
        "validate_xml",
        "render_xml_and_validate",
        "library_render_xml_and_validate",
        "reference_validate_json",
    }
    assert figures["components"] == 20
    assert all(seconds > 0 for seconds in figures.values())
