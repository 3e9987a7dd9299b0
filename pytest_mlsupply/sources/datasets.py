"""Find a declared dataset's files: a local directory, or a Hub dataset's snapshot.

Resolved by the ``dataset`` claim when it runs (on the worker), not while the inventory is built:
the plan needs only the dataset's name, and a dataset that cannot be found is that claim's error,
not a reason to stop collecting. Hub datasets resolve exactly as hub models do
(:func:`~pytest_mlsupply.sources.hub.resolve_hub`: the local cache offline, the Hub otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_mlsupply.manifest.model import DatasetDecl
from pytest_mlsupply.sources.hub import HubFileMeta, HubResolutionError, HubSettings, resolve_hub
from pytest_mlsupply.sources.inventory import ArtifactFile
from pytest_mlsupply.sources.local import list_model_files


@dataclass(frozen=True)
class ResolvedDataset:
    decl: DatasetDecl
    root: Path | None
    files: tuple[ArtifactFile, ...] = ()
    commit: str | None = None
    """For Hub datasets: the 40-hex commit the snapshot is."""
    error: str | None = None
    """Why the dataset's files could not be listed (the claim then reports an error)."""
    complete: bool = True
    """False when only some of a Hub dataset's files were fetched (its pins) and the commit may
    hold others: what is counted over ``files`` is then not the whole dataset."""
    hub_files: dict[str, HubFileMeta] = field(default_factory=dict)
    """For Hub datasets: what the Hub (or the cache's record of it) lists for each file of the
    commit; entries sourced from blob names alone say nothing the blob does not."""

    @property
    def card_path(self) -> Path | None:
        return None if self.root is None else self.root / "README.md"


def resolve_dataset(decl: DatasetDecl) -> ResolvedDataset:
    """List the dataset's files; problems come back as ``error``, never raised.

    A Hub dataset with ``files:`` pins fetches only those files and its card (datasets can be
    large, and the pins are what the claim compares); without pins, the whole snapshot.
    """
    commit = None
    listing: set[str] | None = None
    hub_files: dict[str, HubFileMeta] = {}
    if decl.path is not None:
        root = decl.path
    else:
        assert decl.source is not None  # the loader guarantees exactly one of the two
        patterns = [*sorted(decl.files), "README.md"] if decl.files else None
        try:
            snapshot = resolve_hub(
                decl.source, allow_patterns=patterns, settings=HubSettings.from_environment()
            )
        except HubResolutionError as exc:
            return ResolvedDataset(decl=decl, root=None, error=str(exc))
        root, commit = snapshot.path, snapshot.commit
        hub_files = dict(snapshot.files)
        if patterns is not None:
            # Blob names describe only the files in the cache: then nobody knows what else the
            # commit holds. A listing from the Hub (or its cached metadata) says it.
            known = any(meta.source != "cache-blob" for meta in snapshot.files.values())
            listing = set(snapshot.files) if known else {"<unknown>"}
    if not root.is_dir():
        return ResolvedDataset(
            decl=decl, root=None, error=f"{root} is not a directory holding the dataset's files"
        )
    try:
        files = list_model_files(decl.name, root, decl.files)
    except OSError as exc:
        return ResolvedDataset(decl=decl, root=root, error=f"cannot list {root}: {exc}")
    complete = listing is None or listing <= {f.relpath for f in files}
    return ResolvedDataset(
        decl=decl, root=root, files=files, commit=commit, complete=complete, hub_files=hub_files
    )
