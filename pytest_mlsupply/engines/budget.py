"""Every bound a reader asks before it reads or allocates: sizes, ratios, depth, member counts.

Two kinds of bounds live here, so that no format re-implements them:

* :class:`ScanLimits` (with the per-artifact :class:`ExtractionBudget`) bounds what the engines
  extract: how large one decompressed member may grow, at what compression ratio it counts as a
  bomb, how much one artifact may expand to in all, how deep containers may nest.
* :class:`BoundedFile` bounds what identification reads: a byte budget over random access, so a
  1 GB checkpoint is identified from its head, its zip central directory or tar headers, and a
  few member heads.
* :class:`ScanGuard` bounds one artifact's scan in time and memory (``policy.limits``
  ``scan_seconds`` and ``scan_memory_mb``): engines call :func:`checkpoint` (or
  :meth:`ScanGuard.check`) in every loop proportional to their input; past a budget it raises
  :class:`BudgetExceeded`, the scan stops, keeps what it found, and reports a finding naming the
  budget (:func:`budget_finding`) and an error.

A reader that would go past a bound raises :class:`OverBudget` (or, for identification reads,
gets short data back and :attr:`BoundedFile.starved` says so): the caller turns that into a
finding, never into a pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeVar

from pytest_mlsupply.results import Finding, Location, Severity

__all__ = [
    "CHECK_EVERY",
    "RATIO_FLOOR",
    "BoundedFile",
    "BudgetExceeded",
    "Exceeded",
    "ExtractionBudget",
    "OverBudget",
    "ScanGuard",
    "ScanLimits",
    "SeekableReader",
    "budget_finding",
    "checkpoint",
    "watched",
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
    """Members of one archive beyond this many are reported, not scanned."""
    scan_seconds: float = 120.0
    """Wall-clock seconds one artifact's scan may take (``policy.limits.scan_seconds``)."""
    scan_memory_mb: int = 4096
    """What the engines may hold at once for one artifact, in MiB, as they account for it
    (``policy.limits.scan_memory_mb``; see :class:`ScanGuard`)."""


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


# --- time and memory budgets -------------------------------------------------------------

#: What one entry the pickle machine holds (a memo slot, a stack slot, a mark) is charged, in
#: bytes: a symbolic value plus its slot, an estimate on the generous side.
ENTRY_BYTES = 128

#: Checkpoints between two looks at the clock: a look costs ~50 ns, a checkpoint ~30 ns, and
#: the slowest loop step (a pickle opcode) ~1 µs, so the clock is read every few milliseconds.
_CLOCK_EVERY = 64

#: Steps of a cheap loop (a protobuf field, a JSON key, a source line: ~1 µs each) between two
#: checkpoints, where one per step would cost a tenth of the loop: ``if not i % CHECK_EVERY``.
CHECK_EVERY = 256


@dataclass(frozen=True)
class Exceeded:
    """Which budget a scan went past (``scan_seconds`` or ``scan_memory_mb``), and the evidence."""

    budget: str
    evidence: str


class BudgetExceeded(Exception):
    """A scan went past ``policy.limits.<budget>``: raised by a checkpoint, caught by the
    scanner, which keeps the findings made so far and reports :func:`budget_finding`."""

    def __init__(self, budget: str, evidence: str) -> None:
        super().__init__(evidence)
        self.budget = budget
        self.evidence = evidence


class ScanGuard:
    """One artifact's time and memory budgets, checked cooperatively at checkpoints.

    No signal and no thread interrupts an engine: each engine loop proportional to its input
    calls :meth:`check` (through :meth:`ScanContext.checkpoint
    <pytest_mlsupply.engines.blob.ScanContext.checkpoint>` or the module's :func:`checkpoint`,
    for code below the context such as the pickle machine), and a budget is only ever
    exceeded there. Time is the monotonic clock from the guard's creation. Memory is what the
    engines account for, not the process's RSS: the bytes of the archive members extracted
    along the current chain (:meth:`holding`) plus what the checking engine says it holds now
    (the pickle machine: its memo, stack and marks at :data:`ENTRY_BYTES` each). That is
    deterministic (the same file trips at the same place on any machine and under any load,
    and a test can rely on it) and costs nothing to read, where RSS is shared by every
    artifact of a session and by the interpreter, and moves with the allocator.

    Once exceeded, the guard stays exceeded (:attr:`exceeded`): every later check raises at
    once, so the engines above the one that stopped unwind without scanning on.
    """

    def __init__(self, limits: ScanLimits) -> None:
        self.limits = limits
        self.started = time.monotonic()
        self.deadline = self.started + limits.scan_seconds
        self.memory_limit = limits.scan_memory_mb << 20
        self.held = 0
        self.exceeded: Exceeded | None = None
        self._ticks = 0

    def check(self, held: int = 0, *, costly: bool = False) -> None:
        """Raise :class:`BudgetExceeded` if a budget is (or was) exceeded; ``held`` is the
        bytes the calling engine holds right now, beside the members being scanned.

        ``costly``: the step this check follows may have taken long (a JSON value decoded
        from a 64 MiB window), so the clock is read now rather than at the 64th check: 64
        such steps between two readings would run the scan tens of seconds past its budget."""
        if self.exceeded is not None:
            # A new exception each time: a kept one would keep its traceback's frames, and
            # with them the memory maps and views the engines were reading, alive.
            raise BudgetExceeded(self.exceeded.budget, self.exceeded.evidence)
        if self.held + held > self.memory_limit:
            self._exceed(
                "scan_memory_mb",
                f"scan stopped holding {(self.held + held) >> 20} MiB; "
                f"policy.limits.scan_memory_mb is {self.limits.scan_memory_mb}",
            )
        self._ticks += _CLOCK_EVERY if costly else 1
        if self._ticks >= _CLOCK_EVERY:
            self._ticks = 0
            now = time.monotonic()
            if now > self.deadline:
                self._exceed(
                    "scan_seconds",
                    f"scan stopped after {now - self.started:.1f} s; "
                    f"policy.limits.scan_seconds is {self.limits.scan_seconds:g}",
                )

    def poll(self) -> bool:
        """Whether a budget is exceeded (checking as :meth:`check` does), for a loop that
        stops cleanly with the findings it has rather than unwinding."""
        try:
            self.check()
        except BudgetExceeded:
            return True
        return False

    def settle(self) -> None:
        """At the scan's end: past the deadline with no checkpoint noticing (an engine loop
        that has none ran long, or the clock was read only every few checks), the time budget
        is exceeded all the same, so a costly file never passes because of where it was slow."""
        now = time.monotonic()
        if self.exceeded is None and now > self.deadline:
            self.exceeded = Exceeded(
                "scan_seconds",
                f"scan took {now - self.started:.1f} s; "
                f"policy.limits.scan_seconds is {self.limits.scan_seconds:g}",
            )

    def _exceed(self, budget: str, evidence: str) -> None:
        self.exceeded = Exceeded(budget, evidence)
        raise BudgetExceeded(budget, evidence)

    @contextmanager
    def holding(self, size: int) -> Iterator[None]:
        """Account ``size`` bytes (an extracted member) as held while it is being scanned."""
        # Not checked here: the engines scanning the member check, inside the scanner's catch.
        self.held += size
        try:
            yield
        finally:
            self.held -= size

    @contextmanager
    def active(self) -> Iterator[ScanGuard]:
        """Make this the guard :func:`checkpoint` checks, for the scan's duration."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)


_T = TypeVar("_T")

_ACTIVE: ContextVar[ScanGuard | None] = ContextVar("mlsupply_scan_guard", default=None)


def checkpoint(held: int = 0, *, costly: bool = False) -> None:
    """Check the active scan's guard (see :class:`ScanGuard`); a no-op outside a scan (the
    pickle machine identifying a file's head, a unit test). ``costly`` reads the clock at
    once (:meth:`ScanGuard.check`): for a loop whose every step may take long."""
    guard = _ACTIVE.get()
    if guard is not None:
        guard.check(held, costly=costly)


def watched(items: Iterable[_T]) -> Iterator[_T]:
    """``items``, with a :func:`checkpoint` every :data:`CHECK_EVERY` of them: for a loop over
    a library's iterator (``ast.walk``) that has no counter of its own to check."""
    for count, item in enumerate(items, 1):
        if not count % CHECK_EVERY:
            checkpoint()
        yield item


def budget_finding(exceeded: Exceeded, location: Location) -> Finding:
    """The finding of a scan stopped by ``policy.limits.<budget>`` (it fails closed)."""
    time_budget = exceeded.budget == "scan_seconds"
    return Finding(
        rule="MLS-LIM-001" if time_budget else "MLS-LIM-002",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title=(
            "scan exceeded its time budget" if time_budget else "scan exceeded its memory budget"
        ),
        location=location,
        evidence=exceeded.evidence,
        why="a file crafted to make a scanner run or hold without end hides what lies past "
        "where the scan stopped, and stalls whatever loads it too",
        remediation=f"find out why this file is so costly to read; if it is legitimate, raise "
        f"policy.limits.{exceeded.budget} in mlsupply.yaml",
        cwe="CWE-400",
    )
