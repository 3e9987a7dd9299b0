"""Write files atomically: readers see the old file or the new one, never half of one.

:func:`write_atomic` for reports (the user's permissions, always fsynced); :func:`write_private`
for the plugin's own caches and records (mode 0600, fsynced only when asked).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import time
from typing import TYPE_CHECKING

from pytest_mlsupply.redaction import redact_data, redact_text

if TYPE_CHECKING:
    from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8), creating parent directories.
    Secrets are redacted first (:mod:`pytest_mlsupply.redaction`).

    The bytes go to a temporary file in the target's own directory (``os.replace`` is only atomic
    within one filesystem), are flushed and fsynced, and then renamed over the target. If anything
    fails the temporary file is removed and the error propagates; the target is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    data = redact_data(data)  # every report passes here: no secret reaches a written file
    # A random sibling name opened with "x" rather than tempfile.mkstemp: mkstemp creates the file
    # with mode 0600, and a report should get the same permissions as any file the user creates.
    # The writer's pid in it: a later write can tell the leftover of a killed writer.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(8)}.tmp")
    try:
        if isinstance(data, str):
            # newline="" keeps "\n" as written, so a report is byte-identical on every platform.
            with open(tmp, "x", encoding="utf-8", newline="") as text:
                text.write(data)
                text.flush()
                os.fsync(text.fileno())
        else:
            with open(tmp, "xb") as binary:
                binary.write(data)
                binary.flush()
                os.fsync(binary.fileno())
        os.replace(tmp, path)
    except BaseException:
        # BaseException too: a KeyboardInterrupt mid-write must not leave a stray temp file.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def write_private(
    path: Path, text: str, *, prefix: str, suffix: str, durable: bool = False
) -> None:
    """Replace ``path`` with ``text`` through a temporary file made by :func:`tempfile.mkstemp`
    in the same folder (mode 0600: a cache entry is the user's own), named ``prefix…suffix``
    so that the caller's pruning recognises a leftover. ``durable`` fsyncs before the rename.
    The folder must exist; errors propagate, with the temporary file removed.
    """
    text = redact_text(text)  # caches and records too: a crash leaves no secret on disk
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: A temp file's part between ``.<name>.`` and ``.tmp``: the writer's pid and a random token.
_TEMP_MIDDLE = re.compile(r"([0-9]+)-[0-9a-f]{16}")

#: How old a dead writer's temp file must be before it is removed: a pid that looks dead may be
#: alive in another pid namespace (two containers sharing the output folder), and its write
#: takes milliseconds, not a minute.
STALE_TEMP_SECONDS = 60.0


def _remove_stale_temps(path: Path) -> None:
    """Remove ``path``'s temp files left by writers that were killed (SIGKILL, a power cut:
    no ``finally`` ran). Nothing ever reads a temp file; this only keeps the folder clean.
    Best effort, POSIX only (a pid is checked with ``kill(pid, 0)``)."""
    if os.name != "posix":
        return
    prefix, now = f".{path.name}.", time.time()
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                name = entry.name
                if not (name.startswith(prefix) and name.endswith(".tmp")):
                    continue
                found = _TEMP_MIDDLE.fullmatch(name[len(prefix) : -len(".tmp")])
                if found is None or _alive(int(found.group(1))):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                if now - entry.stat(follow_symlinks=False).st_mtime >= STALE_TEMP_SECONDS:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process's own write in flight (another thread)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a number no process has: left alone
    return True


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself; best effort, because not every platform can open a directory."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
