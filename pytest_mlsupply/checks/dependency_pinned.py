"""Dependency check ``pinned``: a requirement names one exact version (and ideally its hash)."""

from __future__ import annotations

from pytest_mlsupply.checks.base import CheckContext, DependencyCheck, Outcome
from pytest_mlsupply.results import Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency


def run(dep: Dependency, ctx: CheckContext) -> Outcome:
    facts = {"origin": dep.origin, "requirement": dep.requirement}
    if dep.version is not None:
        facts["version"] = dep.version
    if dep.constraint is not None:
        facts["constraint"] = dep.constraint  # the -c line that pins a range requirement
    if dep.origin == "environment":
        return Outcome(facts=facts)  # an installed distribution has exactly one version
    if dep.link is not None:
        return Outcome(
            facts=facts,
            findings=[
                Finding(
                    rule="MLS-DEP-003",
                    severity=Severity.HIGH,
                    category="pinning",
                    title="dependency does not come from a package index",
                    location=dep.location,
                    evidence=dep.requirement
                    if dep.link in dep.requirement
                    else f"{dep.requirement}, installed from {dep.link}",
                    why="a path or URL requirement bypasses index integrity and its version cannot be "
                    "audited for known vulnerabilities",
                    remediation="publish it to your index and pin it as name==version",
                    cwe="CWE-829",
                )
            ],
        )
    if dep.version is None:
        # Under policy.require_hashes an unpinned requirement has no hash either (pip's
        # --require-hashes mode refuses it): it fails even when pins are not required.
        unhashed = ctx.policy.require_hashes and not dep.hashes
        severity = Severity.HIGH if ctx.policy.require_pins or unhashed else Severity.LOW
        return Outcome(
            facts=facts,
            findings=[
                Finding(
                    rule="MLS-DEP-001",
                    severity=severity,
                    category="pinning",
                    title="dependency is not pinned to an exact version",
                    location=dep.location,
                    evidence=dep.requirement,
                    why="an unpinned requirement installs whatever is newest at install time, including "
                    "a compromised or typosquatted release",
                    remediation=f"pin it: {dep.name}==<the version you tested> (pip freeze prints it)",
                    cwe="CWE-1357",
                )
            ],
        )
    if not dep.hashes:
        # policy.require_hashes is pip's --require-hashes mode: there a missing hash stops the
        # install, so here it fails the dependency; otherwise it is advice.
        hash_severity = Severity.HIGH if ctx.policy.require_hashes else Severity.INFO
        required = " (policy.require_hashes is true)" if ctx.policy.require_hashes else ""
        return Outcome(
            facts=facts,
            findings=[
                Finding(
                    rule="MLS-DEP-002",
                    severity=hash_severity,
                    category="pinning",
                    title=f"pinned without a hash{required}",
                    location=dep.location,
                    evidence=dep.requirement,
                    why="a version pin does not stop a re-uploaded or mirrored file with other content",
                    remediation="add --hash=sha256:<digest> (pip-compile --generate-hashes writes them)",
                )
            ],
        )
    return Outcome(facts=facts)


CHECK = DependencyCheck(
    name="pinned",
    kind=RowKind.DEPENDENCY,
    summary="the requirement pins one exact version from a package index",
    run=run,
)
