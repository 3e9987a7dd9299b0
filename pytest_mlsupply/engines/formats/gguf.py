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

Every other string value, and every item of a string array (``tokenizer.ggml.tokens`` has
10^5 of them), goes through :mod:`pytest_mlsupply.engines.strings` with its key path
(``tokenizer.ggml.tokens[1532]``): encoded or compressed pickles, templates under other
template keys. The token array gets the tokenizer checks of :mod:`pytest_mlsupply.engines.tokens`,
read against ``tokenizer.ggml.token_type`` (control tokens are the special ones). A key given
twice (MLS-GGUF-004) has every occurrence analysed.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import checkpoint
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.strings import StringAnalyser, is_template_key
from pytest_mlsupply.engines.tokens import token_findings
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
_TOKENS = "tokenizer.ggml.tokens"
_TOKEN_TYPES = "tokenizer.ggml.token_type"
_SCORES = "tokenizer.ggml.scores"
# llama.cpp's token types: 1 normal, 2 unknown, 3 control (special), 4 user-defined, 6 byte.
_CONTROL = 3
_USER_DEFINED = 4


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
    strings: list[tuple[str, str, str, int]] = field(default_factory=list)
    """(key path, key, text, offset) of every other string value and string array item."""
    oversized_strings: list[tuple[str, int, int]] = field(default_factory=list)
    """(key path, length, offset) of strings above :data:`TEMPLATE_CAP`, not decoded."""
    duplicates: list[str] = field(default_factory=list)
    """Keys that appear more than once."""
    array_lengths: dict[str, int] = field(default_factory=dict)
    """Key → item count of every top-level array."""
    token_types: list[int] | None = None
    """``tokenizer.ggml.token_type``, when it is an integer array."""
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
        try:
            return raw.decode("utf-8"), length
        except UnicodeDecodeError:
            # Bytes that are not text (a raw pickle) are kept byte for byte: latin-1 maps each
            # byte to one character, which is how the string analyser reads raw pickles back.
            return raw.decode("latin-1"), length


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
    seen: dict[str, int] = {}
    for index in range(meta.kv_count):
        if not index & 1023:
            checkpoint()  # metadata counts grow with the file: the scan's budgets
        key, _ = reader.string(f"key of metadata pair {index}")
        if key is None:
            raise ScanError(f"metadata key {index} is longer than {STRING_CAP} bytes")
        kind = reader.unpack("<I", f"type of {key!r}")
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            meta.duplicates.append(key)
        # Every occurrence of a duplicated key is kept: readers disagree on which one wins.
        name = key if seen[key] == 1 else f"{key} (occurrence {seen[key]})"
        if kind == _STRING and _is_template_key(key):
            value_offset = reader.pos
            text, length = reader.string(key, cap=TEMPLATE_CAP)
            if text is None:
                meta.oversized_templates[name] = (length, value_offset)
            else:
                meta.templates[name] = (text, value_offset)
            continue
        meta.values[name] = _value(reader, kind, key, 0, meta, name)
    for index in range(meta.tensor_count):
        if not index & 1023:
            checkpoint()
        _tensor_info(reader, index)
    meta.end_of_metadata = reader.pos
    return meta


def _is_template_key(key: str) -> bool:
    return key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.")


def _value(reader: _Reader, kind: int, key: str, depth: int, meta: GgufMetadata, path: str) -> Any:
    if kind in _SCALARS:
        return reader.unpack(_SCALARS[kind][1], f"value of {key!r}")
    if kind == _STRING:
        offset = reader.pos
        text, length = reader.string(f"value of {key!r}", cap=TEMPLATE_CAP)
        if text is None:
            meta.oversized_strings.append((path, length, offset))
            return f"<string of {length} bytes>"
        meta.strings.append((path, key, text, offset))
        return text if length <= 256 else f"<string of {length} bytes>"
    if kind == _ARRAY:
        if depth >= MAX_ARRAY_DEPTH:
            raise ScanError(f"arrays nested deeper than {MAX_ARRAY_DEPTH} in {key!r}")
        element = reader.unpack("<I", f"array type of {key!r}")
        count = reader.count(f"array length of {key!r}")
        if depth == 0:
            meta.array_lengths[path] = count
        if element in _SCALARS:
            # Numeric arrays are skipped in one bounds-checked step (token types are kept).
            code = _SCALARS[element][1]
            width = struct.calcsize(code)
            reader.need(count * width, f"array {key!r}")
            if depth == 0 and key == _TOKEN_TYPES and code[1] in "bBhHiIqQ":
                meta.token_types = list(
                    struct.unpack_from(f"<{count}{code[1]}", reader.data, reader.pos)
                )
            reader.pos += count * width
        elif element in (_STRING, _ARRAY):
            if count > (reader.size - reader.pos) // 8:
                raise _Truncated(reader.pos, f"array {key!r} of {count} items cannot fit")
            for item in range(count):
                if not item & 1023:
                    checkpoint()  # a vocabulary of 10^6 strings: the scan's budgets
                _value(reader, element, key, depth + 1, meta, f"{path}[{item}]")
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
    if meta.templates:
        # Imported here: jinja2 costs ~60 ms to import, and only a template needs it.
        from pytest_mlsupply.engines.templates import template_findings

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
    findings += [_duplicate(blob, key) for key in meta.duplicates]
    findings += [_oversized(blob, *entry) for entry in meta.oversized_strings]
    strings = StringAnalyser(blob, ctx.policy.pickle)
    arrays: dict[str, list[str]] = {}
    for path, key, text, offset in meta.strings:
        template = is_template_key(key)
        findings += strings.value(path, text, key=key, template=template, offset=offset)
        if path.endswith("]"):
            arrays.setdefault(path[: path.rfind("[")], []).append(text)
    for path, texts in arrays.items():
        findings += strings.joined(path, texts)  # base64 split across an array
    findings += strings.finish()
    findings += _token_anomalies(blob, meta)
    return findings


def _token_anomalies(blob: Blob, meta: GgufMetadata) -> list[Finding]:
    """The tokenizer checks on ``tokenizer.ggml.tokens``, read against the token types."""
    types = meta.token_types
    findings: list[Finding] = []
    prefix = f"{_TOKENS}["
    for path, key, text, offset in meta.strings:
        if key != _TOKENS or not path.startswith(prefix) or path[-1] != "]":
            continue
        index = int(path[len(prefix) : -1]) if path[len(prefix) : -1].isdigit() else -1
        kind = types[index] if types is not None and 0 <= index < len(types) else None
        special = kind == _CONTROL
        # A base vocabulary holds raw characters of every script: only control and
        # user-defined tokens (the added ones) are held to invisible characters.
        added = kind is None or kind in (_CONTROL, _USER_DEFINED)
        noun = "user-defined" if kind == _USER_DEFINED else "vocabulary"
        location = blob.location(offset=offset, key_path=path)
        findings += token_findings(location, text, special, noun=noun, hidden=added)
    counts = {
        k: meta.array_lengths[k]
        for k in (_TOKENS, _TOKEN_TYPES, _SCORES)
        if k in meta.array_lengths
    }
    if len(set(counts.values())) > 1:
        findings.append(
            Finding(
                rule="MLS-TOK-005",
                severity=Severity.MEDIUM,
                category="tokenizer-tampering",
                title="GGUF token arrays disagree in length",
                location=blob.location(key_path=_TOKENS),
                evidence=", ".join(f"{k}: {n} items" for k, n in counts.items()),
                why="tokens, their types and scores are read index by index; arrays of "
                "different lengths make runtimes refuse the model or give tokens the type or "
                "score of another (a control token read as normal text)",
                remediation="re-convert the model from its source with llama.cpp's tools",
                cwe="CWE-1287",
            )
        )
    return findings


def _duplicate(blob: Blob, key: str) -> Finding:
    return Finding(
        rule="MLS-GGUF-004",
        severity=Severity.MEDIUM,
        category="format-confusion",
        title="GGUF metadata key appears more than once",
        location=blob.location(key_path=key),
        evidence=f"{key!r} is given more than once; every occurrence was analysed",
        why="llama.cpp refuses the file while other readers keep the first or the last value: "
        "what one tool reviews is not what another runs (a shadowed chat template)",
        remediation="re-convert the model from its source; well-formed writers never repeat a key",
        cwe="CWE-436",
    )


def _oversized(blob: Blob, key_path: str, length: int, offset: int) -> Finding:
    return Finding(
        rule="MLS-GGUF-003",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title="GGUF metadata string is too large to analyse",
        location=blob.location(offset=offset, key_path=key_path),
        evidence=f"{length} bytes (cap {TEMPLATE_CAP})",
        why="no real metadata value comes close to this size; it cannot be analysed for "
        "encoded payloads, and every tool that reads the metadata loads it",
        remediation="re-convert the model from its source; do not load this file",
        cwe="CWE-400",
    )


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
