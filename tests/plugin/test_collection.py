"""Generated items: readable node ids, stable order, and pytest's selection options work on them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import Project, write_pickle_payload


def collected_ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def test_items_are_added_when_the_user_runs_only_the_tests_directory(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "tests/", "--collect-only", "-q")
    ids = collected_ids(result)
    assert "tests/test_user.py::test_users_own_test" in ids
    assert "mlsupply.yaml::artifact[tiny/model.safetensors::sha256]" in ids
    assert "mlsupply.yaml::dependency[numpy==2.1.0]" in ids
    assert "mlsupply.yaml::provenance[tiny::model-card]" in ids


def test_naming_the_manifest_explicitly_does_not_duplicate_its_items(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "mlsupply.yaml", "--collect-only", "-q")
    ids = collected_ids(result)
    assert len(ids) == len(set(ids))
    assert "mlsupply.yaml::dependency[numpy==2.1.0]" in ids
    assert "tests/test_user.py::test_users_own_test" not in ids


def test_running_everything_from_the_rootdir_does_not_duplicate_items(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "--collect-only", "-q")
    ids = collected_ids(result)
    assert len(ids) == len(set(ids))
    assert ids.count("mlsupply.yaml::provenance[tiny::model-card]") == 1


def test_items_come_in_a_stable_sorted_order(pytester: pytest.Pytester, project: Project) -> None:
    (project.model_dir / "zz_last.json").write_text("{}")
    (project.model_dir / "aa_first.json").write_text("{}")
    first = collected_ids(pytester.runpytest("--mlsupply", "--collect-only", "-q"))
    second = collected_ids(pytester.runpytest("--mlsupply", "--collect-only", "-q"))
    generated = [i for i in first if i.startswith("mlsupply.yaml::")]
    assert first == second
    artifact_ids = [i for i in generated if "::artifact[" in i]
    assert artifact_ids == sorted(artifact_ids)
    kinds = [i.split("::")[1].split("[")[0] for i in generated]
    assert kinds == sorted(kinds, key=["artifact", "dependency", "provenance"].index)


def test_a_node_id_selects_exactly_one_generated_item(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "mlsupply.yaml::dependency[numpy==2.1.0]", "-q")
    result.assert_outcomes(passed=1)


def test_k_expressions_and_deselect_work_on_generated_items(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest(
        "--mlsupply",
        "-k",
        "sha256",
        "--deselect",
        "mlsupply.yaml::artifact[tiny/config.json::sha256]",
        "-v",
    )
    out = result.stdout.str()
    assert "artifact[tiny/model.safetensors::sha256] PASSED" in out
    assert "config.json::sha256" not in out.split("short test summary")[0].split("deselected")[-1]
    assert "::format]" not in out
    assert result.ret == 0


def test_lf_reruns_only_the_generated_item_that_failed(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "extra.bin")
    first = pytester.runpytest("--mlsupply")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    rerun = pytester.runpytest("--mlsupply", "--lf", "-v")
    rerun.stdout.fnmatch_lines(
        ["*artifact?tiny/extra.bin::format? FAILED*", "*artifact?tiny/extra.bin::scan? FAILED*"]
    )
    rerun.assert_outcomes(failed=2)


def test_x_stops_at_the_first_failing_item_and_leaves_the_rest_not_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "extra.bin")
    result = pytester.runpytest("--mlsupply", "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    matrix = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "not run" in matrix


def test_junitxml_records_generated_items_with_their_verdicts(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "extra.bin")
    pytester.runpytest("--mlsupply", "--junitxml=report.xml")
    tree = ET.parse(project.root / "report.xml")
    cases = {c.get("name"): c for c in tree.iter("testcase")}
    failing = cases["artifact[tiny/extra.bin::format]"]
    assert failing.find("failure") is not None
    assert "MLS-FMT-001" in (failing.find("failure").text or "")  # type: ignore[union-attr]
    props = {p.get("name"): p.get("value") for p in failing.iter("property")}
    assert props["mlsupply:format"] == "fail"


def test_a_config_path_outside_the_rootdir_is_used_and_named_in_node_ids(
    pytester: pytest.Pytester, project: Project
) -> None:
    target = project.root / "ci" / "supply.yaml"
    target.parent.mkdir()
    text = (project.root / "mlsupply.yaml").read_text().replace("models/tiny", "../models/tiny")
    text = text.replace("file: requirements.txt", "file: ../requirements.txt")
    text = text.replace("path: osv", "path: ../osv")
    target.write_text(text)
    (project.root / "mlsupply.yaml").unlink()
    result = pytester.runpytest(
        "--mlsupply", "--mlsupply-config", "ci/supply.yaml", "--collect-only", "-q"
    )
    assert "ci/supply.yaml::dependency[numpy==2.1.0]" in collected_ids(result)


def test_a_node_id_with_a_check_name_selects_exactly_that_artifact_item(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest(
        "--mlsupply", "mlsupply.yaml::artifact[tiny/model.safetensors::sha256]", "-v"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*artifact?tiny/model.safetensors::sha256? PASSED*"])


def test_a_manifest_named_through_a_symlink_is_collected_once(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "link.yaml").symlink_to(project.root / "mlsupply.yaml")
    result = pytester.runpytest("--mlsupply", "link.yaml", "--collect-only", "-q")
    ids = collected_ids(result)
    assert "link.yaml::dependency[numpy==2.1.0]" in ids
    assert not [i for i in ids if i.startswith("mlsupply.yaml::")]
