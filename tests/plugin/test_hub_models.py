"""A pinned hub model resolves from the local Hugging Face cache offline and lands in the BOM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project, build_hub_cache

COMMIT = "86b5e0934494bd15c9632b12f734a8a67f723594"


def test_a_pinned_hub_model_is_checked_from_the_offline_cache_and_gets_a_purl(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    model_files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    build_hub_cache(cache, "acme/tiny-bert", COMMIT, model_files)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project.manifest(
        f"""\
        version: 1
        models:
          - name: tiny
            source: hf://acme/tiny-bert@{COMMIT}
        """
    )
    result = pytester.runpytest_subprocess("--mlsupply", "-v")
    result.stdout.fnmatch_lines(["*artifact?tiny/model.safetensors::sha256? PASSED*"])
    assert result.ret == 0
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    model = next(c for c in bom["components"] if c["type"] == "machine-learning-model")
    assert model["purl"] == f"pkg:huggingface/acme/tiny-bert@{COMMIT}"
    assert {f["name"] for f in model["components"]} == set(model_files)


def test_a_hub_model_missing_from_the_cache_fails_closed_with_the_download_command(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty-cache").mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project.manifest(
        f"""\
        version: 1
        models:
          - name: tiny
            source: hf://acme/tiny-bert@{COMMIT}
        """
    )
    result = pytester.runpytest_subprocess("--mlsupply", "-v")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*artifact?tiny::resolve? FAILED*",
            f"*could not complete: hf://acme/tiny-bert@{COMMIT} is not in the local Hugging Face "
            f"cache; download it first with `hf download acme/tiny-bert --revision {COMMIT}`*",
        ]
    )


def _model_component(bom_path: Path, name: str) -> dict[str, Any]:
    bom = json.loads(bom_path.read_text())
    return next(c for c in bom["components"] if c.get("bom-ref") == f"model:{name}")


def _properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def test_offline_a_branch_allowed_by_policy_is_recorded_in_the_bom_as_the_cached_commit(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    model_files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    build_hub_cache(cache, "acme/tiny-bert", COMMIT, model_files)  # refs/main -> COMMIT
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project.manifest(
        """\
        version: 1
        policy: {require_pins: false}
        models:
          - name: tiny
            source: hf://acme/tiny-bert@main
        """
    )
    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:cacheprovider")
    assert result.ret == 0
    model = _model_component(project.root / "build" / "ml-bom.cdx.json", "tiny")
    assert model["version"] == COMMIT
    assert model["purl"] == f"pkg:huggingface/acme/tiny-bert@{COMMIT}"
    assert _properties(model)["mlsupply:source"] == f"hf://acme/tiny-bert@{COMMIT}"
    assert _properties(model)["mlsupply:declared-revision"] == "main"
    assert "main" not in json.dumps({k: v for k, v in model.items() if k != "properties"})


def test_offline_a_marker_on_a_branch_allowed_by_policy_is_recorded_in_the_bom_as_the_commit(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    model_files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    build_hub_cache(cache, "acme/tiny-bert", COMMIT, model_files)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project.manifest("version: 1\npolicy: {require_pins: false}\n")
    pytester.makepyfile(
        test_on_main=f"""
        import pytest

        @pytest.mark.model_artifact("acme/tiny-bert@main")
        def test_model(model_artifact):
            assert model_artifact.name == "{COMMIT}"
        """
    )
    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # the marked test and the user's own
    model = _model_component(project.root / "build" / "ml-bom.cdx.json", "tiny-bert")
    assert model["version"] == COMMIT
    assert model["purl"] == f"pkg:huggingface/acme/tiny-bert@{COMMIT}"
    assert _properties(model)["mlsupply:declared-revision"] == "main"
