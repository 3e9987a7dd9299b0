"""One read per file: content facts shared by every check that needs an artifact's bytes.

Checks never open artifact files themselves for whole-file work; they ask the cache, which
memoises per process what was computed: the digest (one streaming pass over the file) and the
identified format (a bounded read of the head and, for zips, the central directory). The cache key includes size and mtime so a file replaced mid-session is read again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import Identification

_CHUNK = 1 << 20


@dataclass
class FileContent:
    path: Path
    size: int
    _sha256: str | None = field(default=None, repr=False)
    _identification: Identification | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            with self.path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256

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

    def get(self, path: Path) -> FileContent:
        """Raises OSError when the file cannot be opened (the caller reports an error)."""
        st = os.stat(path)  # follows symlinks: the loader reads the target
        if not stat.S_ISREG(st.st_mode):
            # Opening a FIFO or a device blocks or never ends; no loader reads one as a model.
            raise NotARegularFile(f"{path} is not a regular file (mode {oct(st.st_mode)})")
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        entry = self._entries.get(key)
        if entry is None:
            entry = FileContent(path=path, size=st.st_size)
            self._entries[key] = entry
        return entry
