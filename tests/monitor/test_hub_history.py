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


def test_the_history_is_read_page_by_page_only_back_to_the_pinned_commit(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    for n in range(30):  # a long history before the pin (two commits a page on this Hub)
        repo.commit({"README.md": f"v{n}".encode()}, title=f"old {n}")
    pinned = repo.commit({"README.md": b"pinned"}, title="the pin")
    for n in range(3):
        repo.commit({"README.md": f"new {n}".encode()}, title=f"new {n}")

    result = poll([TrackedModel("acme/tiny", pinned)])

    [news] = by_rule(result.alerts, NEW_COMMITS)
    assert "3 new commit(s)" in news.title
    assert "'the pin'" not in news.evidence
    pages = [r for r in hub_env.requests_to("hub") if "/commits/" in r.path]
    assert len(pages) == 2  # the pin is the 4th commit back: 2 pages of 2, not all 17


def test_a_pinned_commit_missing_from_a_long_history_is_looked_for_to_its_first_commit(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"pinned"}, title="the pin")
    repo.force_push({"README.md": b"rewritten 0"})
    for n in range(1, 9):
        repo.commit({"README.md": f"rewritten {n}".encode()}, title=f"rewrite {n}")

    result = poll([TrackedModel("acme/tiny", pinned)])

    [gone] = by_rule(result.alerts, PINNED_GONE)
    assert gone.severity is Severity.CRITICAL
    pages = [r for r in hub_env.requests_to("hub") if "/commits/" in r.path]
    assert len(pages) == 5  # 9 commits, 2 a page: every page was read before calling it gone


def test_a_repository_pinned_twice_keeps_a_cursor_per_pin_and_is_not_fetched_again(
    hub_env: FakeHub,
) -> None:
    from tests.monitor.hub_helpers import safetensors

    repo = hub_env.add_repo("acme/tiny")
    first = repo.commit({"model.safetensors": safetensors(1.0)})
    second = repo.commit({"model.safetensors": safetensors(2.0)})
    repo.commit({"model.safetensors": safetensors(3.0)})
    models = [TrackedModel("acme/tiny", first), TrackedModel("acme/tiny", second)]

    before = poll(models)
    assert set(before.cursors) == {f"hf://acme/tiny@{first}", f"hf://acme/tiny@{second}"}
    assert {a.subject for a in before.alerts} == {"hf://acme/tiny"}
    fetched = len(hub_env.requests_to("cdn"))
    assert fetched

    again = poll(models, cursors=before.cursors)
    assert again.alerts == []
    assert len(hub_env.requests_to("cdn")) == fetched  # each pin's diff analysed once
