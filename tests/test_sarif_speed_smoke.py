"""The SARIF speed benchmark runs end to end on a small gate and reports every figure it promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sarif_benchmark_measures_the_render_and_its_baselines() -> None:
    spec = importlib.util.spec_from_file_location(
        "sarif_speed", ROOT / "benchmarks" / "sarif_speed.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    figures = module.measure(files=20, repeat=1)

    assert set(figures) == {
        "files",
        "render",
        "render_plain",
        "write_lines",
        "write_indent2",
        "matrix_json",
        "build_context",
        "placed_over_plain",
        "indent2_over_lines",
    }
    assert figures["files"] == 20
    assert all(value > 0 for value in figures.values())
