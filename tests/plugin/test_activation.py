"""The plugin is registered by installation, inert until asked, and removable with -p no:."""

from __future__ import annotations

import pytest

from tests.conftest import Project


def test_it_adds_no_items_and_writes_nothing_without_the_flag(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert not (project.root / "build").exists()
    assert "mlsupply.yaml::" not in result.stdout.str()


def test_the_flag_adds_generated_items_beside_the_users_tests(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest_subprocess("--mlsupply", "-v")
    result.stdout.fnmatch_lines(
        [
            "*tests/test_user.py::test_users_own_test PASSED*",
            "*mlsupply.yaml::artifact?tiny/model.safetensors::sha256? PASSED*",
        ]
    )
    assert result.ret == 0


def test_the_ini_key_turns_it_on_without_the_flag(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makeini("[pytest]\nmlsupply = true\n")
    result = pytester.runpytest_subprocess("-v")
    result.stdout.fnmatch_lines(["*mlsupply.yaml::provenance?tiny::model-card? PASSED*"])


def test_p_no_mlsupply_removes_the_plugin_and_its_options(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest_subprocess("-p", "no:mlsupply", "--mlsupply")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --mlsupply*"])


def test_marker_and_ini_keys_are_registered_even_when_off(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makeini("[pytest]\nmlsupply_fail_on = high\nmlsupply_config = mlsupply.yaml\n")
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "--strict-config", "test_marked.py")
    result.assert_outcomes(passed=1)


def test_a_missing_manifest_is_a_usage_error_that_names_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess("--mlsupply")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no manifest at*mlsupply.yaml*--mlsupply-config PATH*"])
