"""GGUF engine: parse the metadata key/value section, bounds-checked, and analyse chat templates.

GGUF (llama.cpp) holds no code, but its metadata carries ``tokenizer.chat_template`` (and named
variants ``tokenizer.chat_template.<name>``), which every runtime built on jinja renders: the
"Llama Drama" vulnerability (CVE-2024-34359) was a GGUF template escaping into Python. The
templates are analysed with :mod:`pytest_mlsupply.engines.templates`.

Layout (v2/v3, little endian; v1 used 32-bit counts and lengths)::

    "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv_count x (key: string, type: u32, value)
    tensor_count x (name: string, n_dims u32, dims u64 x n_dims, ggml_type u32, offset u64)

Every length is checked against the file size before anything is read; a length that points
past the end of the file is a finding of its own (crafted lengths are how GGUF parsers have
been overflowed: CVE-2024-21825 and friends). Tensor data is never read.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.templates import template_findings
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["GgufMetadata", "identify_gguf", "parse_gguf", "read_gguf_header", "scan_gguf"]

#: Strings longer than this are skipped, not decoded (templates are decoded up to the cap below).
STRING_CAP = 1 << 20
#: A chat template longer than this is reported rather than parsed: 64 MiB of template is not a
#: chat format, and holding it would cost gigabytes in jinja2's AST.
TEMPLATE_CAP = 64 << 20
MAX_ARRAY_DEPTH = 8
MAX_DIMS = 8  # ggml supports 4; anything far beyond is not a tensor description

_SCALARS: dict[int, tuple[str, str]] = {
    0: ("uint8", "<B"),
    1: ("int8", "<b"),
    2: ("uint16", "<H"),
    3: ("int16", "<h"),
    4: ("uint32", "<I"),
    5: ("int32", "<i"),
    6: ("float32", "<f"),
    7: ("bool", "<?"),
    10: ("uint64", "<Q"),
    11: ("int64", "<q"),
    12: ("float64", "<d"),
}
_STRING = 8
_ARRAY = 9


class _Truncated(Exception):
    """A length or count points past the end of the file."""

    def __init__(self, offset: int, what: str) -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what


@dataclass
class GgufMetadata:
    """What the header says: version, counts, the metadata values kept, the templates."""

    version: int
    tensor_count: int
    kv_count: int
    values: dict[str, Any] = field(default_factory=dict)
    """Scalars and short strings (long strings and arrays are summarised)."""
    templates: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Key → (template source, byte offset of the value)."""
    oversized_templates: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Key → (length, offset) of templates above :data:`TEMPLATE_CAP`."""
    end_of_metadata: int = 0


class _Reader:
    def __init__(self, data: bytes | mmap.mmap, wide: bool) -> None:
        self.data = data
        self.size = len(data)
        self.pos = 0
        self.wide = wide  # v2+: 64-bit lengths and counts

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated(self.pos, f"{what} of {n} bytes at byte {self.pos} runs past the end")

    def unpack(self, fmt: str, what: str) -> Any:
        width = struct.calcsize(fmt)
        self.need(width, what)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += width
        return value

    def count(self, what: str) -> int:
        value: int = self.unpack("<Q" if self.wide else "<I", what)
        return value

    def string(self, what: str, cap: int = STRING_CAP) -> tuple[str | None, int]:
        """A length-prefixed string: its text (None above ``cap``: skipped) and length."""
        length = self.count(f"length of {what}")
        self.need(length, what)
        start = self.pos
        self.pos += length
        if length > cap:
            return None, length
        raw = bytes(self.data[start : start + length])
        return raw.decode("utf-8", errors="replace"), length


def read_gguf_header(data: bytes | mmap.mmap, size: int | None = None) -> GgufMetadata:
    """The fixed header (magic, version, tensor and metadata counts), its counts checked
    against the file's ``size``; raises ScanError or :class:`_Truncated`. Identification and
    the engine both start here."""
    size = len(data) if size is None else size
    if data[:4] != b"GGUF":
        raise ScanError("no GGUF magic")
    if len(data) < 8:
        raise _Truncated(4, "version field runs past the end")
    (version,) = struct.unpack_from("<I", data, 4)
    if version not in (1, 2, 3):
        raise ScanError(f"unsupported GGUF version {version}")
    reader = _Reader(data, wide=version >= 2)
    reader.pos = 8
    meta = GgufMetadata(version, reader.count("tensor count"), reader.count("metadata count"))
    # Each pair needs at least a length, a type and a one-byte value: bound counts by the size.
    if meta.kv_count > size // 9:
        raise _Truncated(reader.pos, f"metadata count {meta.kv_count} cannot fit in the file")
    if meta.tensor_count > size // 16:
        raise _Truncated(reader.pos, f"tensor count {meta.tensor_count} cannot fit in the file")
    meta.end_of_metadata = reader.pos
    return meta


def identify_gguf(view: View) -> Identification | None:
    """A GGUF model: its header, read by the parser the engine uses."""
    head = view.head
    if head[:4] != b"GGUF":
        return None
    try:
        meta = read_gguf_header(head, view.size)
    except (ScanError, _Truncated, struct.error) as exc:
        return Identification(
            Format.GGUF,
            Family.GGUF,
            False,
            f"malformed GGUF model: {exc}",
            "magic 47 47 55 46",
            problem=f"llama.cpp's GGUF reader refuses the header: {exc}",
        )
    return Identification(
        Format.GGUF,
        Family.GGUF,
        False,
        f"GGUF model (version {meta.version}, {meta.tensor_count} tensors)",
        "magic 47 47 55 46",
    )


def parse_gguf(data: bytes | mmap.mmap) -> GgufMetadata:
    """Parse the header and metadata of a GGUF file; raises ScanError or :class:`_Truncated`."""
    meta = read_gguf_header(data)
    reader = _Reader(data, wide=meta.version >= 2)
    reader.pos = meta.end_of_metadata
    for index in range(meta.kv_count):
        key, _ = reader.string(f"key of metadata pair {index}")
        if key is None:
            raise ScanError(f"metadata key {index} is longer than {STRING_CAP} bytes")
        kind = reader.unpack("<I", f"type of {key!r}")
        if kind == _STRING and _is_template_key(key):
            value_offset = reader.pos
            text, length = reader.string(key, cap=TEMPLATE_CAP)
            if text is None:
                meta.oversized_templates[key] = (length, value_offset)
            else:
                meta.templates[key] = (text, value_offset)
            continue
        meta.values[key] = _value(reader, kind, key, depth=0)
    for index in range(meta.tensor_count):
        _tensor_info(reader, index)
    meta.end_of_metadata = reader.pos
    return meta


def _is_template_key(key: str) -> bool:
    return key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.")


def _value(reader: _Reader, kind: int, key: str, depth: int) -> Any:
    if kind in _SCALARS:
        return reader.unpack(_SCALARS[kind][1], f"value of {key!r}")
    if kind == _STRING:
        text, length = reader.string(f"value of {key!r}")
        return text if text is not None and length <= 256 else f"<string of {length} bytes>"
    if kind == _ARRAY:
        if depth >= MAX_ARRAY_DEPTH:
            raise ScanError(f"arrays nested deeper than {MAX_ARRAY_DEPTH} in {key!r}")
        element = reader.unpack("<I", f"array type of {key!r}")
        count = reader.count(f"array length of {key!r}")
        if element in _SCALARS:
            # Numeric arrays are skipped in one bounds-checked step.
            width = struct.calcsize(_SCALARS[element][1])
            reader.need(count * width, f"array {key!r}")
            reader.pos += count * width
        elif element in (_STRING, _ARRAY):
            if count > (reader.size - reader.pos) // 8:
                raise _Truncated(reader.pos, f"array {key!r} of {count} items cannot fit")
            for _ in range(count):
                if element == _STRING:
                    reader.string(f"item of {key!r}", cap=0)
                else:
                    _value(reader, _ARRAY, key, depth + 1)
        else:
            raise ScanError(f"unknown array element type {element} in {key!r}")
        return f"<array of {count}>"
    raise ScanError(f"unknown value type {kind} for {key!r} at byte {reader.pos - 4}")


def _tensor_info(reader: _Reader, index: int) -> None:
    name, _ = reader.string(f"name of tensor {index}")
    dims = reader.unpack("<I", f"dimension count of tensor {name!r}")
    if dims > MAX_DIMS:
        raise ScanError(f"tensor {name!r} declares {dims} dimensions")
    reader.need(8 * dims + 12 if reader.wide else 4 * dims + 12, f"shape of tensor {name!r}")
    reader.pos += (8 if reader.wide else 4) * dims
    reader.unpack("<I", f"type of tensor {name!r}")
    offset = reader.unpack("<Q", f"offset of tensor {name!r}")
    if offset > reader.size:
        raise _Truncated(reader.pos - 8, f"tensor {name!r} data offset {offset} is past the end")


def scan_gguf(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    with blob.buffer() as data:
        try:
            meta = parse_gguf(data)
        except _Truncated as exc:
            return [_truncated(blob, exc)]
        except (struct.error, OverflowError, MemoryError) as exc:
            raise ScanError(f"GGUF metadata could not be parsed: {exc}") from exc
    findings: list[Finding] = []
    for key, (source, offset) in sorted(meta.templates.items()):
        findings += template_findings(source, blob.location(offset=offset, key_path=key))
    for key, (length, offset) in sorted(meta.oversized_templates.items()):
        findings.append(
            Finding(
                rule="MLS-GGUF-002",
                severity=Severity.HIGH,
                category="template-injection",
                title="GGUF chat template is too large to analyse",
                location=blob.location(offset=offset, key_path=key),
                evidence=f"{length} bytes (cap {TEMPLATE_CAP})",
                why="a chat template of this size is not a chat format; it cannot be analysed "
                "and will be rendered by every runtime that loads the model",
                remediation="replace the template with the one published by the model authors",
                cwe="CWE-1336",
            )
        )
    return findings


def _truncated(blob: Blob, exc: _Truncated) -> Finding:
    return Finding(
        rule="MLS-GGUF-001",
        severity=Severity.HIGH,
        category="malformed-artifact",
        title="GGUF length or count points past the end of the file",
        location=blob.location(offset=exc.offset),
        evidence=exc.what,
        why="well-formed writers never produce this; crafted lengths are how GGUF parsers "
        "have been driven into heap overflows (CVE-2024-21825, CVE-2024-25664)",
        remediation="re-download the model from its source; do not load this file",
        cwe="CWE-787",
    )
