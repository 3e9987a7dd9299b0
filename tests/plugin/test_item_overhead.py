"""What keeps a gate of thousands of items cheap per item cannot change what the gate reports.

A serial run records each item's results from the item itself (no copy serialised onto every
test report), and the cyclic garbage collector is paused while the reports are built, then
restored whatever happens. Speed itself is measured in ``benchmarks/speed.py`` (target (d)).
"""

from __future__ import annotations

import gc
import json

import pytest

from pytest_mlsupply.plugin.session import collector_paused
from tests.conftest import Project

CARRIED = """
def pytest_runtest_logreport(report):
    if report.when == "call" and "::artifact[" in report.nodeid:
        with open("carried.txt", "a") as handle:
            handle.write(f"{hasattr(report, 'mlsupply')}\\n")


def pytest_unconfigure(config):
    import gc

    with open("collector.txt", "w") as handle:
        handle.write(str(gc.isenabled()))
"""


def test_a_serial_gate_records_every_result_without_a_serialised_copy_on_its_reports(
    pytester: pytest.Pytester, project: Project
) -> None:
    weights = project.model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: the pin no longer matches
    weights.write_bytes(bytes(data))
    pytester.makeconftest(CARRIED)

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    carried = (project.root / "carried.txt").read_text().split()
    assert carried
    assert set(carried) == {"False"}
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    cells = {row["subject"]: row["cells"] for row in matrix["rows"]}
    # The failing item's own results reached the matrix (a finding, not "no result reported").
    assert cells["tiny/model.safetensors"]["sha256"] == "fail"
    assert cells["tiny/config.json"]["format"] == "pass"
    assert matrix["counts"]["not run"] == 0
    rules = {(f["subject"], f["rule"]) for f in matrix["findings"]}
    assert ("tiny/model.safetensors", "MLS-PIN-001") in rules
    assert not matrix["errors"]
    # The collector paused for the reports is running again when the session ends.
    assert (project.root / "collector.txt").read_text() == "True"


def test_the_collector_is_off_while_the_reports_are_built_and_back_on_after() -> None:
    assert gc.isenabled()

    with collector_paused():
        inside = gc.isenabled()

    assert inside is False
    assert gc.isenabled()


def test_a_report_that_fails_to_build_still_turns_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError, match="boom"), collector_paused():
        raise RuntimeError("boom")

    assert gc.isenabled()


def test_a_collector_that_was_already_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
