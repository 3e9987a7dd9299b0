"""The baseline file: exact matching, expiry on an injected day, placeholders and bad entries
refused with file:line, errors never accepted, stale entries found, and the reports showing it."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path

import pytest

from pytest_mlsupply.baseline import (
    EXPIRED_RULE,
    Baseline,
    apply_baseline,
    fingerprint,
    outcome,
    parse_baseline,
)
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import build_matrix, render_json, render_markdown
from pytest_mlsupply.results import (
    CheckResult,
    Finding,
    Location,
    RowKind,
    Severity,
    Verdict,
)

TODAY = date(2026, 12, 4)
HIGH = Severity.HIGH

ENTRY = """\
version: 1
accepted:
  - rule: MLS-PKL-001
    kind: artifact
    subject: tiny/model.pt
    check: scan
    location: {file: tiny/model.pt, member: archive/data.pkl, offset: 12}
    fingerprint: FINGERPRINT
    reason: the global is our own class, reviewed in SEC-12
    owner: ml-platform
    expires: 2027-03-31
""".replace("FINGERPRINT", fingerprint("pickle imports a global", ""))


def baseline(text: str = ENTRY, today: date = TODAY, tmp: Path = Path("/p")) -> Baseline:
    return parse_baseline(textwrap.dedent(text), tmp / "mlsupply-baseline.yaml", today, root=tmp)


def pickle_finding(
    rule: str = "MLS-PKL-001",
    member: str = "archive/data.pkl",
    offset: int = 12,
    severity: Severity = Severity.CRITICAL,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        category="pickle",
        title="pickle imports a global",
        location=Location(file="tiny/model.pt", member=member, offset=offset),
    )


def result(
    *findings: Finding,
    subject: str = "tiny/model.pt",
    check: str = "scan",
    error: str | None = None,
) -> CheckResult:
    return CheckResult(
        RowKind.ARTIFACT, subject, check, findings=list(findings), error=error, facts={}
    )


def test_an_entry_accepts_its_finding_and_the_cell_reads_accepted() -> None:
    (applied,) = apply_baseline([result(pickle_finding())], baseline(), HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.ACCEPTED
    (finding,) = applied.findings  # the finding stays listed, marked
    assert finding.accepted is not None
    assert finding.accepted.owner == "ml-platform"
    assert finding.accepted.expires == "2027-03-31"
    assert finding.accepted.source == "mlsupply-baseline.yaml:3"
    assert applied.blocking(HIGH) == []


@pytest.mark.parametrize(
    ("changed", "checked"),
    [
        (result(pickle_finding(rule="MLS-PKL-002")), "another rule"),
        (result(pickle_finding(), subject="tiny/other.pt"), "another file"),
        (result(pickle_finding(), check="format"), "another check"),
        (result(pickle_finding(member="archive/extra.pkl")), "another archive member"),
        (result(pickle_finding(offset=13)), "another byte offset"),
    ],
)
def test_an_entry_never_accepts_a_different_finding(changed: CheckResult, checked: str) -> None:
    (applied,) = apply_baseline([changed], baseline(), HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.FAIL, checked
    assert all(f.accepted is None for f in applied.findings)


def test_an_unaccepted_finding_beside_an_accepted_one_still_fails_the_cell() -> None:
    other = pickle_finding(rule="MLS-PKL-002")
    (applied,) = apply_baseline([result(pickle_finding(), other)], baseline(), HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.FAIL
    assert applied.blocking(HIGH) == [other]


def test_an_acceptance_holds_through_its_expiry_day_and_fails_the_day_after() -> None:
    last_day = apply_baseline([result(pickle_finding())], baseline(), HIGH, date(2027, 3, 31))
    assert last_day[0].verdict(HIGH) is Verdict.ACCEPTED

    (applied,) = apply_baseline([result(pickle_finding())], baseline(), HIGH, date(2027, 4, 1))
    assert applied.verdict(HIGH) is Verdict.FAIL
    original, expired = applied.findings
    assert original.accepted is None  # the finding counts again
    assert expired.rule == EXPIRED_RULE
    assert "ml-platform" in expired.evidence
    assert "2027-03-31" in expired.title
    assert "mlsupply-baseline.yaml:3" in expired.remediation


def test_an_expired_acceptance_of_a_warning_fails_at_the_threshold() -> None:
    low = pickle_finding(severity=Severity.LOW)
    (applied,) = apply_baseline([result(low)], baseline(), HIGH, date(2028, 1, 1))
    assert applied.verdict(HIGH) is Verdict.FAIL
    assert applied.findings[1].severity is Severity.HIGH


def test_an_acceptance_never_turns_an_error_into_a_pass() -> None:
    crashed = result(pickle_finding(), error="the archive could not be read to its end")
    (applied,) = apply_baseline([crashed], baseline(), HIGH, TODAY)
    assert applied.findings[0].accepted is not None
    assert applied.verdict(HIGH) is Verdict.ERROR


def test_applying_the_baseline_again_gives_the_same_results() -> None:
    # The controller applies the baseline to results a worker already applied it to.
    results = [result(pickle_finding()), result(pickle_finding(), subject="tiny/other.pt")]
    for day in (TODAY, date(2027, 4, 1)):
        once = apply_baseline(results, baseline(), HIGH, day)
        twice = apply_baseline(once, baseline(), HIGH, day)
        assert [r.to_dict() for r in twice] == [r.to_dict() for r in once]
    # And without the entry, an earlier acceptance is undone: nothing stays accepted by habit.
    once = apply_baseline(results, baseline(), HIGH, TODAY)
    empty = baseline("version: 1\naccepted: []\n")
    assert all(r.verdict(HIGH) is Verdict.FAIL for r in apply_baseline(once, empty, HIGH, TODAY))


def test_an_acceptance_round_trips_through_the_dict_form_workers_send() -> None:
    (applied,) = apply_baseline([result(pickle_finding())], baseline(), HIGH, TODAY)
    again = CheckResult.from_dict(json.loads(json.dumps(applied.to_dict())))
    assert again == applied
    assert again.verdict(HIGH) is Verdict.ACCEPTED


def test_placeholders_are_refused_naming_each_entry_and_its_line() -> None:
    text = ENTRY.replace("ml-platform", "TODO").replace("2027-03-31", "TODO")
    with pytest.raises(ManifestError) as raised:
        baseline(text)
    rendered = raised.value.render()
    assert "mlsupply-baseline.yaml:3:5: accepted[0]:" in rendered
    assert "MLS-PKL-001 on 'tiny/model.pt': owner, expires still hold the placeholder" in rendered


def test_an_expiry_more_than_a_year_ahead_is_refused_with_the_last_allowed_day() -> None:
    with pytest.raises(ManifestError) as raised:
        baseline(ENTRY.replace("2027-03-31", "2028-01-01"))
    rendered = raised.value.render()
    assert "accepted[0].expires: expires 2028-01-01 is more than 366 days ahead" in rendered
    assert "write a date up to 2027-12-05" in rendered


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("    owner: ml-platform\n", ""), "accepted[0]: missing owner"),
        (("2027-03-31", "next spring"), "accepted[0].expires: expected a date"),
        (("kind: artifact", "kind: artefact"), "did you mean 'artifact'?"),
        (("check: scan", "check: scan\n    glob: '*.pt'"), "accepted[0].glob: unknown key"),
        (("offset: 12", "offset: twelve"), "accepted[0].location.offset: expected a whole"),
        (("version: 1", "version: 2"), "version: missing or unsupported baseline version"),
    ],
)
def test_a_bad_entry_names_its_key_and_the_fix(edit: tuple[str, str], expected: str) -> None:
    with pytest.raises(ManifestError) as raised:
        baseline(ENTRY.replace(*edit))
    assert expected in raised.value.render()
    assert "fix:" in raised.value.render()


def test_two_entries_for_one_finding_are_refused() -> None:
    body = ENTRY.split("accepted:\n", 1)[1]
    with pytest.raises(ManifestError, match="a second entry for MLS-PKL-001"):
        baseline(ENTRY + body)


def test_the_expiry_notice_rule_cannot_itself_be_accepted() -> None:
    with pytest.raises(ManifestError, match="cannot itself be accepted"):
        baseline(ENTRY.replace("MLS-PKL-001", EXPIRED_RULE))


def test_an_entry_is_stale_only_when_its_check_ran_without_its_finding() -> None:
    extra = """\
  - {rule: MLS-FMT-001, kind: artifact, subject: tiny/model.pt, check: format,
     reason: r, owner: o, expires: 2027-01-31, fingerprint: FINGERPRINT}
  - {rule: MLS-FMT-001, kind: artifact, subject: gone.pt, check: format,
     reason: r, owner: o, expires: 2027-01-31, fingerprint: FINGERPRINT}
""".replace("FINGERPRINT", fingerprint("unsafe serialisation format: pickle", ""))
    loaded = baseline(ENTRY + extra)
    plan = [PlannedItem(RowKind.ARTIFACT, "tiny/model.pt", ("format", "scan"))]
    # The scan ran cleanly without the accepted finding; the format check errored.
    ran = [
        result(check="scan"),
        result(check="format", error="cannot read the file"),
    ]
    found = outcome(loaded, plan, apply_baseline(ran, loaded, HIGH, TODAY))
    stale = {s.source: s.description for s in found.stale}
    assert set(stale) == {"mlsupply-baseline.yaml:3", "mlsupply-baseline.yaml:14"}
    assert "gone.pt" in stale["mlsupply-baseline.yaml:14"]  # a file the gate no longer plans
    # Matched, it is not stale, and the counts say what was accepted.
    found = outcome(loaded, plan, apply_baseline([result(pickle_finding())], loaded, HIGH, TODAY))
    assert found.accepted == 1
    assert {s.source for s in found.stale} == {"mlsupply-baseline.yaml:14"}


def test_the_matrix_shows_accepted_cells_their_findings_and_stale_entries() -> None:
    loaded = baseline()
    plan = [PlannedItem(RowKind.ARTIFACT, "tiny/model.pt", ("scan",))]
    results = apply_baseline([result(pickle_finding())], loaded, HIGH, TODAY)
    matrix = build_matrix(plan, results, HIGH, baseline=outcome(loaded, plan, results))
    assert matrix.counts[Verdict.ACCEPTED] == 1
    assert not matrix.failed

    markdown = render_markdown(matrix)
    assert "| `tiny/model.pt` | 🔕 accepted |" in markdown
    assert "**1** accepted" in markdown
    assert "accepted by ml-platform until **2027-03-31**" in markdown

    document = json.loads(render_json(matrix, results))
    (finding,) = document["findings"]
    assert finding["blocking"] is False
    assert finding["accepted"]["reason"] == "the global is our own class, reviewed in SEC-12"
    assert document["baseline"]["accepted"] == 1
    assert document["counts"]["accepted"] == 1


def test_the_attestation_records_each_acceptance_and_the_baseline_in_force() -> None:
    from pytest_mlsupply.manifest.model import Policy
    from pytest_mlsupply.reports.attestation import GATE_PASS, GateRecord, build_statement

    loaded = baseline()
    plan = [PlannedItem(RowKind.ARTIFACT, "tiny/model.pt", ("scan",))]
    results = apply_baseline([result(pickle_finding())], loaded, HIGH, TODAY)
    record = GateRecord(
        bom_name="build/ml-bom.cdx.json",
        bom_sha256="0" * 64,
        plan=plan,
        results=results,
        threshold=HIGH,
        policy=Policy(),
        manifest_name="mlsupply.yaml",
        manifest_sha256="1" * 64,
        exit_status=0,
        baseline=outcome(loaded, plan, results).to_dict(),
    )
    predicate = build_statement(record)["predicate"]
    assert predicate["gate"]["verdict"] == GATE_PASS
    (item,) = predicate["items"]
    assert item["verdict"] == "accepted"
    (accepted,) = item["accepted"]
    assert accepted["rule"] == "MLS-PKL-001"
    assert accepted["location"] == {
        "file": "tiny/model.pt",
        "member": "archive/data.pkl",
        "offset": 12,
    }
    assert accepted["owner"] == "ml-platform"
    assert predicate["baseline"]["file"] == "mlsupply-baseline.yaml"
    assert predicate["baseline"]["sha256"] == loaded.sha256


def test_a_failing_cell_lists_its_accepted_finding_as_accepted() -> None:
    plan = [PlannedItem(RowKind.ARTIFACT, "tiny/model.pt", ("scan",))]
    both = result(pickle_finding(), pickle_finding(rule="MLS-PKL-002"))
    results = apply_baseline([both], baseline(), HIGH, TODAY)
    markdown = render_markdown(build_matrix(plan, results, HIGH))
    assert "`MLS-PKL-001` pickle imports a global (tiny/model.pt, member" in markdown
    assert "byte 12) (accepted)" in markdown
    assert "byte 12) (accepted)" not in markdown.split("`MLS-PKL-002`")[1].split("\n")[0]


def test_an_entry_never_accepts_a_different_finding_at_the_same_place() -> None:
    # The same rule at the same offset of the same member, but not what was reviewed: a pickle
    # swapped for one whose global at that offset is os.system.
    swapped = Finding(
        rule="MLS-PKL-001",
        severity=Severity.CRITICAL,
        category="pickle",
        title="pickle imports a global",
        location=Location(file="tiny/model.pt", member="archive/data.pkl", offset=12),
        evidence="GLOBAL os system",
    )
    (applied,) = apply_baseline([result(swapped)], baseline(), HIGH, TODAY)
    assert applied.verdict(HIGH) is Verdict.FAIL
    assert applied.findings[0].accepted is None


def test_a_fingerprint_that_is_not_one_is_refused_naming_the_key() -> None:
    good = fingerprint("pickle imports a global", "")
    for bad in ("", "sha256:xyz", good.upper(), good.removeprefix("sha256:"), good[:-1]):
        with pytest.raises(ManifestError, match=r"accepted\[0\]\.fingerprint"):
            baseline(ENTRY.replace(good, repr(bad)))
