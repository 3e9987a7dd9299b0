"""`pytest --mlsupply` audits the dependencies against an offline OSV snapshot, end to end."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import Project, comparable_matrix
from tests.vulns.records import REQUESTS_GHSA, REQUESTS_PYSEC, TORCH_WEIGHTS_ONLY

REQUIREMENTS = "numpy==2.1.0\ntorch==2.5.1\nrequests==2.19.0\nsafetensors>=0.4\n"


@pytest.fixture
def vulnerable(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The project pinning a torch and a requests that real advisories affect; the snapshot is
    OSV's zip export holding those advisories."""
    monkeypatch.delenv("MLSUPPLY_CACHE_DIR", raising=False)
    (project.root / "requirements.txt").write_text(REQUIREMENTS)
    with zipfile.ZipFile(project.root / "all.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for record in (TORCH_WEIGHTS_ONLY, REQUESTS_PYSEC, REQUESTS_GHSA):
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    text = (project.root / "mlsupply.yaml").read_text()
    (project.root / "mlsupply.yaml").write_text(text.replace("path: osv}", "path: all.zip}"))
    return project


def matrix_cell(project: Project, subject: str, column: str) -> str:
    """One cell of the matrix's dependency table, by row subject and column name."""
    lines = (project.root / "build" / "mlsupply-matrix.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| dependency |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    (row,) = [line for line in lines if line.startswith(f"| `{subject}` |")]
    return [c.strip() for c in row.strip("|").split("|")][columns.index(column)]


def test_vulnerable_pins_fail_their_items_and_the_rest_pass(
    pytester: pytest.Pytester, vulnerable: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "-p", "no:xdist")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*[[]CRITICAL[]] MLS-VULN-001 GHSA-53q9-r3pm-6pq6: known vulnerability in torch 2.5.1*",
            "*fix: GHSA-53q9-r3pm-6pq6 is fixed in 2.6.0; upgrade to torch==2.6.0*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*[[]HIGH[]] MLS-VULN-001 PYSEC-2018-28: known vulnerability in requests 2.19.0*"]
    )
    assert "GHSA-x84v-xcm2-53pg: known" not in result.stdout.str()  # one finding per vuln
    failed = {r.nodeid.split("::")[-1] for r in result.reprec.getreports() if r.failed}
    assert failed == {
        "dependency[torch==2.5.1]",
        "dependency[requests==2.19.0]",
        "dependency[safetensors>=0.4]",  # by its `pinned` column only
    }
    assert matrix_cell(vulnerable, "numpy==2.1.0", "vulnerabilities") == "✅ pass"
    assert matrix_cell(vulnerable, "torch==2.5.1", "vulnerabilities") == "❌ fail"
    assert matrix_cell(vulnerable, "torch==2.5.1", "pinned") == "✅ pass"
    # Not audited (no version to audit), said with an info note, not a second failure.
    assert matrix_cell(vulnerable, "safetensors>=0.4", "vulnerabilities") == "✅ pass"
    assert matrix_cell(vulnerable, "safetensors>=0.4", "pinned") == "❌ fail"
    result.stdout.fnmatch_lines(["*MLS-VULN-002 not audited for known vulnerabilities*"])


def test_two_xdist_workers_share_one_cache_and_agree_with_a_serial_run(
    pytester: pytest.Pytester, vulnerable: Project
) -> None:
    pytest.importorskip("xdist")
    parallel = pytester.runpytest_subprocess("--mlsupply", "-n", "2")
    assert parallel.ret == 1
    parallel_matrix = comparable_matrix(vulnerable.root / "build" / "mlsupply-matrix.json")
    cache = vulnerable.root / ".mlsupply-cache" / "vulnerabilities"
    entries = sorted(
        p.relative_to(cache).as_posix().split("/", 1)[1] for p in cache.rglob("*.json")
    )
    # One state folder, one answer per pinned release, whichever worker audited it.
    assert entries == ["numpy==2.1.0.json", "requests==2.19.0.json", "torch==2.5.1.json"]

    serial = pytester.runpytest_subprocess("--mlsupply", "-p", "no:xdist")  # warm
    assert serial.ret == 1
    assert comparable_matrix(vulnerable.root / "build" / "mlsupply-matrix.json") == parallel_matrix


def test_a_snapshot_path_that_is_missing_is_a_manifest_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    text = (project.root / "mlsupply.yaml").read_text()
    (project.root / "mlsupply.yaml").write_text(text.replace("path: osv}", "path: nowhere}"))

    result = pytester.runpytest("--mlsupply", "-p", "no:xdist")

    assert result.ret != 0
    result.stdout.fnmatch_lines(["*vulnerabilities.path*does not exist*"])


def test_a_malformed_snapshot_errors_every_audited_item_and_never_passes(
    pytester: pytest.Pytester, project: Project, tmp_path: Path
) -> None:
    (project.root / "osv" / "PYSEC-bad.json").write_text("[]")

    result = pytester.runpytest("--mlsupply", "-p", "no:xdist")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*cannot audit for vulnerabilities: *PYSEC-bad.json: not a valid OSV record*"]
    )
    text = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert text.count("error") >= 2
