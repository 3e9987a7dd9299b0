"""Releases, yanks and files of tracked dependencies, through PyPI's JSON API on loopback."""

from __future__ import annotations

from pytest_mlsupply.monitor.alerts import TrackedDependency, WatchList
from pytest_mlsupply.results import Severity
from tests.monitor.index_env import facts, index_env
from tests.monitor.pypi_server import release_file

LINUX_251 = "torch-2.5.1-cp311-none-linux_x86_64.whl"


def test_the_first_poll_records_a_baseline_and_raises_nothing_for_an_unremarkable_project() -> None:
    with index_env() as env:
        assert env.alerts() == []  # 2.4.0 is yanked, but nobody pins it
        recorded = env.cursors["pypi:torch"]
        assert set(recorded["releases"]) == {"2.4.0", "2.5.1", "2.6.0"}
        assert (
            recorded["releases"]["2.5.1"][LINUX_251]
            == (env.pypi.projects["torch"]["2.5.1"][0]["digests"]["sha256"])
        )
        assert recorded["yanked"] == ["2.4.0"]
        assert "pypi:requests" in env.cursors


def test_a_pinned_version_already_yanked_is_raised_on_the_first_poll() -> None:
    watch = WatchList(dependencies=(TrackedDependency("torch", ("2.4.0",)),))
    with index_env() as env:
        (alert,) = env.alerts(watch)
        assert (alert.rule, alert.severity, alert.key) == (
            "MLS-MON-203",
            Severity.HIGH,
            "2.4.0@yanked",
        )
        assert env.alerts(watch) == []


def test_a_new_release_is_raised_once_keyed_by_its_version() -> None:
    with index_env() as env:
        env.alerts()
        env.pypi.publish("torch", "2.7.0", release_file("torch-2.7.0.tar.gz", b"sdist"))
        (alert,) = env.alerts()
        assert facts(alert) == ("MLS-MON-202", "info", "pypi:torch", "2.7.0")
        assert "torch-2.7.0.tar.gz" in alert.evidence
        assert env.alerts() == []


def test_yanking_the_pinned_version_is_high_and_another_version_medium() -> None:
    with index_env() as env:
        env.alerts()
        env.pypi.yank("torch", "2.5.1", "broken\nPASSED fake line")
        env.pypi.yank("torch", "2.6.0", "superseded")
        pinned, other = env.alerts()
        assert (pinned.rule, pinned.severity, pinned.key) == (
            "MLS-MON-203",
            Severity.HIGH,
            "2.5.1@yanked",
        )
        assert "\n" not in pinned.evidence  # the maintainer's reason cannot forge a line
        assert (other.severity, other.key) == (Severity.MEDIUM, "2.6.0@yanked")
        assert env.alerts() == []


def test_a_file_replaced_under_the_same_name_is_critical_and_keyed_by_the_new_digest() -> None:
    with index_env() as env:
        env.alerts()
        entry = env.pypi.projects["torch"]["2.5.1"][0]
        old = entry["digests"]["sha256"]
        env.pypi.projects["torch"]["2.5.1"][0] = release_file(LINUX_251, b"a backdoored build")
        new = env.pypi.projects["torch"]["2.5.1"][0]["digests"]["sha256"]
        (alert,) = env.alerts()
        assert (alert.rule, alert.severity, alert.key) == (
            "MLS-MON-204",
            Severity.CRITICAL,
            f"{LINUX_251}@{new}",
        )
        assert old in alert.evidence
        assert new in alert.evidence
        assert env.alerts() == []


def test_a_file_added_to_the_pinned_release_is_critical_and_one_removed_is_high() -> None:
    with index_env() as env:
        env.alerts()
        files = env.pypi.projects["torch"]["2.5.1"]
        files.pop(1)  # the macOS wheel
        files.append(release_file("torch-2.5.1-py3-none-any.whl", b"pure python, who built it?"))
        added, removed = sorted(env.alerts(), key=lambda a: a.rule)
        assert (added.rule, added.severity) == ("MLS-MON-205", Severity.CRITICAL)
        assert added.key.startswith("torch-2.5.1-py3-none-any.whl@")
        assert (removed.rule, removed.severity) == ("MLS-MON-206", Severity.HIGH)
        assert removed.key.startswith("torch-2.5.1-cp311-none-macosx_11_0_arm64.whl@removed-")


def test_a_file_added_to_an_unpinned_release_is_medium() -> None:
    with index_env() as env:
        env.alerts()
        env.pypi.projects["torch"]["2.6.0"].append(
            release_file("torch-2.6.0.tar.gz", b"late sdist")
        )
        (alert,) = env.alerts()
        assert (alert.rule, alert.severity) == ("MLS-MON-205", Severity.MEDIUM)


def test_a_tracked_project_the_index_no_longer_has_is_high_and_its_cursor_is_kept() -> None:
    with index_env() as env:
        env.alerts()
        before = env.cursors["pypi:torch"]
        del env.pypi.projects["torch"]
        result = env.poll()
        (alert,) = result.alerts
        assert (alert.rule, alert.severity) == ("MLS-MON-207", Severity.HIGH)
        assert alert.key == f"absent-after-{before['serial']}"
        assert "pypi:torch" not in result.cursors  # the digests stay to compare a successor with
        assert result.outages == []
        # Someone registers the freed name with other bytes under a version already seen.
        env.pypi.publish("torch", "2.5.1", release_file(LINUX_251, b"the new owner's build"))
        rules = sorted(a.rule for a in env.alerts())
        assert "MLS-MON-204" in rules
        assert "MLS-MON-206" in rules


def test_a_pin_of_a_local_build_counts_as_its_public_release() -> None:
    watch = WatchList(dependencies=(TrackedDependency("torch", ("2.5.1+cpu",)),))
    with index_env() as env:
        env.alerts(watch)
        env.pypi.yank("torch", "2.5.1", "bad")
        (alert,) = env.alerts(watch)
        assert alert.severity == Severity.HIGH


def test_a_version_yanked_again_after_an_unyank_is_raised_again() -> None:
    with index_env() as env:
        env.alerts()
        env.pypi.yank("torch", "2.6.0", "superseded")
        [first] = env.alerts()
        for entry in env.pypi.projects["torch"]["2.6.0"]:
            entry["yanked"] = False
        assert env.alerts() == []  # un-yanked: nothing to warn of
        env.pypi.yank("torch", "2.6.0", "superseded, again")
        [again] = env.alerts()
        assert (first.key, again.key) == ("2.6.0@yanked", "2.6.0@yanked#2")
        assert first.id != again.id
        assert env.alerts() == []


def test_a_file_swapped_back_and_forth_is_raised_each_time() -> None:
    with index_env() as env:
        env.alerts()
        original = env.pypi.projects["torch"]["2.5.1"][0]
        swapped = release_file(LINUX_251, b"a backdoored build")
        keys = []
        for entry in (swapped, original, swapped):
            env.pypi.projects["torch"]["2.5.1"][0] = entry
            [alert] = env.alerts()
            keys.append(alert.key)
        digest = swapped["digests"]["sha256"]
        assert keys[0] == f"{LINUX_251}@{digest}"
        assert keys[2] == f"{LINUX_251}@{digest}#2"
        assert len(set(keys)) == 3
