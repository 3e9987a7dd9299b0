"""NumPy ``.npy`` and ``.npz``: headers parsed as literals; object arrays' pickles scanned.

An ``.npy`` header is a Python dict literal, read here with :func:`ast.literal_eval` exactly as
numpy does (no names, calls or attributes are evaluated). An array of object dtype stores its
data as a pickle right after the header, which ``numpy.load(allow_pickle=True)`` unpickles: it
is scanned in place, offsets relative to the file. Numeric data is never read; its declared
size only tells whether something hides after it. An ``.npz`` is a zip of ``.npy`` members:
numeric members are judged by their header alone, the rest are extracted and scanned.

The same reading judges the constant bytes a pickle hands to ``numpy.load(io.BytesIO(...))``
(:func:`read_numpy_load`, called by the pickle engine's nested loads).
"""

from __future__ import annotations

import ast
import io
import math
import re
import struct
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import OverBudget, checkpoint, watched
from pytest_mlsupply.engines.containers import scan_pickle_region, scan_zip_members
from pytest_mlsupply.engines.formats.pickles import looks_like_pickle
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.numpy_dtype import scalar
from pytest_mlsupply.engines.pickle.scan import PartScanner, register_file_load_reader
from pytest_mlsupply.engines.ziparchive import (
    ZipEntry,
    ZipFormatError,
    ZipListing,
    ZipReadError,
    read_zip_directory,
    read_zip_member,
    zip_structure_problems,
)
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "NpyHeader",
    "claim_npz",
    "identify_npy",
    "parse_npy_header",
    "read_numpy_load",
    "scan_npy",
    "scan_npz",
]

_MAGIC = b"\x93NUMPY"
# numpy itself refuses headers above 10,000 bytes unless told otherwise; allow generous room.
_MAX_HEADER = 1 << 20
_HEAD = 64 * 1024


@dataclass(frozen=True)
class NpyHeader:
    version: tuple[int, int]
    descr: Any
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int
    """Where the array data (or the pickle, for object arrays) starts."""

    @property
    def has_object(self) -> bool:
        return _has_object(self.descr)

    @property
    def data_size(self) -> int | None:
        """Bytes of array data the header declares, when its dtype is understood."""
        itemsize = _itemsize(self.descr)
        return None if itemsize is None else itemsize * math.prod(self.shape)


def parse_npy_header(head: bytes) -> NpyHeader:
    """The header at the start of ``head``; raises :class:`ScanError` when numpy would refuse it."""
    if head[:6] != _MAGIC or len(head) < 10:
        raise ScanError("no .npy magic number")
    major, minor = head[6], head[7]
    if (major, minor) == (1, 0):
        (length,) = struct.unpack_from("<H", head, 8)
        start = 10
    elif (major, minor) in ((2, 0), (3, 0)) and len(head) >= 12:
        (length,) = struct.unpack_from("<I", head, 8)
        start = 12
    else:
        raise ScanError(f"unsupported .npy format version {major}.{minor}")
    if length > _MAX_HEADER:
        raise ScanError(f".npy header of {length} bytes is larger than {_MAX_HEADER}")
    raw = head[start : start + length]
    if len(raw) < length:
        raise ScanError(f".npy header of {length} bytes is truncated")
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
    except UnicodeDecodeError as exc:
        raise ScanError(".npy header is not valid UTF-8") from exc
    # literal_eval evaluates literals only: no names, calls or attribute access. Like numpy,
    # a version 1 or 2 header that fails is tried again without Python 2's "L" suffixes.
    header = _literal(text)
    if header is None and major <= 2:
        header = _literal(_without_long_suffixes(text))
    if header is None:
        raise ScanError(".npy header does not parse as a literal")
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ScanError(".npy header is not a dict of descr, fortran_order and shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise ScanError(f".npy header has an invalid shape {shape!r}")
    if not isinstance(header["fortran_order"], bool):
        raise ScanError(f".npy header has an invalid fortran_order {header['fortran_order']!r}")
    return NpyHeader(
        version=(major, minor),
        descr=header["descr"],
        shape=shape,
        fortran_order=header["fortran_order"],
        data_offset=start + length,
    )


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _without_long_suffixes(text: str) -> str:
    """numpy's ``_filter_header``: drop the ``L`` after integers that Python 2 wrote."""
    try:
        tokens = []
        last_was_number = False
        for token in watched(tokenize.generate_tokens(io.StringIO(text).readline)):
            if last_was_number and token.type == tokenize.NAME and token.string == "L":
                continue
            tokens.append(token)
            last_was_number = token.type == tokenize.NUMBER
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError, IndentationError, ValueError):
        # ValueError: untokenize's "start precedes previous end" on a header that spans
        # lines oddly (found by fuzzing); numpy refuses such a header too.
        return text


def _header_end(head: bytes) -> int | None:
    """Where the header ends, from its length field (None when the version is unknown)."""
    if head[6:7] == b"\x01" and len(head) >= 10:
        return 10 + int(struct.unpack_from("<H", head, 8)[0])
    if head[6:7] in (b"\x02", b"\x03") and len(head) >= 12:
        return 12 + int(struct.unpack_from("<I", head, 8)[0])
    return None


# A subarray shape before a dtype string: '(2,3)f8'.
_SUBARRAY = re.compile(r"^\(\s*\d+\s*(?:,\s*\d+\s*)*,?\s*\)\s*")


_BRACKET_OR_COMMA = re.compile(r"[(),]")


def _split_fields(descr: str) -> list[str]:
    """``descr`` cut at each comma that no ``)`` follows before a ``(`` (one not inside a
    subarray shape): ``re.split(r",(?![^(]*\\))", descr)`` in one pass. The lookahead scanned
    from every comma to the end of the string: a header of 100,000 'f8,' fields took minutes.
    """
    cuts: list[int] = []
    close_first = False  # whether the first bracket after the current position is ")"
    for match in reversed(list(_BRACKET_OR_COMMA.finditer(descr))):
        char = match.group()
        if char == ",":
            if not close_first:
                cuts.append(match.start())
        else:
            close_first = char == ")"
    parts: list[str] = []
    start = 0
    for cut in reversed(cuts):
        parts.append(descr[start:cut])
        start = cut + 1
    parts.append(descr[start:])
    return parts


def _is_plain(descr: Any) -> bool:
    """Whether ``descr`` is a dtype of plain data, as numpy's ``descr_to_dtype`` reads it:
    a string, a ``(descr, shape)`` subarray, or a list of ``(name, descr[, shape])`` fields."""
    if isinstance(descr, str):
        # Comma-separated fields ('i4,f8'), commas inside a subarray shape ('(2,3)f8') aside.
        # Object dtypes are not plain, and neither is anything the dtype reader does not know.
        parts = _split_fields(descr)
        found = [scalar(_SUBARRAY.sub("", part.strip())) for part in watched(parts)]
        return all(one is not None and one.kind != "O" for one in found)
    if isinstance(descr, tuple):
        return len(descr) == 2 and _is_plain(descr[0]) and _is_shape(descr[1])
    if isinstance(descr, list):
        return bool(descr) and all(
            isinstance(field, tuple)
            and len(field) in (2, 3)
            and isinstance(field[0], (str, tuple))
            and _is_plain(field[1])
            and (len(field) == 2 or _is_shape(field[2]))
            for field in watched(descr)
        )
    return False


def _is_shape(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, tuple) and all(isinstance(d, int) for d in value)
    )


def _has_object(descr: Any) -> bool:
    # Allowlist first: anything not known to be plain data may hold objects, whose bytes
    # numpy.load(allow_pickle=True) unpickles ('object', ('O', (2,)), [('a', 'object')]...).
    return not _is_plain(descr)


def _itemsize(descr: Any) -> int | None:
    if isinstance(descr, list):
        total = 0
        for field in watched(descr):
            if not isinstance(field, tuple) or len(field) < 2:
                return None
            size = _itemsize(field[1])
            if size is None:
                return None
            count = math.prod(field[2]) if len(field) > 2 and isinstance(field[2], tuple) else 1
            total += size * count
        return total
    if not isinstance(descr, str):
        return None
    found = scalar(descr)
    return None if found is None else found.itemsize


# --- identification ------------------------------------------------------------------------

# Members of an .npz whose header is read to tell object arrays from numeric ones.
_MAX_PROBED_MEMBERS = 64


def identify_npy(view: View) -> Identification | None:
    """An ``.npy`` array: its header, read by the parser the engine uses."""
    head = view.head
    if head[:6] != _MAGIC:
        return None
    evidence = f"magic 93 4e 55 4d 50 59, version {head[6:7].hex()}.{head[7:8].hex()}"
    needed = _header_end(head)
    if needed is not None and needed > len(head) and view.truncated:
        head += view.read_at(len(head), needed - len(head))  # a long header, within budget
    try:
        header = parse_npy_header(head)
    except ScanError as exc:
        return Identification(
            Format.NUMPY_NPY,
            Family.NUMPY,
            False,
            f"malformed NumPy .npy file: {exc}",
            evidence,
            problem=f"numpy.load refuses the header: {exc}",
        )
    evidence += f"; header descr {header.descr!r}, shape {header.shape!r}"
    if header.has_object:
        return Identification(
            Format.NUMPY_NPY,
            Family.NUMPY,
            True,
            "NumPy .npy array with object dtype: its data is a pickle",
            evidence,
        )
    return Identification(Format.NUMPY_NPY, Family.NUMPY, False, "NumPy .npy array", evidence)


def claim_npz(listing: ZipListing) -> Identification | None:
    """A zip whose members are all ``.npy`` arrays: ``numpy.savez`` output."""
    arrays = listing.files
    if not arrays or not all(entry.name.endswith(".npy") for entry in arrays):
        return None
    for entry in arrays[:_MAX_PROBED_MEMBERS]:
        try:
            header = parse_npy_header(listing.head(entry, 4096))
        except ScanError:
            continue
        if header.has_object:
            return Identification(
                Format.NUMPY_NPZ,
                Family.ZIP,
                True,
                f"NumPy .npz archive; member {entry.name} has object dtype (pickled data)",
                f"{listing.evidence}; {entry.name} header descr {header.descr!r}",
            )
    return Identification(
        Format.NUMPY_NPZ,
        Family.ZIP,
        False,
        f"NumPy .npz archive of {len(arrays)} arrays",
        f"{listing.evidence}; all members end in .npy",
    )


# --- .npy --------------------------------------------------------------------------------


def scan_npy(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan an ``.npy`` file: its header, and the pickle of an object array."""
    with blob.open() as fh:
        header = parse_npy_header(fh.read(_MAX_HEADER + 12))
    size = blob.size
    if not header.has_object:
        return _trailing_findings(blob, header, size, lambda: _peek(blob, header, size))
    findings = [_object_array(blob, header)]
    with blob.buffer() as buffer:
        try:
            findings.extend(scan_pickle_region(ctx, blob, buffer, start=header.data_offset))
        except ScanError as exc:
            raise ScanError(f"object array data is not a pickle: {exc}") from exc
    return findings


def _peek(blob: Blob, header: NpyHeader, size: int) -> bytes:
    expected = header.data_size or 0
    with blob.open() as fh:
        fh.seek(header.data_offset + expected)
        return fh.read(_HEAD)


def _object_array(blob: Blob, header: NpyHeader) -> Finding:
    return Finding(
        rule="MLS-NPY-001",
        severity=Severity.LOW,
        category="unsafe-format",
        title="NumPy array of object dtype: its data is a pickle",
        location=blob.location(offset=header.data_offset),
        evidence=f"descr {header.descr!r}, shape {header.shape!r}",
        why="numpy.load(allow_pickle=True) unpickles this data, which can run code; the pickle "
        "is scanned here and its findings are reported on their own",
        remediation="store numeric or string arrays with a fixed dtype, which need no pickle",
        cwe="CWE-502",
    )


def _trailing_findings(
    blob: Blob, header: NpyHeader, size: int, peek: Callable[[], bytes]
) -> list[Finding]:
    expected = header.data_size
    if expected is None or size <= header.data_offset + expected:
        return []
    extra = size - header.data_offset - expected
    tail = peek()
    hidden = looks_like_pickle(tail, truncated=len(tail) < extra)
    return [
        Finding(
            rule="MLS-NPY-002",
            severity=Severity.MEDIUM if hidden else Severity.LOW,
            category="scanner-evasion",
            title="data after the end of the array" + (" is a pickle" if hidden else ""),
            location=blob.location(offset=header.data_offset + expected),
            evidence=f"{extra} bytes after the {expected} bytes that descr {header.descr!r} and "
            f"shape {header.shape!r} declare",
            why="numpy ignores bytes after the array; a second reader of the same file can "
            "load what hides there",
            remediation="re-save the array with numpy.save",
        )
    ]


# --- .npz --------------------------------------------------------------------------------


def scan_npz(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan an ``.npz``: numeric members by header, object (pickled) members in full."""

    def numeric_by_header(fh: BinaryIO, entry: ZipEntry, file_size: int) -> list[Finding] | None:
        try:
            head = read_zip_member(
                fh, entry, limit=_HEAD, max_ratio=float("inf"), file_size=file_size, head_only=True
            )
            header = parse_npy_header(head)
        except (ScanError, ZipReadError):
            return None  # not a plain .npy: extract and scan it as whatever it is
        if header.has_object or entry.size <= header.data_offset + (header.data_size or 0):
            return None if header.has_object else []
        return None  # something after the array: look at all of it

    return scan_zip_members(blob, ctx, numeric_by_header)


# --- bytes handed to numpy.load ---------------------------------------------------------


_ZIP_OPENERS = (b"PK\x03\x04", b"PK\x05\x06")
# An object member of an .npz handed to numpy.load is decompressed whole, within these.
_LOADED_MEMBER_LIMIT = 16 << 20
_LOADED_MAX_RATIO = 250.0


def read_numpy_load(data: bytes, scan_pickle: PartScanner) -> tuple[list[Finding], str | None, str]:
    """What ``numpy.load(io.BytesIO(data))`` reads, judged without loading it: the findings of
    every pickle in it, the reason it is not wholly understood (None when it is), and what it
    was read as.

    numpy tells the three apart by the first bytes: a zip is an ``.npz`` (whose members it
    loads when they are indexed: all are judged), the ``.npy`` magic an array (an object
    array's data is a pickle), anything else a pickle. An embedded pickle is judged whether or
    not ``allow_pickle`` would let numpy unpickle it. Bytes numpy ignores (after an array) or
    that make it fail are errors: nothing writes them, and a second reader may see them.
    """
    if data.startswith(_ZIP_OPENERS):
        findings, error = _read_npz(data, scan_pickle)
        return findings, error, "an .npz archive"
    if data.startswith(_MAGIC):
        findings, error = _read_npy(memoryview(data), scan_pickle, "")
        return findings, error, "an .npy array"
    if not data:
        return [], "no data (numpy.load raises EOFError)", "nothing"
    findings, error = scan_pickle(memoryview(data), 0, "")
    return findings, error, "a pickle (numpy.load with allow_pickle=True unpickles it)"


def _read_npy(
    view: memoryview, scan_pickle: PartScanner, member: str
) -> tuple[list[Finding], str | None]:
    where = f"{member}: " if member else ""
    try:
        header = parse_npy_header(bytes(view[: _MAX_HEADER + 12]))
    except ScanError as exc:
        return [], f"{where}numpy.load refuses the .npy header: {exc}"
    if header.has_object:
        return scan_pickle(view, header.data_offset, member)
    expected = header.data_size
    if expected is None:
        return [], f"{where}the size of dtype {header.descr!r} is not known"
    end = header.data_offset + expected
    if len(view) < end:
        return [], f"{where}the array data is truncated ({len(view)} of {end} bytes)"
    if len(view) > end:
        return [], f"{where}{len(view) - end} bytes after the array, which numpy ignores"
    return [], None


def _read_npz(data: bytes, scan_pickle: PartScanner) -> tuple[list[Finding], str | None]:
    fh = io.BytesIO(data)
    try:
        directory = read_zip_directory(fh, len(data))
    except ZipFormatError as exc:
        return [], f"not a zip numpy.load opens: {exc}"
    problems = zip_structure_problems(directory)
    if problems:
        # Readers that disagree about the members may load another one than the one judged.
        return [], f"the zip is inconsistent: {problems[0][2]}"
    findings: list[Finding] = []
    for entry in directory.entries:
        checkpoint()
        member = f"member {entry.name}"
        if entry.is_dir or entry.is_symlink:
            return findings, f"{member} is not a file"
        try:
            head = read_zip_member(
                fh, entry, limit=_HEAD, max_ratio=float("inf"), file_size=len(data), head_only=True
            )
        except ZipReadError as exc:
            return findings, str(exc)
        if not head.startswith(_MAGIC):
            return findings, f"{member} is not an .npy array"
        try:
            header = parse_npy_header(head)
        except ScanError as exc:
            return findings, f"{member}: numpy.load refuses the .npy header: {exc}"
        if not header.has_object:
            # numpy reads numeric data as numbers: the header and the size say all.
            expected = header.data_size
            if expected is None or entry.size != header.data_offset + expected:
                return findings, f"{member}: {entry.size} bytes for the array its header declares"
            continue
        try:
            content = read_zip_member(
                fh,
                entry,
                limit=_LOADED_MEMBER_LIMIT,
                max_ratio=_LOADED_MAX_RATIO,
                file_size=len(data),
            )
        except (OverBudget, ZipReadError) as exc:
            return findings, f"{member} cannot be read in full: {exc}"
        found, error = _read_npy(memoryview(content), scan_pickle, member)
        findings.extend(found)
        if error is not None:
            return findings, error
    return findings, None


register_file_load_reader("numpy", read_numpy_load)
