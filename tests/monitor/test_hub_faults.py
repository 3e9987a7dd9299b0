"""The Hub source fails closed: each fault is an outage of its subject, whose cursor is kept."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_mlsupply.monitor.alerts import TrackedModel
from tests.hub.server import FakeHub
from tests.monitor.hub_helpers import fake_hub, hf_cache, hub_env, poll

__all__ = ["fake_hub", "hf_cache", "hub_env"]  # fixtures, used by name

TOKEN = "hf_monitorSecretToken0123456789abcdef"


@pytest.fixture
def quick(hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """A one-second request timeout, so a slow answer is an outage within the test's time."""
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
    return hub_env


def _pinned_with_news(hub: FakeHub, repo_id: str) -> tuple[TrackedModel, dict[str, object]]:
    repo = hub.add_repo(repo_id)
    pinned = repo.commit({"README.md": b"v1"})
    repo.commit({"README.md": b"v2"}, title="news")
    return TrackedModel(repo_id, pinned), {f"hf://{repo_id}": {"head": pinned, "base": pinned}}


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("down", "cannot be reached"),
        ("500", "answered HTTP 500"),
        ("slow", "did not answer within 1 s"),
        ("malformed", "malformed answer"),
    ],
)
def test_a_hub_fault_is_an_outage_of_the_subject_that_keeps_its_old_cursor(
    quick: FakeHub, fault: str, says: str
) -> None:
    model, cursors = _pinned_with_news(quick, "acme/tiny")
    if fault == "down":
        quick.stop()
    elif fault == "500":
        quick.inject(status=500)
    elif fault == "slow":
        quick.inject(delay=2.5)
    else:
        quick.inject(body=b'{"id": "acme/tiny", "sha": ')

    started = time.monotonic()
    result = poll([model], cursors=cursors)

    assert time.monotonic() - started < 5  # no retry loop, no hang
    [outage] = result.outages
    assert (outage.source, outage.subject) == ("hub", "hf://acme/tiny")
    assert says in outage.reason
    assert "hf://acme/tiny" not in result.cursors  # the watcher keeps the old one
    assert result.alerts == []


def test_a_fault_on_one_repository_leaves_the_other_subjects_polled(quick: FakeHub) -> None:
    broken, cursors = _pinned_with_news(quick, "acme/broken")
    healthy, more = _pinned_with_news(quick, "acme/healthy")
    quick.add_repo("acme/other").commit({"README.md": b"x"})
    quick.inject(r"/acme/broken(/|$)", status=503)

    result = poll([broken, healthy], orgs=["acme"], cursors={**cursors, **more})

    assert [o.subject for o in result.outages] == ["hf://acme/broken"]
    assert set(result.cursors) == {"hf://acme/healthy", "hf-org://acme"}
    assert {a.subject for a in result.alerts} == {"hf://acme/healthy"}


def test_a_listing_that_keeps_failing_is_an_outage_within_its_deadline(quick: FakeHub) -> None:
    # The commit history is paginated: huggingface_hub retries its 5xx with backoff for ~30 s.
    # Three failures: its retries (after 1, 2 and 4 s) outlast the 3 s deadline, then succeed.
    model, cursors = _pinned_with_news(quick, "acme/tiny")
    quick.inject(r"/commits/", status=500, times=3)

    started = time.monotonic()
    result = poll([model], cursors=cursors)

    assert time.monotonic() - started < 6
    [outage] = result.outages
    assert "the commit history did not arrive within 3 s" in outage.reason
    assert "hf://acme/tiny" not in result.cursors
    # The call left behind ends on its own once the Hub answers (and logs nothing after us).
    for thread in threading.enumerate():
        if thread.name == "mlsupply-hub":
            thread.join(timeout=10)
            assert not thread.is_alive()


def test_an_org_listing_answering_malformed_json_is_an_outage(quick: FakeHub) -> None:
    quick.add_repo("acme/a").commit({"README.md": b"a"})
    quick.inject(r"^/api/models/?$", body=b"[{]")

    result = poll(orgs=["acme"], cursors={"hf-org://acme": {"repos": {}}})

    [outage] = result.outages
    assert outage.subject == "hf-org://acme"
    assert "malformed answer" in outage.reason
    assert result.cursors == {}


def test_the_token_never_appears_in_an_outage_even_when_the_hub_echoes_it(
    quick: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    model, cursors = _pinned_with_news(quick, "acme/tiny")
    quick.repos[("model", "acme/tiny")].echo_authorization = 500

    result = poll([model], cursors=cursors)

    assert len(result.outages) == 1
    assert any(r.authorization == f"Bearer {TOKEN}" for r in quick.requests)  # it was sent
    for outage in result.outages:
        assert TOKEN not in outage.reason


def test_offline_mode_is_an_outage_for_every_subject_not_a_quiet_poll(
    quick: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, cursors = _pinned_with_news(quick, "acme/tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    result = poll([model], orgs=["acme"], cursors=cursors)

    assert [o.subject for o in result.outages] == ["hf://acme/tiny", "hf-org://acme"]
    assert result.cursors == {}
    assert quick.requests == []


def test_a_file_served_with_other_bytes_than_its_listing_names_is_an_outage_not_a_rating(
    quick: FakeHub,
) -> None:
    repo = quick.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"v1"})
    head = repo.commit({"README.md": b"v1", "model.safetensors": b"weights"})
    repo.serve_wrong_metadata(head, "model.safetensors", sha256="0" * 64)

    result = poll([TrackedModel("acme/tiny", pinned)])

    [outage] = result.outages
    assert "model.safetensors" in outage.reason
    assert f"listed as {'0' * 64}" in outage.reason
    assert "hf://acme/tiny" not in result.cursors
