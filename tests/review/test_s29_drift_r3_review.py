"""Review (s29, drift items, round 3): a baseline acceptance of a drift finding accepts what was
found, and nothing that replaces it under the same name."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from pytest_mlsupply.baseline import today_utc
from pytest_mlsupply.cli import main
from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.monitor.drift import local_snapshot
from pytest_mlsupply.sources.hub import HubSettings
from tests.hub.server import HubRepo
from tests.monitor.hub_helpers import (
    RUN,
    download,
    fake_hub,
    hf_cache,
    pinned,
    safetensors,
)
from tests.monitor.test_hub_drift import drift_findings, drift_rows

__all__ = ["fake_hub", "hf_cache", "pinned"]  # fixtures, used by name


def _snapshot(hf_cache: Path, commit: str) -> Path:
    download("acme/tiny-bert", commit)
    settings = HubSettings(endpoint="", cache_dir=hf_cache, offline=False, timeout=1.0)
    return local_snapshot(HubRef("model", "acme/tiny-bert", commit), settings)


def _accept_all(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    """The user's workflow: `mlsupply baseline` writes the findings, the owner fills them in."""
    assert main(["baseline"]) == 0
    capsys.readouterr()
    written = pytester.path / "mlsupply-baseline.yaml"
    expires = (today_utc() + timedelta(days=30)).isoformat()
    text = written.read_text().replace("reason: TODO", "reason: reviewed, SEC-41")
    text = text.replace("owner: TODO", "owner: ml-platform")
    written.write_text(text.replace("expires: TODO", f"expires: {expires}"))


def test_an_accepted_unlisted_file_whose_content_is_swapped_fails_its_drift_item_again(
    pytester: pytest.Pytester,
    hf_cache: Path,
    pinned: tuple[HubRepo, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    snapshot = _snapshot(hf_cache, pinned[1])
    # The team's own adapter weights beside the published ones, reviewed and accepted.
    (snapshot / "adapter.safetensors").write_bytes(safetensors(1.0))
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 1
    _accept_all(pytester, capsys)
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 0

    # Someone with write access to the cache swaps them for other (valid) weights.
    (snapshot / "adapter.safetensors").write_bytes(safetensors(-1e9))
    swapped = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    assert swapped.ret == 1


def test_an_accepted_linked_directory_pointed_elsewhere_fails_its_drift_item_again(
    pytester: pytest.Pytester,
    hf_cache: Path,
    pinned: tuple[HubRepo, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    snapshot = _snapshot(hf_cache, pinned[1])
    reviewed = pytester.path / "reviewed"
    reviewed.mkdir()
    other = pytester.path / "other"
    other.mkdir()
    os.symlink(reviewed, snapshot / "extra")
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 1
    _accept_all(pytester, capsys)
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 0

    (snapshot / "extra").unlink()
    os.symlink(other, snapshot / "extra")  # the same name, other files behind it
    moved = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    assert moved.ret == 1


def test_an_accepted_count_of_drifted_files_fails_again_when_a_counted_file_changes(
    pytester: pytest.Pytester,
    hf_cache: Path,
    pinned: tuple[HubRepo, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    snapshot = _snapshot(hf_cache, pinned[1])
    for number in range(30):
        (snapshot / f"local-{number:02}.txt").write_text(f"{number}\n")
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 1
    _accept_all(pytester, capsys)
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 0

    # The 29th file is past the twenty listed one by one and past the five the count names.
    (snapshot / "local-28.txt").write_text("other bytes\n")
    changed = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    assert changed.ret == 1
    assert any("more files" in f["title"] for f in drift_findings(pytester.path))
