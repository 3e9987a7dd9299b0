"""Identify what a file really is from its bytes: magic numbers and structure, never its name.

The extension is only a tie-breaker (for ONNX, whose protobuf has no magic) and the thing we
compare the content against to report a mismatch. Nothing is executed, unpickled or imported:
pickles are walked opcode by opcode with :func:`pickletools.genops`, headers are parsed with
:mod:`json` and :func:`ast.literal_eval`, and compressed streams are only decompressed for a
bounded head.

Reads are bounded by construction: every byte comes through :class:`_File`, which holds a budget
(``max_read``), so a 1 GB checkpoint identifies after reading its head, its zip central directory
or tar headers, and a few member heads.

Malformed input never raises; only I/O errors do (as :class:`OSError`). When a strong magic number
is present but the structure behind it is broken, the format is kept and ``detail`` says what is
wrong; when only a structural guess was possible (safetensors), the result is ``unknown``.
"""

from __future__ import annotations

import ast
import bz2
import codecs
import enum
import io
import json
import lzma
import os
import pickletools
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.lz4 import LimitExceeded, lz4_frame_decompress

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import BinaryIO

__all__ = ["HEAD_SIZE", "Family", "Identification", "identify"]

#: How much of the start of a file is read to decide what it is.
HEAD_SIZE = 64 * 1024

# The EOCD record is 22 bytes and may be followed by a comment of up to 65535 bytes.
_EOCD_SIZE = 22
_TAIL_SIZE = _EOCD_SIZE + 0xFFFF
# Enough opcodes to tell a pickle from text and to see the first globals, cheap on any head.
_MAX_PICKLE_OPS = 4096
# Zip members whose first bytes are probed for a pickle, and how many bytes each.
_MAX_PROBED_MEMBERS = 64
_PROBE_SIZE = 512
_MAX_TAR_HEADERS = 4096
# The safetensors loader itself refuses headers above 100 MB.
_SAFETENSORS_HEADER_CAP = 100_000_000
# A bzip2 block is up to 900 kB, and nothing decompresses before a whole block is in.
_BZ2_INPUT = 1 << 20
# Bounds the dictionary an .xz/.lzma header can make us allocate.
_LZMA_MEMLIMIT = 128 << 20

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_TAR_MEMBERS = frozenset({"sys_info", "pickle", "storages", "tensors"})
# Opcodes a protocol 0 or 1 pickle can start with; they are all printable, hence the validation.
_LOW_PROTOCOL_FIRST_BYTES = frozenset(
    ord(op.code) for op in pickletools.opcodes if op.proto < 2 and len(op.code) == 1
)
_ANY_OPCODE_BYTES = frozenset(ord(op.code) for op in pickletools.opcodes if len(op.code) == 1)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
# Top-level ModelProto fields and their protobuf wire types (0 varint, 2 length-delimited).
_ONNX_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}


class Family(str, enum.Enum):  # noqa: UP042 - StrEnum needs Python 3.11; we support 3.10
    """The physical container a format lives in: it says which engine opens the file."""

    PICKLE = "pickle"
    ZIP = "zip"
    TAR = "tar"
    SEVEN_ZIP = "7z"
    COMPRESSED = "compressed"
    SAFETENSORS = "safetensors"
    NUMPY = "numpy"
    GGUF = "gguf"
    HDF5 = "hdf5"
    ONNX = "onnx"
    TFLITE = "tflite"
    EXECUTABLE = "executable"
    SCRIPT = "script"
    JSON = "json"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identification:
    """What a file is, whether loading it can run code, and the bytes that showed it.

    ``format`` is specific (``pytorch-zip``, ``gzip``, ``numpy-npy``); ``family`` is the
    container. For a compressed stream ``format`` names the compression and ``detail`` what the
    decompressed head holds (``gzip-compressed pickle``).
    """

    format: str
    family: Family
    unsafe: bool
    detail: str
    evidence: str
    extension_mismatch: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "family": self.family.value,
            "unsafe": self.unsafe,
            "detail": self.detail,
            "evidence": self.evidence,
            "extension_mismatch": self.extension_mismatch,
        }


def identify(path: Path, *, max_read: int = 1 << 20) -> Identification:
    """Identify ``path`` from its content, reading at most ``max_read`` bytes of it.

    Raises :class:`OSError` only when the file cannot be read; anything wrong with the content
    is reported in the result.
    """
    mode = os.stat(path).st_mode
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if not stat.S_ISREG(mode):
        # Opening a FIFO or a device could block or never end; a directory has no content.
        return _unknown("not a regular file, so it was not read", f"st_mode {oct(mode)}")
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        ident = _identify_open_file(_File(fh, size, max(max_read, 0)), suffix)
    return _with_mismatch(ident, suffix)


def identify_bytes(data: bytes, name: str = "", *, max_read: int = 1 << 20) -> Identification:
    """Identify in-memory content (an archive member); ``name`` is only a tie-breaker."""
    suffix = os.path.splitext(name)[1].lower()
    ident = _identify_open_file(_File(io.BytesIO(data), len(data), max(max_read, 0)), suffix)
    return _with_mismatch(ident, suffix)


# --- bounded access -------------------------------------------------------------------------


class _BudgetExceeded(Exception):
    """Raised inside :mod:`zipfile` when it would read past our budget."""


class _File:
    """Random access to the file under a byte budget, so no input can make us read all of it."""

    def __init__(self, fh: BinaryIO, size: int, budget: int) -> None:
        self._fh = fh
        self.size = size
        self.remaining = budget
        self.starved = False
        self._pos = 0
        self._eocd: _Eocd | None = None
        self._eocd_searched = False

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

    # seek/tell/read/seekable: the file protocol zipfile needs, drawing on the same budget.
    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            # What a real file does; zipfile expects exactly this for short files.
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = max(self.size - self._pos, 0)
        if min(n, self.size - self._pos) > self.remaining:
            raise _BudgetExceeded
        data = self.read_at(self._pos, n)
        self._pos += len(data)
        return data

    def seekable(self) -> bool:
        return True

    def eocd(self) -> _Eocd | None:
        if not self._eocd_searched:
            self._eocd_searched = True
            self._eocd = _find_eocd(self)
        return self._eocd


@dataclass(frozen=True)
class _View:
    """The bytes being classified: the file itself, or the decompressed head of a stream."""

    head: bytes
    size: int | None  # None: unknown, a decompressed stream we stopped reading early
    read_at: Callable[[int, int], bytes]
    file: _File | None  # only the file itself offers archive-level random access
    suffix: str

    @property
    def truncated(self) -> bool:
        return self.size is None or len(self.head) < self.size


def _bytes_view(data: bytes, complete: bool, suffix: str) -> _View:
    return _View(
        head=data,
        size=len(data) if complete else None,
        read_at=lambda offset, length: data[offset : offset + length] if offset >= 0 else b"",
        file=None,
        suffix=suffix,
    )


# --- orchestration --------------------------------------------------------------------------


def _identify_open_file(file: _File, suffix: str) -> Identification:
    if file.size == 0:
        return Identification("empty", Family.EMPTY, False, "empty file", "size 0 bytes")
    head = file.read_at(0, HEAD_SIZE)
    if not head:
        return _unknown("nothing could be read within the read budget", "max_read is 0")
    view = _View(head, file.size, file.read_at, file, suffix)
    ident = _classify(view, depth=0)
    if ident.family is not Family.ZIP:
        ident = _note_appended_zip(file, ident)
    return ident


def _classify(view: _View, depth: int) -> Identification:
    """Run the detectors from the most to the least specific; the first answer wins."""
    detectors: list[Callable[[_View], Identification | None]] = [
        _as_zip,
        _as_seven_zip,
        _as_numpy,
        _as_gguf,
        _as_hdf5,
        _as_elf,
        _as_macho_or_java,
        _as_tflite,
        _as_binary_pickle,
        _as_pe,
        _as_tar,
        _as_safetensors,
        _as_onnx,
        _as_text_pickle,
        _as_lfs_pointer,
        _as_shebang,
        _as_json,
        _as_text,
    ]
    if depth == 0:
        # One level of decompression only: a compressed stream inside a compressed stream is
        # reported by its outer format.
        detectors.insert(2, _as_compressed)
        detectors.insert(detectors.index(_as_onnx), _as_weak_compressed)
    for detect in detectors:
        found = detect(view)
        if found is not None:
            return found
    if view.file is not None:
        eocd = view.file.eocd()
        if eocd is not None:
            return _classify_zip(view.file, eocd)
    return _unknown("no known magic number or structure", f"first bytes {_hex(view.head)}")


def _note_appended_zip(file: _File, ident: Identification) -> Identification:
    """Say so when a zip archive hides behind other content (self-extractors, polyglots)."""
    if ident.format in ("empty", "unknown") or file.size < _EOCD_SIZE:
        return ident
    eocd = file.eocd()
    if eocd is None or eocd.prefix <= 0:
        return ident
    note = f"a zip archive is appended at byte {eocd.prefix}"
    return Identification(
        ident.format,
        ident.family,
        ident.unsafe,
        f"{ident.detail}; {note}",
        f"{ident.evidence}; end-of-central-directory record at byte {eocd.position}",
    )


# --- pickle ---------------------------------------------------------------------------------


class _HeadExhausted(Exception):
    """The walk ran off the end of a head that is shorter than the stream it came from."""


class _HeadStream(io.BytesIO):
    """A head that tells running off its end (fine) from a malformed pickle (not a pickle)."""

    def __init__(self, data: bytes, truncated: bool) -> None:
        super().__init__(data)
        self._truncated = truncated

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if self._truncated and size is not None and size >= 0 and len(data) < size:
            raise _HeadExhausted
        return data

    def readline(self, size: int | None = -1, /) -> bytes:
        line = super().readline(size)
        if self._truncated and not line.endswith(b"\n"):
            raise _HeadExhausted
        return line


@dataclass
class _PickleScan:
    protocol: int = 0
    ops: int = 0
    complete: bool = False  # reached STOP
    error: str | None = None  # an invalid opcode or argument before STOP / the end of the head
    first_value: Any = None
    globals: list[str] = field(default_factory=list)
    stack_error: str | None = None  # an opcode popped more than was pushed (text, not pickle)
    stop_at: int = 0  # offset just past STOP, when reached


_STRING_OPS = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
    }
)
_NON_PUSHING_OPS = frozenset({"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"})


def _scan_pickle(data: bytes, truncated: bool) -> _PickleScan:
    """Walk the first opcodes of ``data`` without executing any, collecting the globals seen."""
    scan = _PickleScan()
    # Memo and the last two pushed values are tracked just enough to name STACK_GLOBAL imports.
    memo: dict[int, Any] = {}
    recent: list[Any] = [None, None]
    # Stack depth, from pickletools' own stack effects: printable text such as "aaaa" decodes
    # as valid opcodes (APPEND...) but pops from an empty stack, which no pickler writes.
    depth, marks = 0, list[int]()
    try:
        for opcode, arg, pos in pickletools.genops(_HeadStream(data, truncated)):
            if scan.stack_error is None:
                depth, scan.stack_error = _stack_effect(opcode, depth, marks)
            scan.ops += 1
            scan.protocol = max(scan.protocol, opcode.proto)
            name = opcode.name
            if name == "PROTO" and isinstance(arg, int):
                scan.protocol = arg
            elif scan.first_value is None and name not in _NON_PUSHING_OPS:
                scan.first_value = arg if name in ("LONG", "LONG1", "LONG4") else False
            if name in ("GLOBAL", "INST") and isinstance(arg, str):
                scan.globals.append(arg.replace(" ", ".", 1))
            elif name == "STACK_GLOBAL" and all(isinstance(v, str) for v in recent):
                scan.globals.append(f"{recent[0]}.{recent[1]}")
            if name == "MEMOIZE":
                memo[len(memo)] = recent[1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT") and isinstance(arg, int):
                memo[arg] = recent[1]
            elif name in ("GET", "BINGET", "LONG_BINGET") and isinstance(arg, int):
                recent = [recent[1], memo.get(arg)]
            elif name not in _NON_PUSHING_OPS:
                recent = [recent[1], arg if name in _STRING_OPS else None]
            if name == "STOP":
                scan.complete = True
                scan.stop_at = (pos or 0) + 1
                break
            if scan.ops >= _MAX_PICKLE_OPS:
                break
    except _HeadExhausted:
        pass
    except Exception as exc:  # genops raises ValueError mostly, but input is adversarial
        scan.error = f"{type(exc).__name__}: {exc}"
    return scan


def _stack_effect(
    opcode: pickletools.OpcodeInfo, depth: int, marks: list[int]
) -> tuple[int, str | None]:
    before, after = opcode.stack_before, opcode.stack_after
    if opcode.name == "POP" and marks and depth == marks[-1]:
        # The unpickler's POP on an empty stack pops the MARK instead (load_pop).
        marks.pop()
        return depth, None
    if pickletools.markobject in before:
        if not marks:
            return depth, f"{opcode.name} without a MARK"
        below = len(before) - 2  # the items under the mark this opcode also consumes
        depth = marks.pop() - below
    else:
        depth -= len(before)
    if depth < 0:
        return 0, f"{opcode.name} pops from an empty stack"
    if pickletools.markobject in after:
        marks.append(depth)
    else:
        depth += len(after)
    return depth, None


def _pickle_scan_if_pickle(data: bytes, truncated: bool) -> _PickleScan | None:
    """The scan when ``data`` starts a pickle, else ``None``."""
    if len(data) >= 2 and data[0] == 0x80:
        # PROTO 0 and 1 are legal too: the unpickler accepts any protocol up to 5.
        if not 0 <= data[1] <= 5:
            return None
        scan = _scan_pickle(data, truncated)
        # PROTO plus one valid opcode is convincing; data written between opcodes (joblib
        # arrays) may break the walk later, which is no reason to doubt the format.
        return scan if scan.ops >= 2 or (scan.ops == 1 and scan.error is None) else None
    # A pickle need not start with PROTO: any opcode can come first (a bare SHORT_BINUNICODE,
    # a FRAME) and the unpickler still runs it. Whatever the first byte, every opcode up to STOP
    # (or the end of the head) must decode and keep the stack consistent.
    if data and data[0] in _LOW_PROTOCOL_FIRST_BYTES | _ANY_OPCODE_BYTES:
        scan = _scan_pickle(data, truncated)
        # Protocol 0/1 opcodes are printable, so text often starts like a pickle: demand that
        # every opcode up to STOP (or to the end of the head) is valid.
        valid = scan.error is None and scan.stack_error is None
        if scan.complete and scan.ops <= 3 and len(data) - scan.stop_at > 16:
            # One value and STOP, then a mass of other bytes: random data does this now and
            # then; a pickler never writes it (and loading it would build one constant).
            valid = False
        if data[0] not in _LOW_PROTOCOL_FIRST_BYTES:
            # A binary opcode first and no PROTO: random bytes decode as a few opcodes now and
            # then, so demand a STOP, or a long valid run in a file larger than what was read.
            valid = valid and (scan.complete or (truncated and scan.ops >= 16))
        return scan if valid and scan.ops >= 2 else None
    return None


def _pickle_ident(data: bytes, scan: _PickleScan, where: str = "") -> Identification:
    evidence = f"{where}bytes {_hex(data[:4])}; {scan.ops} opcodes parse"
    if scan.complete:
        evidence += " up to STOP"
    if scan.globals:
        evidence += "; globals " + ", ".join(scan.globals[:3])
    if scan.first_value == _TORCH_LEGACY_MAGIC:
        return Identification(
            "pytorch-legacy",
            Family.PICKLE,
            True,
            "legacy PyTorch checkpoint (torch.save before 1.6): a sequence of pickles",
            f"{evidence}; first value is the torch magic number {_TORCH_LEGACY_MAGIC:#x}",
        )
    if any(g.startswith("joblib.") or g.endswith(".NumpyArrayWrapper") for g in scan.globals):
        return Identification(
            "joblib",
            Family.PICKLE,
            True,
            f"joblib pickle (protocol {scan.protocol})",
            evidence,
        )
    return Identification(
        "pickle", Family.PICKLE, True, f"pickle (protocol {scan.protocol})", evidence
    )


def _as_binary_pickle(view: _View) -> Identification | None:
    if view.head[:1] != b"\x80":
        return None
    scan = _pickle_scan_if_pickle(view.head, view.truncated)
    return None if scan is None else _pickle_ident(view.head, scan)


def _as_text_pickle(view: _View) -> Identification | None:
    if view.head[:1] == b"\x80":
        return None
    scan = _pickle_scan_if_pickle(view.head, view.truncated)
    return None if scan is None else _pickle_ident(view.head, scan)


# --- compressed streams ---------------------------------------------------------------------


def _as_compressed(view: _View) -> Identification | None:
    head = view.head
    if head[:3] == b"\x1f\x8b\x08":
        return _compressed(view, "gzip", "magic 1f 8b 08", _inflate(head, wbits=31))
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in _BZ2_BLOCK_MAGICS:
        data = head
        if view.file is not None and view.truncated:
            data += view.read_at(len(head), _BZ2_INPUT - len(head))
        return _compressed(view, "bz2", f"magic {_hex(head[:10])}", _bunzip(data))
    if head[:6] == b"\xfd7zXZ\x00":
        result = _unlzma(head, lzma.FORMAT_XZ)
        return _compressed(view, "xz", "magic fd 37 7a 58 5a 00", result)
    if head[:4] == b"\x04\x22\x4d\x18":
        return _compressed(view, "lz4", "magic 04 22 4d 18", _lz4_frame(head))
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return Identification(
            "zstd",
            Family.COMPRESSED,
            False,
            "zstd stream; not decompressed (the standard library has no zstd decoder)",
            "magic 28 b5 2f fd",
        )
    return None


_BZ2_BLOCK_MAGICS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")


def _as_weak_compressed(view: _View) -> Identification | None:
    """zlib and .lzma have no real magic: only a stream that decompresses counts."""
    head = view.head
    if _is_zlib_header(head):
        result = _inflate(head, wbits=15)
        if not isinstance(result, str) and result[0]:
            return _compressed(view, "zlib", f"zlib header {_hex(head[:2])}", result)
    if len(head) >= 14 and head[0] < 9 * 5 * 5 and head[13] == 0:
        # .lzma ("alone"): properties byte, dictionary size, uncompressed size (-1 when
        # unknown), then a range coder whose first byte is always zero.
        dict_size, plain_size = struct.unpack_from("<IQ", head, 1)
        if 4096 <= dict_size <= 1 << 30 and (plain_size == 2**64 - 1 or plain_size < 1 << 48):
            result = _unlzma(head, lzma.FORMAT_ALONE)
            if not isinstance(result, str) and result[0]:
                evidence = f"lzma-alone header {_hex(head[:5])} (dictionary {dict_size} bytes)"
                return _compressed(view, "lzma", evidence, result)
    return None


def _is_zlib_header(head: bytes) -> bool:
    # Deflate method, window at most 32 KiB, check bits valid, no preset dictionary.
    return (
        len(head) >= 2
        and head[0] & 0x0F == 8
        and head[0] >> 4 <= 7
        and (head[0] << 8 | head[1]) % 31 == 0
        and not head[1] & 0x20
    )


def _inflate(data: bytes, wbits: int) -> tuple[bytes, bool] | str:
    try:
        stream = zlib.decompressobj(wbits=wbits)
        return stream.decompress(data, HEAD_SIZE), stream.eof
    except zlib.error as exc:
        return str(exc)


def _bunzip(data: bytes) -> tuple[bytes, bool] | str:
    try:
        stream = bz2.BZ2Decompressor()
        return stream.decompress(data, max_length=HEAD_SIZE), stream.eof
    except (OSError, ValueError) as exc:  # bz2 reports corrupt data as OSError
        return str(exc)


def _unlzma(data: bytes, fmt: int) -> tuple[bytes, bool] | str:
    try:
        stream = lzma.LZMADecompressor(format=fmt, memlimit=_LZMA_MEMLIMIT)
        return stream.decompress(data, max_length=HEAD_SIZE), stream.eof
    except lzma.LZMAError as exc:
        return str(exc)


def _lz4_frame(data: bytes) -> tuple[bytes, bool] | str:
    """Decode the head of an LZ4 frame (the format joblib writes); lz4 is not a dependency."""
    out = bytearray()
    try:
        frames, _trailing = lz4_frame_decompress(data, out, HEAD_SIZE)
    except LimitExceeded:
        return bytes(out[:HEAD_SIZE]), False
    except ValueError as exc:
        # A head cut mid-frame is expected (only HEAD_SIZE bytes were read): keep what decoded.
        return (bytes(out[:HEAD_SIZE]), False) if out else str(exc)
    return bytes(out[:HEAD_SIZE]), frames > 0


def _compressed(
    view: _View, fmt: str, evidence: str, result: tuple[bytes, bool] | str
) -> Identification:
    if isinstance(result, str):
        return Identification(
            fmt, Family.COMPRESSED, False, f"{fmt} stream whose head does not decompress", result
        )
    data, complete = result
    if not data:
        detail = f"{fmt} stream; no output within the read budget, content not inspected"
        return Identification(fmt, Family.COMPRESSED, False, detail, evidence)
    inner = _classify(_bytes_view(data, complete, view.suffix), depth=1)
    return Identification(
        fmt,
        Family.COMPRESSED,
        inner.unsafe,
        f"{fmt}-compressed {_noun(inner, article=False)}",
        f"{evidence}; decompressed head: {inner.evidence}",
    )


# --- zip ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Eocd:
    position: int  # of the end-of-central-directory record
    cd_start: int  # absolute offset of the central directory
    cd_size: int
    entries: int
    prefix: int  # bytes of other content before the archive


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int  # of the local header, absolute
    method: int
    compressed_size: int
    size: int


def _find_eocd(file: _File) -> _Eocd | None:
    if file.size < _EOCD_SIZE:
        return None
    base = max(file.size - _TAIL_SIZE, 0)
    tail = file.read_at(base, file.size - base)
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0:
        found = _parse_eocd(file, tail, base, pos)
        if found is not None:
            return found
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    return None


def _parse_eocd(file: _File, tail: bytes, base: int, pos: int) -> _Eocd | None:
    if pos + _EOCD_SIZE > len(tail):
        return None
    _sig, _disk, _cd_disk, _n_disk, entries, cd_size, cd_offset, comment = struct.unpack_from(
        "<IHHHHIIH", tail, pos
    )
    if pos + _EOCD_SIZE + comment > len(tail):
        return None
    end_of_cd = base + pos
    # Zip64 (what torch writes past 4 GiB, and zipfile whenever it chooses to): a locator just
    # before the EOCD, and before it the zip64 record with the real values. Like zipfile, expect
    # the fixed-size record right before the locator; the central directory ends where it begins.
    locator = tail[pos - 20 : pos] if pos >= 20 else file.read_at(base + pos - 20, 20)
    if len(locator) == 20 and locator[:4] == b"PK\x06\x07":
        record_at = base + pos - 20 - 56
        record = file.read_at(record_at, 56)
        if len(record) != 56 or record[:4] != b"PK\x06\x06":
            return None
        _s, _rs, _v, _vn, _d, _dc, _ed, entries, cd_size, cd_offset = struct.unpack(
            "<IQHHIIQQQQ", record
        )
        end_of_cd = record_at
    prefix = end_of_cd - cd_size - cd_offset
    cd_start = cd_offset + prefix
    if prefix < 0 or cd_start < 0:
        return None
    # A real EOCD points back at a central directory; random bytes that happen to contain the
    # signature do not.
    if cd_size and file.read_at(cd_start, 4) != b"PK\x01\x02":
        return None
    return _Eocd(base + pos, cd_start, cd_size, entries, prefix)


def _list_zip(file: _File, eocd: _Eocd) -> tuple[list[_Member], str]:
    """List members the way torch does: from the central directory, ignoring CRCs and flags.

    :mod:`zipfile` is used when it agrees to; when it refuses (multi-disk marks, odd flags,
    inconsistent records), the central directory is parsed by hand, names and offsets only.
    """
    note = "read with zipfile"
    if eocd.cd_size + _TAIL_SIZE <= file.remaining:
        try:
            with zipfile.ZipFile(file) as archive:
                members = [
                    _Member(
                        i.filename, i.header_offset, i.compress_type, i.compress_size, i.file_size
                    )
                    for i in archive.infolist()
                ]
            return members, note
        except Exception as exc:  # zipfile's errors are many and undocumented
            note = f"zipfile refused it ({type(exc).__name__}: {exc}), parsed by hand"
    else:
        note = "parsed by hand within the read budget"
    return _parse_central_directory(file, eocd), note


def _parse_central_directory(file: _File, eocd: _Eocd) -> list[_Member]:
    data = file.read_at(eocd.cd_start, eocd.cd_size)
    members: list[_Member] = []
    pos = 0
    while pos + 46 <= len(data) and data[pos : pos + 4] == b"PK\x01\x02":
        (flags, method, csize, usize, name_len, extra_len, comment_len, offset) = (
            struct.unpack_from("<8xHH8xIIHHH8xI", data, pos)
        )
        raw_name = data[pos + 46 : pos + 46 + name_len]
        extra = data[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        members.append(_Member(name, offset + eocd.prefix, method, csize, usize))
        pos += 46 + name_len + extra_len + comment_len
    return members


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 1:
            values = [v[0] for v in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            fields = [usize, csize, offset]
            for index, current in enumerate(fields):
                if current == 0xFFFFFFFF and values:
                    fields[index] = values.pop(0)
            return fields[0], fields[1], fields[2]
        pos += 4 + length
    return usize, csize, offset


def _member_head(file: _File, member: _Member, length: int) -> bytes | None:
    """The first bytes of a member, located through its local header as torch does."""
    local = file.read_at(member.offset, 30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack_from("<HH", local, 26)
    start = member.offset + 30 + name_len + extra_len
    if member.method == zipfile.ZIP_STORED:
        return file.read_at(start, min(length, member.compressed_size))
    if member.method == zipfile.ZIP_DEFLATED:
        raw = file.read_at(start, min(member.compressed_size, max(length, HEAD_SIZE)))
        try:
            return zlib.decompressobj(wbits=-15).decompress(raw, length)
        except zlib.error:
            return None
    return None


def _as_zip(view: _View) -> Identification | None:
    head = view.head
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        return None
    if view.file is None:
        return Identification(
            "zip", Family.ZIP, False, "zip archive", f"magic {_hex(head[:4])} (not listed)"
        )
    eocd = view.file.eocd()
    if eocd is not None:
        return _classify_zip(view.file, eocd)
    # No central directory: a truncated download or a damaged archive. The first local header
    # still names the first member, which for torch is data.pkl.
    name = ""
    if head[:4] == b"PK\x03\x04" and len(head) >= 30:
        (name_len,) = struct.unpack_from("<H", head, 26)
        name = head[30 : 30 + name_len].decode("utf-8", errors="replace")
    if _is_torch_data_pkl(name):
        return Identification(
            "pytorch-zip",
            Family.ZIP,
            True,
            f"damaged PyTorch zip checkpoint (no central directory) with member {name}",
            f"magic 50 4b 03 04; first local header names {name}; no end-of-central-directory",
        )
    return Identification(
        "zip",
        Family.ZIP,
        False,
        "damaged zip archive: no end-of-central-directory record (truncated?)",
        f"magic {_hex(head[:4])}; no end-of-central-directory record in the last 64 KiB",
    )


def _is_torch_data_pkl(name: str) -> bool:
    return name == "data.pkl" or name.endswith("/data.pkl")


def _classify_zip(file: _File, eocd: _Eocd) -> Identification:
    members, how = _list_zip(file, eocd)
    names = [m.name for m in members]
    where = (
        f"end-of-central-directory at byte {eocd.position}; archive begins at byte {eocd.prefix}"
        if eocd.prefix
        else ("magic 50 4b 03 04" if eocd.cd_size else "magic 50 4b 05 06 (empty archive)")
    )
    listed = f"{where}; central directory lists {len(members)} members ({how})"
    if file.starved:
        listed += "; read budget exhausted, listing may be partial"

    data_pkl = next((m for m in members if _is_torch_data_pkl(m.name)), None)
    if data_pkl is not None:
        start = _member_head(file, data_pkl, 8) or b""
        evidence = (
            f"{listed}; member {data_pkl.name} starts with {_hex(start, 4) or '(unreadable)'}"
        )
        has_code = any("/code/" in f"/{n}" for n in names)
        if has_code and any(n.endswith("constants.pkl") for n in names):
            return Identification(
                "torchscript",
                Family.ZIP,
                True,
                f"TorchScript archive with pickle member {data_pkl.name} and code/ sources",
                evidence,
            )
        return Identification(
            "pytorch-zip",
            Family.ZIP,
            True,
            f"PyTorch zip checkpoint with pickle member {data_pkl.name}",
            evidence,
        )

    root = {n for n in names if "/" not in n}
    # Keras reads (and acts on) config.json before it looks for weights, so a root config.json
    # is enough: the Keras engine walks it and still rescans every other member.
    if "config.json" in root:
        return Identification(
            "keras-v3",
            Family.ZIP,
            False,
            "Keras v3 archive (config.json at the root)",
            f"{listed}; root members {', '.join(sorted(root)[:5])}",
        )

    files = [m for m in members if not m.name.endswith("/")]
    if files and all(m.name.endswith(".npy") for m in files):
        return _classify_npz(file, files, listed)

    # A pickle under any name is still loaded by pickle-based tools: probe the likeliest first.
    probe = sorted(files, key=lambda m: not m.name.endswith((".pkl", ".pickle")))
    for member in probe[:_MAX_PROBED_MEMBERS]:
        if member.size == 0:
            continue
        probed = _member_head(file, member, _PROBE_SIZE)
        if probed and _pickle_scan_if_pickle(probed, member.size > len(probed)) is not None:
            return Identification(
                "pytorch-zip",
                Family.ZIP,
                True,
                f"zip archive with pickle member {member.name} (no data.pkl)",
                f"{listed}; member {member.name} starts with {_hex(probed, 4)}",
            )
    return Identification(
        "zip", Family.ZIP, False, f"zip archive of {len(members)} members", listed
    )


def _classify_npz(file: _File, arrays: list[_Member], listed: str) -> Identification:
    for member in arrays[:_MAX_PROBED_MEMBERS]:
        header = _npy_header(_member_head(file, member, 4096) or b"")
        if isinstance(header, dict) and _has_object_dtype(header.get("descr")):
            return Identification(
                "numpy-npz",
                Family.ZIP,
                True,
                f"NumPy .npz archive; member {member.name} has object dtype (pickled data)",
                f"{listed}; {member.name} header descr {header.get('descr')!r}",
            )
    return Identification(
        "numpy-npz",
        Family.ZIP,
        False,
        f"NumPy .npz archive of {len(arrays)} arrays",
        f"{listed}; all members end in .npy",
    )


# --- other archives -------------------------------------------------------------------------


def _as_seven_zip(view: _View) -> Identification | None:
    if view.head[:6] != b"7z\xbc\xaf\x27\x1c":
        return None
    return Identification(
        "7z",
        Family.SEVEN_ZIP,
        False,
        "7-Zip archive (members not listed)",
        "magic 37 7a bc af 27 1c",
    )


def _tar_number(field_bytes: bytes) -> int | None:
    if field_bytes[:1] and field_bytes[0] & 0x80:  # GNU base-256 for large values
        return int.from_bytes(field_bytes[1:], "big")
    text = field_bytes.replace(b"\x00", b" ").strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        return None


def _tar_checksum_ok(block: bytes) -> bool:
    expected = _tar_number(block[148:156])
    return expected is not None and expected == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _as_tar(view: _View) -> Identification | None:
    head = view.head
    if len(head) < 512 or not _tar_checksum_ok(head[:512]) or not head[0]:
        return None
    magic = head[257:262] == b"ustar"
    names: list[str] = []
    pickle_start = b""
    offset, long_name = 0, ""
    for _ in range(_MAX_TAR_HEADERS):
        block = view.read_at(offset, 512)
        if len(block) < 512 or not any(block) or not _tar_checksum_ok(block):
            break
        size = _tar_number(block[124:136]) or 0
        kind = block[156:157]
        data_at = offset + 512
        if kind == b"L":  # GNU long name: the next header's name is this member's data
            long_name = (
                view.read_at(data_at, min(size, 4096))
                .rstrip(b"\x00")
                .decode("utf-8", errors="replace")
            )
        elif kind not in (b"x", b"g"):
            name = long_name or _tar_name(block)
            long_name = ""
            names.append(name.removeprefix("./"))
            if names[-1] == "pickle":
                pickle_start = view.read_at(data_at, min(size, _PROBE_SIZE))
        offset = data_at + (size + 511) // 512 * 512
    evidence = f"{'ustar magic at byte 257' if magic else 'valid tar header checksum'}"
    evidence += f"; members {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}"
    if set(names) >= _TORCH_TAR_MEMBERS:
        if pickle_start:
            evidence += f"; member pickle starts with {_hex(pickle_start, 4)}"
        return Identification(
            "pytorch-tar",
            Family.TAR,
            True,
            "legacy PyTorch tar checkpoint (sys_info, pickle, storages, tensors)",
            evidence,
        )
    return Identification(
        "tar", Family.TAR, False, f"tar archive of {len(names)} members", evidence
    )


def _tar_name(block: bytes) -> str:
    name = block[:100].split(b"\x00", 1)[0]
    if block[257:262] == b"ustar":
        prefix = block[345:500].split(b"\x00", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", errors="replace")


# --- tensor and model formats ---------------------------------------------------------------


def _as_safetensors(view: _View) -> Identification | None:
    head = view.head
    if len(head) < 10:
        return None
    (length,) = struct.unpack_from("<Q", head)
    body = head[8:]
    start = body.lstrip(b" \t\r\n")[:1]
    # Shaped like safetensors: a length that fits in 32 bits (headers are capped at 100 MB) and a
    # JSON object that opens with a key or closes at once. Random bytes almost never are.
    opening = body.lstrip(b" \t\r\n")[:2]
    if start != b"{" or length < 2 or length >= 1 << 32 or opening[1:2] not in (b'"', b"}", b""):
        return None
    evidence = f"bytes 0-7 {_hex(head[:8])}: header length {length}"

    # Past this point the file is shaped like safetensors (a length, then JSON). A malformed one
    # is still identified as safetensors so that the safetensors engine, which runs the
    # library's own validation, reports it: calling it "unknown" would let it pass as a low note.
    def malformed(why: str) -> Identification:
        return Identification(
            "safetensors", Family.SAFETENSORS, False, f"malformed safetensors file: {why}", evidence
        )

    if view.size is not None and 8 + length > view.size:
        return malformed(f"the header length {length} runs past the end of the file")
    if length > _SAFETENSORS_HEADER_CAP:
        return malformed("the header is longer than the 100 MB the loader accepts")
    header = head[8 : 8 + length]
    if len(header) < length:
        header += view.read_at(len(head), 8 + length - len(head))
    if len(header) < length:
        return Identification(
            "safetensors",
            Family.SAFETENSORS,
            False,
            f"safetensors file; its {length}-byte header exceeds the read budget, not parsed",
            f"{evidence}; header starts with '{{'",
        )
    try:
        parsed = json.loads(header)
    except (ValueError, RecursionError) as exc:
        return malformed(f"its header is not valid JSON ({exc})")
    if not isinstance(parsed, dict):
        return malformed("its header is not a JSON object")
    tensors = len([k for k in parsed if k != "__metadata__"])
    return Identification(
        "safetensors",
        Family.SAFETENSORS,
        False,
        f"safetensors file with {tensors} tensors",
        f"{evidence}; header is a JSON object with {tensors} tensor entries",
    )


def _npy_header(data: bytes) -> dict[str, Any] | str:
    """The header dict of an .npy stream, or why it could not be read."""
    if data[:6] != b"\x93NUMPY" or len(data) < 10:
        return "no .npy magic"
    major = data[6]
    if major == 1:
        (length,) = struct.unpack_from("<H", data, 8)
        start = 10
    elif major in (2, 3) and len(data) >= 12:
        (length,) = struct.unpack_from("<I", data, 8)
        start = 12
    else:
        return f"unsupported .npy version {major}.{data[7]}"
    text = data[start : start + length]
    if len(text) < length:
        return f"header of {length} bytes is longer than what was read"
    try:
        # literal_eval evaluates literals only: no names, calls or attribute access.
        header = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin-1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as exc:
        return f"header does not parse ({type(exc).__name__})"
    if not isinstance(header, dict) or "descr" not in header:
        return "header is not a dict with 'descr'"
    return header


def _has_object_dtype(descr: Any) -> bool:
    """Whether a numpy ``descr`` (a dtype string or a structured list) includes objects."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list):
        # Structured dtypes: [(name, dtype) or (name, dtype, shape), ...]; only dtypes count,
        # field names may contain any letter.
        return any(
            isinstance(item, tuple) and len(item) >= 2 and _has_object_dtype(item[1])
            for item in descr
        )
    return False


def _as_numpy(view: _View) -> Identification | None:
    head = view.head
    if head[:6] != b"\x93NUMPY":
        return None
    evidence = f"magic 93 4e 55 4d 50 59, version {head[6:7].hex()}.{head[7:8].hex()}"
    header = _npy_header(head)
    if isinstance(header, str):
        return Identification(
            "numpy-npy", Family.NUMPY, False, f"malformed NumPy .npy file: {header}", evidence
        )
    descr = header.get("descr")
    evidence += f"; header descr {descr!r}, shape {header.get('shape')!r}"
    if _has_object_dtype(descr):
        return Identification(
            "numpy-npy",
            Family.NUMPY,
            True,
            "NumPy .npy array with object dtype: its data is a pickle",
            evidence,
        )
    return Identification("numpy-npy", Family.NUMPY, False, "NumPy .npy array", evidence)


def _as_gguf(view: _View) -> Identification | None:
    head = view.head
    if head[:4] != b"GGUF":
        return None
    version = struct.unpack_from("<I", head, 4)[0] if len(head) >= 8 else None
    return Identification(
        "gguf", Family.GGUF, False, f"GGUF model (version {version})", "magic 47 47 55 46"
    )


def _as_hdf5(view: _View) -> Identification | None:
    # The superblock may follow a user block: at 0, 512, 1024, 2048, ... bytes.
    offset = 0
    while view.size is None or offset + 8 <= view.size:
        if offset + 8 <= len(view.head):
            found = view.head[offset : offset + 8] == _HDF5_SIGNATURE
        elif view.file is None:
            break
        else:
            found = view.read_at(offset, 8) == _HDF5_SIGNATURE
        if found:
            return Identification(
                "hdf5",
                Family.HDF5,
                False,
                "HDF5 file (Keras .h5 or other)",
                f"signature 89 48 44 46 0d 0a 1a 0a at byte {offset}",
            )
        offset = 512 if offset == 0 else offset * 2
    return None


def _as_tflite(view: _View) -> Identification | None:
    if view.head[4:8] != b"TFL3":
        return None
    return Identification(
        "tflite", Family.TFLITE, False, "TensorFlow Lite flatbuffer", "identifier TFL3 at byte 4"
    )


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def _as_onnx(view: _View) -> Identification | None:
    """ONNX is a bare protobuf ModelProto: recognise its top-level fields, in any order.

    Protobuf readers accept fields in any order and skip unknown ones, and so does
    ``onnx.load``; demanding ``ir_version`` first would let a reordered model slip past as
    "unknown" while still loading (and reading its external data) everywhere.
    """
    head = view.head
    fields: list[int] = []
    ir_version: int | None = None
    pos = 0
    while pos < len(head):
        key = _read_varint(head, pos)
        if key is None:
            break
        number, wire = key[0] >> 3, key[0] & 7
        if number == 0 or wire not in (0, 1, 2, 5):
            return None
        expected = _ONNX_MODEL_FIELDS.get(number)
        if expected is not None and expected != wire:
            return None
        pos = key[1]
        if wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            value = _read_varint(head, pos)
            if value is None:
                break
            pos = value[1] + (value[0] if wire == 2 else 0)
            if number == 1:
                ir_version = value[0]
        fields.append(number)
    if pos > len(head) and not view.truncated:
        return None  # a length runs past the end of a file we read whole
    if not fields:
        return None
    present = set(fields)
    if ir_version is not None and not 1 <= ir_version <= 20:
        return None
    structural = {7, 8} <= present or (1 in present and bool({2, 7, 8} & present))
    marker = structural or (b"onnx" in head and 7 in present)
    if not marker and not (view.suffix == ".onnx" and present & set(_ONNX_MODEL_FIELDS)):
        return None
    how = "ONNX fields present" if marker else "its .onnx extension breaks the tie"
    version = f"ir_version {ir_version}" if ir_version is not None else "no ir_version"
    return Identification(
        "onnx",
        Family.ONNX,
        False,
        f"ONNX model ({version})",
        f"protobuf ModelProto fields {sorted(present)}; {how}",
    )


# --- executables and scripts ----------------------------------------------------------------


def _as_elf(view: _View) -> Identification | None:
    head = view.head
    if head[:4] != b"\x7fELF":
        return None
    bits = {1: "32-bit", 2: "64-bit"}.get(head[4] if len(head) > 4 else 0, "")
    order = {1: "little-endian", 2: "big-endian"}.get(head[5] if len(head) > 5 else 0, "")
    kind = " ".join(part for part in ("ELF", bits, order, "binary") if part)
    return Identification("elf", Family.EXECUTABLE, True, kind, "magic 7f 45 4c 46")


def _as_pe(view: _View) -> Identification | None:
    head = view.head
    if head[:2] != b"MZ" or len(head) < 0x40:
        return None
    (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
    if view.read_at(pe_offset, 4) != b"PE\x00\x00":
        return None
    return Identification(
        "pe",
        Family.EXECUTABLE,
        True,
        "Windows PE executable or DLL",
        f"MZ at byte 0; PE signature at e_lfanew {pe_offset}",
    )


def _as_macho_or_java(view: _View) -> Identification | None:
    head = view.head
    magic = head[:4]
    if magic in (
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
    ):
        return Identification(
            "mach-o",
            Family.EXECUTABLE,
            True,
            "Mach-O executable or library",
            f"magic {_hex(magic)}",
        )
    if magic in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf") and len(head) >= 8:
        # The same magic opens Java class files; a fat binary's arch count is small, a class
        # file's major version (in the same bytes) is 45 or more.
        (count,) = struct.unpack_from(">I", head, 4)
        if count < 20:
            return Identification(
                "mach-o",
                Family.EXECUTABLE,
                True,
                f"universal (fat) Mach-O binary with {count} architectures",
                f"magic {_hex(magic)}; {count} architectures",
            )
        return Identification(
            "java-class",
            Family.EXECUTABLE,
            True,
            f"Java class file (major version {count & 0xFFFF})",
            f"magic {_hex(magic)}; version field {count & 0xFFFF}",
        )
    return None


def _as_shebang(view: _View) -> Identification | None:
    if view.head[:2] != b"#!":
        return None
    line = view.head[:200].split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return Identification(
        "shebang-script",
        Family.SCRIPT,
        True,
        f"script run by {line[2:].strip()!r}",
        f"first line {line!r}",
    )


# --- text -----------------------------------------------------------------------------------


def _decode_text(data: bytes, truncated: bool) -> str | None:
    if b"\x00" in data:
        return None
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    try:
        # A head cut in the middle of a multi-byte character is still text.
        text: str = decoder.decode(data, final=not truncated)
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f\v\x1b" for c in text):
        return None
    return text


def _as_lfs_pointer(view: _View) -> Identification | None:
    if not view.head.startswith(_LFS_POINTER) or len(view.head) > 1024:
        return None
    return Identification(
        "git-lfs-pointer",
        Family.TEXT,
        False,
        "Git LFS pointer file: the real content was never downloaded",
        "starts with 'version https://git-lfs.github.com/spec/v1'",
    )


def _as_json(view: _View) -> Identification | None:
    text = _decode_text(view.head, view.truncated)
    if text is None:
        return None
    stripped = text.lstrip()
    if stripped[:1] not in ("{", "["):
        return None
    if view.truncated:
        # Parse the whole document when it fits in what is left of the budget (a config or a
        # tokenizer); otherwise judge by how it opens rather than read a part we cannot parse.
        file, size = view.file, view.size
        if file is None or size is None or size - len(view.head) > file.remaining:
            return _json_prefix(stripped, view)
        text = _decode_text(view.head + file.read_at(len(view.head), size), False) or ""
        stripped = text.lstrip()
    try:
        parsed = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    shape = f"object with {len(parsed)} keys" if isinstance(parsed, dict) else "array"
    return Identification("json", Family.JSON, False, f"JSON {shape}", "parses as JSON")


def _json_prefix(text: str, view: _View) -> Identification | None:
    """Too big to parse within the budget: accept a document that opens like JSON."""
    second = text[1:].lstrip()[:1]
    if (text[0] == "{" and second not in ('"', "}")) or (
        text[0] == "[" and second not in tuple('{["-0123456789tfn]')
    ):
        return None
    return Identification(
        "json",
        Family.JSON,
        False,
        "JSON document (larger than the read budget, only its start was checked)",
        f"first {len(view.head)} bytes are UTF-8 text opening with {text[:2]!r}",
    )


def _as_text(view: _View) -> Identification | None:
    if _decode_text(view.head, view.truncated) is None:
        return None
    return Identification(
        "text", Family.TEXT, False, "UTF-8 text", "decodes as UTF-8 with no NUL or control bytes"
    )


# --- extension mismatch ---------------------------------------------------------------------

_PICKLE_BASED = frozenset(
    {"pickle", "joblib", "pytorch-legacy", "pytorch-zip", "pytorch-tar", "torchscript"}
)
_COMPRESSIONS = frozenset({"gzip", "bz2", "xz", "lzma", "zlib", "lz4", "zstd"})
_ZIP_BASED = frozenset({"zip", "pytorch-zip", "torchscript", "keras-v3", "numpy-npz"})
_TORCH = _PICKLE_BASED | {"zip"}

#: The formats each extension legitimately holds; anything else recognised is a mismatch.
_EXPECTED: dict[str, frozenset[str]] = {
    ".safetensors": frozenset({"safetensors"}),
    ".bin": _TORCH | _COMPRESSIONS | {"safetensors", "gguf", "onnx", "tflite", "numpy-npy", "hdf5"},
    ".pt": _TORCH,
    ".pth": _TORCH,
    ".ckpt": _TORCH,
    ".pkl": _PICKLE_BASED | _COMPRESSIONS,
    ".pickle": _PICKLE_BASED | _COMPRESSIONS,
    ".joblib": frozenset({"joblib", "pickle"}) | _COMPRESSIONS,
    ".npy": frozenset({"numpy-npy"}),
    ".npz": frozenset({"numpy-npz", "zip"}),
    ".onnx": frozenset({"onnx"}),
    ".gguf": frozenset({"gguf"}),
    ".h5": frozenset({"hdf5"}),
    ".hdf5": frozenset({"hdf5"}),
    ".keras": frozenset({"keras-v3", "zip"}),
    ".tflite": frozenset({"tflite"}),
    ".json": frozenset({"json"}),
    ".txt": frozenset({"text", "json"}),
    ".md": frozenset({"text", "json"}),
    # sentencepiece (protobuf), gensim/sklearn pickles, xgboost JSON, lightgbm text...
    ".model": _TORCH | _COMPRESSIONS | {"json", "text", "onnx"},
    ".zip": _ZIP_BASED,
    ".tar": frozenset({"tar", "pytorch-tar"}),
    ".gz": frozenset({"gzip"}),
    ".tgz": frozenset({"gzip"}),
    ".bz2": frozenset({"bz2"}),
    ".xz": frozenset({"xz"}),
    ".lzma": frozenset({"lzma"}),
    ".lz4": frozenset({"lz4"}),
    ".zst": frozenset({"zstd"}),
    ".7z": frozenset({"7z"}),
}

_NOUNS = {
    "pickle": "pickle",
    "joblib": "joblib pickle",
    "pytorch-legacy": "legacy PyTorch pickle checkpoint",
    "pytorch-zip": "PyTorch zip checkpoint (pickle)",
    "pytorch-tar": "legacy PyTorch tar checkpoint (pickle)",
    "torchscript": "TorchScript archive (pickle)",
    "numpy-npy": "NumPy array",
    "numpy-npz": "NumPy .npz archive",
    "safetensors": "safetensors file",
    "gguf": "GGUF model",
    "onnx": "ONNX model",
    "keras-v3": "Keras v3 archive",
    "hdf5": "HDF5 file",
    "tflite": "TensorFlow Lite model",
    "zip": "zip archive",
    "tar": "tar archive",
    "7z": "7-Zip archive",
    "elf": "ELF executable",
    "pe": "Windows executable",
    "mach-o": "Mach-O executable",
    "java-class": "Java class file",
    "shebang-script": "script",
    "json": "JSON document",
    "git-lfs-pointer": "Git LFS pointer (text)",
    "text": "text",
    "empty": "empty file",
    "unknown": "unrecognised data",
}


def _noun(ident: Identification, *, article: bool = True) -> str:
    if ident.format in _COMPRESSIONS:
        noun = ident.detail.split(";", 1)[0]
    else:
        noun = _NOUNS.get(ident.format, f"{ident.format} data")
    if ident.format == "pickle" and "protocol" in ident.detail:
        noun = ident.detail
    if not article or ident.format in ("text", "unknown"):
        return noun
    return ("an " if noun[0].lower() in "aeiou" else "a ") + noun


def _with_mismatch(ident: Identification, suffix: str) -> Identification:
    expected = _EXPECTED.get(suffix)
    if expected is None or ident.format in expected or ident.format in ("unknown", "empty"):
        return ident
    return Identification(
        ident.format,
        ident.family,
        ident.unsafe,
        ident.detail,
        ident.evidence,
        f"extension {suffix} but content is {_noun(ident)}",
    )


# --- small helpers --------------------------------------------------------------------------


def _hex(data: bytes, limit: int = 8) -> str:
    return " ".join(f"{b:02x}" for b in data[:limit])


def _unknown(detail: str, evidence: str) -> Identification:
    return Identification("unknown", Family.UNKNOWN, False, detail, evidence)
