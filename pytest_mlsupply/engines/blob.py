"""What an engine works on: the bytes to scan (:class:`Blob`), the scan's state and policy.

Engines are plain functions ``(blob, identification, context) -> findings`` registered per
format in :mod:`pytest_mlsupply.engines.registry`. They raise :class:`ScanError` when content
cannot be analysed (the file's check then reports an error, never a pass); findings outrank
errors. A container engine hands each extracted member back with :meth:`ScanContext.scan_blob`,
which the scanner (:mod:`pytest_mlsupply.engines.scanner`) wires to its own dispatch, so that a
pickle inside a tar inside a zip is scanned exactly like a pickle on disk.
"""

from __future__ import annotations

import errno
import io
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_mlsupply.engines.budget import ExtractionBudget, ScanGuard, ScanLimits
from pytest_mlsupply.engines.pickle import PicklePolicy
from pytest_mlsupply.engines.regular_file import HandleReader, reopenable_path
from pytest_mlsupply.printable import printable
from pytest_mlsupply.results import Finding, Location, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import Identification

__all__ = [
    "Blob",
    "ScanContext",
    "ScanError",
    "ScanLimits",
    "ScanPolicy",
    "ScanReport",
    "Scanner",
    "present",
]


class ScanError(Exception):
    """The content could not be analysed; the message says why and where."""


def present(candidate: Path, *, links: bool) -> bool:
    """Whether ``candidate`` (a name a file chose, beside it) is a regular file, or with
    ``links`` also a symbolic link. A name too long for the file system names nothing; any
    other failure to look is a :class:`ScanError` (the check fails closed), never an escape of
    the scanner (pathlib ignores only "no such file" and the like)."""
    try:
        if candidate.is_symlink():
            return links
        return candidate.is_file()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return False
        raise ScanError(f"cannot look for {candidate.name!r} beside the file: {exc}") from None


@dataclass(frozen=True)
class ScanPolicy:
    pickle: PicklePolicy = field(default_factory=PicklePolicy)
    limits: ScanLimits = field(default_factory=ScanLimits)


@dataclass(frozen=True)
class Blob:
    """Bytes to scan: a file on disk (``path``) or a member extracted from a container (``data``).

    ``subject`` is the artifact as the user knows it (``model/pytorch_model.bin``); ``member`` is
    the chain of members inside it (``archive/data.pkl`` or ``outer.tar/inner.pkl``).
    """

    subject: str
    name: str
    """The file or member name; only a tie-breaker for identification."""
    path: Path | None = None
    data: bytes | None = None
    member: str | None = None
    depth: int = 0
    fd: int | None = field(default=None, compare=False)
    """The open handle of ``path`` (:func:`~pytest_mlsupply.engines.regular_file.open_regular`):
    when set, every read goes through it and ``path`` only names the file and its folder, so
    what is scanned is the file whose identity was taken, whatever the path leads to now."""
    _looked_beside: list[str] = field(default_factory=list, compare=False, repr=False)
    """Set by :meth:`folder`: the findings depend on more than these bytes."""

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        if self.fd is not None:
            return os.fstat(self.fd).st_size
        assert self.path is not None
        return os.stat(self.path).st_size

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """A seekable binary stream over the content (its own position: streams may nest)."""
        if self.data is not None:
            yield io.BytesIO(self.data)
            return
        if self.fd is not None:
            with io.BufferedReader(HandleReader(self.fd)) as stream:
                yield stream
            return
        assert self.path is not None
        with open(self.path, "rb") as handle:
            yield handle

    @contextmanager
    def buffer(self) -> Iterator[bytes | mmap.mmap]:
        """The whole content as a buffer; files are memory-mapped, so only touched pages load."""
        if self.data is not None:
            yield self.data
            return
        if self.fd is not None:
            if os.fstat(self.fd).st_size == 0:
                yield b""
                return
            with mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ) as mapped:
                yield mapped
            return
        assert self.path is not None
        with open(self.path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                yield mapped

    def library_path(self) -> str:
        """A name for a library that opens files itself: one that opens the very file being
        scanned when there is a handle (see :attr:`fd`), else the path."""
        assert self.path is not None
        if self.fd is not None:
            return reopenable_path(self.fd, self.path)
        return os.fspath(self.path)

    def folder(self) -> Path | None:
        """The folder this file lies in, for a finding that depends on what else is there
        (None for an archive member). Marks the blob (:attr:`looked_beside`): its findings
        then depend on more than its bytes, and the content cache must not keep them."""
        if self.path is None:
            return None
        self._looked_beside.append(str(self.path.parent))
        return self.path.parent

    @property
    def looked_beside(self) -> bool:
        """Whether a finding was decided by files beside this one (see :meth:`folder`)."""
        return bool(self._looked_beside)

    def beside(self, relative: str) -> bool | None:
        """Whether ``relative`` names a regular file (not a symlink, which may lead anywhere)
        beside this file, where a directory scan reaches it too; None when this blob is an
        archive member and has no folder to look in."""
        folder = self.folder()
        if folder is None:
            return None
        return present(folder / relative, links=False)

    def child(self, member: str, data: bytes) -> Blob:
        member = printable(member)  # the archive's name for it is the publisher's to choose
        chain = f"{self.member}/{member}" if self.member else member
        return Blob(
            subject=self.subject,
            name=member.rsplit("/", 1)[-1],
            data=data,
            member=chain,
            depth=self.depth + 1,
        )

    def location(
        self, *, offset: int | None = None, key_path: str | None = None, line: int | None = None
    ) -> Location:
        return Location(
            file=self.subject, member=self.member, offset=offset, key_path=key_path, line=line
        )


Scanner = Callable[[Blob, "Identification", "ScanContext"], list[Finding]]
#: Identifies and scans one blob: the scanner's own dispatch, handed to every context.
Dispatch = Callable[[Blob, "ScanContext"], list[Finding]]


@dataclass
class ScanContext:
    """One artifact's scan: its policy, its extraction budget, and what went wrong so far."""

    dispatch: Dispatch
    policy: ScanPolicy = field(default_factory=ScanPolicy)
    errors: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    """Member chain (or "" for the file itself) → identified format, for reports."""
    budget: ExtractionBudget = field(init=False)
    guard: ScanGuard = field(init=False)
    """The scan's time and memory budgets (``policy.limits``), checked at checkpoints."""
    budget_stopped_at: Location | None = None
    """The innermost blob (an archive member, perhaps) whose scan went past a budget."""

    def __post_init__(self) -> None:
        self.budget = ExtractionBudget(self.policy.limits)
        self.guard = ScanGuard(self.policy.limits)

    def scan_blob(self, blob: Blob) -> list[Finding]:
        """Identify ``blob`` and scan it as its format (a member handed back by a container)."""
        # An extracted member is held in memory while it is scanned: the memory budget counts it.
        with self.guard.holding(len(blob.data) if blob.data is not None else 0):
            return self.dispatch(blob, self)

    def checkpoint(self, held: int = 0) -> None:
        """Raise :class:`~pytest_mlsupply.engines.budget.BudgetExceeded` once the scan is past
        its time or memory budget: called in every engine loop proportional to the input."""
        self.guard.check(held)

    def error(self, blob: Blob, message: str, *, key_path: str | None = None) -> None:
        """Record that part of ``blob`` could not be analysed (the check fails closed)."""
        self.errors.append(f"{blob.location(key_path=key_path).describe()}: {message}")

    def account(self, blob: Blob, size: int) -> Finding | None:
        """Charge ``size`` extracted bytes; a finding when the artifact's budget is exhausted."""
        if self.budget.charge(size):
            return None
        limit = self.policy.limits.max_total_bytes
        return Finding(
            rule="MLS-ARC-003",
            severity=Severity.HIGH,
            category="resource-exhaustion",
            title="archive expands beyond the extraction budget",
            location=blob.location(),
            evidence=f"more than {limit} bytes once extracted",
            why="a decompression bomb exhausts memory or disk of whatever loads it, and hides "
            "content from scanners that give up",
            remediation="ship the files uncompressed or split them; do not accept archives "
            "that expand this far",
            cwe="CWE-409",
        )


@dataclass(frozen=True)
class ScanReport:
    findings: list[Finding]
    errors: list[str]
    formats: dict[str, str]
    looked_beside: bool = False
    """The findings depend on files beside the artifact (a config's module, a pipeline's
    ``None.py``, an ONNX model's external data), not on its bytes alone: true of this scan
    only, so the content cache does not keep the report (never part of :meth:`to_dict`)."""

    def to_dict(self) -> dict[str, Any]:
        """Builtins only: the content cache keeps reports between runs."""
        return {
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
            "formats": dict(self.formats),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanReport:
        """The inverse of :meth:`to_dict`; raises ValueError, KeyError or TypeError on bad data."""
        errors, formats = data["errors"], data["formats"]
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise TypeError("errors are not a list of text")
        if not isinstance(formats, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in formats.items()
        ):
            raise TypeError("formats are not a mapping of text")
        return cls([Finding.from_dict(f) for f in data["findings"]], errors, formats)
