"""Adversarial review of s25 (baseline): an entry accepts more than the finding it names.

Each test was a reproducer marked ``xfail(strict=True)`` while the hole was open; an entry now
carries the fingerprint of what was found (its title and evidence), and the markers are gone."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.baseline import apply_baseline, fingerprint, parse_baseline
from pytest_mlsupply.checks.dependency_integrity import DistributionReport, _findings
from pytest_mlsupply.engines.pickle.policy import PicklePolicy
from pytest_mlsupply.engines.pickle.scan import scan_pickle_bytes
from pytest_mlsupply.results import CheckResult, RowKind, Severity, Verdict

TODAY = date(2026, 12, 4)
HIGH = Severity.HIGH
ROOT = Path("/p")


def _baseline(entries: str):
    text = "version: 1\naccepted:\n" + textwrap.indent(textwrap.dedent(entries), "  ")
    return parse_baseline(text, ROOT / "mlsupply-baseline.yaml", TODAY, root=ROOT)


def _entry(
    rule: str,
    kind: str,
    subject: str,
    check: str,
    location: str,
    found: str = "sha256:" + "0" * 64,
) -> str:
    return (
        f"- {{rule: {rule}, kind: {kind}, subject: '{subject}', check: {check}, "
        f"location: {location}, fingerprint: '{found}', reason: reviewed, owner: sec, "
        "expires: 2027-03-31}\n"
    )


# The reviewed pickle: builtins.getattr('x', 'y'), a gadget the team looked at and accepted.
REVIEWED = b"cbuiltins\ngetattr\n(S'x'\nS'y'\ntR."
# The swapped pickle: os.system with its GLOBAL at offset 0 and its REDUCE at offset 30, like
# the reviewed one: same rules, same file, same offsets, another (much worse) global.
SWAPPED = b"cos\nsystem\n(S'id;echo pwned'\ntR."


def _scan(data: bytes) -> CheckResult:
    scan = scan_pickle_bytes(data, policy=PicklePolicy(), origin="tiny/model.pkl")
    return CheckResult(RowKind.ARTIFACT, "tiny/model.pkl", "scan", findings=scan.findings, facts={})


def test_an_acceptance_of_one_dangerous_global_does_not_accept_os_system_at_the_same_offset() -> (
    None
):
    reviewed = _scan(REVIEWED)
    entries = "".join(
        _entry(
            f.rule,
            "artifact",
            "tiny/model.pkl",
            "scan",
            f"{{file: tiny/model.pkl, offset: {f.location.offset}}}",
            fingerprint(f.title, f.evidence),
        )
        for f in reviewed.findings
    )
    baseline = _baseline(entries)
    (accepted,) = apply_baseline([reviewed], baseline, HIGH, TODAY)
    assert accepted.verdict(HIGH) is Verdict.ACCEPTED  # what the team decided

    swapped = _scan(SWAPPED)
    assert any("os.system" in f.title for f in swapped.findings)
    (applied,) = apply_baseline([swapped], baseline, HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.FAIL  # was ACCEPTED: os.system passed the gate


SITE = "/venv/lib/python3.12/site-packages"


def _integrity(report: DistributionReport) -> CheckResult:
    class Dep:
        name = "requests"
        version = "2.32.3"

    return CheckResult(
        RowKind.DEPENDENCY, "requests", "integrity", findings=_findings(Dep, report), facts={}
    )


def test_accepting_virtualenvs_own_pth_does_not_accept_a_second_start_up_hook() -> None:
    # virtualenv's _virtualenv.pth is in no RECORD: a team accepts that MLS-DEP-035.
    before = DistributionReport(
        location=f"{SITE}/requests-2.32.3.dist-info", startup_hooks=("_virtualenv.pth",)
    )
    (finding,) = _integrity(before).findings
    baseline = _baseline(
        _entry(
            finding.rule,
            "dependency",
            "requests",
            "integrity",
            f"{{file: {finding.location.file}, member: {finding.location.member}}}",
            fingerprint(finding.title, finding.evidence),
        )
    )
    (accepted,) = apply_baseline([_integrity(before)], baseline, HIGH, TODAY)
    assert accepted.verdict(HIGH) is Verdict.ACCEPTED

    # An attacker drops a second start-up hook, sorted after the accepted one.
    after = DistributionReport(
        location=f"{SITE}/requests-2.32.3.dist-info",
        startup_hooks=("_virtualenv.pth", "zz_backdoor.pth"),
    )
    (applied,) = apply_baseline([_integrity(after)], baseline, HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.FAIL  # was ACCEPTED: the backdoor passed


def test_accepting_one_locally_patched_file_does_not_accept_tampering_with_another() -> None:
    location = f"{SITE}/requests-2.32.3.dist-info"
    before = DistributionReport(location=location, changed=("requests/__init__.py",))
    (finding,) = _integrity(before).findings
    baseline = _baseline(
        _entry(
            finding.rule,
            "dependency",
            "requests",
            "integrity",
            f"{{file: {location}, member: {finding.location.member}}}",
            fingerprint(finding.title, finding.evidence),
        )
    )
    after = DistributionReport(
        location=location, changed=("requests/__init__.py", "requests/sessions.py")
    )
    (applied,) = apply_baseline([_integrity(after)], baseline, HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.FAIL  # was ACCEPTED: sessions.py edited unseen


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("version: 0x1\naccepted: []\n", None),
        (
            "version: 1\naccepted:\n"
            + _entry("MLS-PKL-001", "artifact", "tiny/model.pt", "scan", "{file: a, offset: 0x10}"),
            16,
        ),
    ],
)
def test_a_hex_integer_in_the_baseline_is_read_not_a_crash(text: str, offset: int | None) -> None:
    # int("0x10") raised ValueError out of the loader: a traceback, not a file:line problem.
    loaded = parse_baseline(text, ROOT / "mlsupply-baseline.yaml", TODAY, root=ROOT)
    if offset is not None:
        assert loaded.entries[0].location.offset == offset


def test_an_item_and_the_reports_judge_an_acceptance_on_the_same_day(
    pytester: pytest.Pytester, project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The item ran at 23:59:59 UTC on the expiry day, the reports at 00:00:01: the item passed
    (exit 0) while the matrix and BOM it left said fail (MLS-BASE-001)."""
    import json

    import pytest_mlsupply.baseline as baseline_module
    from pytest_mlsupply.plugin.state import MlsupplyState
    from tests.conftest import write_pickle_payload
    from tests.plugin.test_baseline_gate import ACCEPTED_PICKLE, FUTURE

    write_pickle_payload(project.model_dir / "evil.pkl")
    (project.root / "mlsupply-baseline.yaml").write_text(ACCEPTED_PICKLE)
    last_day = date.fromisoformat(FUTURE)
    clock = {"day": last_day}
    monkeypatch.setattr(baseline_module, "today_utc", lambda: clock["day"])
    write_reports = MlsupplyState.write_reports

    def after_midnight(self: MlsupplyState, *args: Any, **kwargs: Any) -> Any:
        clock["day"] = last_day + timedelta(days=1)  # midnight UTC passes before the reports
        return write_reports(self, *args, **kwargs)

    monkeypatch.setattr(MlsupplyState, "write_reports", after_midnight)

    run = pytester.runpytest("--mlsupply", "-p", "no:xdist")
    document = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    cells = {r["subject"]: r["cells"] for r in document["rows"]}["tiny/evil.pkl"]
    failed = "fail" in cells.values()
    assert failed == (run.ret != pytest.ExitCode.OK), (run.ret, cells)
