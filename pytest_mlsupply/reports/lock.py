"""One session at a time writes a set of reports: two gates started at once on the same project.

Each report is written atomically (:mod:`.atomic`), so a file is always one session's complete
version; but the BOM, the matrix, the SARIF log and the HTML are a set (the matrix names its BOM's
serial number, the attestation signs the BOM's digest), and two sessions writing in turn file by
file could leave session A's BOM beside session B's matrix. So a session takes an exclusive
``flock`` on every folder its set is written to (the BOM's, the matrix's, the SARIF log's, the
HTML's, the attestation's: two gates may share one and not another) while it builds and writes
its set: the second waits, then writes its whole set over the first's. The folders are locked
one by one in one order (their resolved paths, sorted), so no two gates can each hold a folder
the other waits for: they cannot deadlock.

The lock is on the directory itself, not on a lock file: nothing is left in the user's output
folder, and a killed session (SIGKILL) releases it with its last file descriptor. Where ``flock``
is missing (Windows) or the file system refuses it (some network mounts), the session writes
without it: every file is still whole, only the set is not guarded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from pathlib import Path


#: How long a session waits for another one's reports (built and written in seconds even for
#: thousands of items) before it gives up with an error rather than waiting forever on a hung one.
WAIT_SECONDS = 300.0

#: How often the wait looks at the lock again, and at whether the session was interrupted.
_POLL_SECONDS = 0.02


class OutputsBusy(Exception):
    """Another session held the reports' lock for longer than :data:`WAIT_SECONDS`."""


@contextmanager
def reports_locked(
    *directories: Path, stop: Callable[[], bool], wait_seconds: float = WAIT_SECONDS
) -> Iterator[bool]:
    """Hold the lock on each of ``directories`` (created if missing) for the block; yields True.

    The same folder named twice (another spelling, a symbolic link) is locked once. Yields
    False, without any lock, when ``stop()`` turned true while waiting (the session was
    interrupted: the caller writes nothing). Raises :class:`OutputsBusy` after ``wait_seconds``
    in all.
    """
    opened = _open_directories(directories)
    if not opened:  # no flock here, or no folder could be opened: written unguarded
        yield not stop()
        return
    try:
        deadline = time.monotonic() + wait_seconds
        for directory, descriptor in opened:
            if not _lock(directory, descriptor, stop, deadline, wait_seconds):
                yield False
                return
        yield True
    finally:
        for _, descriptor in opened:
            os.close(descriptor)  # releases its lock


def _lock(
    directory: Path, descriptor: int, stop: Callable[[], bool], deadline: float, wait: float
) -> bool:
    """Wait for one folder's lock: True once held (or the file system cannot lock), False
    when ``stop()`` turned true."""
    while True:
        if stop():
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OutputsBusy(
                    f"another session has been writing the reports in {directory} for "
                    f"{wait:.0f} s; run the gates one after the other, or give each its own "
                    "output paths (--mlsupply-bom, --mlsupply-matrix, --mlsupply-sarif, "
                    "--mlsupply-html)"
                ) from None
            time.sleep(_POLL_SECONDS)
        except OSError:
            return True  # a file system that cannot lock: written unguarded (see the docstring)


def _open_directories(directories: Iterable[Path]) -> list[tuple[Path, int]]:
    """Each distinct folder opened, in the order of their resolved paths; none without flock."""
    if fcntl is None or not hasattr(os, "O_DIRECTORY"):
        return []
    opened: list[tuple[Path, int]] = []
    seen: set[tuple[int, int]] = set()
    for directory in sorted({_resolved(directory) for directory in directories}):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue  # the write itself will name the problem with the folder
        status = os.fstat(descriptor)
        if (status.st_dev, status.st_ino) in seen:
            os.close(descriptor)  # one folder by two paths (a bind mount): locked once
            continue
        seen.add((status.st_dev, status.st_ino))
        opened.append((directory, descriptor))
    return opened


def _resolved(directory: Path) -> Path:
    try:
        return directory.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: the write will name it
        return directory.absolute()
