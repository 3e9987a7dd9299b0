"""The vulnerabilities check, driven through the real pipeline against offline OSV snapshots."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.results import Location, Severity, Verdict
from pytest_mlsupply.vulns.model import FACTS_KEY, Advisory
from pytest_mlsupply.vulns.offline import OfflineDatabase
from tests.vulns.records import REQUESTS_GHSA, REQUESTS_PYSEC, TORCH_WEIGHTS_ONLY
from tests.vulns.test_offline import record

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


@pytest.fixture(autouse=True)
def default_cache_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLSUPPLY_CACHE_DIR", raising=False)


def audit(
    pipeline: Pipeline,
    requirements: str,
    *records: dict[str, Any],
    section: str = "{service: offline, path: osv}",
) -> None:
    root = pipeline.project.root
    (root / "requirements.txt").write_text(requirements)
    osv = root / "osv"
    for old in osv.glob("*.json"):
        old.unlink()
    for rec in records:
        (osv / f"{rec['id']}.json").write_text(json.dumps(rec))
    pipeline.manifest(
        f"version: 1\nrequirements: [{{file: requirements.txt}}]\nvulnerabilities: {section}\n"
    )


def test_a_vulnerable_torch_pin_fails_with_the_advisory_its_aliases_and_the_upgrade(
    pipeline: Pipeline,
) -> None:
    audit(pipeline, "numpy==2.1.0\ntorch==2.5.1\n", TORCH_WEIGHTS_ONLY)

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-VULN-001", Severity.CRITICAL)
    assert finding.title == "GHSA-53q9-r3pm-6pq6: known vulnerability in torch 2.5.1"
    assert finding.location == Location(file="requirements.txt", line=2)
    assert "aliases: CVE-2025-32434" in finding.evidence
    assert "CVSSv4 9.3 CVSS:4.0/AV:N/AC:L" in finding.evidence
    assert finding.why.startswith("PyTorch: `torch.load` with `weights_only=True`")
    assert finding.remediation.startswith(
        "GHSA-53q9-r3pm-6pq6 is fixed in 2.6.0; upgrade to torch==2.6.0"
    )
    assert finding.cwe == "CWE-1395"
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
    (stored,) = [Advisory.from_json(a) for a in result.facts[FACTS_KEY]]
    assert stored.id == "GHSA-53q9-r3pm-6pq6"
    assert stored.rating.score == "9.3"


def test_a_version_no_advisory_affects_passes_with_an_empty_advisory_list(
    pipeline: Pipeline,
) -> None:
    audit(pipeline, "torch==2.6.0\n", TORCH_WEIGHTS_ONLY)

    result = pipeline.result("dependency[torch==2.6.0]", "vulnerabilities")

    assert result.findings == []
    assert result.facts == {FACTS_KEY: []}
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_aliased_records_give_one_finding_per_vulnerability(pipeline: Pipeline) -> None:
    audit(pipeline, "requests==2.19.0\n", REQUESTS_PYSEC, REQUESTS_GHSA)

    result = pipeline.result("dependency[requests==2.19.0]", "vulnerabilities")

    (finding,) = result.findings
    assert finding.title.startswith("PYSEC-2018-28:")
    assert "aliases: CVE-2018-18074, GHSA-x84v-xcm2-53pg" in finding.evidence
    assert finding.severity is Severity.HIGH  # CVSS 3.1 base score 7.5
    assert len(result.facts[FACTS_KEY]) == 1


def test_the_upgrade_skips_a_fixed_version_that_a_later_advisory_affects(
    pipeline: Pipeline,
) -> None:
    audit(
        pipeline,
        "demo==1.0\n",
        record("PYSEC-2024-1", "demo", [{"introduced": "0"}, {"fixed": "2.0"}]),
        # 2.0 fixed the first advisory but brought another one, fixed in 2.1.
        record("PYSEC-2024-2", "demo", [{"introduced": "2.0"}, {"fixed": "2.1"}]),
        record("PYSEC-2024-3", "demo", [{"introduced": "0.5"}, {"fixed": "1.5"}]),
    )

    result = pipeline.result("dependency[demo==1.0]", "vulnerabilities")

    assert [f.title.split(":")[0] for f in result.findings] == ["PYSEC-2024-1", "PYSEC-2024-3"]
    first, second = result.findings
    assert first.remediation.startswith("PYSEC-2024-1 is fixed in 2.0; upgrade to demo==2.1,")
    assert second.remediation.startswith("PYSEC-2024-3 is fixed in 1.5; upgrade to demo==2.1,")


def test_without_a_release_that_clears_every_advisory_the_finding_says_so(
    pipeline: Pipeline,
) -> None:
    audit(
        pipeline,
        "demo==1.0\n",
        record("GHSA-no-fix", "demo", [{"introduced": "0"}, {"last_affected": "3.0"}]),
        record("PYSEC-2024-1", "demo", [{"introduced": "0"}, {"fixed": "2.0"}]),
    )

    result = pipeline.result("dependency[demo==1.0]", "vulnerabilities")

    by_id = {f.title.split(":")[0]: f for f in result.findings}
    assert by_id["GHSA-no-fix"].remediation.startswith(
        "no fixed version of demo is published for GHSA-no-fix; no version above 1.0 is known "
        "to clear every advisory of demo"
    )
    assert by_id["PYSEC-2024-1"].remediation.startswith("PYSEC-2024-1 is fixed in 2.0; no version")


def test_an_unpinned_requirement_is_not_guessed_to_a_version(pipeline: Pipeline) -> None:
    audit(pipeline, "torch>=2.0\n", TORCH_WEIGHTS_ONLY)

    result = pipeline.result("dependency[torch>=2.0]", "vulnerabilities")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-VULN-002", Severity.INFO)
    assert finding.evidence == "torch>=2.0"
    assert FACTS_KEY not in result.facts


def test_a_broken_snapshot_makes_the_item_an_error_naming_the_record(pipeline: Pipeline) -> None:
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)
    (pipeline.project.root / "osv" / "PYSEC-broken.json").write_text("{not json")

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR
    assert result.error is not None
    assert result.error.startswith("cannot audit for vulnerabilities: ")
    assert "PYSEC-broken.json: not a valid OSV record" in result.error


def test_a_service_that_cannot_be_reached_is_an_error_that_explains_the_offline_snapshot(
    pipeline: Pipeline,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    audit(pipeline, "torch==2.5.1\n", section=f"{{service: osv, url: 'http://127.0.0.1:{port}'}}")

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR
    assert result.error is not None
    assert "could not be audited" in result.error
    assert "service: offline" in result.error


def test_a_second_run_is_answered_from_the_cache_without_reading_the_snapshot(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)
    cold = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")
    entries = (pipeline.project.root / ".mlsupply-cache" / "vulnerabilities").rglob("*.json")
    assert [p.name for p in entries] == ["torch==2.5.1.json"]  # the answer, its upgrade included
    asked: list[tuple[str, str]] = []
    real_lookup = OfflineDatabase.lookup

    def counting_lookup(self: OfflineDatabase, package: str, version: str) -> list[Advisory]:
        asked.append((package, version))
        return real_lookup(self, package, version)

    monkeypatch.setattr(OfflineDatabase, "lookup", counting_lookup)
    warm = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")  # a new session

    assert warm.findings == cold.findings
    assert warm.facts == cold.facts
    assert asked == []  # answered by the cache: the snapshot was not even indexed


def test_a_corrupted_cache_entry_is_ignored_and_rewritten(pipeline: Pipeline) -> None:
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)
    pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")
    (entry,) = (pipeline.project.root / ".mlsupply-cache").rglob("torch==2.5.1.json")
    stored = json.loads(entry.read_text())
    stored["answer"]["advisories"] = [{"id": "half an advisory"}]
    entry.write_text(json.dumps(stored))  # the right key, an answer that does not parse

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert [f.rule for f in result.findings] == ["MLS-VULN-001"]
    assert json.loads(entry.read_text())["answer"]["advisories"][0]["id"] == "GHSA-53q9-r3pm-6pq6"


def test_an_entry_for_another_database_state_is_not_trusted(pipeline: Pipeline) -> None:
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)
    pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")
    (entry,) = (pipeline.project.root / ".mlsupply-cache").rglob("torch==2.5.1.json")
    stored = json.loads(entry.read_text())
    stored["key"]["state"] = "offline:another-snapshot"
    stored["answer"] = {"advisories": [], "upgrade": None}  # a pass, if trusted
    entry.write_text(json.dumps(stored))

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert [f.rule for f in result.findings] == ["MLS-VULN-001"]


def test_a_new_snapshot_is_audited_afresh(pipeline: Pipeline) -> None:
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)
    assert pipeline.result("dependency[torch==2.5.1]", "vulnerabilities").findings

    audit(pipeline, "torch==2.5.1\n", REQUESTS_PYSEC)

    assert pipeline.result("dependency[torch==2.5.1]", "vulnerabilities").findings == []


def test_the_cache_goes_where_mlsupply_cache_dir_says(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", str(tmp_path / "elsewhere"))
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)

    pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert list((tmp_path / "elsewhere" / "vulnerabilities").rglob("torch==2.5.1.json"))
    assert not (pipeline.project.root / ".mlsupply-cache").exists()


def test_the_cache_can_be_turned_off(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", "off")
    audit(pipeline, "torch==2.5.1\n", TORCH_WEIGHTS_ONLY)

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert [f.rule for f in result.findings] == ["MLS-VULN-001"]
    assert not (pipeline.project.root / ".mlsupply-cache").exists()


def test_a_clean_answer_planted_in_the_project_cache_is_not_trusted(
    pipeline: Pipeline,
) -> None:
    # The cache sits beside the manifest, so it can be committed with the project. A zip
    # snapshot's state is the hash of its bytes: anyone can compute the entry's path and key
    # and plant "no advisory" for a vulnerable pin.
    import hashlib
    import zipfile

    from pytest_mlsupply.vulns.cache import FORMAT

    root = pipeline.project.root
    with zipfile.ZipFile(root / "osv.zip", "w") as archive:
        archive.writestr("GHSA-53q9-r3pm-6pq6.json", json.dumps(TORCH_WEIGHTS_ONLY))
    state = OfflineDatabase(root / "osv.zip").state
    folder = root / ".mlsupply-cache" / "vulnerabilities"
    folder /= hashlib.sha256(state.encode()).hexdigest()[:24]
    folder.mkdir(parents=True)
    key = {"format": FORMAT, "name": "torch", "version": "2.5.1", "state": state}
    (folder / "torch==2.5.1.json").write_text(
        json.dumps({"key": key, "answer": {"advisories": [], "upgrade": None}})
    )
    audit(pipeline, "torch==2.5.1\n", section="{service: offline, path: osv.zip}")

    result = pipeline.result("dependency[torch==2.5.1]", "vulnerabilities")

    assert [f.rule for f in result.findings] == ["MLS-VULN-001"]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
