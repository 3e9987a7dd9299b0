"""Dependency check ``typosquat``: a declared name that imitates a popular project, or that no
one has published (``policy.typosquat.index_lookup``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.checks.base import CheckContext, DependencyCheck, Outcome
from pytest_mlsupply.results import Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency

# The typosquat engine (and requests, for the index lookup) is imported by the run that uses it,
# not at import: a check is imported once planned, and a warm gate runs few of them.
if TYPE_CHECKING:
    from pytest_mlsupply.typosquat.detector import Resemblance


def _lookalike(dep: Dependency, found: Resemblance) -> Finding:
    from pytest_mlsupply.typosquat.detector import vendored_detector

    popular = vendored_detector().popular
    title = f"{dep.name!r} looks like the popular project {found.imitates!r}"
    evidence = (
        f"{dep.name!r} vs {found.imitates!r}: {found.how}; {found.imitates!r} is popular "
        f"({popular.describe(found.imitates)}), {dep.name!r} is not"
    )
    why = (
        "typosquatters publish look-alikes of popular projects so that a slip of the keyboard "
        "or a misread name installs their code, which runs at install or import time"
    )
    fix = (
        f"if you meant {found.imitates!r}, depend on it instead; if {dep.name!r} is the project "
        "you reviewed, add it to policy.typosquat.allow"
    )
    if found.confident:
        return Finding(
            rule="MLS-DEP-020",
            severity=Severity.HIGH,
            category="typosquat",
            title=title,
            location=dep.location,
            evidence=evidence,
            why=why,
            remediation=fix,
            cwe="CWE-829",
        )
    return Finding(
        rule="MLS-DEP-021",
        severity=Severity.MEDIUM,
        category="typosquat",
        title=title,
        location=dep.location,
        evidence=evidence,
        why=why + "; the resemblance is weaker, and honest projects are named this way too",
        remediation=fix,
        cwe="CWE-829",
    )


def _unpublished(dep: Dependency, index: str) -> Finding:
    from pytest_mlsupply.redaction import redact_url

    return Finding(
        rule="MLS-DEP-022",
        severity=Severity.HIGH,
        category="typosquat",
        title=f"{dep.name!r} does not exist on the package index",
        location=dep.location,
        evidence=f"{redact_url(index)}/pypi/{dep.name}/json answered 404",
        why="no project is published under this name, so anyone can claim it: the first upload "
        "is what the next install takes",
        remediation="correct the name to the project you meant, or publish the project to your "
        "index under it (and bind it there, see the confusion check)",
        cwe="CWE-427",
    )


def run(dep: Dependency, ctx: CheckContext) -> Outcome:
    from pytest_mlsupply.typosquat.detector import canonical, vendored_detector
    from pytest_mlsupply.typosquat.index import IndexLookupError, json_api_base, shared_client

    policy = ctx.policy.typosquat
    name = canonical(dep.name)
    facts: dict[str, object] = {}
    findings: list[Finding] = []
    if name in policy.allow:
        facts["allowed"] = "policy.typosquat.allow"
    else:
        found = vendored_detector().check(name)
        if found is not None:
            findings.append(_lookalike(dep, found))
            facts["imitates"] = found.imitates
            facts["transformation"] = found.kind
    if not policy.index_lookup:
        return Outcome(findings=findings, facts=facts)
    if dep.index is not None and not dep.index.startswith(("http://", "https://")):
        # ``--no-index --find-links ./wheels``: pip asks no index, so there is none to ask.
        facts["on_index"] = f"not asked: {dep.index} is not an HTTP package index"
        return Outcome(findings=findings, facts=facts)
    index = json_api_base(dep.index)
    try:
        exists = shared_client().exists(name, dep.index)
    except IndexLookupError as exc:
        # Findings above still count (they outrank the error); the lookup itself never passes.
        return Outcome(
            findings=findings,
            facts=facts,
            error=f"cannot tell whether {dep.name!r} exists on the package index: {exc}; "
            "set policy.typosquat.index_lookup: false to run the typosquat check offline",
        )
    facts["on_index"] = exists
    if not exists:
        findings.append(_unpublished(dep, index))
    return Outcome(findings=findings, facts=facts)


CHECK = DependencyCheck(
    name="typosquat",
    kind=RowKind.DEPENDENCY,
    summary="the name imitates no popular project (and, when asked, exists on its index)",
    run=run,
    # A path or URL requirement installs what it points at, whatever its name says.
    applies=lambda dep: dep.link is None,
)
