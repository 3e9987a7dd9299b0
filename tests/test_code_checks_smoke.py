"""The code-checks benchmark runs end to end on a few files and reports every figure it promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_code_checks_benchmark_measures_the_engine_against_parsing_alone() -> None:
    spec = importlib.util.spec_from_file_location(
        "code_checks", ROOT / "benchmarks" / "code_checks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    figures = module.measure(limit=5)

    assert "stdlib" in figures
    assert figures["all"]["files"] == sum(
        tree["files"] for label, tree in figures.items() if label != "all"
    )
    for tree in figures.values():
        assert tree["analyse_median_ms"] > 0
        assert tree["files_per_s"] > 0
        assert tree["analyse_over_parse"] > 0
