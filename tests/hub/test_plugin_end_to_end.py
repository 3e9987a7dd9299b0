"""The plugin in a fresh process, configured only by the environment, against the loopback Hub."""

from __future__ import annotations

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
