"""The baseline in the gate: `mlsupply baseline` writes it, the gate refuses it until it is filled,
then accepts exactly those findings (cells "accepted", the BOM and attestation say so); an
expired acceptance fails; a stale entry is reported; two xdist workers agree with a serial run."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.baseline import fingerprint, today_utc
from pytest_mlsupply.cli import main
from tests.attest_keys import KINDS, write_keypair
from tests.conftest import Project, comparable_matrix, write_pickle_payload

#: A date the acceptances hold to, whatever day the suite runs (at most a year ahead).
FUTURE = (today_utc() + timedelta(days=90)).isoformat()

#: The three findings of ``write_pickle_payload``'s file, accepted (written by hand, as a user may,
#: each bound to what the scanner reports: its title and evidence, here as the scanner words them).
ACCEPTED_PICKLE = "version: 1\naccepted:\n" + "".join(
    f"  - rule: {rule}\n    kind: artifact\n    subject: tiny/evil.pkl\n    check: {check}\n"
    f"    location: {location}\n    fingerprint: '{fingerprint(*found)}'\n"
    f"    reason: SEC-12\n    owner: alice\n    expires: {FUTURE}\n"
    for rule, check, location, found in (
        (
            "MLS-FMT-001",
            "format",
            "{file: tiny/evil.pkl}",
            (
                "unsafe serialisation format: pickle",
                "bytes 80 02 63 6f; 6 opcodes parse up to STOP; globals os.system",
            ),
        ),
        (
            "MLS-PKL-001",
            "scan",
            "{file: tiny/evil.pkl, offset: 2}",
            ("pickle imports dangerous global os.system", "GLOBAL os system"),
        ),
        (
            "MLS-PKL-002",
            "scan",
            "{file: tiny/evil.pkl, offset: 23}",
            (
                "pickle calls dangerous callable os.system",
                "REDUCE on os.system (imported at byte 2) with arguments ('true')",
            ),
        ),
    )
)


def matrix(project: Project) -> dict[str, Any]:
    return json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())


def cells(project: Project, subject: str) -> dict[str, str]:
    return {r["subject"]: r["cells"] for r in matrix(project)["rows"]}[subject]


def fill(path: Path, *, owner: str = "ml-platform", expires: str = FUTURE) -> None:
    text = path.read_text()
    text = text.replace("reason: TODO", "reason: a reviewed fixture, tracked in SEC-12")
    text = text.replace("owner: TODO", f"owner: {owner}")
    path.write_text(text.replace("expires: TODO", f"expires: {expires}"))


@pytest.fixture
def unsafe(project: Project) -> Project:
    """The project with a pickle that fails the format and scan checks."""
    write_pickle_payload(project.model_dir / "evil.pkl")
    return project


def test_a_baseline_written_filled_and_rerun_lets_the_gate_pass(
    pytester: pytest.Pytester, unsafe: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pytester.runpytest("--mlsupply").ret == pytest.ExitCode.TESTS_FAILED
    assert main(["baseline"]) == 0
    assert "new" in capsys.readouterr().out
    written = unsafe.root / "mlsupply-baseline.yaml"
    assert "rule: MLS-PKL-001" in written.read_text()

    # Unfilled, the baseline is refused before anything runs, naming each entry.
    refused = pytester.runpytest("--mlsupply")
    assert refused.ret == pytest.ExitCode.INTERRUPTED
    refused.stdout.fnmatch_lines(
        ["mlsupply-baseline.yaml:*: accepted[[]*[]]: MLS-PKL-001 on 'tiny/evil.pkl': *TODO*"]
    )

    fill(written)
    passed = pytester.runpytest("--mlsupply")
    assert passed.ret == pytest.ExitCode.OK
    assert cells(unsafe, "tiny/evil.pkl") == {
        "format": "accepted",
        "scan": "accepted",
        "sha256": "pass",
    }
    passed.stdout.fnmatch_lines(["checks: *accepted*", "baseline mlsupply-baseline.yaml: *"])
    accepted = [f for f in matrix(unsafe)["findings"] if "accepted" in f]
    assert {f["rule"] for f in accepted} >= {"MLS-FMT-001", "MLS-PKL-001", "MLS-PKL-002"}
    assert all(f["accepted"]["owner"] == "ml-platform" for f in accepted)
    bom = json.loads((unsafe.root / "build" / "ml-bom.cdx.json").read_text())
    properties = {
        p["name"]: p["value"]
        for c in bom["components"]
        for sub in c.get("components", [])
        if sub["name"].endswith("evil.pkl")
        for p in sub.get("properties", [])
    }
    assert properties["mlsupply:check:scan"] == "accepted"
    assert f"accepted by ml-platform until {FUTURE}" in properties["mlsupply:accepted:scan"]

    # Written again, the filled entries keep their reason, owner and date.
    assert main(["baseline"]) == 0
    assert "0 new" in capsys.readouterr().out
    assert ": TODO" not in written.read_text()
    assert "owner: ml-platform" in written.read_text()


def test_a_new_finding_beside_the_accepted_ones_still_fails(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    pytester.runpytest("--mlsupply")
    assert main(["baseline"]) == 0
    fill(unsafe.root / "mlsupply-baseline.yaml")
    write_pickle_payload(unsafe.model_dir / "second.pkl")  # the same bytes, another file
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert cells(unsafe, "tiny/second.pkl")["scan"] == "fail"
    assert cells(unsafe, "tiny/evil.pkl")["scan"] == "accepted"


def test_an_expired_acceptance_fails_the_gate_naming_its_owner_and_date(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    pytester.runpytest("--mlsupply")
    assert main(["baseline"]) == 0
    fill(unsafe.root / "mlsupply-baseline.yaml", owner="alice", expires="2024-01-31")
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*MLS-BASE-001 the acceptance of MLS-PKL-001 expired on 2024-01-31",
            "*evidence: mlsupply-baseline.yaml:*: accepted by alice until 2024-01-31*",
        ]
    )
    assert cells(unsafe, "tiny/evil.pkl")["scan"] == "fail"
    assert matrix(unsafe)["baseline"]["expired"] >= 2


def test_an_entry_that_matches_nothing_is_reported_as_stale(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "mlsupply-baseline.yaml").write_text(
        "version: 1\n"
        "accepted:\n"
        "  - {rule: MLS-FMT-001, kind: artifact, subject: tiny/model.safetensors, check: format,\n"
        "     location: {file: tiny/model.safetensors},\n"
        f"     fingerprint: '{fingerprint('unsafe serialisation format: pickle', '')}',\n"
        f"     reason: was a pickle once, owner: alice, expires: {FUTURE}}}\n"
    )
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["stale baseline entry: mlsupply-baseline.yaml:3: MLS-FMT-001 on *; remove the entry"]
    )
    (stale,) = matrix(project)["baseline"]["stale"]
    assert stale["source"] == "mlsupply-baseline.yaml:3"
    markdown = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "### Baseline entries that matched nothing" in markdown


def test_policy_baseline_names_the_file_and_a_missing_one_is_an_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="policy: {baseline: security/accepted.yaml}")
    missing = pytester.runpytest("--mlsupply")
    assert missing.ret == pytest.ExitCode.INTERRUPTED
    missing.stdout.fnmatch_lines(
        ["*policy.baseline: file 'security/accepted.yaml' does not exist*"]
    )
    (project.root / "security").mkdir()
    (project.root / "security" / "accepted.yaml").write_text("version: 1\naccepted: []\n")
    passed = pytester.runpytest("--mlsupply")
    assert passed.ret == pytest.ExitCode.OK
    assert matrix(project)["baseline"]["file"] == "security/accepted.yaml"


@pytest.mark.needs("xdist")
def test_two_workers_accept_and_expire_exactly_as_a_serial_run(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    pytester.runpytest("--mlsupply")
    assert main(["baseline"]) == 0
    written = unsafe.root / "mlsupply-baseline.yaml"
    fill(written)
    # One acceptance expired, the others current: both outcomes cross the worker boundary.
    text = written.read_text()
    head, sep, tail = text.partition("rule: MLS-PKL-002")
    written.write_text(head + sep + tail.replace(FUTURE, "2024-01-31", 1))

    serial = pytester.runpytest_subprocess("--mlsupply", "-p", "no:xdist")
    serial_matrix = comparable_matrix(unsafe.root / "build" / "mlsupply-matrix.json")
    parallel = pytester.runpytest_subprocess("--mlsupply", "-n", "2")
    assert parallel.ret == serial.ret == pytest.ExitCode.TESTS_FAILED
    # Equal but for the time and the BOM serial number each run stamps.
    assert comparable_matrix(unsafe.root / "build" / "mlsupply-matrix.json") == serial_matrix
    assert cells(unsafe, "tiny/evil.pkl") == {
        "format": "accepted",
        "scan": "fail",
        "sha256": "pass",
    }
    # The items agree with their cells: only the expired acceptance's item failed.
    for run in (serial, parallel):
        run.stdout.fnmatch_lines(["FAILED *tiny/evil.pkl::scan*"])
        run.stdout.no_fnmatch_line("FAILED *tiny/evil.pkl::format*")


def test_the_attestation_of_a_pass_that_relies_on_the_baseline_says_so_to_the_verifier(
    pytester: pytest.Pytester, unsafe: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    unsafe.default_manifest(top="policy: {baseline: security/accepted.yaml}")
    (unsafe.root / "security").mkdir()
    (unsafe.root / "security" / "accepted.yaml").write_text(ACCEPTED_PICKLE)
    private, public = write_keypair(unsafe.root / "keys", "gate", KINDS[0])
    assert pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}").ret == 0
    attestation = unsafe.root / "build" / "ml-bom.cdx.json.intoto.json"
    bom = unsafe.root / "build" / "ml-bom.cdx.json"
    verify = ["verify", str(attestation), "--key", str(public), "--bom", str(bom)]
    assert main([*verify, str(unsafe.model_dir)]) == 0
    out = capsys.readouterr().out
    assert "baseline: security/accepted.yaml (sha256 " in out
    assert "3 finding(s) accepted, 0 expired" in out
    envelope = json.loads(attestation.read_text())
    predicate = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    # The policy names the file as the project does, not by this machine's absolute path.
    assert predicate["policy"]["baseline"] == "security/accepted.yaml"
    scan = next(
        i for i in predicate["items"] if i["subject"] == "tiny/evil.pkl" and i["check"] == "scan"
    )
    assert scan["verdict"] == "accepted"
    assert {a["rule"] for a in scan["accepted"]} == {"MLS-PKL-001", "MLS-PKL-002"}


def test_a_marked_test_of_a_model_whose_findings_the_baseline_accepts_runs_as_the_gate_passes(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    pytester.makepyfile(
        test_uses_model="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        def test_the_model_is_there(model_artifact):
            assert (model_artifact / "evil.pkl").is_file()
        """
    )
    # Without a baseline, the marked test does not run: the model has findings.
    refused = pytester.runpytest("test_uses_model.py")
    refused.assert_outcomes(failed=1)
    assert "did not pass verification" in refused.stdout.str()

    (unsafe.root / "mlsupply-baseline.yaml").write_text(ACCEPTED_PICKLE)
    accepted = pytester.runpytest("test_uses_model.py")
    accepted.assert_outcomes(passed=1)
    # The gate with the marked test: one verdict for the model, in the test and the matrix.
    gated = pytester.runpytest("--mlsupply")
    assert gated.ret == pytest.ExitCode.OK, gated.stdout.str()
    assert cells(unsafe, "tiny/evil.pkl")["scan"] == "accepted"
