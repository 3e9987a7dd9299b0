"""What a manifest declares, resolved to concrete subjects: model files on disk and dependencies.

The inventory is computed identically on every xdist worker and on the controller (it only lists
directories and parses requirement files), so all of them agree on the plan of checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pytest_mlsupply.manifest.model import DatasetDecl, Manifest, ModelDecl
from pytest_mlsupply.printable import printable
from pytest_mlsupply.results import Location
from pytest_mlsupply.sources.code import CodeFile

# The Hub's records are a type here; the Hub client's module is imported by what resolves a
# hub model, so a project of local models never loads it.
if TYPE_CHECKING:
    from pytest_mlsupply.sources.hub import HubFileMeta

#: The file PEFT writes beside an adapter's weights, naming its base model.
ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class ArtifactFile:
    """One file of a model, addressed as ``<model>/<relative path>``."""

    model: str
    relpath: str
    path: Path
    size: int
    pinned_sha256: str | None = None

    @property
    def subject(self) -> str:
        # Escaped: the name on disk (or in a Hub listing) is the publisher's, and the subject
        # names the item, its matrix row and every report's entry (pytest_mlsupply.printable).
        return f"{self.model}/{printable(self.relpath)}"


@dataclass(frozen=True)
class ResolvedModel:
    decl: ModelDecl
    root: Path | None
    files: tuple[ArtifactFile, ...] = ()
    error: str | None = None
    """Why the model's files could not be listed (the model's checks then report an error)."""
    hub_files: dict[str, HubFileMeta] | None = None
    """For hub models: what the Hub (or, offline, the cache) records about every file of the
    commit, by repo path; the ``hub`` check compares the bytes on disk with it."""
    commit: str | None = None
    """For hub models: the 40-hex commit the source resolved to (the files are that commit's),
    also when the manifest declared a branch or tag (``policy.require_pins: false``)."""
    endpoint: str | None = None
    """For hub models: the Hub endpoint it was resolved against (``HF_ENDPOINT``)."""

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def card_path(self) -> Path | None:
        if self.root is None:
            return None
        return self.root / self.decl.card.path


def adapter_configs(model: ResolvedModel) -> list[str]:
    """The model's ``adapter_config.json`` files, relative to it: the top-level one first.

    Here rather than with the lineage claim: the planner asks it of every model (the claim
    applies to a model with an adapter config) without importing the claim.
    """
    if model.root is None:
        return []
    found = {a.relpath for a in model.files if PurePosixPath(a.relpath).name == ADAPTER_CONFIG}
    if (model.root / ADAPTER_CONFIG).is_file():
        found.add(ADAPTER_CONFIG)
    return sorted(found, key=lambda rel: (rel.count("/"), rel))


@dataclass(frozen=True)
class Dependency:
    """A Python distribution the project depends on, as declared or installed."""

    name: str
    """Canonical (PEP 503 normalised) name."""
    requirement: str
    """The requirement in packaging's normal form (``numpy==2.1.0``, ``requests<3,>=2``), the
    line as written for URL and path requirements, or ``name==version`` for installed ones."""
    origin: str
    """Where it was declared: ``requirements.txt:3`` or ``environment``."""
    version: str | None = None
    """The exact version when pinned with ``==``/``===`` or installed; otherwise None."""
    hashes: tuple[str, ...] = ()
    link: str | None = None
    """The URL or path a requirement installs from, when it bypasses the package index."""
    index: str | None = None
    """The package index it installs from when that is not the default (PyPI): the source's
    ``--index-url``, or a ``pylock.toml`` package's ``index``."""
    extra_indexes: tuple[str, ...] = ()
    """Other locations pip may also take it from: the source's ``--extra-index-url`` and
    ``--find-links`` (the ground dependency confusion grows on)."""
    marker: str | None = None
    """The requirement's environment marker as written, when it has one."""
    skipped: str | None = None
    """Why it does not apply to the running interpreter (its marker is false): such a
    dependency is recorded and reported as skipped, never dropped silently."""
    files: tuple[str, ...] = ()
    """The file URLs (or paths) a ``pylock.toml`` entry installs from: an installer downloads
    these, not whatever its ``index`` serves."""
    constraint: str | None = None
    """Where a ``-c`` constraints file pins the version pip installs for a requirement that is
    itself a range (``constraints.txt:4``): the constraint is the pin, not a dependency."""

    @property
    def subject(self) -> str:
        if self.version is not None:
            return f"{self.name}=={self.version}"
        return self.requirement

    @property
    def location(self) -> Location:
        """Where findings about it point: the requirements file and line, the pyproject key,
        or the environment."""
        file, _, rest = self.origin.rpartition(":")
        if file and rest.isdigit():
            return Location(file=file, line=int(rest))
        if file:
            return Location(file=file, key_path=rest)
        return Location(file=self.origin)

    @property
    def purl(self) -> str:
        if self.version is not None:
            return f"pkg:pypi/{self.name}@{self.version}"
        return f"pkg:pypi/{self.name}"


@dataclass(frozen=True)
class DependencyError:
    """A requirement source that could not be read; it becomes an error item of its own."""

    source: str
    """The source as the manifest names it, relative to the manifest (``requirements.txt``)."""
    message: str


@dataclass(frozen=True)
class CodePathError:
    """A ``code.paths`` entry that yields no file to check: an error item of its own, so a
    typo'd or emptied directory never passes in silence."""

    subject: str
    """The path relative to the manifest's directory, ``/``-terminated for a directory
    (``src/``): the item's name (``code[src/]``); never the subject of a file."""
    message: str


@dataclass(frozen=True)
class Inventory:
    manifest: Manifest
    models: tuple[ResolvedModel, ...]
    datasets: tuple[DatasetDecl, ...]
    dependencies: tuple[Dependency, ...]
    dependency_errors: tuple[DependencyError, ...] = ()
    hub_endpoint: str | None = None
    """The Hub endpoint (``HF_ENDPOINT``) the manifest's hub datasets are declared against, when
    any is; hub models record the endpoint they were resolved against themselves."""
    code_files: tuple[CodeFile, ...] = ()
    """The project's code to check (``code:``), sorted by subject: one item each."""
    code_errors: tuple[CodePathError, ...] = ()
    """``code.paths`` entries that yield no file (after ``exclude``)."""
