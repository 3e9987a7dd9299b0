"""The artifact scanner: identify content, hand it to the engine for its format, recurse.

Everything is decided by content (:mod:`pytest_mlsupply.engines.sniff`), never by extension, and
nothing is ever loaded or executed. Container engines (zip, tar, torch checkpoints, compressed
streams) extract members within :class:`ScanLimits` and call :meth:`ScanContext.scan_blob` on
them, so a pickle inside a tar inside a zip is scanned like a pickle on disk.

Engines are plain functions registered by format name in :mod:`pytest_mlsupply.engines.registry`.
They return findings; they raise :class:`ScanError` when the content cannot be analysed (the
file's check then reports an error, never a pass). Findings outrank errors.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pytest_mlsupply.engines.pickle import PicklePolicy
from pytest_mlsupply.engines.sniff import Identification
from pytest_mlsupply.results import Finding, Location, Severity


class ScanError(Exception):
    """The content could not be analysed; the message says why and where."""


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

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return os.stat(self.path).st_size

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """A seekable binary stream over the content."""
        if self.data is not None:
            yield io.BytesIO(self.data)
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
        assert self.path is not None
        with open(self.path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                yield mapped

    def child(self, member: str, data: bytes) -> Blob:
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


Scanner = Callable[[Blob, Identification, "ScanContext"], list[Finding]]


@dataclass
class ScanContext:
    policy: ScanPolicy = field(default_factory=ScanPolicy)
    errors: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    """Member chain (or "" for the file itself) → identified format, for reports."""
    extracted_bytes: int = 0

    def identify(self, blob: Blob) -> Identification:
        from pytest_mlsupply.engines.sniff import identify, identify_bytes

        if blob.data is not None:
            return identify_bytes(blob.data, blob.name)
        assert blob.path is not None
        return identify(blob.path)

    def scan_blob(self, blob: Blob) -> list[Finding]:
        """Identify ``blob`` and run the engine registered for its format (if any)."""
        from pytest_mlsupply.engines.registry import scanner_for

        ident = self.identify(blob)
        self.formats[blob.member or ""] = ident.format
        scanner = scanner_for(ident.format)
        if scanner is None:
            return []
        try:
            return scanner(blob, ident, self)
        except ScanError as exc:
            self.errors.append(f"{blob.location().describe()}: {exc}")
        except (MemoryError, RecursionError) as exc:
            self.errors.append(
                f"{blob.location().describe()}: too large or deep to analyse ({type(exc).__name__})"
            )
        return []

    def account(self, blob: Blob, size: int) -> Finding | None:
        """Charge ``size`` extracted bytes; a finding when the artifact's budget is exhausted."""
        self.extracted_bytes += size
        if self.extracted_bytes <= self.policy.limits.max_total_bytes:
            return None
        return Finding(
            rule="MLS-ARC-003",
            severity=Severity.HIGH,
            category="resource-exhaustion",
            title="archive expands beyond the extraction budget",
            location=blob.location(),
            evidence=f"more than {self.policy.limits.max_total_bytes} bytes once extracted",
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


def scan_file(path: Path, subject: str, policy: ScanPolicy | None = None) -> ScanReport:
    """Scan one artifact on disk. Raises OSError only when the file itself cannot be opened."""
    ctx = ScanContext(policy=policy or ScanPolicy())
    if not stat.S_ISREG(os.stat(path).st_mode):
        # A FIFO or device would block the scan forever; it cannot be a model file either.
        return ScanReport(
            findings=[], errors=[f"{subject}: not a regular file; it was not opened"], formats={}
        )
    blob = Blob(subject=subject, name=path.name, path=path)
    findings = ctx.scan_blob(blob)
    return ScanReport(findings=findings, errors=ctx.errors, formats=ctx.formats)
