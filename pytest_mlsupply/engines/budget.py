"""Every bound a reader asks before it reads or allocates: sizes, ratios, depth, member counts.

Two kinds of bounds live here, so that no format re-implements them:

* :class:`ScanLimits` (with the per-artifact :class:`ExtractionBudget`) bounds what the engines
  extract: how large one decompressed member may grow, at what compression ratio it counts as a
  bomb, how much one artifact may expand to in all, how deep containers may nest.
* :class:`BoundedFile` bounds what identification reads: a byte budget over random access, so a
  1 GB checkpoint is identified from its head, its zip central directory or tar headers, and a
  few member heads.

A reader that would go past a bound raises :class:`OverBudget` (or, for identification reads,
gets short data back and :attr:`BoundedFile.starved` says so): the caller turns that into a
finding, never into a pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Protocol

__all__ = [
    "RATIO_FLOOR",
    "BoundedFile",
    "ExtractionBudget",
    "OverBudget",
    "ScanLimits",
    "SeekableReader",
]


class SeekableReader(Protocol):
    """What readers need of a file: a real one, an in-memory one, or a :class:`BoundedFile`."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def tell(self) -> int: ...

    def read(self, n: int = ..., /) -> bytes: ...


#: Below this many bytes of output, a high compression ratio is harmless (zeros compress well).
RATIO_FLOOR = 1 << 20


@dataclass(frozen=True)
class ScanLimits:
    """Bounds for container recursion: decompression bombs and deep nesting end in findings."""

    max_depth: int = 6
    """Containers inside containers deeper than this are reported, not opened."""
    max_member_bytes: int = 1 << 30
    """A single extracted member larger than this (in memory) is reported, not read."""
    max_total_bytes: int = 8 << 30
    """All members extracted from one artifact, together."""
    max_ratio: float = 250.0
    """Uncompressed / compressed size above this marks a decompression bomb."""
    max_members: int = 100_000


class OverBudget(Exception):
    """Output would grow past a limit; ``head`` is what was produced within it.

    ``produced`` and ``consumed`` (compressed bytes read) make the evidence of a bomb finding.
    """

    def __init__(self, produced: int, consumed: int, reason: str, head: bytes = b"") -> None:
        super().__init__(reason)
        self.produced = produced
        self.consumed = consumed
        self.reason = reason
        self.head = head


@dataclass
class ExtractionBudget:
    """What one artifact has expanded to so far, against :attr:`ScanLimits.max_total_bytes`."""

    limits: ScanLimits
    extracted: int = 0

    def charge(self, size: int) -> bool:
        """Count ``size`` more extracted bytes; False once the artifact's budget is exceeded."""
        self.extracted += size
        return self.extracted <= self.limits.max_total_bytes

    @property
    def spent(self) -> bool:
        """Whether extraction must stop (the budget is already exceeded)."""
        return self.extracted > self.limits.max_total_bytes


class BoundedFile:
    """Random access to a file under a byte budget, so no input can make identification read
    all of it. It offers the file protocol (seek/tell/read) for readers that want one (tar);
    reads past the budget come back short and set :attr:`starved`."""

    def __init__(self, fh: BinaryIO, size: int, budget: int) -> None:
        self._fh = fh
        self.size = size
        self.remaining = max(budget, 0)
        self.starved = False
        self._pos = 0

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        want = min(length, self.size - offset)
        if want > self.remaining:
            self.starved = True
            want = self.remaining
        if want <= 0:
            return b""
        self._fh.seek(offset)
        data = self._fh.read(want)
        self.remaining -= len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")  # what a real file does
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int | None = -1, /) -> bytes:
        if n is None or n < 0:
            n = max(self.size - self._pos, 0)
        data = self.read_at(self._pos, n)
        self._pos += len(data)
        return data

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True
