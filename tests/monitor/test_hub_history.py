"""The Hub source against the loopback Hub: new commits, rewritten history, deleted repositories."""

from __future__ import annotations

from pytest_mlsupply.monitor.alerts import TrackedModel
from pytest_mlsupply.monitor.hub_watch import NEW_COMMITS, PINNED_GONE, REPO_GONE
from pytest_mlsupply.results import Severity
from tests.hub.server import FakeHub
from tests.monitor.hub_helpers import by_rule, fake_hub, hf_cache, hub_env, poll

__all__ = ["fake_hub", "hf_cache", "hub_env"]  # fixtures, used by name


def test_new_commits_raise_one_alert_keyed_by_the_head_listing_their_escaped_titles(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"v1"})
    repo.commit({"README.md": b"v2"}, title="Update card")
    head = repo.commit({"README.md": b"v3"}, title="\x1b[2Jclear the screen")
    model = TrackedModel("acme/tiny", pinned)

    first = poll([model])

    [alert] = by_rule(first.alerts, NEW_COMMITS)
    assert (alert.key, alert.severity, alert.subject) == (head, Severity.MEDIUM, "hf://acme/tiny")
    assert "2 new commit(s)" in alert.title
    assert "'Update card'" in alert.evidence
    assert "\x1b" not in alert.evidence
    assert "\\x1b[2J" in alert.evidence
    assert first.cursors["hf://acme/tiny"]["head"] == head
    assert not first.outages

    # The same head again: analysed already (its alerts were stored with the cursor).
    again = poll([model], cursors=first.cursors)
    assert again.alerts == []
    later = repo.commit({"README.md": b"v4"}, title="More")
    [newer] = by_rule(poll([model], cursors=again.cursors).alerts, NEW_COMMITS)
    assert newer.key == later
    assert "3 new commit(s)" in newer.title


def test_an_unpinned_model_records_its_head_first_and_then_reports_commits_since_then(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    seen = repo.commit({"README.md": b"v1"})
    model = TrackedModel("acme/tiny")

    baseline = poll([model])
    assert baseline.alerts == []
    assert baseline.cursors["hf://acme/tiny"]["head"] == seen

    head = repo.commit({"README.md": b"v2"}, title="Next")
    [alert] = by_rule(poll([model], cursors=baseline.cursors).alerts, NEW_COMMITS)
    assert alert.key == head
    assert "since the last poll" in alert.evidence


def test_a_force_push_that_drops_the_pinned_commit_from_the_history_is_critical(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"v1"})
    head = repo.force_push({"README.md": b"rewritten"})

    result = poll([TrackedModel("acme/tiny", pinned)])

    [gone] = by_rule(result.alerts, PINNED_GONE)
    assert (gone.severity, gone.key) == (Severity.CRITICAL, pinned)
    assert "force-pushed" in gone.evidence
    assert "still resolvable" in gone.evidence
    [new] = by_rule(result.alerts, NEW_COMMITS)
    assert new.key == head
    assert "no longer contains" in new.evidence


def test_a_pinned_commit_deleted_from_the_hub_is_critical_and_says_it_cannot_be_resolved(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"v1"})
    repo.force_push({"README.md": b"rewritten"})
    repo.forget(pinned)

    result = poll([TrackedModel("acme/tiny", pinned)])

    [gone] = by_rule(result.alerts, PINNED_GONE)
    assert gone.severity is Severity.CRITICAL
    assert "cannot resolve it any more" in gone.evidence
    assert not result.outages
    assert "hf://acme/tiny" in result.cursors


def test_a_deleted_repository_is_a_critical_alert_not_an_outage(hub_env: FakeHub) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"v1"})
    del hub_env.repos[("model", "acme/tiny")]

    result = poll([TrackedModel("acme/tiny", pinned)])

    [gone] = by_rule(result.alerts, REPO_GONE)
    assert gone.severity is Severity.CRITICAL
    assert "deleted, renamed or made private" in gone.evidence
    assert not result.outages
