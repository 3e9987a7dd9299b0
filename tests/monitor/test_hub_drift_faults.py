"""A drift item fails closed: an unreachable Hub, or digests that no longer match, fail it."""

from __future__ import annotations

import pytest

from tests.hub.server import FakeHub, HubRepo
from tests.monitor.hub_helpers import RUN, download, fake_hub, hf_cache, pinned

__all__ = ["fake_hub", "hf_cache", "pinned"]  # fixtures, used by name


def test_a_drift_item_fails_when_the_hub_cannot_be_reached(
    pytester: pytest.Pytester, fake_hub: FakeHub, pinned: tuple[HubRepo, str]
) -> None:
    commit = pinned[1]
    download("acme/tiny-bert", commit)

    fake_hub.stop()
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::drift?tiny? FAILED*",
            f"*hf://acme/tiny-bert@{commit}: the Hub at * cannot be reached*drift cannot be ruled out*",
        ]
    )
    assert result.ret == 1


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
            f"*'model.safetensors': the Hub lists LFS sha256:{'0' * 64}, the file on disk is*",
        ]
    )
