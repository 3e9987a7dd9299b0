"""Native programs (ELF, PE, Mach-O, Java classes): identified by their headers.

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

__all__ = ["identify_elf", "identify_macho_or_java", "identify_pe", "scan_executable"]

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


def scan_executable(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """MLS-ARC-008 for a program extracted from an archive (at the top, the format check)."""
    if blob.depth == 0:
        return []
    native = ident.format != Format.JAVA_CLASS
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
