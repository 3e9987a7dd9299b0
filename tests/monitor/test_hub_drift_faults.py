"""A drift item fails closed: an unreachable Hub, a malformed answer or offline mode is an error
cell, never a pass; digests that no longer match, or a file the Hub does not list, fail it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.monitor.drift import local_snapshot
from pytest_mlsupply.sources.hub import HubSettings
from tests.hub.server import FakeHub, HubRepo
from tests.monitor.hub_helpers import RUN, download, fake_hub, hf_cache, pinned
from tests.monitor.test_hub_drift import drift_findings, drift_rows

__all__ = ["fake_hub", "hf_cache", "pinned"]  # fixtures, used by name


def test_a_drift_item_is_an_error_cell_when_the_hub_cannot_be_reached(
    pytester: pytest.Pytester, fake_hub: FakeHub, pinned: tuple[HubRepo, str]
) -> None:
    commit = pinned[1]
    download("acme/tiny-bert", commit)

    fake_hub.stop()
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::drift?tiny? FAILED*",
            "*drift check 'drift' on tiny: ERROR*",
            f"*hf://acme/tiny-bert@{commit}: the Hub at * cannot be reached*drift cannot be ruled out*",
        ]
    )
    assert result.ret == 1
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "error"}


def test_a_drift_item_is_an_error_cell_when_the_hub_answers_garbage(
    pytester: pytest.Pytester, fake_hub: FakeHub, pinned: tuple[HubRepo, str]
) -> None:
    commit = pinned[1]
    download("acme/tiny-bert", commit)

    fake_hub.inject(rf"/api/models/acme/tiny-bert/revision/{commit}", body=b'{"id": "acme/')
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? FAILED*"])
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "error"}


def test_a_drift_item_is_an_error_cell_under_hf_hub_offline(
    pytester: pytest.Pytester, pinned: tuple[HubRepo, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    download("acme/tiny-bert", pinned[1])

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? FAILED*", "*HF_HUB_OFFLINE*"])
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "error"}


def test_a_drift_item_fails_when_the_hubs_digest_no_longer_matches_the_file_on_disk(
    pytester: pytest.Pytester, fake_hub: FakeHub, pinned: tuple[HubRepo, str]
) -> None:
    repo, commit = pinned
    download("acme/tiny-bert", commit)

    repo.serve_wrong_metadata(commit, "model.safetensors", sha256="0" * 64)
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::drift?tiny? FAILED*",
            "*MLS-DRIFT-002 file differs from the Hub at the pinned commit*",
            f"*model.safetensors: the Hub lists LFS sha256:{'0' * 64}, the file on disk is*",
        ]
    )
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    [finding] = drift_findings(pytester.path)
    assert (finding["rule"], finding["severity"]) == ("MLS-DRIFT-002", "critical")
    assert finding["location"] == {"file": "tiny/model.safetensors"}


def test_a_file_on_disk_the_hub_does_not_list_fails_the_drift_item(
    pytester: pytest.Pytester, hf_cache: Path, pinned: tuple[HubRepo, str]
) -> None:
    commit = pinned[1]
    download("acme/tiny-bert", commit)
    settings = HubSettings(endpoint="", cache_dir=hf_cache, offline=False, timeout=1.0)
    snapshot = local_snapshot(HubRef("model", "acme/tiny-bert", commit), settings)
    (snapshot / "extra.py").write_text("import os\n")

    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? FAILED*"])
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    [finding] = drift_findings(pytester.path)
    assert (finding["rule"], finding["severity"]) == ("MLS-DRIFT-003", "high")
    assert finding["location"] == {"file": "tiny/extra.py"}


def test_the_token_is_in_no_report_when_the_hub_echoes_it_into_its_error(
    pytester: pytest.Pytester,
    fake_hub: FakeHub,
    pinned: tuple[HubRepo, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "hf_drift_secret_0123456789abcdef"
    repo, commit = pinned
    download("acme/tiny-bert", commit)
    monkeypatch.setenv("HF_TOKEN", token)
    repo.echo_authorization = 400

    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    assert any(r.authorization == f"Bearer {token}" for r in fake_hub.requests)  # it was sent
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "error"}
    assert token not in result.stdout.str() + result.stderr.str()
    for report in (pytester.path / "build").iterdir():
        assert token not in report.read_text(), report.name


def test_findings_past_the_first_twenty_are_counted_in_one_finding_not_dropped(
    pytester: pytest.Pytester, hf_cache: Path, pinned: tuple[HubRepo, str]
) -> None:
    commit = pinned[1]
    download("acme/tiny-bert", commit)
    settings = HubSettings(endpoint="", cache_dir=hf_cache, offline=False, timeout=1.0)
    snapshot = local_snapshot(HubRef("model", "acme/tiny-bert", commit), settings)
    for number in range(23):
        (snapshot / f"dropped-{number:02}.txt").write_text(f"{number}\n")

    pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    findings = drift_findings(pytester.path)
    assert len(findings) == 21
    assert {f["rule"] for f in findings} == {"MLS-DRIFT-003"}
    [counted] = [f for f in findings if "more files" in f["title"]]
    assert counted["title"].endswith("(3 more files)")
    assert counted["evidence"].startswith("dropped-20.txt, dropped-21.txt, dropped-22.txt (")
