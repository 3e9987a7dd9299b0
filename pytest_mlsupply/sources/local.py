"""List the files of a model held in a local directory (or a resolved hub snapshot)."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_mlsupply.sources.inventory import ArtifactFile

# Version-control and download bookkeeping that no model loader reads. Not ``__pycache__``:
# Python imports a ``.pyc`` from it in place of the model's checked source (always, when the
# file is an unchecked-hash pyc), so its files are checked like any other.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".cache"})


#: A model directory with more entries than this is almost certainly not a model.
MAX_FILES = 50_000


class TooManyFiles(OSError):
    pass


def list_model_files(model: str, root: Path, pins: dict[str, str]) -> tuple[ArtifactFile, ...]:
    """Every file below ``root`` in sorted order, hidden files included.

    Hidden files are listed on purpose: a loader given a directory may still read them, and a
    dropped-in ``.payload.pkl`` is exactly what an attacker would try. Symlinks are listed under
    their own name (their target is what a loader would read). Symlinked directories are walked
    into, wherever they lead (a loader reads through them); a link back into the current path is
    a cycle and is not followed. More than ``MAX_FILES`` entries raises :class:`TooManyFiles`
    (a link to ``/`` must not walk the whole disk, nor pass).
    """
    files: list[ArtifactFile] = []
    real_root = os.path.realpath(root)

    def add(path: Path) -> None:
        rel = path.relative_to(root).as_posix()
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # a dangling symlink; the checks report it when they open it
        pin = pins.get(rel)
        if len(files) >= MAX_FILES:
            raise TooManyFiles(
                f"{root} holds more than {MAX_FILES} files (is a symlink leading somewhere "
                "unintended?); point the model at the directory that holds only its files"
            )
        files.append(
            ArtifactFile(
                model=model,
                relpath=rel,
                path=path,
                size=size,
                pinned_sha256=pin.split(":", 1)[1] if pin else None,
            )
        )

    def walk(directory: Path, ancestors: frozenset[str]) -> None:
        with os.scandir(directory) as entries:
            ordered = sorted(entries, key=lambda e: e.name)
        for entry in ordered:
            path = Path(entry.path)
            if not entry.is_dir(follow_symlinks=True):
                add(path)
                continue
            if entry.name in SKIPPED_DIRS and not entry.is_symlink():
                continue
            real = os.path.realpath(path)
            # Only the directories on the current path count as a cycle: a real directory
            # must still be listed when a symlink to it happens to sort first.
            if real in ancestors:
                continue
            walk(path, ancestors | {real})

    walk(root, frozenset({real_root}))
    files.sort(key=lambda f: f.relpath)
    return tuple(files)
