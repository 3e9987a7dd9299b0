"""``mlsupply_results``: a test can assert on the session's supply-chain results."""

from __future__ import annotations

import pytest

from tests.conftest import Project, write_model


def test_a_test_can_assert_on_the_manifests_verdicts_findings_and_models(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makepyfile(
        test_supply_chain_results="""
        import pytest
        from pytest_mlsupply.results import Severity

        def test_verdicts(mlsupply_results):
            assert mlsupply_results.verdicts("tiny/model.safetensors") == {
                "sha256": "pass", "format": "pass", "scan": "pass"
            }
            assert mlsupply_results.verdicts()["numpy==2.1.0::pinned"] == "pass"
            assert mlsupply_results.verdicts("tiny")["model-card"] == "pass"
            assert mlsupply_results.failing() == []
            assert mlsupply_results.threshold is Severity.HIGH

        def test_findings(mlsupply_results):
            unpinned = mlsupply_results.findings("tiny", check="sha256")
            assert {f.rule for f in unpinned} == {"MLS-PIN-003"}  # config.json, README.md
            assert mlsupply_results.findings(min_severity=Severity.HIGH) == []

        def test_models(mlsupply_results, pytestconfig):
            tiny = mlsupply_results.model("tiny")
            assert tiny.origin == "manifest"
            assert tiny.root == pytestconfig.rootpath / "models" / "tiny"
            assert "model.safetensors" in tiny.files
            assert mlsupply_results.models == ("tiny",)
            with pytest.raises(KeyError, match="no model named 'nope'; known: tiny"):
                mlsupply_results.model("nope")
        """
    )
    result = pytester.runpytest("test_supply_chain_results.py")
    result.assert_outcomes(passed=3)


def test_the_results_show_a_tampered_file_and_are_computed_once_per_session(
    pytester: pytest.Pytester, project: Project
) -> None:
    data = bytearray((project.model_dir / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (project.model_dir / "model.safetensors").write_bytes(bytes(data))
    pytester.makepyfile(
        test_supply_chain_results="""
        seen = []

        def test_first(mlsupply_results):
            seen.append(mlsupply_results)
            assert mlsupply_results.failing() == ["tiny/model.safetensors::sha256"]
            [finding] = mlsupply_results.findings("tiny/model.safetensors", check="sha256")
            assert finding.rule == "MLS-PIN-001"

        def test_second(mlsupply_results):
            assert mlsupply_results is seen[0]
        """
    )
    result = pytester.runpytest("test_supply_chain_results.py")
    result.assert_outcomes(passed=2)


def test_marked_models_verified_in_the_session_are_in_the_results(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_model(pytester.path / "models" / "extra", seed=3)
    pytester.makepyfile(
        test_supply_chain_results="""
        import pytest

        @pytest.mark.model_artifact("models/extra", checks=["sha256"])
        def test_marked(mlsupply_results, model_artifact):
            extra = mlsupply_results.model("extra")
            assert extra.origin == "marker"
            assert extra.root == model_artifact
            assert mlsupply_results.verdicts("extra/model.safetensors") == {"sha256": "pass"}
            assert "tiny" in mlsupply_results.models
        """
    )
    result = pytester.runpytest("test_supply_chain_results.py")
    result.assert_outcomes(passed=1)


def test_an_invalid_manifest_fails_the_test_that_asks_for_results_with_the_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest("version: 2\n")
    pytester.makepyfile(
        test_supply_chain_results="""
        def test_results(mlsupply_results):
            mlsupply_results.verdicts()
        """
    )
    result = pytester.runpytest("test_supply_chain_results.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*mlsupply_results: the manifest is invalid:*", "*version*"])
    assert "Traceback" not in result.stdout.str()
