"""Pickle files (plain, joblib, legacy torch): the whole file through the symbolic pickle machine.

The machine already reads every pickle in the stream (a legacy ``torch.save`` file is the magic
number, then protocol, sys_info, the object and the storage keys as separate pickles), steps over
joblib's raw numpy buffers, and recurses into pickles nested in constants. This engine only feeds
it the file without copying it (a memory map) and turns "not a pickle" into an error when, and
only when, nothing was found: findings outrank errors.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.pickle import PicklePolicy, scan_pickle_bytes
from pytest_mlsupply.engines.scanner import Blob, ScanContext, ScanError
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.sniff import Identification

__all__ = ["scan_pickle_file", "scan_pickle_region", "scan_unknown"]


def scan_pickle_file(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan a file (or member) that is one or more pickles back to back.

    A zip archive appended to the pickle (a polyglot: ``pickle.load`` reads the front,
    zip readers and torch the back) is scanned too, as the checkpoint it pretends to be.
    """
    appended = _appended_zip(blob, ident, ctx)
    try:
        with blob.buffer() as buffer:
            findings = scan_pickle_region(blob, buffer, ctx.policy.pickle)
    except ScanError:
        if not appended:
            raise
        findings = []  # the front is not a pickle after all, the zip is what matters
    return findings + appended


#: Findings that show a loader would run something, whatever the file was identified as.
_EXECUTION_RULES = frozenset({"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-004", "MLS-PKL-005"})


def scan_unknown(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Defence in depth for content nothing identified: would ``pickle.load`` run something?

    Identification can be wrong (a pickle with a start no detector expects), and every
    pickle-based loader reads such a file all the same. The pickle machine walks it; only
    findings that prove a loader would import or call something dangerous are kept (an unknown
    file is not a pickle by default, so unknown globals and parse errors are not reported).
    """
    try:
        with blob.buffer() as buffer:
            scan = scan_pickle_bytes(
                memoryview(buffer),
                policy=ctx.policy.pickle,
                origin=blob.subject,
                member=blob.member,
            )
    except (ValueError, OverflowError, MemoryError, RecursionError):
        return []
    return [f for f in scan.findings if f.rule in _EXECUTION_RULES and f.severity >= Severity.HIGH]


def _appended_zip(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    # Imported here: the torch engine builds on this module.
    from pytest_mlsupply.engines.formats.archives import ZipFormatError, read_zip_directory
    from pytest_mlsupply.engines.formats.torch import scan_torch_zip

    with blob.open() as fh:
        try:
            directory = read_zip_directory(fh, blob.size)
        except ZipFormatError:
            return []
    if directory.prefix <= 0 or not directory.entries:
        return []
    return scan_torch_zip(blob, ident, ctx)


def scan_pickle_region(
    blob: Blob,
    data: bytes | bytearray | memoryview | mmap.mmap,
    policy: PicklePolicy,
    *,
    start: int = 0,
) -> list[Finding]:
    """Scan the pickles in ``data[start:]``, the content of ``blob``; offsets stay file offsets.

    Raises :class:`ScanError` when the bytes are not a pickle and nothing was found.
    """
    whole = memoryview(data)
    view = whole[start:]
    try:
        scan = scan_pickle_bytes(
            view, policy=policy, origin=blob.subject, member=blob.member, base_offset=start
        )
    finally:
        # A memory map cannot close while a view of it is alive.
        view.release()
        whole.release()
    if scan.error is not None and not scan.findings:
        raise ScanError(scan.error)
    return scan.findings
