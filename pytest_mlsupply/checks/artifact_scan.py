"""Artifact check ``scan``: the deep content scan (pickle VM, containers, model formats, code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.checks.base import ArtifactCheck, CheckContext, Outcome, artifact_content
from pytest_mlsupply.checks.links import escaping_link
from pytest_mlsupply.manifest.model import Policy
from pytest_mlsupply.results import RowKind
from pytest_mlsupply.sources.inventory import ArtifactFile

# The scanner's policy types (and the pickle engine behind them) are imported when a scan is
# asked for, not at import: a warm gate takes its reports from the cache.
if TYPE_CHECKING:
    from pytest_mlsupply.engines.blob import ScanPolicy


def scan_policy(policy: Policy) -> ScanPolicy:
    """The manifest's policy, in the scanner's terms (its limits are part of the content
    cache's key: a report made under other limits is not reused)."""
    from pytest_mlsupply.engines.blob import ScanPolicy
    from pytest_mlsupply.engines.pickle import PicklePolicy

    return ScanPolicy(
        pickle=PicklePolicy(mode=policy.pickle, allow=policy.allow_globals),
        limits=policy.limits,
    )


def run(file: ArtifactFile, ctx: CheckContext) -> Outcome:
    # Through the shared content: a file unchanged since an earlier run is not scanned again.
    # A link out of the model's folder is a finding whatever it leads to (links.py says why).
    link = escaping_link(file, ctx)
    links = [link] if link is not None else []
    report = artifact_content(file, ctx).scan_report(file.subject, scan_policy(ctx.policy))
    facts = {"formats": dict(sorted(report.formats.items()))} if len(report.formats) > 1 else {}
    error = "; ".join(report.errors) if report.errors else None
    return Outcome(findings=links + report.findings, facts=facts, error=error)


CHECK = ArtifactCheck(
    name="scan",
    kind=RowKind.ARTIFACT,
    summary="deep content scan: imports and calls a loader would make, unsafe structures, "
    "code and templates, archive members",
    run=run,
    applies=lambda file: file.path.exists() or file.pinned_sha256 is None,
)
