"""Drift check ``drift``: a model pinned to a Hub commit, against what the Hub publishes there.

Planned only under ``pytest --mlsupply --mlsupply-online`` (it asks the Hub): one item
``drift[<model>]`` per manifest model whose ``source:`` is pinned to a 40-hex commit. The
comparison is :func:`pytest_mlsupply.monitor.drift.check_drift` (the one reader of the Hub's
listing for drift); this module turns what it found into findings:

- MLS-DRIFT-001: the pinned commit is gone from the Hub (critical), or the repository is
  (high: deleted, renamed, or made private to this reader);
- MLS-DRIFT-002: a file's digest on disk differs from the one the Hub lists (critical);
- MLS-DRIFT-003: a file on disk the Hub does not list at the commit (high);
- MLS-DRIFT-004: an entry of the snapshot that is not a regular file (high): a link to a
  directory (a loader reads its files, nobody compared them) or a named pipe or device.

Fail closed: a Hub that cannot be reached, a malformed answer, a file the Hub lists with no
digest, ``HF_HUB_OFFLINE``, or no local snapshot (or one with no file to compare) is the
result's error, never a pass; the findings made beside such an error are kept with it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ResolvedModel

if TYPE_CHECKING:
    from pytest_mlsupply.manifest.model import HubRef
    from pytest_mlsupply.monitor.drift import DriftProblem

NAME = "drift"
#: Findings listed one by one; the rest of each kind are counted in one finding of that kind.
_SHOWN = 20
#: Paths named in a counted finding's evidence.
_NAMED = 5


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    from pytest_mlsupply.monitor.drift import check_drift

    ref = model.decl.source
    if ref is None or not ref.pinned:
        # The planner plans only pinned Hub models: anything else is a plan/registry bug.
        return Outcome(error=f"model {model.name!r} is not pinned to a Hub commit")
    drift = check_drift(ref)
    facts = {"commit": ref.revision, "compared": drift.compared}
    shown = list(drift.problems[:_SHOWN])
    findings = [_finding(model.name, ref, problem) for problem in shown]
    findings += _counted(model.name, ref, list(drift.problems[_SHOWN:]))
    # An error beside findings (files the Hub gave no digest for) keeps both: the findings
    # outrank it, and it is never read as a pass.
    return Outcome(findings=findings, facts=facts, error=drift.error)


def _finding(model: str, ref: HubRef, problem: DriftProblem) -> Finding:
    from pytest_mlsupply.monitor.drift import DriftKind

    # A file's problem is placed on the file (``<model>/<path>``, as artifact rows name it);
    # a commit's or repository's on the model as a whole.
    where = Location(file=f"{model}/{problem.path}") if problem.path is not None else Location()
    if problem.kind is DriftKind.REVISION_GONE:
        return Finding(
            rule="MLS-DRIFT-001",
            severity=Severity.CRITICAL,
            category="provenance",
            title="pinned commit is gone from the Hub",
            location=where,
            evidence=problem.detail,
            why="the commit the manifest pins was rewritten out of the repository's history or "
            "deleted: nobody can fetch or audit what was reviewed, and the files now published "
            "under the repository's name are someone else's",
            remediation=f"find out from the owners of {ref.repo_id} why the history was "
            "rewritten; review the current files before pinning a new commit, or keep a copy "
            "of the reviewed snapshot under your own control",
            cwe="CWE-494",
        )
    if problem.kind is DriftKind.REPOSITORY_GONE:
        return Finding(
            rule="MLS-DRIFT-001",
            severity=Severity.HIGH,
            category="provenance",
            title="repository is gone from the Hub",
            location=where,
            evidence=problem.detail,
            why="the pinned model can no longer be fetched or audited from its source; a new "
            "repository under the same name would be someone else's",
            remediation=f"check whether {ref.repo_id} was deleted, renamed or made private; "
            "mirror the reviewed snapshot under your own control, or pin another source",
            cwe="CWE-494",
        )
    if problem.kind is DriftKind.DIGEST_CHANGED:
        return Finding(
            rule="MLS-DRIFT-002",
            severity=Severity.CRITICAL,
            category="integrity",
            title="file differs from the Hub at the pinned commit",
            location=where,
            evidence=f"{problem.path}: {problem.detail}",
            why="the bytes on disk are not the ones the Hub publishes at this commit: the local "
            "snapshot was altered, or the Hub serves other metadata for the same commit",
            remediation="delete the repository's folder from the Hugging Face cache (`hf cache "
            "rm`) and resolve again; if the Hub's digest changed, report it to the owners",
            cwe="CWE-494",
        )
    if problem.kind is DriftKind.NOT_A_FILE:
        return Finding(
            rule="MLS-DRIFT-004",
            severity=Severity.HIGH,
            category="integrity",
            title="snapshot entry is not a regular file",
            location=where,
            evidence=f"{problem.path}: {problem.detail}",
            why="huggingface_hub writes a snapshot as files (or links to files); a linked "
            "directory lets a loader read files nobody compared with the Hub, and a named pipe "
            "or device under a model's file name is not the published file",
            remediation="delete the entry, or the repository's folder in the cache, and resolve "
            "again; find out what put it there",
            cwe="CWE-345",
        )
    return Finding(
        rule="MLS-DRIFT-003",
        severity=Severity.HIGH,
        category="integrity",
        title="file on disk is not listed by the Hub at the pinned commit",
        location=where,
        evidence=f"{problem.path}: {problem.detail}",
        why="a loader given the snapshot directory reads a file nobody published at this "
        "commit, or the Hub withdrew it from the commit's listing",
        remediation="delete the file, or the repository's folder in the cache, and resolve again",
        cwe="CWE-345",
    )


def _counted(model: str, ref: HubRef, rest: list[DriftProblem]) -> list[Finding]:
    """One finding per kind for the problems past the first ``_SHOWN``: counted, never dropped."""
    by_kind: dict[str, list[DriftProblem]] = {}
    for problem in rest:
        by_kind.setdefault(problem.kind, []).append(problem)
    out = []
    for problems in by_kind.values():
        first = _finding(model, ref, problems[0])
        paths = ", ".join(str(p.path) for p in problems[:_NAMED])
        more = f" and {len(problems) - _NAMED} more" if len(problems) > _NAMED else ""
        # Every counted problem (its path and what was found) is in the evidence, as a digest:
        # a baseline acceptance of the count must not accept another file, or other bytes,
        # among the ones it does not name.
        found = hashlib.sha256()
        for p in problems:
            found.update(json.dumps([p.path, p.hub, p.disk, p.detail]).encode())
        out.append(
            Finding(
                rule=first.rule,
                severity=first.severity,
                category=first.category,
                title=f"{first.title} ({len(problems)} more files)",
                location=Location(),
                evidence=f"{paths}{more} (all of them: sha256:{found.hexdigest()})",
                why=first.why,
                remediation=first.remediation,
                cwe=first.cwe,
            )
        )
    return out


CHECK = ProvenanceCheck(
    name=NAME,
    kind=RowKind.DRIFT,
    summary="the Hub still publishes the pinned commit's files as they are on disk",
    run=run,
)
