"""Build the :class:`Inventory` from a manifest: resolve models, list files, read requirements."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mlsupply.manifest.model import Manifest, ModelDecl, RequirementDecl
from pytest_mlsupply.sources.code import (
    CodeFile,
    find_code_files,
    unfollowed_link,
    unreadable_directory,
)
from pytest_mlsupply.sources.inventory import (
    CodePathError,
    Dependency,
    DependencyError,
    Inventory,
    ResolvedModel,
)
from pytest_mlsupply.sources.local import list_model_files

if TYPE_CHECKING:
    from pytest_mlsupply.sources.hub import HubSnapshot


def resolve_model(decl: ModelDecl, *, allow_patterns: Sequence[str] | None = None) -> ResolvedModel:
    """List a declared model's files, resolving a hub source to a local snapshot first.

    ``allow_patterns`` narrows a hub model to the matching files (huggingface_hub's pattern
    rules): only those are downloaded and listed. It has no effect on a local directory.
    Resolution problems come back as ``error``, never raised.
    """
    snapshot: HubSnapshot | None = None
    if decl.path is not None:
        root = decl.path
    else:
        assert decl.source is not None  # the loader guarantees exactly one of the two
        # The Hub module is imported for a hub model only: a project of local models never
        # loads it.
        from pytest_mlsupply.sources.hub import HubResolutionError, HubSettings, resolve_hub

        settings = HubSettings.from_environment()
        try:
            snapshot = resolve_hub(decl.source, allow_patterns=allow_patterns, settings=settings)
        except HubResolutionError as exc:
            return ResolvedModel(decl=decl, root=None, error=str(exc), endpoint=settings.endpoint)
        root = snapshot.path
    try:
        files = list_model_files(decl.name, root, decl.files)
    except OSError as exc:
        return ResolvedModel(decl=decl, root=root, error=f"cannot list {root}: {exc}")
    if snapshot is None:
        return ResolvedModel(decl=decl, root=root, files=files)
    from pytest_mlsupply.sources.hub import matches_patterns

    if allow_patterns is not None:
        files = tuple(f for f in files if matches_patterns(f.relpath, allow_patterns))
    missing = _missing_files(snapshot, {f.relpath for f in files})
    if missing:
        return ResolvedModel(
            decl=decl,
            root=root,
            hub_files=snapshot.files,
            error=f"{decl.source_text}: the cached snapshot lacks {len(missing)} file(s) the "
            f"commit holds ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
            "resolve it online once (unset HF_HUB_OFFLINE) to complete it",
            commit=snapshot.commit,
            endpoint=snapshot.endpoint,
        )
    return ResolvedModel(
        decl=decl,
        root=root,
        files=files,
        hub_files=snapshot.files,
        commit=snapshot.commit,
        endpoint=snapshot.endpoint,
    )


def _missing_files(snapshot: HubSnapshot, present: set[str]) -> list[str]:
    """Files the commit's full listing holds (within the patterns) that are not on disk."""
    if all(meta.source == "cache-blob" for meta in snapshot.files.values()):
        return []  # blob names only describe the files that are there; nothing to compare
    from pytest_mlsupply.sources.hub import matches_patterns

    return [
        rel
        for rel in sorted(snapshot.files)
        if rel not in present and matches_patterns(rel, snapshot.allow_patterns)
    ]


def read_requirements(decl: RequirementDecl, manifest: Manifest) -> list[Dependency]:
    # The requirement readers (packaging, pip's parser) are imported when a manifest declares
    # requirements, not at import: a model-only gate reads none.
    from pytest_mlsupply.sources.requirements import (
        from_environment,
        from_pylock,
        from_pyproject,
        from_requirements_file,
    )

    if decl.kind == "environment":
        return from_environment()
    assert decl.path is not None
    if decl.kind == "pyproject":
        return from_pyproject(decl.path, manifest.root)
    if decl.kind == "pylock":
        return from_pylock(decl.path, manifest.root)
    return from_requirements_file(decl.path, manifest.root)


def build_inventory(manifest: Manifest) -> Inventory:
    models = tuple(resolve_model(m) for m in manifest.models)
    dependencies: dict[str, Dependency] = {}
    errors: list[DependencyError] = []
    for decl in manifest.requirements:
        from pytest_mlsupply.sources.requirements import RequirementsError

        try:
            found = read_requirements(decl, manifest)
        except RequirementsError as exc:
            errors.append(DependencyError(source=_source_name(decl, manifest), message=str(exc)))
            continue
        for dep in found:
            # The same requirement from two sources is one dependency, judged by the weaker of
            # the two declarations (see _merge); one whose marker is false here gives way.
            held = dependencies.get(dep.subject)
            dependencies[dep.subject] = dep if held is None else _merge(held, dep)
    hub_endpoint = None
    if any(d.source is not None for d in manifest.datasets):
        # Only when a dataset comes from the Hub: reading the settings imports huggingface_hub.
        from pytest_mlsupply.sources.hub import HubSettings

        hub_endpoint = HubSettings.from_environment().endpoint
    code_files, code_errors = find_code(manifest)
    return Inventory(
        manifest=manifest,
        models=models,
        datasets=manifest.datasets,
        dependencies=tuple(dependencies[k] for k in sorted(dependencies)),
        dependency_errors=tuple(errors),
        hub_endpoint=hub_endpoint,
        code_files=code_files,
        code_errors=code_errors,
    )


def find_code(manifest: Manifest) -> tuple[tuple[CodeFile, ...], tuple[CodePathError, ...]]:
    """The files ``code:`` names (sorted, each once) and the paths that name none.

    Only directory listings, in sorted order: every xdist worker and the controller list the
    same files, so they agree on the plan. Each path is listed on its own so that one that
    yields nothing (an empty directory, or everything in it excluded) is named, never passed.
    """
    decl = manifest.code
    if decl is None:
        return (), ()
    found: dict[str, CodeFile] = {}
    errors: list[CodePathError] = []
    for path, text in zip(decl.paths, decl.path_texts, strict=True):
        listing = find_code_files([path], decl.exclude, root=manifest.root)
        files = listing.files
        for link, target in listing.unfollowed:
            why = unfollowed_link(target, f"code.exclude in {manifest.path.name}")
            errors.append(CodePathError(subject=link, message=why))
        for directory, problem in listing.unreadable:
            why = unreadable_directory(problem, f"code.exclude in {manifest.path.name}")
            errors.append(CodePathError(subject=directory, message=why))
        if not files and not listing.unfollowed and not listing.unreadable:
            errors.append(_empty_code_path(path, text, decl.exclude, manifest))
        for file in files:
            found.setdefault(file.subject, file)
    return tuple(found[s] for s in sorted(found)), tuple(errors)


def _empty_code_path(
    path: Path, text: str, exclude: Sequence[str], manifest: Manifest
) -> CodePathError:
    subject = _relative(path, manifest.root)
    after = " (after exclude)" if exclude else ""
    if path.is_dir():
        subject = subject.rstrip("/") + "/"
        what = f"no .py or .ipynb file under {text}{after}"
        fix = "point code.paths at the directory that holds the project's Python code"
    else:
        what = f"{text} is excluded by code.exclude" if exclude else f"{text} is not a file"
        fix = "remove it from code.paths or from code.exclude"
    if exclude:
        fix += f", or narrow code.exclude ({', '.join(exclude)})"
    return CodePathError(subject=subject, message=f"{what}; fix: {fix} in {manifest.path.name}")


#: A pylock.toml package's origin (``pylock.toml:packages[3]``).
_LOCKED = re.compile(r":packages\[\d+\]$")


def _merge(held: Dependency, dep: Dependency) -> Dependency:
    """One requirement (same name and version) declared by two sources, as one dependency.

    Either source may be the one installed (``pip install -r requirements-dev.txt``), so the
    dependency is only as safe as its weaker declaration: no hash if either lacks one, and every
    index either of them installs from in play. The declaration without a hash (else the one
    that is not a lock entry, else the first) is kept, with the other's places added to it.
    """
    if dep.skipped is not None:
        return held
    if held.skipped is not None:
        return dep
    # An installed distribution says what is there, not where an install takes it from: the
    # declaration is the one to judge.
    if held.origin == "environment":
        return dep
    if dep.origin == "environment":
        return held

    def strength(d: Dependency) -> tuple[bool, bool]:
        return (bool(d.hashes), _LOCKED.search(d.origin) is not None)

    base, other = (dep, held) if strength(dep) < strength(held) else (held, dep)
    hashes = (
        tuple(dict.fromkeys(base.hashes + other.hashes)) if base.hashes and other.hashes else ()
    )
    # None: the configured (or default) index; a source that uses it puts it in play for both.
    index = None if base.index is None or other.index is None else base.index
    places = [base.index, other.index, *base.extra_indexes, *other.extra_indexes]
    extra = tuple(dict.fromkeys(p for p in places if p is not None and p != index))
    return replace(
        base,
        hashes=hashes,
        index=index,
        extra_indexes=extra,
        constraint=base.constraint or other.constraint,
    )


def _source_name(decl: RequirementDecl, manifest: Manifest) -> str:
    if decl.path is None:
        return "environment"
    return _relative(decl.path, manifest.root)


def _relative(path: Path, root: Path) -> str:
    """``path`` as the project names it: POSIX, relative to the manifest's directory when
    inside it (both are resolved by the loader), else absolute."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
