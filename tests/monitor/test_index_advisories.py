"""Advisories affecting the pinned versions, through the auditor's OSV client on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_mlsupply.monitor.alerts import TrackedDependency, WatchList
from pytest_mlsupply.results import Severity
from tests.monitor.index_env import TORCH_WEIGHTS_ONLY, index_env
from tests.monitor.pypi_server import release_file
from tests.typosquat.index_server import closed_port_url

# pip-audit names an OSV result by its CVE alias when it has one.
ADVISORY = "CVE-2025-32434"


def test_an_advisory_is_raised_when_new_and_again_when_modified_but_not_when_unchanged() -> None:
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        (first,) = env.alerts()
        assert (first.rule, first.severity, first.subject) == (
            "MLS-MON-208",
            Severity.CRITICAL,  # its CVSS 4.0 vector scores 9.3
            "pypi:torch",
        )
        assert first.key == f"{ADVISORY}@2025-04-21T18:45:00Z"
        assert "2.5.1" in first.title
        assert "2.6.0" in first.remediation
        assert "GHSA-53q9-r3pm-6pq6" in first.evidence
        assert env.cursors["pypi-osv:torch"]["advisories"] == {ADVISORY: "2025-04-21T18:45:00Z"}
        assert "advisories" not in env.cursors["pypi:torch"]  # a cursor of their own

        assert env.alerts() == []

        env.osv.records[0]["modified"] = "2025-05-02T09:00:00Z"
        (second,) = env.alerts()
        assert second.key == f"{ADVISORY}@2025-05-02T09:00:00Z"
        assert second.id != first.id
        assert "was 2025-04-21T18:45:00Z" in second.evidence

        assert env.alerts() == []


def test_an_advisory_that_does_not_affect_the_pin_raises_nothing() -> None:
    watch = WatchList(dependencies=(TrackedDependency("torch", ("2.6.0",)),))
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        assert env.alerts(watch) == []
        assert env.cursors["pypi-osv:torch"]["advisories"] == {}


def test_an_unreachable_advisory_service_is_an_outage_of_the_advisories_alone() -> None:
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        env.alerts()
        kept = env.cursors["pypi:torch"]
        kept_advisories = env.cursors["pypi-osv:torch"]
        env.source.vulnerabilities = {"service": "osv", "url": closed_port_url()}
        env.pypi.publish("torch", "2.7.0", release_file("torch-2.7.0.tar.gz", b"sdist"))
        result = env.poll()
        (outage,) = result.outages
        assert outage.subject == "pypi-osv:torch"
        assert "cannot be reached" in outage.reason
        assert [a.key for a in result.alerts] == ["2.7.0"]
        # The advisories' cursor is not stored: the next good poll compares with the same one.
        # The releases' record the index gave is stored: the new release is raised once.
        assert "pypi-osv:torch" not in result.cursors
        assert env.cursors["pypi-osv:torch"] == kept_advisories
        assert env.cursors["pypi:torch"] != kept
        assert "2.7.0" in result.cursors["pypi:torch"]["releases"]
        assert "pypi:requests" in result.cursors
        assert "pypi-osv:requests" not in result.cursors  # nothing pinned: nothing to ask


def test_an_advisory_is_not_lost_to_an_outage() -> None:
    with index_env(records=[]) as env:
        env.alerts()
        env.osv.records.append(dict(TORCH_WEIGHTS_ONLY))
        env.osv.mode = "500"
        assert env.poll().alerts == []
        env.osv.mode = "ok"
        (alert,) = env.alerts()
        assert alert.rule == "MLS-MON-208"


def test_an_offline_snapshot_named_by_the_manifest_answers_for_the_advisories(
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "osv"
    snapshot.mkdir()
    (snapshot / "GHSA-53q9-r3pm-6pq6.json").write_text(json.dumps(TORCH_WEIGHTS_ONLY))
    with index_env() as env:
        env.source.vulnerabilities = {"service": "offline", "path": "osv"}
        env.source.root = tmp_path
        (alert,) = env.alerts()
        assert alert.rule == "MLS-MON-208"
        assert alert.key.endswith("@2025-04-21T18:45:00Z")
        assert env.osv.requests == []  # the service was not asked


def test_advisories_recorded_in_the_projects_cursor_by_an_older_state_are_not_raised_again() -> (
    None
):
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        env.alerts()
        # As a state written before the advisories had a cursor of their own holds them.
        env.cursors["pypi:torch"].update(env.cursors.pop("pypi-osv:torch"))
        assert env.alerts() == []
        assert env.cursors["pypi-osv:torch"]["advisories"] == {ADVISORY: "2025-04-21T18:45:00Z"}
