"""Write files atomically: readers see the old file or the new one, never half of one.

:func:`write_atomic` for reports (the user's permissions, always fsynced); :func:`write_private`
for the plugin's own caches and records (mode 0600, fsynced only when asked).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
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
    data = redact_data(data)  # every report passes here: no secret reaches a written file
    # A random sibling name opened with "x" rather than tempfile.mkstemp: mkstemp creates the file
    # with mode 0600, and a report should get the same permissions as any file the user creates.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
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
