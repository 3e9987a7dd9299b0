"""List the files of a model held in a local directory (or a resolved hub snapshot)."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_mlsupply.sources.inventory import ArtifactFile

# Version-control and download bookkeeping that no model loader reads.
_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".cache", "__pycache__"})


def list_model_files(model: str, root: Path, pins: dict[str, str]) -> tuple[ArtifactFile, ...]:
    """Every regular file below ``root`` in sorted order, hidden files included.

    Hidden files are listed on purpose: a loader given a directory may still read them, and a
    dropped-in ``.payload.pkl`` is exactly what an attacker would try. Symlinks are listed under
    their own name (their target is what a loader would read).
    """
    files: list[ArtifactFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            rel = path.relative_to(root).as_posix()
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # a dangling symlink; the checks report it when they open it
            pin = pins.get(rel)
            files.append(
                ArtifactFile(
                    model=model,
                    relpath=rel,
                    path=path,
                    size=size,
                    pinned_sha256=pin.split(":", 1)[1] if pin else None,
                )
            )
    files.sort(key=lambda f: f.relpath)
    return tuple(files)
