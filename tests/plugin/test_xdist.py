"""Under pytest-xdist the controller writes one BOM and matrix, equal to a serial run's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project, comparable_matrix

pytestmark = pytest.mark.needs("xdist")


def comparable_bom(path: Path) -> dict[str, Any]:
    bom = json.loads(path.read_text())
    bom.pop("serialNumber")
    bom["metadata"].pop("timestamp")
    return bom


def test_two_workers_give_the_same_bom_and_matrix_as_a_serial_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "notes.txt").write_text("release notes\n")
    serial = pytester.runpytest_subprocess("--mlsupply", "-p", "no:xdist")
    assert serial.ret == 0
    serial_bom = comparable_bom(project.root / "build" / "ml-bom.cdx.json")
    serial_matrix = comparable_matrix(project.root / "build" / "mlsupply-matrix.json")

    parallel = pytester.runpytest_subprocess("--mlsupply", "-n", "2")
    assert parallel.ret == 0
    parallel.stdout.fnmatch_lines(["*wrote build/ml-bom.cdx.json*"])
    assert comparable_bom(project.root / "build" / "ml-bom.cdx.json") == serial_bom
    assert comparable_matrix(project.root / "build" / "mlsupply-matrix.json") == serial_matrix


def test_n_0_behaves_as_a_serial_run(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest_subprocess("--mlsupply", "-n", "0")
    assert result.ret == 0
    assert (project.root / "build" / "mlsupply-matrix.md").is_file()


def test_a_crashed_workers_item_is_recorded_as_error_never_pass(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makeconftest(
        """
        import os

        def pytest_runtest_call(item):
            # Simulate a worker dying (e.g. OOM-killed) in the middle of one generated item.
            if "config.json::format" in item.nodeid and os.environ.get("PYTEST_XDIST_WORKER"):
                os._exit(3)
        """
    )
    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    cells = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert cells["tiny/config.json"]["format"] == "error"
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    props = [
        p
        for c in bom["components"]
        for f in c.get("components", [])
        if f["name"] == "config.json"
        for p in f.get("properties", [])
    ]
    assert {"name": "mlsupply:check:format", "value": "error"} in props


def test_an_invalid_manifest_stops_a_distributed_run_before_any_test(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest("version: 1\nmodles: []\n")
    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert (
        "mlsupply.yaml:2:1: modles: unknown key 'modles'"
        in result.stdout.str() + result.stderr.str()
    )
    assert "test_users_own_test" not in result.stdout.str()
