"""The plugin in a fresh process, configured only by the environment, against the loopback Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.hub.server import FakeHub


def test_a_pinned_hub_model_downloads_verifies_and_then_runs_offline_in_a_fresh_process(
    pytester: pytest.Pytester,
    project: Project,
    fake_hub: FakeHub,
    hf_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    commit = fake_hub.add_repo("acme/tiny-bert").commit(files)
    # Set before the subprocess imports huggingface_hub, which reads them at import time.
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    project.manifest(
        f"""\
        version: 1
        models:
          - name: tiny
            source: hf://acme/tiny-bert@{commit}
        """
    )

    online = pytester.runpytest_subprocess("--mlsupply", "-v", "-p", "no:cacheprovider")
    online.stdout.fnmatch_lines(["*artifact?tiny/model.safetensors::hub? PASSED*"])
    assert online.ret == 0
    assert fake_hub.requests_to("cdn")

    fake_hub.stop()
    offline = pytester.runpytest_subprocess("--mlsupply", "-v", "-p", "no:cacheprovider")
    offline.stdout.fnmatch_lines(["*artifact?tiny/model.safetensors::hub? PASSED*"])
    assert offline.ret == 0


def test_a_marker_on_a_mutable_ref_fails_and_names_the_commit_it_points_to_today(
    pytester: pytest.Pytester,
    project: Project,
    fake_hub: FakeHub,
    hf_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    today = fake_hub.add_repo("acme/tiny-bert").commit(files)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    pytester.makepyfile(
        test_on_main="""
        import pytest

        @pytest.mark.model_artifact("acme/tiny-bert@main")
        def test_model(model_artifact):
            pass
        """
    )
    result = pytester.runpytest_subprocess("test_on_main.py", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*is mutable*(it points to {today} today); pin the commit: 'acme/tiny-bert@{today}'*"]
    )


def test_a_branch_allowed_by_policy_downloads_the_hubs_commit_and_the_bom_names_it_and_the_hub(
    pytester: pytest.Pytester,
    project: Project,
    fake_hub: FakeHub,
    hf_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    today = fake_hub.add_repo("acme/tiny-bert").commit(files)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    project.manifest(
        """\
        version: 1
        policy: {require_pins: false}
        models:
          - name: tiny
            source: hf://acme/tiny-bert@main
        """
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-v", "-p", "no:cacheprovider")

    result.stdout.fnmatch_lines(["*artifact?tiny/model.safetensors::hub? PASSED*"])
    assert result.ret == 0
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    model = next(c for c in bom["components"] if c["bom-ref"] == "model:tiny")
    # A loopback Hub is not the default one: the purl says where the model came from.
    assert (
        model["purl"]
        == f"pkg:huggingface/acme/tiny-bert@{today}?repository_url={fake_hub.endpoint}"
    )
    assert model["version"] == today
    assert (
        model["externalReferences"][0]["url"] == f"{fake_hub.endpoint}/acme/tiny-bert/tree/{today}"
    )
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlsupply:declared-revision"] == "main"
