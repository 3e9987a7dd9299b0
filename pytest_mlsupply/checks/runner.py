"""Run a planned item's checks and turn their outcomes into :class:`CheckResult` objects.

Fail closed: a subject that cannot be found, a file that cannot be read, or a bug in a check
becomes an error result, never a pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pytest_mlsupply.checks.base import Check, CheckContext, Outcome
from pytest_mlsupply.manifest.model import DatasetDecl
from pytest_mlsupply.plan import READ_CHECK, RESOLVE_CHECK, PlannedItem, files_with_missing_pins
from pytest_mlsupply.printable import escaped_finding, one_line
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.code import CodeFile
from pytest_mlsupply.sources.inventory import (
    ArtifactFile,
    CodePathError,
    Dependency,
    ResolvedModel,
)

if TYPE_CHECKING:
    from pytest_mlsupply.checks.registry import Registered

S = TypeVar("S")


def run_item(item: PlannedItem, ctx: CheckContext) -> list[CheckResult]:
    if item.skip is not None:
        # Recorded, never dropped and never passed: its marker says it is not installed here.
        # The item then reports a pytest skip, and its matrix cells read "skipped".
        return [
            CheckResult(kind=item.kind, subject=item.subject, check=name, skipped=item.skip)
            for name in item.checks
        ]
    return [_result(item, name, _run_one(item, name, ctx)) for name in item.checks]


def _result(item: PlannedItem, check: str, outcome: Outcome) -> CheckResult:
    return CheckResult(
        kind=item.kind,
        subject=item.subject,
        check=check,
        # The one funnel of every check's outcome: artifact-chosen text leaves it escaped.
        findings=[escaped_finding(finding) for finding in outcome.findings],
        error=None if outcome.error is None else one_line(outcome.error),
        facts=outcome.facts,
    )


def _run_one(item: PlannedItem, name: str, ctx: CheckContext) -> Outcome:
    inv = ctx.inventory
    if item.kind is RowKind.ARTIFACT and name == RESOLVE_CHECK:
        return _resolve(item, ctx)
    if item.kind is RowKind.DEPENDENCY and name == READ_CHECK:
        errors = [e.message for e in inv.dependency_errors if e.source == item.subject]
        return Outcome(error="; ".join(errors) or f"cannot read {item.subject}")
    # Imported on first run, not at import: the plugin (imported by every pytest session, even
    # with --mlsupply off) must stay light. The registry imports a check when it is found.
    from pytest_mlsupply.checks.registry import (
        ARTIFACT_CHECKS,
        CODE_CHECKS,
        DATASET_CHECKS,
        DEPENDENCY_CHECKS,
        DRIFT_CHECKS,
        PROVENANCE_CHECKS,
    )

    subject = _subjects(ctx).get((item.kind, item.subject))
    try:
        if item.kind is RowKind.DRIFT and isinstance(subject, ResolvedModel):
            return _call(_find(DRIFT_CHECKS, name), subject, ctx)
        if isinstance(subject, ArtifactFile):
            return _call(_find(ARTIFACT_CHECKS, name), subject, ctx)
        if isinstance(subject, Dependency):
            return _call(_find(DEPENDENCY_CHECKS, name), subject, ctx)
        if isinstance(subject, ResolvedModel):
            return _call(_find(PROVENANCE_CHECKS, name), subject, ctx)
        if isinstance(subject, DatasetDecl):
            return _call(_find(DATASET_CHECKS, name), subject, ctx)
        if isinstance(subject, CodeFile):
            return _call(_find(CODE_CHECKS, name), subject, ctx)
        if isinstance(subject, CodePathError):
            return Outcome(error=subject.message)
    except KeyError:
        return Outcome(error=f"no check named {name!r} is registered for {item.kind.value} items")
    return Outcome(
        error=f"{item.subject!r} is no longer in the inventory (changed during the run?)"
    )


def _subjects(ctx: CheckContext) -> dict[tuple[RowKind, str], object]:
    """The context's subject index, built on first use (the inventory does not change)."""
    if not ctx.subjects:
        inv = ctx.inventory
        for model in inv.models:
            ctx.subjects[(RowKind.PROVENANCE, model.name)] = model
            ctx.subjects[(RowKind.DRIFT, model.name)] = model
            for file in files_with_missing_pins(model):
                ctx.subjects.setdefault((RowKind.ARTIFACT, file.subject), file)
        for dataset in inv.datasets:
            ctx.subjects.setdefault((RowKind.PROVENANCE, dataset.name), dataset)
        for dep in inv.dependencies:
            ctx.subjects.setdefault((RowKind.DEPENDENCY, dep.subject), dep)
        for code in inv.code_files:
            ctx.subjects.setdefault((RowKind.CODE, code.subject), code)
        for empty in inv.code_errors:
            ctx.subjects.setdefault((RowKind.CODE, empty.subject), empty)
    return ctx.subjects


def _find(lines: tuple[Registered[S], ...], name: str) -> Check[S]:
    for line in lines:
        if line.name == name:
            return line.load()
    raise KeyError(name)


def _call(check: Check[S], subject: S, ctx: CheckContext) -> Outcome:
    try:
        return check.run(subject, ctx)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return Outcome(error=f"cannot read: {exc.strerror or exc}{where}")
    except Exception as exc:
        # A bug in a check must not pass the artifact: surface it as an error with its cause.
        return Outcome(error=f"check {check.name!r} crashed: {type(exc).__name__}: {exc}")


def _resolve(item: PlannedItem, ctx: CheckContext) -> Outcome:
    for model in ctx.inventory.models:
        if model.name != item.subject:
            continue
        if model.error is not None:
            return Outcome(error=model.error)
        if not model.files:
            return Outcome(
                findings=[
                    Finding(
                        rule="MLS-SRC-001",
                        severity=Severity.HIGH,
                        category="integrity",
                        title="model has no files",
                        location=Location(file=str(model.root)),
                        evidence=ctx.says(
                            plugin=f"{model.root} is empty",
                            cli=f"no files to scan under {model.root}",
                        ),
                        why="an empty model cannot be the one that was reviewed; every check on it "
                        "would pass vacuously",
                        remediation=ctx.says(
                            plugin="point the model's `path:` or `source:` at the model's files",
                            cli="pass the directory or file that holds the model's files",
                        ),
                    )
                ]
            )
        return Outcome()
    return Outcome(error=f"model {item.subject!r} is not in the inventory")
