"""One session at a time writes a set of reports: two gates started at once on the same project.

Each report is written atomically (:mod:`.atomic`), so a file is always one session's complete
version; but the BOM, the matrix, the SARIF log and the HTML are a set (the matrix names its BOM's
serial number, the attestation signs the BOM's digest), and two sessions writing in turn file by
file could leave session A's BOM beside session B's matrix. So a session takes an exclusive
``flock`` on the BOM's directory while it builds and writes its set: the second waits, then
writes its whole set over the first's.

The lock is on the directory itself, not on a lock file: nothing is left in the user's output
folder, and a killed session (SIGKILL) releases it with its last file descriptor. Where ``flock``
is missing (Windows) or the file system refuses it (some network mounts), the session writes
without it: every file is still whole, only the set is not guarded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
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
    directory: Path, *, stop: Callable[[], bool], wait_seconds: float = WAIT_SECONDS
) -> Iterator[bool]:
    """Hold the lock on ``directory`` (created if missing) for the block; yields True.

    Yields False, without the lock, when ``stop()`` turned true while waiting (the session was
    interrupted: the caller writes nothing). Raises :class:`OutputsBusy` after ``wait_seconds``.
    """
    descriptor = _open_directory(directory)
    if descriptor is None:
        yield not stop()
        return
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            if stop():
                yield False
                return
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputsBusy(
                        f"another session has been writing the reports in {directory} for "
                        f"{wait_seconds:.0f} s; run the gates one after the other, or give each "
                        "its own output paths (--mlsupply-bom, --mlsupply-matrix)"
                    ) from None
                time.sleep(_POLL_SECONDS)
            except OSError:
                break  # a file system that cannot lock: written unguarded (see the docstring)
        yield True
    finally:
        os.close(descriptor)  # releases the lock


def _open_directory(directory: Path) -> int | None:
    if fcntl is None or not hasattr(os, "O_DIRECTORY"):
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None  # the write itself will name the problem with the folder
