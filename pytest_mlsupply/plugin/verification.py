"""Verify one marked model with the manifest's engine, as plain data that crosses processes.

A :class:`Verification` is what a ``model_artifact`` marker produced: the model as resolved, the
planned items for its files and the check results. It serialises to builtins, so the same record
is written to the shared cache under xdist, sent to the controller on the test report, and merged
into the ML-BOM and matrix there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import ContentStore
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.model import (
    DEFAULT_BOM_PATH,
    DEFAULT_MATRIX_PATH,
    SCHEMA_VERSION,
    HubRef,
    Manifest,
    ModelDecl,
    OutputDecl,
    Policy,
    Span,
)
from pytest_mlsupply.plan import RESOLVE_CHECK, PlannedItem, plan_artifacts
from pytest_mlsupply.plugin.marker import ModelRequest, artifact_check_names
from pytest_mlsupply.results import CheckResult, RowKind, Severity, Verdict
from pytest_mlsupply.sources.hub import revision_pointer
from pytest_mlsupply.sources.inventory import ArtifactFile, Inventory, ResolvedModel
from pytest_mlsupply.sources.resolve import resolve_model

#: The project's baseline, applied to results (``MlsupplyState.accept``).
Accept = Callable[[list[CheckResult]], list[CheckResult]]


@dataclass(frozen=True)
class Verification:
    """One marked model, verified: builtins only (``to_dict`` / ``from_dict``)."""

    key: str
    name: str
    source: str
    """``hf://org/name@commit`` or the absolute directory."""
    root: str | None
    """The local snapshot the fixture returns; None when the model could not be resolved."""
    allow_patterns: list[str]
    checks: list[str]
    pins: dict[str, str]
    files: list[dict[str, Any]]
    """``relpath``, ``size`` and ``pinned_sha256`` of every verified file."""
    planned: list[dict[str, Any]]
    results: list[dict[str, Any]]
    error: str | None
    from_manifest: bool
    """The model is declared in the manifest (its name and pins come from there)."""
    where: str
    """The test whose marker asked first, ``file:line``."""
    verified_by: str
    """``main`` for a serial run, else the xdist worker id."""
    commit: str | None = None
    """For a hub model: the commit it resolved to (also when the marker names a branch)."""
    endpoint: str | None = None
    """For a hub model: the Hub endpoint it was resolved against (``HF_ENDPOINT``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        return cls(**data)

    @property
    def selection(self) -> str:
        """What was narrowed, for humans: ``allow_patterns=[...], checks=[...]`` or empty."""
        parts = []
        if self.allow_patterns:
            parts.append(f"allow_patterns={self.allow_patterns}")
        if tuple(self.checks) != artifact_check_names():
            parts.append(f"checks={self.checks}")
        return ", ".join(parts)

    def check_results(self) -> list[CheckResult]:
        return [CheckResult.from_dict(d) for d in self.results]

    def planned_items(self) -> list[PlannedItem]:
        return [
            PlannedItem(RowKind(d["kind"]), d["subject"], tuple(d["checks"])) for d in self.planned
        ]

    def failing(self, threshold: Severity, accept: Accept | None = None) -> list[CheckResult]:
        """The results that fail the model, after ``accept`` (the project's baseline) if any."""
        return [
            r for r in self.judged(accept) if r.verdict(threshold) in (Verdict.FAIL, Verdict.ERROR)
        ]

    def judged(self, accept: Accept | None = None) -> list[CheckResult]:
        """The results with the baseline applied: a finding the gate accepts passes a marked
        test as it passes the gate's item (and its matrix cell)."""
        results = self.check_results()
        return accept(results) if accept is not None else results

    def resolved_model(self) -> ResolvedModel:
        """The model as the inventory holds it, rebuilt from plain data (for the reports)."""
        file, _, line = self.where.rpartition(":")
        span = Span(Path(file), int(line) if line.isdigit() else 1, 1)
        ref = parse_hub_uri(self.source)
        decl = ModelDecl(
            name=self.name,
            span=span,
            source=ref,
            path=None if ref is not None else Path(self.source),
            files=dict(self.pins),
        )
        root = Path(self.root) if self.root is not None else None
        files = tuple(
            ArtifactFile(
                model=self.name,
                relpath=f["relpath"],
                path=(root or Path()) / f["relpath"],
                size=f["size"],
                pinned_sha256=f["pinned_sha256"],
            )
            for f in self.files
        )
        return ResolvedModel(
            decl=decl,
            root=root,
            files=files,
            error=self.error,
            commit=self.commit,
            endpoint=self.endpoint,
        )


def parse_hub_uri(text: str) -> HubRef | None:
    if not text.startswith("hf://"):
        return None
    repo, _, rev = text.removeprefix("hf://").rpartition("@")
    return HubRef(repo_type="model", repo_id=repo, revision=rev)


def default_manifest(rootdir: Path) -> Manifest:
    """What the checks see when the project has no mlsupply.yaml: default policy, no models."""
    return Manifest(
        path=rootdir / "mlsupply.yaml",
        version=SCHEMA_VERSION,
        policy=Policy(),
        output=OutputDecl(bom=rootdir / DEFAULT_BOM_PATH, matrix=rootdir / DEFAULT_MATRIX_PATH),
        project_name=rootdir.name or "project",
    )


def manifest_decl(request: ModelRequest, manifest: Manifest) -> ModelDecl | None:
    """The manifest's declaration of the same model (same Hub reference or same directory)."""
    for decl in manifest.models:
        if request.source is not None and decl.source == request.source:
            return decl
        if (
            request.path is not None
            and decl.path is not None
            and decl.path.resolve() == request.path
        ):
            return decl
    return None


class NameConflict(Exception):
    pass


def declaration(request: ModelRequest, manifest: Manifest) -> tuple[ModelDecl, bool]:
    """The declaration to verify: the manifest's when it declares this model, else a new one.

    Raises :class:`NameConflict` when the marker's name cannot be told apart from a manifest
    model's in the BOM and matrix.
    """
    declared = manifest_decl(request, manifest)
    if declared is not None:
        if request.explicit_name and request.name != declared.name:
            raise NameConflict(
                f"name={request.name!r}: {request.source_text} is declared in the manifest as "
                f"{declared.name!r} (line {declared.span.line}); drop name= or use that name"
            )
        return declared, True
    for decl in manifest.models:
        if decl.name == request.name:
            raise NameConflict(
                f"the name {request.name!r} is the manifest's model {decl.source_text} "
                f"(line {decl.span.line}), not {request.source_text}; pass name='...' to the "
                "marker to tell them apart"
            )
    return ModelDecl(
        name=request.name, span=request.where, source=request.source, path=request.path
    ), False


def verification_key(request: ModelRequest, decl: ModelDecl, policy: Policy) -> str:
    """Equal keys verify identically: source, file selection, checks, pins and policy."""
    material = {
        "source": request.source_text,
        "allow_patterns": sorted(request.allow_patterns),
        "checks": list(request.checks),
        "name": decl.name,
        "pins": decl.files,
        "policy": asdict(policy),
    }
    blob = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def verify(
    request: ModelRequest,
    decl: ModelDecl,
    *,
    from_manifest: bool,
    manifest: Manifest,
    key: str,
    verified_by: str,
    store: ContentStore | None = None,
) -> Verification:
    """Resolve the model and run the requested artifact checks on the selected files."""
    policy = manifest.policy
    # Pins of files outside allow_patterns are not this test's concern (not "missing").
    decl = replace(decl, files={k: v for k, v in decl.files.items() if request.selects(k)})
    resolved = _resolve(request, decl, policy)
    if resolved.error is None:
        resolved = replace(
            resolved, files=tuple(f for f in resolved.files if request.selects(f.relpath))
        )
    planned = plan_model(resolved, request.checks)
    inventory = Inventory(manifest=manifest, models=(resolved,), datasets=(), dependencies=())
    context = CheckContext(policy=policy, inventory=inventory, contents=ContentCache(store))
    results = [result for item in planned for result in run_item(item, context)]
    if resolved.error is None and not resolved.files and request.allow_patterns:
        for result in results:
            if result.check == RESOLVE_CHECK:
                result.error = (
                    f"allow_patterns={list(request.allow_patterns)} matches no file of "
                    f"{request.source_text}; fix the patterns"
                )
                result.findings = []
    return Verification(
        key=key,
        name=decl.name,
        source=request.source_text,
        root=str(resolved.root) if resolved.root is not None else None,
        allow_patterns=list(request.allow_patterns),
        checks=list(request.checks),
        pins=dict(decl.files),
        files=[
            {"relpath": f.relpath, "size": f.size, "pinned_sha256": f.pinned_sha256}
            for f in resolved.files
        ],
        planned=[
            {"kind": p.kind.value, "subject": p.subject, "checks": list(p.checks)} for p in planned
        ],
        results=[r.to_dict() for r in results],
        error=resolved.error,
        from_manifest=from_manifest,
        where=f"{request.where.file}:{request.where.line}",
        verified_by=verified_by,
        commit=resolved.commit,
        endpoint=resolved.endpoint,
    )


def _resolve(request: ModelRequest, decl: ModelDecl, policy: Policy) -> ResolvedModel:
    if request.source is not None and not request.is_pinned and policy.require_pins:
        ref = request.source
        # Name the commit the ref points to (on the Hub today, or in the local cache), as the
        # manifest's message does.
        pointer = revision_pointer(ref.repo_type, ref.repo_id, ref.revision)
        commit = pointer.commit if pointer is not None else "<commit sha>"
        pin = f"'{ref.repo_id}@{commit}'"
        where = f" (it points to {pointer.commit} {pointer.where})" if pointer is not None else ""
        return ResolvedModel(
            decl=decl,
            root=None,
            error=(
                f"revision {ref.revision!r} of {ref.repo_id} is mutable (a branch or tag can be "
                f"moved to other files){where}; pin the commit: {pin}, or set "
                "policy.require_pins: false"
            ),
        )
    if request.path is not None and not request.path.is_dir():
        return ResolvedModel(
            decl=decl,
            root=None,
            error=f"{request.path} is not a directory; point the marker at the model's files",
        )
    # A hub download fetches only the selected files; the caller narrows the listing either way
    # (a local directory, or a cache that already holds more files).
    return resolve_model(decl, allow_patterns=request.allow_patterns or None)


def plan_model(model: ResolvedModel, checks: Sequence[str]) -> list[PlannedItem]:
    """The artifact items for one model, as :func:`pytest_mlsupply.plan.build_plan` plans them."""
    items = plan_artifacts(model, tuple(checks))
    items.sort(key=lambda item: item.sort_key)
    return items


@dataclass(frozen=True)
class Merged:
    inventory: Inventory
    plan: list[PlannedItem]
    results: dict[str, list[CheckResult]]
    """Planned item name → the marked models' results for it."""


def merge(
    inventory: Inventory, plan: Sequence[PlannedItem], verifications: Iterable[Verification]
) -> Merged:
    """The manifest's inventory and plan extended with marked models, deterministically.

    A model the manifest declares keeps its manifest entry (the marker's results only fill
    cells its own items did not report); models that only markers name are added, one entry
    per name with the union of the files any marker verified. Raises :class:`NameConflict`
    when one name stands for two sources: merged, one model's files would be missing from
    the BOM (collection finds most conflicts first; this one also catches markers added after
    it, by another plugin's hook).
    """
    ordered = sorted(verifications, key=lambda v: (v.name, v.key))
    declared = {m.name for m in inventory.models}
    extra: dict[str, ResolvedModel] = {}
    sources: dict[str, str] = {}
    items = {p.name: p for p in plan}
    results: dict[str, list[CheckResult]] = {}
    for verification in ordered:
        if verification.name not in declared:
            first = sources.setdefault(verification.name, verification.source)
            if first != verification.source:
                raise NameConflict(
                    f"the name {verification.name!r} is used for different models: {first}; "
                    f"{verification.source}; pass name='...' to the marker to tell them apart"
                )
            model = verification.resolved_model()
            held = extra.get(verification.name)
            if held is None:
                extra[verification.name] = model
            else:
                files = {f.relpath: f for f in (*held.files, *model.files)}
                extra[verification.name] = replace(
                    held,
                    files=tuple(files[k] for k in sorted(files)),
                    error=held.error or model.error,
                )
        by_name: dict[str, list[CheckResult]] = {}
        for result in verification.check_results():
            for planned in verification.planned_items():
                if planned.subject == result.subject and result.check in planned.checks:
                    by_name.setdefault(planned.name, []).append(result)
        for planned in verification.planned_items():
            items.setdefault(planned.name, planned)
            if planned.name in by_name:
                results.setdefault(planned.name, by_name[planned.name])
    models = (*inventory.models, *(extra[name] for name in sorted(extra)))
    merged_plan = sorted(items.values(), key=lambda item: item.sort_key)
    return Merged(replace(inventory, models=models), merged_plan, results)
