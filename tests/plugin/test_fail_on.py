"""The severity threshold: command line over ini over manifest policy; lower findings warn."""

from __future__ import annotations

import json
import struct

import pytest

from tests.conftest import Project, write_data_pickle


def cell(project: Project, subject: str, check: str) -> str:
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    return str({r["subject"]: r["cells"] for r in matrix["rows"]}[subject][check])


def test_findings_below_the_threshold_pass_their_item_but_show_as_warn(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "blob.dat").write_bytes(bytes(range(256)) * 4)
    result = pytester.runpytest("--mlsupply")
    assert result.ret == 0
    assert cell(project, "tiny/blob.dat", "format") == "warn"
    assert "MLS-FMT-003" in (project.root / "build" / "mlsupply-matrix.json").read_text()


def test_the_command_line_threshold_beats_the_manifest_policy(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="policy: {fail_on: critical}")
    write_data_pickle(project.model_dir / "extra.bin")
    lenient = pytester.runpytest("--mlsupply")
    assert lenient.ret == 0
    assert cell(project, "tiny/extra.bin", "format") == "warn"
    strict = pytester.runpytest("--mlsupply", "--mlsupply-fail-on", "high")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    assert cell(project, "tiny/extra.bin", "format") == "fail"


def test_the_ini_threshold_beats_the_manifest_and_loses_to_the_command_line(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "blob.dat").write_bytes(bytes(range(256)) * 4)
    pytester.makeini("[pytest]\nmlsupply_fail_on = low\n")
    assert pytester.runpytest("--mlsupply").ret == pytest.ExitCode.TESTS_FAILED
    assert cell(project, "tiny/blob.dat", "format") == "fail"
    assert pytester.runpytest("--mlsupply", "--mlsupply-fail-on", "medium").ret == 0


def test_an_unknown_ini_threshold_is_a_usage_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makeini("[pytest]\nmlsupply_fail_on = severe\n")
    result = pytester.runpytest_subprocess("--mlsupply")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*mlsupply_fail_on = 'severe' is not one of*"])


def test_an_unknown_command_line_threshold_is_refused(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest_subprocess("--mlsupply", "--mlsupply-fail-on", "severe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_an_unknown_command_line_threshold_is_refused_with_the_plugin_off_too(
    pytester: pytest.Pytester,
) -> None:
    # The value is checked when the option is parsed, not when the gate reads it.
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("--mlsupply-fail-on", "severe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--mlsupply-fail-on: invalid choice: 'severe' (choose from 'critical', 'high'*"]
    )


def test_a_model_safetensors_with_an_absurd_header_length_fails_the_gate_even_at_critical(
    pytester: pytest.Pytester, project: Project
) -> None:
    # A header length of 2^63: identified as nothing. The format check's finding is high (a
    # warning under fail_on: critical); the scan could read none of it, so it is an error.
    weights = project.model_dir / "model.safetensors"
    weights.write_bytes(struct.pack("<Q", 1 << 63) + b'{"w": {}}' + b"\0" * 64)
    project.default_manifest(top="policy: {fail_on: critical}")  # pinned to these bytes

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert cell(project, "tiny/model.safetensors", "format") == "warn"
    assert cell(project, "tiny/model.safetensors", "scan") == "error"
    result.stdout.fnmatch_lines(["*tiny/model.safetensors: named .safetensors*unrecognised data*"])
