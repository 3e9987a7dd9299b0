"""Session-end reports: a validated ML-BOM, the matrix, the summary, and their failure mode."""

from __future__ import annotations

import hashlib
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import Project


def test_the_bom_validates_and_describes_the_model_files_and_libraries(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply")
    assert result.ret == 0
    text = (project.root / "build" / "ml-bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["name"] == "tiny-service"
    assert bom["metadata"]["component"]["version"] == "1.2.3"
    model = next(c for c in bom["components"] if c["type"] == "machine-learning-model")
    files = {f["name"]: f for f in model["components"]}
    weights = (project.model_dir / "model.safetensors").read_bytes()
    assert files["model.safetensors"]["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(weights).hexdigest()}
    ]
    assert {"name": "mlsupply:check:sha256", "value": "pass"} in files["model.safetensors"][
        "properties"
    ]
    assert model["modelCard"]["modelParameters"]["task"] == "text-classification"
    purls = {c.get("purl") for c in bom["components"] if c["type"] == "library"}
    assert {"pkg:pypi/numpy@2.1.0", "pkg:pypi/safetensors@0.4.5"} <= purls


def test_output_options_choose_where_reports_go_and_xml_is_written_on_request(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest(
        "--mlsupply",
        "--mlsupply-bom",
        "out/bom.json",
        "--mlsupply-bom-xml",
        "out/bom.xml",
        "--mlsupply-matrix",
        "out/matrix",
    )
    assert result.ret == 0
    out = project.root / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "bom.json",
        "bom.xml",
        "matrix.json",
        "matrix.md",
    ]
    assert "<bom " in (out / "bom.xml").read_text()
    assert (
        json.loads((out / "bom.json").read_text())["serialNumber"] in (out / "bom.xml").read_text()
    )
    result.stdout.fnmatch_lines(["*wrote out/bom.json*", "*wrote out/matrix.md*"])


def test_manifest_output_paths_are_used_relative_to_the_manifest(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="output: {bom: release/ml.cdx.json, matrix: release/m}")
    assert pytester.runpytest("--mlsupply").ret == 0
    assert (project.root / "release" / "ml.cdx.json").is_file()
    assert (project.root / "release" / "m.md").is_file()


def test_the_terminal_summary_counts_verdicts_and_names_the_files(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply")
    result.stdout.fnmatch_lines(
        [
            "*= mlsupply =*",
            "checks: * pass, 0 fail, * warn, 0 error, 0 not run (fail at high and above)",
            "wrote build/ml-bom.cdx.json",
        ]
    )


def test_a_bom_that_cannot_be_written_gives_its_own_exit_status_and_keeps_the_old_file(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "build").mkdir()
    (project.root / "build" / "ml-bom.cdx.json").mkdir()  # a directory where the file goes
    result = pytester.runpytest_subprocess("--mlsupply")
    assert result.ret == 6
    result.stdout.fnmatch_lines(["*ERROR: cannot write*ml-bom.cdx.json*(exit status 6)*"])
    assert (project.root / "build" / "ml-bom.cdx.json").is_dir()
    assert not [p for p in (project.root / "build").iterdir() if p.name.startswith(".")]


def test_collect_only_writes_no_reports(pytester: pytest.Pytester, project: Project) -> None:
    pytester.runpytest("--mlsupply", "--collect-only")
    assert not (project.root / "build").exists()
