"""The Hub source's tracked organisations: a baseline first, then new and updated repositories."""

from __future__ import annotations

from pytest_mlsupply.monitor.hub_watch import NEW_REPOSITORY, REPOSITORY_UPDATED
from pytest_mlsupply.results import Severity
from tests.hub.server import FakeHub
from tests.monitor.hub_helpers import by_rule, fake_hub, hf_cache, hub_env, poll

__all__ = ["fake_hub", "hf_cache", "hub_env"]  # fixtures, used by name


def test_an_org_is_recorded_silently_then_new_and_updated_repositories_are_raised(
    hub_env: FakeHub,
) -> None:
    # Three repositories with a page size of 2: the listing is paginated.
    for name in ("a", "b", "c"):
        hub_env.add_repo(f"acme/{name}").commit({"README.md": name.encode()})
    hub_env.add_repo("other/x").commit({"README.md": b"x"})

    baseline = poll(orgs=["acme"])
    assert baseline.alerts == []
    assert not baseline.outages
    assert sorted(baseline.cursors["hf-org://acme"]["repos"]) == ["acme/a", "acme/b", "acme/c"]

    appeared = hub_env.add_repo("acme/d").commit({"README.md": b"d"})
    head = hub_env.repos[("model", "acme/b")].commit({"README.md": b"b2"})
    result = poll(orgs=["acme"], cursors=baseline.cursors)

    [new] = by_rule(result.alerts, NEW_REPOSITORY)
    # Keyed by the head it appeared with: published again later, it is raised again.
    assert (new.key, new.severity, new.subject) == (
        f"acme/d\0{appeared}",
        Severity.LOW,
        "hf-org://acme",
    )
    [updated] = by_rule(result.alerts, REPOSITORY_UPDATED)
    assert updated.severity is Severity.INFO
    assert updated.key == f"acme/b\0{head}"
    assert poll(orgs=["acme"], cursors=result.cursors).alerts == []
