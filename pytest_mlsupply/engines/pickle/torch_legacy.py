"""The legacy ``torch.save`` stream (``_use_new_zipfile_serialization=False``), walked by its layout.

torch's ``_legacy_load`` reads, each with an unpickler of its own: the magic number, the
protocol version, the sys info, the object (whose persistent ids ``('storage', type, key,
location, numel, view)`` name the storages), the list of storage keys; then, for each key, an
8-byte element count and that many elements of raw data, sized by the key's storage type.
Nothing after the last storage is read. The raw data is never a pickle to torch, so it is
stepped over, never read as one; bytes after it are reported as data after the file's end.
A pickle whose STOP lies inside a frame with bytes left after it has no single layout: a
buffered file (``torch.load(path)``) reads the next pickle from the STOP, an unbuffered one
(``io.BytesIO``, ``_load_from_bytes``) from the frame's end; the walk refuses it.

This is the one reader of that layout: legacy checkpoint files (:mod:`..formats.torch`) and the
blobs a pickled tensor hands to ``torch.storage._load_from_bytes`` (:mod:`.scan`) both use it.
Each pickle is scanned by the caller's ``scan_one``, so the findings keep the caller's nesting.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .decoder import DecodeError, read_op
from .values import Global, SymList, describe

if TYPE_CHECKING:  # pragma: no cover
    from ...results import Finding
    from .scan import PickleScan

__all__ = [
    "ELEMENT_SIZES",
    "MAGIC_NUMBER",
    "PROTOCOL_VERSION",
    "LegacyLayout",
    "LegacyLayoutError",
    "pickle_end",
    "walk_legacy",
]

#: The first pickle of every legacy torch file, and the second.
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

#: Element sizes of the legacy typed storages, by class name (``torch.<name>``).
ELEMENT_SIZES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "QUInt8Storage": 1,
    "QInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
}

# dtypes without a typed storage class (float8, uint16, complex32...) are saved with the
# untyped storage, counted in bytes.
_UNTYPED = frozenset({"torch.storage.UntypedStorage", "torch.UntypedStorage"})

# More storages than this in one file is no checkpoint torch wrote.
_MAX_STORAGES = 1 << 24


class LegacyLayoutError(ValueError):
    """The stream does not follow the legacy layout from ``offset`` on."""

    def __init__(self, offset: int, message: str, layout: LegacyLayout | None = None) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset
        self.message = message
        self.layout = layout
        """What was found before the layout broke off."""


@dataclass
class LegacyLayout:
    """What walking one legacy stream found; offsets are the caller's (base added)."""

    findings: list[Finding] = field(default_factory=list)
    scans: list[PickleScan] = field(default_factory=list)
    storages: list[tuple[str, int, int]] = field(default_factory=list)
    """(key, start, end) of each storage's raw data, its count included."""
    end: int = 0
    """Where torch stops reading: after the last storage."""


def pickle_end(data: memoryview, start: int) -> tuple[int, int]:
    """Where the pickle starting at ``start`` ends (just after its STOP opcode), and where the
    next load from an unbuffered file starts: the end of the frame the STOP is in, if any."""
    pos = start
    frame_end = start
    while True:
        op = read_op(data, pos)
        pos = op.end
        if op.name == "FRAME" and isinstance(op.arg, int):
            frame_end = pos + op.arg
        if op.name == "STOP":
            return pos, max(pos, frame_end)


def walk_legacy(
    data: memoryview, scan_one: Callable[[memoryview, int], PickleScan], base_offset: int = 0
) -> LegacyLayout:
    """Walk a legacy stream as ``_legacy_load`` reads it; ``scan_one(view, offset)`` scans one
    pickle. Raises :class:`LegacyLayoutError` where the layout cannot be followed (what was
    found until then is in its ``layout``)."""
    layout = LegacyLayout()
    pos = 0

    def load(what: str) -> PickleScan:
        nonlocal pos
        start = pos
        try:
            end, pos = pickle_end(data, start)
        except DecodeError as exc:
            fail(start, f"the {what} is not a complete pickle ({exc.message})")
        if pos != end:
            # A STOP inside a frame with bytes left after it, which no pickler writes: the next
            # load starts after the STOP from a buffered file (torch.load(path)) and after the
            # frame from an unbuffered one or bytes (_load_from_bytes): two layouts, not one.
            fail(end, f"the {what} stops {pos - end} bytes before the end of its frame")
        scan = scan_one(data[start:end], base_offset + start)
        layout.scans.append(scan)
        layout.findings.extend(scan.findings)
        if scan.error is not None:
            fail(start, f"the {what} does not load ({scan.error})")
        return scan

    def fail(offset: int, message: str) -> Any:
        raise LegacyLayoutError(base_offset + offset, message, layout)

    if load("magic number").value != MAGIC_NUMBER:
        fail(0, "the first pickle is not torch's magic number")
    protocol = load("protocol version").value
    if protocol != PROTOCOL_VERSION:
        fail(pos, f"protocol version {describe(protocol)}, not {PROTOCOL_VERSION}")
    load("sys info")
    main = load("object pickle")
    sizes: dict[str, int] = {}
    for ref in main.persistent_ids:
        try:
            key, size = _storage_record(ref.value)
        except ValueError as exc:
            fail(ref.offset - base_offset, str(exc))
        if key is not None:
            sizes[key] = size
    keys = load("storage key list").value
    if not isinstance(keys, SymList) or len(keys.items) > _MAX_STORAGES:
        fail(pos, f"the storage keys are {describe(keys)}, not a list of keys")
    for key in keys.items:
        if not isinstance(key, str) or key not in sizes:
            fail(pos, f"storage key {describe(key)} names no storage of the object pickle")
        start = pos
        if pos + 8 > len(data):
            fail(pos, f"storage {key!r}: its element count runs past the end of the data")
        (count,) = struct.unpack_from("<q", data, pos)
        length = count * sizes[key]
        if count < 0 or pos + 8 + length > len(data):
            fail(pos, f"storage {key!r}: {count} elements run past the end of the data")
        pos += 8 + length
        layout.storages.append((key, base_offset + start, base_offset + pos))
    layout.end = base_offset + pos
    return layout


def _storage_record(pid: Any) -> tuple[str | None, int]:
    """(key, element size) of a ``('storage', type, key, location, numel, ...)`` id."""
    if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
        return None, 0
    if len(pid) < 3:
        raise ValueError(f"a storage id {describe(pid)} without type and key")
    storage_type, key = pid[1], pid[2]
    if not isinstance(key, str):
        raise ValueError(f"a storage key {describe(key)} that is not a string")
    if isinstance(storage_type, Global) and storage_type.ref.dotted in _UNTYPED:
        return key, 1
    if not (
        isinstance(storage_type, Global)
        and storage_type.ref.module == "torch"
        and storage_type.ref.name in ELEMENT_SIZES
    ):
        raise ValueError(f"a storage's type is {describe(storage_type)}, no legacy storage class")
    return key, ELEMENT_SIZES[storage_type.ref.name]
