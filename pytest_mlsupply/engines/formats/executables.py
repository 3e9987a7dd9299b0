"""Programs (ELF, PE, Mach-O, Java classes, compiled Python): identified by their headers.

A model has no reason to carry programs. At the top of a model directory the ``format`` check
reports them (MLS-FMT-001); inside an archive the scan does (MLS-ARC-008), because an unpacking
step, an install script or a user can run what comes out.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.blob import Blob, ScanContext
from pytest_mlsupply.engines.identification import Family, Format, Identification, hex_bytes
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "identify_elf",
    "identify_macho_or_java",
    "identify_pe",
    "identify_python_bytecode",
    "scan_executable",
]

_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def identify_elf(view: View) -> Identification | None:
    head = view.head
    if head[:4] != b"\x7fELF":
        return None
    bits = {1: "32-bit", 2: "64-bit"}.get(head[4] if len(head) > 4 else 0, "")
    order = {1: "little-endian", 2: "big-endian"}.get(head[5] if len(head) > 5 else 0, "")
    kind = " ".join(part for part in ("ELF", bits, order, "binary") if part)
    return Identification(Format.ELF, Family.EXECUTABLE, True, kind, "magic 7f 45 4c 46")


def identify_pe(view: View) -> Identification | None:
    head = view.head
    if head[:2] != b"MZ" or len(head) < 0x40:
        return None
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    if view.read_at(pe_offset, 4) != b"PE\x00\x00":
        return None
    return Identification(
        Format.PE,
        Family.EXECUTABLE,
        True,
        "Windows PE executable or DLL",
        f"MZ at byte 0; PE signature at e_lfanew {pe_offset}",
    )


def identify_macho_or_java(view: View) -> Identification | None:
    head = view.head
    magic = head[:4]
    if magic in _MACH_O:
        return Identification(
            Format.MACH_O,
            Family.EXECUTABLE,
            True,
            "Mach-O executable or library",
            f"magic {hex_bytes(magic)}",
        )
    if magic in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf") and len(head) >= 8:
        # The same magic opens Java class files; a fat binary's arch count is small, a class
        # file's major version (in the same bytes) is 45 or more.
        (count,) = struct.unpack_from(">I", head, 4)
        if count < 20:
            return Identification(
                Format.MACH_O,
                Family.EXECUTABLE,
                True,
                f"universal (fat) Mach-O binary with {count} architectures",
                f"magic {hex_bytes(magic)}; {count} architectures",
            )
        return Identification(
            Format.JAVA_CLASS,
            Family.EXECUTABLE,
            True,
            f"Java class file (major version {count & 0xFFFF})",
            f"magic {hex_bytes(magic)}; version field {count & 0xFFFF}",
        )
    return None


#: Magic numbers of CPython's bytecode files (``importlib.util.MAGIC_NUMBER``): 3000 to 3999 for
#: Python 3 (3.14 is 36xx), 20121 to 62211 for Python 1.5 to 2.7. Each is followed by ``\r\n``.
_PY3_MAGIC = range(3000, 4000)
_PY2_MAGIC = range(20121, 62212)
_CODE_OBJECT = ord("c")  # marshal's TYPE_CODE, possibly with FLAG_REF (0x80)


def identify_python_bytecode(view: View) -> Identification | None:
    """A ``.pyc``: its magic number, then (by version) the header, then a marshalled code
    object. Python imports one in place of a module's source (a sourceless ``x.pyc`` beside
    the model's code, or ``__pycache__`` with an unchecked hash), so it is a program no review
    of the source covers."""
    head = view.head
    if len(head) < 9 or head[2:4] != b"\r\n":
        return None
    (magic,) = struct.unpack_from("<H", head, 0)
    if magic in _PY3_MAGIC:
        if magic >= 3390:  # 3.7+: flags word (PEP 552), then mtime+size or a source hash
            (flags,) = struct.unpack_from("<I", head, 4)
            if flags not in (0, 1, 3):
                return None
            header = 16
        else:
            header = 12 if magic >= 3230 else 8  # 3.3+ added the source size
    elif magic in _PY2_MAGIC:
        header = 8
    else:
        return None
    if len(head) <= header or head[header] & 0x7F != _CODE_OBJECT:
        return None
    return Identification(
        Format.PYTHON_BYTECODE,
        Family.EXECUTABLE,
        True,
        f"compiled Python bytecode (magic number {magic})",
        f"magic {hex_bytes(head[:4])}; a code object at byte {header}",
    )


def scan_executable(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """MLS-ARC-008 for a program extracted from an archive (at the top, the format check)."""
    if blob.depth == 0:
        return []
    native = ident.format not in (Format.JAVA_CLASS, Format.PYTHON_BYTECODE)
    return [
        Finding(
            rule="MLS-ARC-008",
            severity=Severity.CRITICAL if native else Severity.HIGH,
            category="executable",
            title="executable inside an archive",
            location=blob.location(offset=0),
            evidence=f"{ident.detail} ({ident.evidence})",
            why="a model archive has no reason to carry native programs; an unpacking step, an "
            "install script or a user can run it",
            remediation="remove the executable; ship model weights and configuration only",
            cwe="CWE-506",
        )
    ]
