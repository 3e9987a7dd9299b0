"""The project's own Python code to check: ``code: {paths: [...], exclude: [...]}`` as files.

Shared by the plan (one ``code[<file>]`` item per file) and ``mlsupply code PATH...``, so both
see the same files in the same order. A named file is taken whatever its name; a directory is
walked for ``.py`` files and ``.ipynb`` notebooks, in sorted order. Directories that hold no
project code are left out: hidden ones (``.git``, ``.venv``, ``.tox``), ``__pycache__``,
``node_modules``, notebook checkpoints (:data:`SKIPPED_DIRECTORIES`) and virtual environments
(a ``pyvenv.cfg`` with its ``home`` key and no ``__init__.py``: a stray ``pyvenv.cfg`` hides no
package). A directory symlink is followed when it leads inside the project root, each real
directory once (a loop ends); one that leads out of it is not followed and is named in
:attr:`CodeListing.unfollowed`, so a link to a shared package, or to ``/``, is an error the
user sees, never a silent gap nor a walk of the whole disk. Everything else the user excludes by
pattern, with ``.gitignore``'s rules (:func:`excluded`).
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_mlsupply.printable import printable

__all__ = [
    "CODE_SUFFIXES",
    "SKIPPED_DIRECTORIES",
    "CodeFile",
    "CodeListing",
    "excluded",
    "find_code_files",
    "unfollowed_link",
    "unreadable_directory",
]

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


@dataclass(frozen=True)
class CodeListing:
    """What a walk found: the files, and the directory links it did not follow."""

    files: list[CodeFile]
    """Sorted by subject, each once."""
    unfollowed: list[tuple[str, str]] = field(default_factory=list)
    """(subject of a directory symlink, ``/``-terminated; where it leads): out of the project
    root, not walked."""
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(subject of a directory, ``/``-terminated; why): it could not be listed, so its code is
    not checked (``os.walk`` alone drops such a directory in silence)."""


def find_code_files(
    paths: Sequence[Path], exclude: Sequence[str] = (), *, root: Path
) -> CodeListing:
    """Every file under ``paths`` (files or directories) not matched by an ``exclude`` pattern.

    Patterns follow ``.gitignore`` (:func:`excluded`). Each file is listed once, sorted by
    subject; a file reached through a followed directory link keeps the link's path.
    """
    found: dict[str, CodeFile] = {}
    listing = CodeListing([])
    top = Path(os.path.realpath(root))
    for start in paths:
        candidates: Iterable[Path] = (
            [start] if not start.is_dir() else _walk(start, root, top, exclude, listing)
        )
        for path in candidates:
            subject = _subject(path, root)
            if subject not in found and not excluded(subject, exclude):
                found[subject] = CodeFile(subject=subject, path=path)
    listing.files.extend(found[s] for s in sorted(found))
    return listing


def unreadable_directory(problem: str, exclude: str) -> str:
    """The error of a directory the walk could not list, with the fix."""
    return (
        f"a directory that cannot be listed ({problem}): its code is not checked; fix: make "
        f"it readable, or leave it out with {exclude}"
    )


def unfollowed_link(target: str, exclude: str) -> str:
    """The error of a directory link out of the project root, with the fix (``exclude``
    names where patterns go: ``code.exclude in mlsupply.yaml``, ``--exclude``)."""
    return (
        f"a directory symlink to {target}, outside the project: not followed, so its code "
        "is not checked; fix: list the target itself among the paths to check, or leave the "
        f"link out with {exclude}"
    )


def excluded(subject: str, patterns: Sequence[str]) -> bool:
    """Whether ``subject`` (a POSIX relative path) matches one of the ``exclude`` patterns.

    As in ``.gitignore``: a pattern without ``/`` (``*_test.py``, ``build/``) matches a file's
    or a directory's name at any depth; one with a ``/`` (``src/legacy/*``, ``**/conftest.py``)
    matches the path from the root, where ``*``, ``?`` and ``[...]`` stay within one name and
    ``**`` crosses directories; a trailing ``/`` matches directories only; a leading ``/`` (or
    ``./``) anchors the pattern at the root as any other ``/`` does (``/setup.py`` leaves out
    ``setup.py``, not ``src/pkg/setup.py``). A directory that matches leaves out everything
    under it.
    """
    parts = subject.split("/")
    for raw in patterns:
        directories_only = raw.endswith("/")
        anchored = raw.startswith("./") or "/" in raw.rstrip("/")
        pattern = raw.removeprefix("./").strip("/")
        if not pattern:
            continue
        regex = _glob(pattern)
        for depth in range(1, len(parts) + 1):
            if directories_only and depth == len(parts):
                break  # the subject itself is a file
            candidate = "/".join(parts[:depth]) if anchored else parts[depth - 1]
            if regex.fullmatch(candidate):
                return True
    return False


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A ``.gitignore`` glob as a regular expression over ``/``-separated paths."""
    out: list[str] = []
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(".*" if last else "(?:.*/)?")
            continue
        out.append(_segment(segment))
        if not last:
            out.append("/")
    return re.compile("".join(out), re.DOTALL)


def _segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        close = segment.find("]", index + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif close != -1:
            body = segment[index + 1 : close]
            negated = body.startswith(("!", "^"))
            body = body[1:] if negated else body
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            try:
                re.compile(f"[{body}]")
            except re.error:  # ``[z-a]``: an empty set to git's wildmatch, never a crash
                out.append("[^/]" if negated else "(?!)")
            else:
                out.append(f"(?!/)[{'^' if negated else ''}{body}]")
            index = close
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _walk(
    directory: Path,
    root: Path,
    top: Path,
    exclude: Sequence[str],
    listing: CodeListing,
) -> Iterable[Path]:
    seen: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        path = Path(error.filename) if error.filename else directory
        subject = _subject(path, root).rstrip("/") + "/"
        if not excluded(subject, exclude):
            listing.unreadable.append((subject, error.strerror or str(error)))

    for current, dirs, files in os.walk(directory, onerror=unreadable, followlinks=True):
        here = Path(current)
        try:
            status = here.stat()
        except OSError as error:
            unreadable(error)
            dirs[:] = []
            continue
        if (status.st_dev, status.st_ino) in seen:
            dirs[:] = []  # a link loop, or a directory reached twice: walked once
            continue
        seen.add((status.st_dev, status.st_ino))
        kept = []
        for name in sorted(dirs):
            path = here / name
            if _skipped(path):
                continue
            if path.is_symlink():
                target = Path(os.path.realpath(path))
                subject = _subject(path, root) + "/"
                if not target.is_relative_to(top):
                    if not excluded(subject, exclude):
                        listing.unfollowed.append((subject, str(target)))
                    continue
            kept.append(name)
        dirs[:] = kept  # pruned in place, sorted: os.walk descends in a stable order
        for name in sorted(files):
            if name.endswith(CODE_SUFFIXES):
                yield here / name


def _skipped(directory: Path) -> bool:
    name = directory.name
    return name.startswith(".") or name in SKIPPED_DIRECTORIES or _virtual_environment(directory)


def _virtual_environment(directory: Path) -> bool:
    # venv and virtualenv write `home = <the base interpreter's directory>` in pyvenv.cfg and
    # lay out bin/ (Scripts/) and lib/pythonX.Y/site-packages (Lib/site-packages); a package is
    # never one: a stray pyvenv.cfg in a package, a namespace package too, hides nothing.
    if (directory / "__init__.py").exists() or not _venv_layout(directory):
        return False
    try:
        # Non-blocking, and a regular file only: a FIFO named pyvenv.cfg hung the walk in open().
        descriptor = os.open(directory / "pyvenv.cfg", os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as config:
            if not stat.S_ISREG(os.fstat(config.fileno()).st_mode):
                return False
            head = config.read(4096)
    except OSError:
        return False
    return re.search(rb"(?m)^[ \t]*home[ \t]*=", head) is not None


def _venv_layout(directory: Path) -> bool:
    scripts = (directory / "bin").is_dir() or (directory / "Scripts").is_dir()
    packages = (directory / "Lib" / "site-packages").is_dir() or any(
        (lib / "site-packages").is_dir()
        for name in ("lib", "lib64")
        for lib in (directory / name).glob("python*")
    )
    return scripts and packages


def _subject(path: Path, root: Path) -> str:
    # Lexical, not resolved: a symlinked module keeps the name the project gives it.
    absolute = Path(os.path.abspath(path))
    try:
        return printable(absolute.relative_to(os.path.abspath(root)).as_posix())
    except ValueError:
        return printable(absolute.as_posix())
