"""Build the :class:`Inventory` from a manifest: resolve models, list files, read requirements."""

from __future__ import annotations

from pytest_mlsupply.manifest.model import Manifest, ModelDecl, RequirementDecl
from pytest_mlsupply.sources.hub import HubResolutionError, resolve_snapshot
from pytest_mlsupply.sources.inventory import (
    Dependency,
    DependencyError,
    Inventory,
    ResolvedModel,
)
from pytest_mlsupply.sources.local import list_model_files
from pytest_mlsupply.sources.requirements import (
    RequirementsError,
    from_environment,
    from_pyproject,
    from_requirements_file,
)


def resolve_model(decl: ModelDecl) -> ResolvedModel:
    if decl.path is not None:
        root = decl.path
    else:
        assert decl.source is not None  # the loader guarantees exactly one of the two
        try:
            root = resolve_snapshot(decl.source)
        except HubResolutionError as exc:
            return ResolvedModel(decl=decl, root=None, error=str(exc))
    try:
        files = list_model_files(decl.name, root, decl.files)
    except OSError as exc:
        return ResolvedModel(decl=decl, root=root, error=f"cannot list {root}: {exc}")
    return ResolvedModel(decl=decl, root=root, files=files)


def read_requirements(decl: RequirementDecl, manifest: Manifest) -> list[Dependency]:
    if decl.kind == "environment":
        return from_environment()
    assert decl.path is not None
    if decl.kind == "pyproject":
        return from_pyproject(decl.path, manifest.root)
    return from_requirements_file(decl.path, manifest.root)


def build_inventory(manifest: Manifest) -> Inventory:
    models = tuple(resolve_model(m) for m in manifest.models)
    dependencies: dict[str, Dependency] = {}
    errors: list[DependencyError] = []
    for decl in manifest.requirements:
        try:
            found = read_requirements(decl, manifest)
        except RequirementsError as exc:
            errors.append(DependencyError(source=_source_name(decl, manifest), message=str(exc)))
            continue
        for dep in found:
            # The same requirement from two sources is one dependency; the first origin wins.
            dependencies.setdefault(dep.subject, dep)
    return Inventory(
        manifest=manifest,
        models=models,
        datasets=manifest.datasets,
        dependencies=tuple(dependencies[k] for k in sorted(dependencies)),
        dependency_errors=tuple(errors),
    )


def _source_name(decl: RequirementDecl, manifest: Manifest) -> str:
    if decl.path is None:
        return "environment"
    try:
        return decl.path.relative_to(manifest.root).as_posix()
    except ValueError:
        return decl.path.as_posix()
