"""One read per file: content facts shared by every check that needs an artifact's bytes.

Checks never open artifact files themselves for whole-file work; they ask the cache, which
memoises per process what was computed: the digest (one streaming pass over the file) and the
identified format (a bounded read of the head and, for zips, the central directory). The cache key includes size and mtime so a file replaced mid-session is read again.

The digest may have been started ahead of time (:meth:`ContentCache.prefetch`, on the thread
pool of :mod:`pytest_mlsupply.checks.hashing`): the check that needs it then waits for it, and
uses it only if the file's identity when it was read is the identity the check sees now.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mlsupply.checks import hashing

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import Identification


@dataclass(frozen=True)
class HashTiming:
    """How long a file's digest took: the progress line of a large artifact."""

    path: Path
    size: int
    seconds: float


@dataclass
class FileContent:
    path: Path
    size: int
    identity: hashing.Identity | None = None
    """The file as the cache saw it (``None``: unknown, a prefetched digest is never used)."""
    _sha256: str | None = field(default=None, repr=False)
    _identification: Identification | None = field(default=None, repr=False)
    _pending: Future[hashing.Digest] | None = field(default=None, repr=False)
    _timings: list[HashTiming] | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = self._prefetched()
            if digest is None:
                # Inline: raises OSError (vanished, EIO, changed mid-read): an error result.
                digest = hashing.sha256_file(self.path)
            self._sha256 = digest.sha256
            if self._timings is not None:
                self._timings.append(HashTiming(self.path, self.size, digest.seconds))
        return self._sha256

    def _prefetched(self) -> hashing.Digest | None:
        """The prefetched digest if it is of this very file, else None (hash inline)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        try:
            digest = pending.result()
        except (OSError, hashing.HashCancelled, CancelledError):
            # Read again inline: the error, if it persists, is reported exactly as without
            # a prefetch; a transient one or a cancelled prefetch costs one more read.
            return None
        if self.identity is None or digest.identity != self.identity:
            return None  # replaced between the prefetch and this check: these are other bytes
        return digest

    @property
    def identification(self) -> Identification:
        if self._identification is None:
            from pytest_mlsupply.engines.sniff import identify

            self._identification = identify(self.path)
        return self._identification


class NotARegularFile(OSError):
    """A FIFO, socket or device where a model file should be: never opened, never a pass."""


class ContentCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, int, int, int], FileContent] = {}
        self._prefetched: dict[str, Future[hashing.Digest]] = {}
        self.timings: list[HashTiming] = []
        """Digests made since the caller last emptied the list (progress lines)."""

    def get(self, path: Path) -> FileContent:
        """Raises OSError when the file cannot be opened (the caller reports an error)."""
        st = os.stat(path)  # follows symlinks: the loader reads the target
        if not stat.S_ISREG(st.st_mode):
            # Opening a FIFO or a device blocks or never ends; no loader reads one as a model.
            raise NotARegularFile(f"{path} is not a regular file (mode {oct(st.st_mode)})")
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        entry = self._entries.get(key)
        if entry is None:
            entry = FileContent(path=path, size=st.st_size, identity=hashing.identity(st))
            entry._timings = self.timings
            self._entries[key] = entry
        if entry._sha256 is None and entry._pending is None:
            entry._pending = self._prefetched.pop(str(path), None)
        return entry

    def prefetch(self, path: Path) -> None:
        """Start hashing ``path`` on the pool, unless it is hashed or started already.

        Never raises: a file that cannot be read (or is not a regular file) is left to the
        check that asks for it, which reports the error exactly as without a prefetch.
        """
        if str(path) in self._prefetched:
            return
        try:
            st = os.stat(path)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode):
            return
        entry = self._entries.get((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
        if entry is not None and (entry._sha256 is not None or entry._pending is not None):
            return
        self._prefetched[str(path)] = hashing.submit(path)
