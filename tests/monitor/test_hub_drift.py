"""``--mlsupply-online``'s drift items in a fresh pytest process, against the loopback Hub."""

from __future__ import annotations

import pytest

from tests.hub.server import HubRepo
from tests.monitor.hub_helpers import RUN, fake_hub, hf_cache, pinned

__all__ = ["fake_hub", "hf_cache", "pinned"]  # fixtures, used by name


def test_a_drift_item_passes_on_a_matching_snapshot_and_fails_once_the_commit_is_force_pushed_away(
    pytester: pytest.Pytester, pinned: tuple[HubRepo, str]
) -> None:
    repo, commit = pinned

    matching = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")
    matching.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? PASSED*"])
    assert matching.ret == 0

    repo.force_push({"model.safetensors": b"someone else's weights"})
    repo.forget(commit)
    drifted = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")
    drifted.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::drift?tiny? FAILED*",
            f"*hf://acme/tiny-bert@{commit} has drifted from the Hub:*",
            f"*has no revision {commit} on the Hub*",
        ]
    )
    assert drifted.ret == 1


@pytest.mark.usefixtures("pinned")
def test_without_the_online_flag_no_drift_item_is_collected(pytester: pytest.Pytester) -> None:
    # In process: collection asks the Hub nothing a fresh process would need to re-read.
    offline = pytester.runpytest_inprocess(*RUN, "--collect-only")
    online = pytester.runpytest_inprocess(*RUN, "--collect-only", "--mlsupply-online")

    assert "drift[" not in offline.stdout.str()
    online.stdout.fnmatch_lines(["*<DriftItem drift[[]tiny[]]>*"])
