"""The offline database: OSV records on disk (a directory or OSV's zip), matched by OSV's rules."""

from __future__ import annotations

import copy
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.vulns.model import DatabaseError
from pytest_mlsupply.vulns.offline import OfflineDatabase

from .records import REQUESTS_GHSA, REQUESTS_PYSEC, TORCH_WEIGHTS_ONLY, withdrawn


def record(
    id: str,
    package: str,
    *ranges: list[dict[str, str]],
    versions: list[str] | None = None,
    aliases: list[str] | None = None,
    ecosystem: str = "PyPI",
    **extra: Any,
) -> dict[str, Any]:
    """An OSV record affecting ``package`` through ECOSYSTEM ``ranges`` (lists of events)."""
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": package},
        "ranges": [{"type": "ECOSYSTEM", "events": events} for events in ranges],
    }
    if versions is not None:
        affected["versions"] = versions
    return {"id": id, "aliases": aliases or [], "affected": [affected], **extra}


def snapshot(directory: Path, *records: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rec in records:
        (directory / f"{rec['id']}.json").write_text(json.dumps(rec))
    return directory


def ids(db: OfflineDatabase, package: str, version: str) -> list[str]:
    return [a.id for a in db.lookup(package, version)]


def test_the_torch_load_advisory_affects_torch_before_2_6_rated_critical_by_its_cvss4_vector(
    tmp_path: Path,
) -> None:
    db = OfflineDatabase(snapshot(tmp_path / "osv", TORCH_WEIGHTS_ONLY))

    (advisory,) = db.lookup("torch", "2.5.1")

    assert advisory.id == "GHSA-53q9-r3pm-6pq6"
    assert advisory.aliases == ("CVE-2025-32434",)
    assert advisory.fixed == ("2.6.0",)
    assert (advisory.rating.severity, advisory.rating.method) == ("critical", "CVSSv4")
    assert advisory.rating.score == "9.3"
    assert advisory.summary.startswith("PyTorch: `torch.load`")
    assert advisory.url == (
        "https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6"
    )
    assert advisory.source == "offline:osv"
    assert db.lookup("torch", "2.6.0") == []
    assert db.lookup("torch", "2.6.0rc1") != []  # a pre-release of the fix is still before it


def test_a_ghsa_and_a_pysec_record_of_one_cve_are_one_advisory_with_every_id(
    tmp_path: Path,
) -> None:
    db = OfflineDatabase(snapshot(tmp_path / "osv", REQUESTS_PYSEC, REQUESTS_GHSA))

    (advisory,) = db.lookup("requests", "2.19.0")

    assert advisory.id == "PYSEC-2018-28"
    assert advisory.aliases == ("CVE-2018-18074", "GHSA-x84v-xcm2-53pg")
    # The PYSEC record has no rating; GitHub's CVSS 3.1 vector rates the merged advisory.
    assert (advisory.rating.method, advisory.rating.score) == ("CVSSv31", "7.5")
    assert advisory.summary == "Insufficiently Protected Credentials in Requests"
    assert db.lookup("requests", "2.20.0") == []


def test_records_linked_only_by_a_shared_cve_merge_and_unite_their_fixed_versions(
    tmp_path: Path,
) -> None:
    ghsa = record(
        "GHSA-aaaa-bbbb-cccc",
        "demo",
        [{"introduced": "0"}, {"fixed": "1.4.7"}],
        [{"introduced": "2.0"}, {"fixed": "2.1.3"}],
        aliases=["CVE-2024-0001"],
    )
    pysec = record(
        "PYSEC-2024-9", "demo", [{"introduced": "0"}, {"fixed": "2.1.3"}], aliases=["CVE-2024-0001"]
    )
    db = OfflineDatabase(snapshot(tmp_path / "osv", ghsa, pysec))

    (advisory,) = db.lookup("demo", "1.0")

    assert advisory.id == "PYSEC-2024-9"
    assert advisory.aliases == ("CVE-2024-0001", "GHSA-aaaa-bbbb-cccc")
    assert advisory.fixed == ("1.4.7", "2.1.3")


def test_the_primary_id_does_not_depend_on_which_file_is_read_first(tmp_path: Path) -> None:
    one = snapshot(tmp_path / "one", REQUESTS_GHSA)
    (one / "zzz.json").write_text(json.dumps(REQUESTS_PYSEC))
    two = snapshot(tmp_path / "two", REQUESTS_PYSEC)
    (two / "zzz.json").write_text(json.dumps(REQUESTS_GHSA))

    assert ids(OfflineDatabase(one), "requests", "2.0") == ["PYSEC-2018-28"]
    assert ids(OfflineDatabase(two), "requests", "2.0") == ["PYSEC-2018-28"]


def test_unrelated_advisories_of_one_version_stay_separate_findings(tmp_path: Path) -> None:
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record("PYSEC-1", "demo", [{"introduced": "0"}, {"fixed": "2.0"}]),
            record("PYSEC-2", "demo", [{"introduced": "1.0"}, {"fixed": "3.0"}]),
        )
    )

    assert ids(db, "demo", "1.5") == ["PYSEC-1", "PYSEC-2"]
    assert ids(db, "demo", "2.5") == ["PYSEC-2"]


def test_a_withdrawn_record_is_left_out(tmp_path: Path) -> None:
    db = OfflineDatabase(snapshot(tmp_path / "osv", withdrawn(TORCH_WEIGHTS_ONLY)))

    assert db.lookup("torch", "2.5.1") == []


def test_a_withdrawn_alias_does_not_hide_the_live_record(tmp_path: Path) -> None:
    db = OfflineDatabase(snapshot(tmp_path / "osv", withdrawn(REQUESTS_PYSEC), REQUESTS_GHSA))

    assert ids(db, "requests", "2.19.0") == ["GHSA-x84v-xcm2-53pg"]


def test_an_explicit_versions_list_affects_exactly_those_versions(tmp_path: Path) -> None:
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record("GHSA-vers-ions-only", "demo", versions=["1.0.0", "1.0.1", "1.2.0"]),
        )
    )

    assert ids(db, "demo", "1.0.1") == ["GHSA-vers-ions-only"]
    assert ids(db, "demo", "1.0") == ["GHSA-vers-ions-only"]  # PEP 440: 1.0 == 1.0.0
    assert ids(db, "demo", "1.1.0") == []
    assert ids(db, "demo", "1.0.2") == []


def test_last_affected_includes_that_version_and_nothing_after_it(tmp_path: Path) -> None:
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record(
                "GHSA-last-affe-cted", "demo", [{"introduced": "1.0"}, {"last_affected": "1.4.2"}]
            ),
        )
    )

    assert ids(db, "demo", "0.9") == []
    assert ids(db, "demo", "1.0") == ["GHSA-last-affe-cted"]
    assert ids(db, "demo", "1.4.2") == ["GHSA-last-affe-cted"]
    assert ids(db, "demo", "1.4.2.post1") == []
    assert ids(db, "demo", "1.4.3") == []
    assert db.lookup("demo", "1.4.2")[0].fixed == ()


def test_unsorted_events_and_several_ranges_are_ordered_by_pep_440(tmp_path: Path) -> None:
    # One range with two affected spans, written out of order; "1.10" sorts after "1.9" only
    # as a version, not as text.
    events = [{"fixed": "1.10"}, {"introduced": "1.9"}, {"fixed": "1.2"}, {"introduced": "0"}]
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record("PYSEC-unsorted", "demo", events, [{"introduced": "3.0"}, {"fixed": "3.0.5"}]),
        )
    )

    affected = {v: ids(db, "demo", v) != [] for v in ("0.1", "1.2", "1.5", "1.9", "1.9.9", "1.10")}
    assert affected == {
        "0.1": True,
        "1.2": False,
        "1.5": False,
        "1.9": True,
        "1.9.9": True,
        "1.10": False,
    }
    assert ids(db, "demo", "3.0.4") == ["PYSEC-unsorted"]
    assert ids(db, "demo", "3.0.5") == []
    assert db.lookup("demo", "1.9")[0].fixed == ("1.2", "1.10", "3.0.5")


def test_package_names_match_after_pep_503_normalisation_and_only_in_the_pypi_ecosystem(
    tmp_path: Path,
) -> None:
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record("PYSEC-yaml", "PyYAML", [{"introduced": "0"}, {"fixed": "5.4"}]),
            record("GHSA-npm", "pyyaml", [{"introduced": "0"}], ecosystem="npm"),
            record("PYSEC-sk", "Scikit_Learn", [{"introduced": "0"}, {"fixed": "1.0"}]),
        )
    )

    assert ids(db, "pyyaml", "5.3") == ["PYSEC-yaml"]
    assert ids(db, "PyYaml", "5.3") == ["PYSEC-yaml"]
    assert ids(db, "scikit-learn", "0.24") == ["PYSEC-sk"]


def test_git_ranges_say_nothing_about_pypi_versions(tmp_path: Path) -> None:
    rec = record("GHSA-gitr-ange-only", "demo")
    rec["affected"][0]["ranges"] = [
        {"type": "GIT", "repo": "https://example.com/demo", "events": [{"introduced": "0"}]}
    ]
    db = OfflineDatabase(snapshot(tmp_path / "osv", rec))

    assert db.lookup("demo", "1.0") == []


def test_an_unparseable_fixed_bound_widens_the_range_and_says_so(tmp_path: Path) -> None:
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record("PYSEC-bad-bound", "demo", [{"introduced": "0"}, {"fixed": "2.0-final!!"}]),
        )
    )

    (advisory,) = db.lookup("demo", "9.0")  # no version can be shown to be past that bound

    assert advisory.fixed == ()
    assert "'2.0-final!!' is not a PEP 440 version" in advisory.details


def test_a_version_that_is_not_pep_440_cannot_be_audited(tmp_path: Path) -> None:
    db = OfflineDatabase(snapshot(tmp_path / "osv", TORCH_WEIGHTS_ONLY))

    with pytest.raises(DatabaseError, match="not a PEP 440 version"):
        db.lookup("torch", "latest-nightly")


def test_osvs_pypi_zip_export_is_read_like_a_directory(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for rec in (TORCH_WEIGHTS_ONLY, REQUESTS_PYSEC, REQUESTS_GHSA):
            out.writestr(f"{rec['id']}.json", json.dumps(rec))
    db = OfflineDatabase(archive)

    assert ids(db, "torch", "2.5.1") == ["GHSA-53q9-r3pm-6pq6"]
    assert ids(db, "requests", "2.19.0") == ["PYSEC-2018-28"]
    assert db.lookup("requests", "2.19.0")[0].source == "offline:all.zip"


def test_a_record_that_is_not_json_fails_the_database_naming_the_file(tmp_path: Path) -> None:
    directory = snapshot(tmp_path / "osv", TORCH_WEIGHTS_ONLY)
    (directory / "nested").mkdir()
    (directory / "nested" / "PYSEC-broken.json").write_text('{"id": "PYSEC-broken", ')
    db = OfflineDatabase(directory)

    with pytest.raises(DatabaseError) as error:
        db.lookup("torch", "2.5.1")
    assert "nested/PYSEC-broken.json: not a valid OSV record: invalid JSON" in str(error.value)
    assert "download the snapshot again" in str(error.value)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda r: r.pop("id"), "it has no `id`"),
        (lambda r: r.update(affected={"package": "torch"}), "`affected` is not a list"),
        (lambda r: r["affected"][0]["ranges"][0].pop("events"), "has no `events` list"),
        (
            lambda r: r["affected"][0]["ranges"][0].update(events=[{"fixed": 2.6}]),
            "events[0]` is not one",
        ),
        (lambda r: r["affected"][0]["package"].pop("name"), "needs string `ecosystem` and `name`"),
    ],
)
def test_a_record_of_the_wrong_shape_fails_the_database_naming_what_is_wrong(
    tmp_path: Path, mutation: Any, message: str
) -> None:
    broken = copy.deepcopy(TORCH_WEIGHTS_ONLY)
    mutation(broken)
    directory = tmp_path / "osv"
    directory.mkdir()
    (directory / "bad.json").write_text(json.dumps(broken))

    with pytest.raises(DatabaseError, match=r"bad\.json: not a valid OSV record") as error:
        OfflineDatabase(directory).lookup("numpy", "2.0")
    assert message in str(error.value)


def test_a_broken_member_of_the_zip_is_named(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("GHSA-53q9-r3pm-6pq6.json", json.dumps(TORCH_WEIGHTS_ONLY))
        out.writestr("PYSEC-0000-1.json", "[1, 2]")

    with pytest.raises(DatabaseError, match=r"all\.zip:PYSEC-0000-1\.json: .*top level is a list"):
        OfflineDatabase(archive).lookup("torch", "2.5.1")


def test_an_empty_snapshot_is_an_error_not_a_database_without_vulnerabilities(
    tmp_path: Path,
) -> None:
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "README.md").write_text("records go here")

    with pytest.raises(DatabaseError, match="holds no OSV records"):
        OfflineDatabase(tmp_path / "osv").lookup("torch", "2.5.1")


def test_a_file_that_is_not_a_zip_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "all.zip").write_bytes(b"<html>rate limited</html>")

    with pytest.raises(DatabaseError, match="neither a directory nor a readable zip"):
        OfflineDatabase(tmp_path / "all.zip").lookup("torch", "2.5.1")


def test_the_state_of_a_directory_changes_when_a_record_is_rewritten_even_with_its_old_mtime(
    tmp_path: Path,
) -> None:
    directory = snapshot(tmp_path / "osv", TORCH_WEIGHTS_ONLY)
    path = directory / "GHSA-53q9-r3pm-6pq6.json"
    before = OfflineDatabase(directory).state
    assert OfflineDatabase(directory).state == before  # stable while nothing changes

    stat = path.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity
    text = path.read_text()
    path.write_text(text.replace('"2.6.0"', '"2.7.0"'))  # same size, other content
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the mtime put back, as rsync -t

    assert path.stat().st_size == stat.st_size
    assert OfflineDatabase(directory).state != before


def test_the_state_of_a_zip_is_its_content_hash(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"

    def write(fixed: str) -> str:
        rec = copy.deepcopy(TORCH_WEIGHTS_ONLY)
        rec["affected"][0]["ranges"][0]["events"][1]["fixed"] = fixed
        with zipfile.ZipFile(archive, "w") as out:
            info = zipfile.ZipInfo("GHSA-53q9-r3pm-6pq6.json", date_time=(2025, 1, 1, 0, 0, 0))
            out.writestr(info, json.dumps(rec))
        return OfflineDatabase(archive).state

    assert write("2.6.0") == write("2.6.0")
    assert write("2.6.0") != write("2.7.0")


def test_the_snapshot_is_read_once_however_many_lookups(tmp_path: Path) -> None:
    directory = snapshot(tmp_path / "osv", TORCH_WEIGHTS_ONLY, REQUESTS_PYSEC)
    db = OfflineDatabase(directory)
    assert ids(db, "torch", "2.5.1") == ["GHSA-53q9-r3pm-6pq6"]

    # Once indexed, the files are not read again: removing them changes no answer.
    for path in directory.iterdir():
        path.unlink()

    assert ids(db, "requests", "2.0") == ["PYSEC-2018-28"]
    assert ids(db, "torch", "2.5.1") == ["GHSA-53q9-r3pm-6pq6"]


def test_a_broken_snapshot_is_read_once_and_fails_every_lookup_the_same_way(
    tmp_path: Path,
) -> None:
    directory = snapshot(tmp_path / "osv", TORCH_WEIGHTS_ONLY)
    (directory / "PYSEC-broken.json").write_text("{")
    db = OfflineDatabase(directory)
    with pytest.raises(DatabaseError, match=r"PYSEC-broken\.json") as first:
        db.lookup("torch", "2.5.1")

    (directory / "PYSEC-broken.json").unlink()  # not read again in this session

    with pytest.raises(DatabaseError) as second:
        db.lookup("requests", "2.0")
    assert str(second.value) == str(first.value)


def test_a_local_build_of_an_affected_release_is_affected_like_the_release(
    tmp_path: Path,
) -> None:
    # PyTorch publishes `2.5.1+cpu`; PEP 440 sorts it after 2.5.1, so a record that ends at
    # `last_affected: 2.5.1` or lists `versions: [2.5.1]` used to miss the build.
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record(
                "GHSA-last-affected", "torch", [{"introduced": "0"}, {"last_affected": "2.5.1"}]
            ),
            record("MAL-2026-1", "evil-pkg", versions=["1.0"]),
            record("GHSA-fixed", "numpy", [{"introduced": "1.0"}, {"fixed": "1.2"}]),
        )
    )

    assert ids(db, "torch", "2.5.1+cpu") == ["GHSA-last-affected"]
    assert ids(db, "evil-pkg", "1.0+local.1") == ["MAL-2026-1"]
    assert ids(db, "numpy", "1.2+custom") == []  # a build of the fix is fixed
    assert ids(db, "torch", "2.5.2+cpu") == []


def test_a_semver_range_on_a_pypi_package_is_matched_like_an_ecosystem_range(
    tmp_path: Path,
) -> None:
    semver = record("GHSA-semver", "vllm", [{"introduced": "0.5.0"}, {"fixed": "0.8.0-rc.1"}])
    semver["affected"][0]["ranges"][0]["type"] = "SEMVER"
    git = record("GHSA-git", "vllm", [{"introduced": "0"}, {"fixed": "deadbeef"}])
    git["affected"][0]["ranges"][0]["type"] = "GIT"
    db = OfflineDatabase(snapshot(tmp_path / "osv", semver, git))

    assert ids(db, "vllm", "0.7.3") == ["GHSA-semver"]
    assert ids(db, "vllm", "0.8.0") == []
    assert ids(db, "vllm", "0.4.0") == []


@pytest.mark.parametrize(
    "extra",
    ["/E:U/CR:L/IR:L/AR:L", "/MVC:N/MVI:N/MVA:N/MSC:N/MSI:N/MSA:N", "/S:P/AU:N/R:A"],
)
def test_a_cvss4_vector_is_rated_by_its_base_metrics_whatever_threat_or_environment_it_adds(
    tmp_path: Path, extra: str
) -> None:
    base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    rec = record(
        "GHSA-env",
        "torch",
        [{"introduced": "0"}, {"fixed": "2.6.0"}],
        severity=[{"type": "CVSS_V4", "score": base + extra}],
    )
    (advisory,) = OfflineDatabase(snapshot(tmp_path / "osv", rec)).lookup("torch", "2.5.1")

    assert (advisory.rating.severity, advisory.rating.score) == ("critical", "9.3")
    assert advisory.rating.vector == base + extra


def test_a_range_without_an_introduced_event_affects_every_version_below_its_bound(
    tmp_path: Path,
) -> None:
    db = OfflineDatabase(
        snapshot(
            tmp_path / "osv",
            record("GHSA-only-fixed", "torch", [{"fixed": "2.6.0"}]),
            record("GHSA-only-last", "numpy", [{"last_affected": "1.26.4"}]),
        )
    )

    assert ids(db, "torch", "2.5.1") == ["GHSA-only-fixed"]
    assert ids(db, "torch", "2.6.0") == []
    assert ids(db, "numpy", "1.26.4") == ["GHSA-only-last"]
    (advisory,) = db.lookup("torch", "1.0")
    assert "no `introduced` event" in advisory.details


@pytest.mark.parametrize("kind", ["Ecosystem", None])
def test_a_range_of_a_type_the_schema_does_not_define_is_read_as_versions(
    tmp_path: Path, kind: str | None
) -> None:
    rec = record("GHSA-odd-type", "torch", [{"introduced": "0"}, {"fixed": "2.6.0"}])
    if kind is None:
        del rec["affected"][0]["ranges"][0]["type"]
    else:
        rec["affected"][0]["ranges"][0]["type"] = kind
    db = OfflineDatabase(snapshot(tmp_path / "osv", rec))

    assert ids(db, "torch", "2.5.1") == ["GHSA-odd-type"]
    assert ids(db, "torch", "2.6.0") == []


def test_a_package_s_own_database_severity_counts_when_worse_than_the_record_s(
    tmp_path: Path,
) -> None:
    rec = record(
        "GHSA-per-package",
        "torch",
        [{"introduced": "0"}, {"fixed": "2.6.0"}],
        database_specific={"severity": "LOW"},
    )
    rec["affected"][0]["database_specific"] = {"severity": "CRITICAL"}
    other = record(
        "GHSA-ecosystem-word",
        "numpy",
        [{"introduced": "0"}, {"fixed": "2.0"}],
    )
    other["affected"][0]["ecosystem_specific"] = {"severity": "HIGH"}
    db = OfflineDatabase(snapshot(tmp_path / "osv", rec, other))

    (advisory,) = db.lookup("torch", "2.5.1")
    (numpy_advisory,) = db.lookup("numpy", "1.26.4")

    assert (advisory.rating.severity, advisory.rating.source) == ("critical", "database")
    assert (numpy_advisory.rating.severity, numpy_advisory.rating.source) == ("high", "database")
