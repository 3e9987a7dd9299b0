"""``pytest --mlsupply`` on a project that depends on a look-alike: the dependency item fails."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project


def test_a_typosquatted_requirement_fails_its_dependency_item_naming_the_real_project(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "requirements.txt").write_text("numpy==2.1.0\ntransfomers==4.45.0\n")

    result = pytester.runpytest("--mlsupply", "-k", "dependency")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*dependency check 'typosquat' on transfomers==4.45.0: FAIL*",
            "*[[]HIGH[]] MLS-DEP-020 'transfomers' looks like the popular project 'transformers'*",
            "*where: requirements.txt, line 2*",
            "*evidence: 'transfomers' vs 'transformers': omitted 'r'*",
            "*CWE-829*",
        ]
    )
    result.assert_outcomes(passed=1, failed=1)
    assert "Traceback" not in result.stdout.str()
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    rows = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert rows["transfomers==4.45.0"]["typosquat"] == "fail"
    assert rows["numpy==2.1.0"]["typosquat"] == "pass"
