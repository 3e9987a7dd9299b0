"""The project's own Python code to check: ``code: {paths: [...], exclude: [...]}`` as files.

Shared by the plan (one ``code[<file>]`` item per file) and ``mlsupply code PATH...``, so both
see the same files in the same order. A named file is taken whatever its name; a directory is
walked for ``.py`` files and ``.ipynb`` notebooks, in sorted order, without following directory
symlinks (a link loop, or a link to the whole disk, must not stall the gate). Directories that
hold no project code are left out and named in :data:`SKIPPED_DIRECTORIES`: hidden ones
(``.git``, ``.venv``, ``.tox``), ``__pycache__``, ``node_modules``, notebook checkpoints and any
virtual environment (a directory with ``pyvenv.cfg``). Everything else the user excludes by
pattern.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CODE_SUFFIXES", "SKIPPED_DIRECTORIES", "CodeFile", "excluded", "find_code_files"]

#: What a directory walk picks up: Python modules and Jupyter notebooks.
CODE_SUFFIXES = (".py", ".ipynb")

#: Directory names a walk never enters (besides hidden ones and virtual environments).
SKIPPED_DIRECTORIES = frozenset({"__pycache__", "node_modules", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class CodeFile:
    """One file of the project's code, addressed by its path relative to the project root."""

    subject: str
    """POSIX path relative to the root (``src/app/load.py``): the item's name and the
    findings' location; the absolute path where the file lies outside the root."""
    path: Path

    @property
    def notebook(self) -> bool:
        return self.path.suffix == ".ipynb"


def find_code_files(
    paths: Sequence[Path], exclude: Sequence[str] = (), *, root: Path
) -> list[CodeFile]:
    """Every file under ``paths`` (files or directories) not matched by an ``exclude`` pattern.

    Patterns are matched against the subject (the POSIX path relative to ``root``) with
    :func:`fnmatch.fnmatchcase`, where ``*`` also crosses ``/``: ``src/legacy/*`` leaves out
    everything below ``src/legacy``, ``*_test.py`` every such file at any depth, and a pattern
    ending in ``/`` (``build/``) a directory and everything under it. Each file is listed once,
    sorted by subject.
    """
    found: dict[str, CodeFile] = {}
    for start in paths:
        candidates: Iterable[Path] = [start] if not start.is_dir() else _walk(start)
        for path in candidates:
            subject = _subject(path, root)
            if subject not in found and not excluded(subject, exclude):
                found[subject] = CodeFile(subject=subject, path=path)
    return [found[s] for s in sorted(found)]


def excluded(subject: str, patterns: Sequence[str]) -> bool:
    """Whether ``subject`` (a POSIX relative path) matches one of the ``exclude`` patterns."""
    for pattern in patterns:
        pattern = pattern.removeprefix("./")
        if pattern.endswith("/"):
            if subject.startswith(pattern) or fnmatch.fnmatchcase(subject, pattern + "*"):
                return True
        elif fnmatch.fnmatchcase(subject, pattern):
            return True
        elif pattern.startswith("**/") and fnmatch.fnmatchcase(subject, pattern[3:]):
            return True  # ``**/x.py`` also matches ``x.py`` at the root, as in .gitignore
    return False


def _walk(directory: Path) -> Iterable[Path]:
    for current, dirs, files in os.walk(directory, followlinks=False):
        # Pruned in place, sorted: os.walk then descends in a stable order.
        dirs[:] = sorted(d for d in dirs if not _skipped(Path(current) / d))
        for name in sorted(files):
            if name.endswith(CODE_SUFFIXES):
                yield Path(current) / name


def _skipped(directory: Path) -> bool:
    name = directory.name
    return (
        name.startswith(".")
        or name in SKIPPED_DIRECTORIES
        or (directory / "pyvenv.cfg").is_file()
        or directory.is_symlink()
    )


def _subject(path: Path, root: Path) -> str:
    # Lexical, not resolved: a symlinked module keeps the name the project gives it.
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return absolute.as_posix()
