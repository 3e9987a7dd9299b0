"""An artifact lists at most MAX_FINDINGS_PER_RULE findings of a rule; the rest are counted in one."""

from __future__ import annotations

from pathlib import Path

from pytest_mlsupply.engines.scanner import MAX_FINDINGS_PER_RULE, scan_file
from pytest_mlsupply.results import Severity


def imports(names: list[str]) -> bytes:
    """A protocol-2 pickle that imports each ``module.name`` and drops it (never loaded)."""
    body = b"".join(f"c{module}\n{name}\n0".encode() for module, name in map(str.split, names))
    return b"\x80\x02" + body + b"N."


def test_findings_past_the_cap_are_folded_into_one_that_counts_them_at_the_worst_severity(
    tmp_path: Path,
) -> None:
    extra = 50
    names = [f"mypkg{i} Model" for i in range(MAX_FINDINGS_PER_RULE + extra - 1)] + ["os system"]
    path = tmp_path / "model.pkl"
    path.write_bytes(imports(names))

    report = scan_file(path, "model.pkl")

    by_rule: dict[str, list[str]] = {}
    for finding in report.findings:
        by_rule.setdefault(finding.rule, []).append(finding.title)
    unknown = [f for f in report.findings if f.rule == "MLS-PKL-003"]
    assert len(unknown) == MAX_FINDINGS_PER_RULE + 1
    [folded] = [f for f in unknown if "not listed one by one" in f.title]
    assert folded.title.startswith(f"{extra - 1} more findings of MLS-PKL-003")
    # The dangerous import is its own rule: listed, and the verdict is unchanged.
    assert any(f.severity is Severity.CRITICAL for f in report.findings)


def test_an_artifact_under_the_cap_lists_every_finding(tmp_path: Path) -> None:
    names = [f"mypkg{i} Model" for i in range(MAX_FINDINGS_PER_RULE)]
    path = tmp_path / "model.pkl"
    path.write_bytes(imports(names))

    report = scan_file(path, "model.pkl")

    unknown = [f for f in report.findings if f.rule == "MLS-PKL-003"]
    assert len(unknown) == MAX_FINDINGS_PER_RULE
    assert not any("not listed one by one" in f.title for f in unknown)
