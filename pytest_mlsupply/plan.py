"""The plan: which checks run on which subjects, grouped into the items pytest will collect.

An item is one artifact check on one file, one dependency (all dependency checks), one
provenance claim about a model, one code file, or (``--mlsupply-online``) one model's drift from
the Hub. The plan is derived only from the inventory and the check
registry, so the xdist controller can rebuild it and mark cells that never ran as "not run".
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_mlsupply.results import RowKind
from pytest_mlsupply.sources.inventory import ArtifactFile, Inventory, ResolvedModel


@dataclass(frozen=True)
class PlannedItem:
    kind: RowKind
    subject: str
    """The matrix row: ``model/relpath`` for artifacts, ``name==version`` for dependencies,
    the model's or dataset's name for provenance claims, the file's path relative to the
    manifest for code (``src/app/load.py``; ``src/`` for a ``code.paths`` entry with no file),
    the model's name for drift."""
    checks: tuple[str, ...]
    """The matrix columns this item fills (one for artifact and provenance items)."""
    skip: str | None = None
    """Why the item does not run here (a dependency whose environment marker is false): pytest
    reports it as skipped with this reason, and its cells read "skipped", never "pass"."""

    @property
    def name(self) -> str:
        """The item's name inside the manifest file node, e.g. ``artifact[m/f.bin::format]``."""
        if self.kind in (RowKind.DEPENDENCY, RowKind.CODE, RowKind.DRIFT):
            return f"{self.kind.value}[{self.subject}]"
        return f"{self.kind.value}[{self.subject}::{self.checks[0]}]"

    @property
    def sort_key(self) -> tuple[int, str, tuple[str, ...]]:
        order = {
            RowKind.ARTIFACT: 0,
            RowKind.DEPENDENCY: 1,
            RowKind.PROVENANCE: 2,
            RowKind.CODE: 3,
            RowKind.DRIFT: 4,
        }
        return (order[self.kind], self.subject, self.checks)


#: Pseudo-checks the planner adds when a subject cannot be expanded into real checks: they
#: always produce an error or finding, so a model that cannot be listed never passes silently.
RESOLVE_CHECK = "resolve"
READ_CHECK = "read"


def build_plan(inventory: Inventory, *, online: bool = False) -> list[PlannedItem]:
    """Every item to run, in a stable sorted order (xdist needs identical collection).

    ``online`` (``--mlsupply-online``) adds a ``drift[<model>]`` item per model pinned to a Hub
    commit: it asks the Hub, so a gate, offline by construction, never plans one. The xdist
    controller has the same options as its workers, so it plans the same items.
    """
    from pytest_mlsupply.checks.registry import (
        ARTIFACT_CHECKS,
        CODE_CHECKS,
        DATASET_CHECKS,
        DEPENDENCY_CHECKS,
        DRIFT_CHECKS,
        PROVENANCE_CHECKS,
    )

    items: list[PlannedItem] = []
    for model in inventory.models:
        items.extend(plan_artifacts(model, tuple(c.name for c in ARTIFACT_CHECKS)))
        # The claims' lines answer from the manifest: a claim no model makes is never imported.
        for claim in PROVENANCE_CHECKS:
            if claim.applies(model) or claim.required_by(inventory.manifest.policy):
                items.append(PlannedItem(RowKind.PROVENANCE, model.name, (claim.name,)))
        if online:
            drift = tuple(line.name for line in DRIFT_CHECKS if line.applies(model))
            if drift:
                items.append(PlannedItem(RowKind.DRIFT, model.name, drift))
    for dataset in inventory.datasets:
        # Dataset names never equal model names (the loader refuses it): rows stay apart.
        for dataset_claim in DATASET_CHECKS:
            items.append(PlannedItem(RowKind.PROVENANCE, dataset.name, (dataset_claim.name,)))
    for dep in inventory.dependencies:
        names = tuple(c.name for c in DEPENDENCY_CHECKS if c.applies(dep))
        if names:
            items.append(PlannedItem(RowKind.DEPENDENCY, dep.subject, names, skip=dep.skipped))
    for error in inventory.dependency_errors:
        items.append(PlannedItem(RowKind.DEPENDENCY, error.source, (READ_CHECK,)))
    # One item per code file, all code checks in it; a `code.paths` entry that yields no file
    # gets the same item, which errors (the runner finds its CodePathError).
    code_checks = tuple(line.name for line in CODE_CHECKS)
    for subject in [f.subject for f in inventory.code_files] + [
        e.subject for e in inventory.code_errors
    ]:
        items.append(PlannedItem(RowKind.CODE, subject, code_checks))
    items.sort(key=lambda item: item.sort_key)
    return _dedupe(items)


def plan_artifacts(model: ResolvedModel, checks: tuple[str, ...]) -> list[PlannedItem]:
    """One model's artifact items for the named checks (registry order), unsorted.

    A model that cannot be listed, or has no files, gets a ``resolve`` item so it never passes
    silently. Shared by the manifest's plan and the ``model_artifact`` marker.
    """
    from pytest_mlsupply.checks.registry import ARTIFACT_CHECKS

    items: list[PlannedItem] = []
    if model.error is not None or not model.files:
        items.append(PlannedItem(RowKind.ARTIFACT, model.name, (RESOLVE_CHECK,)))
    selected = [line for line in ARTIFACT_CHECKS if line.name in checks]
    for file in files_with_missing_pins(model):
        for check in selected:
            if check.applies(file):
                items.append(PlannedItem(RowKind.ARTIFACT, file.subject, (check.name,)))
    return items


def files_with_missing_pins(model: ResolvedModel) -> list[ArtifactFile]:
    """The model's files plus a placeholder for each pinned file that is not on disk."""
    files = list(model.files)
    if model.root is None:
        return files
    present = {f.relpath for f in files}
    for rel, pin in sorted(model.decl.files.items()):
        if rel not in present:
            files.append(
                ArtifactFile(
                    model=model.name,
                    relpath=rel,
                    path=model.root / rel,
                    size=0,
                    pinned_sha256=pin.split(":", 1)[1],
                )
            )
    return files


def _dedupe(items: list[PlannedItem]) -> list[PlannedItem]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.name not in seen:
            seen.add(item.name)
            out.append(item)
    return out
