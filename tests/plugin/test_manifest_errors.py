"""A bad manifest is a collection error naming file:line:column, key and fix; nothing runs."""

from __future__ import annotations

import pytest

from tests.conftest import Project


def test_manifest_problems_are_reported_before_any_item_runs_without_a_traceback(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest(
        """\
        version: 1
        policy:
          fail_on: severe
        models:
          - name: tiny
            source: hf://acme/tiny@main
            flies: {}
        """
    )
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting mlsupply.yaml*",
            "mlsupply.yaml is invalid (3 problems):",
            "*mlsupply.yaml:3:12: policy.fail_on: 'severe' is not one of: critical, high, medium, low",
            "*fix: write one of: critical, high, medium, low",
            "*mlsupply.yaml:6:13: models?0?.source: revision 'main' is mutable*",
            "*fix: pin the 40-hex commit it points to*",
            "*mlsupply.yaml:7:5: models?0?.flies: unknown key 'flies'",
            "*fix: did you mean 'files'?",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out
    assert "loader.py" not in out
    assert "test_users_own_test PASSED" not in out
    assert not (project.root / "build").exists()


def test_a_yaml_syntax_error_names_its_position(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest("version: 1\nmodels:\n  - name: [unclosed\n")
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*mlsupply.yaml:4:1: YAML syntax error*"])


def test_a_model_path_that_does_not_exist_is_named_with_its_key(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest("version: 1\nmodels:\n  - name: gone\n    path: models/gone\n")
    result = pytester.runpytest("--mlsupply")
    result.stdout.fnmatch_lines(
        ["*mlsupply.yaml:4:11: models[[]0[]].path: directory 'models/gone' does not exist*"]
    )
