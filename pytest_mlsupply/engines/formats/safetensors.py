"""safetensors engine: the library's own header validation, plus what the library lets through.

safetensors cannot run code, but a file is only as safe as what its loaders agree it holds.
The header is validated by the ``safetensors`` library itself (the loader's verdict is the only
one that matters for "will it load"), without reading tensor data: files are memory-mapped by
``safe_open``, and in-memory members are checked against a sparse temporary file that holds
only their header. Then findings of our own for what the library accepts silently:

* duplicate tensor names (the last entry wins, so one tensor shadows another: what a reviewer
  or a different parser sees is not what the loader loads);
* unknown fields inside a tensor entry (a covert channel, ignored by the loader); their values,
  and tensor names, go through :mod:`pytest_mlsupply.engines.strings` like any string (encoded
  or compressed pickles: MLS-ENC-001, templates);
* ``__metadata__`` that is oversized, or that carries executable-looking content: pickles (raw,
  base64, hex or compressed, found and scanned by :mod:`pytest_mlsupply.engines.strings` and
  reported as MLS-ST-004), Python code, shell commands, ``javascript:`` URLs, very long base64.

Zero-length tensors and whitespace-padded headers are legitimate and produce nothing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import struct
import tempfile
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint
from pytest_mlsupply.engines.identification import Family, Format, Identification, hex_bytes
from pytest_mlsupply.engines.shell_shapes import AnyOf, PipedInto, Search
from pytest_mlsupply.engines.strings import StringAnalyser, child_path
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "header_problem",
    "identify_safetensors",
    "parameter_count",
    "parse_header",
    "scan_safetensors",
    "tensor_summary",
]

#: The library refuses headers above this (``header too large``).
HEADER_CAP = 100_000_000
#: Whole ``__metadata__`` above this, or one value above :data:`METADATA_VALUE_CAP`, is reported.
METADATA_CAP = 1 << 20
METADATA_VALUE_CAP = 64 << 10
#: A base64 run this long in metadata is a payload, not a description.
LONG_BASE64 = 4096
#: Without numpy, ``safetensors.deserialize`` validates in-memory copies up to this size.
_DESERIALIZE_CAP = 64 << 20

_TENSOR_FIELDS = frozenset({"dtype", "shape", "data_offsets"})
# Bits per element, as the library knows them (sub-byte float formats included).
_DTYPE_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
_CODE_PATTERNS: list[tuple[re.Pattern[str] | Search, str]] = [
    (re.compile(r"\b(?:__import__|exec|eval|compile)\s*\("), "Python dynamic code"),
    (re.compile(r"\bimport\s+(?:os|subprocess|socket|sys|builtins)\b"), "Python import"),
    (re.compile(r"\bos\.(?:system|popen|exec\w*)\s*\("), "Python os call"),
    (re.compile(r"\bsubprocess\.\w+\s*\("), "Python subprocess call"),
    (
        AnyOf(
            # (?:curl|wget)\s+[^|;]*\|\s*(?:ba|z|da)?sh\b, in one pass (the regex read a value
            # of 'curl curl ...' once per word: a 1 MB value, minutes with no checkpoint)
            PipedInto(r"(?:curl|wget)\s+", r"\s*(?:ba|z|da)?sh\b", "|;"),
            re.compile(r"\b(?:ba|z)?sh\s+-c\s|/dev/tcp/"),
        ),
        "shell command",
    ),
    (re.compile(r"\brm\s+-rf\s+/|\bnc\s+-[a-z]*e\b|\bchmod\s+\+x\b"), "shell command"),
    (re.compile(r"^\s*javascript:", re.IGNORECASE), "javascript: URL"),
    (re.compile(r"<script\b", re.IGNORECASE), "HTML script element"),
]
_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/_\-]{{{LONG_BASE64},}}={{0,2}}")


# --- the header: one reader for identification and the engine --------------------------------


def header_problem(length: int, size: int | None) -> str | None:
    """Why a header of ``length`` bytes in a ``size``-byte file cannot be what the loader reads."""
    if length > HEADER_CAP:
        return f"header length {length} exceeds the {HEADER_CAP}-byte cap the loader enforces"
    if size is not None and 8 + length > size:
        return f"header length {length} points past the end of the {size}-byte file"
    return None


def parse_header(header: bytes) -> _Pairs | str:
    """The header as its key/value pairs in file order (duplicates kept), or why it is no
    header: the loader's parser also refuses what is not a JSON object."""
    try:
        pairs = json.loads(header, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError) as exc:
        return f"its header is not valid JSON ({exc})"
    if not isinstance(pairs, _Pairs):
        return "its header is not a JSON object"
    return pairs


def parameter_count(path: str | os.PathLike[str]) -> int:
    """The number of elements of every tensor in the file: the sum over its header's entries of
    the product of each shape. Only the header is read (no tensor data, nothing loaded); a
    header the loader would refuse raises :class:`ValueError` saying why."""
    return tensor_summary(path)[0]


def tensor_summary(path: str | os.PathLike[str]) -> tuple[int, frozenset[str]]:
    """:func:`parameter_count` and the dtypes its tensors are stored in (``F16``, ``U8``, ...),
    from the header only: packed quantised weights show as integer dtypes."""
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError("the file is shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", prefix)
        problem = header_problem(length, os.fstat(handle.fileno()).st_size)
        if problem is not None:
            raise ValueError(problem)
        pairs = parse_header(handle.read(length))
    if isinstance(pairs, str):
        raise ValueError(pairs)
    total = 0
    dtypes: set[str] = set()
    for name, entry in pairs:
        checkpoint()  # a header of 10^6 tensors: the scan's budgets
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, _Pairs) else None
        if not isinstance(shape, list) or not all(_is_size(d) for d in shape):
            raise ValueError(f"tensor {name!r} has no valid shape")
        total += math.prod(shape)
        dtype = entry.get("dtype")
        dtypes.add(dtype if isinstance(dtype, str) else "?")
    return total, frozenset(dtypes)


def identify_safetensors(view: View) -> Identification | None:
    """Shaped like safetensors: a little-endian length, then a JSON object of that length.

    A length that fits in 32 bits (headers are capped at 100 MB) and a JSON object that opens
    with a key or closes at once: random bytes almost never are. Past that shape, a malformed
    file is still safetensors (with ``problem`` set), so that the engine, which runs the
    library's own validation, reports it: calling it "unknown" would let it pass as a low note.
    """
    head = view.head
    if len(head) < 10:
        return None
    (length,) = struct.unpack_from("<Q", head)
    opening = head[8:].lstrip(b" \t\r\n")[:2]
    if (
        opening[:1] != b"{"
        or length < 2
        or length >= 1 << 32
        or opening[1:2] not in (b'"', b"}", b"")
    ):
        return None
    evidence = f"bytes 0-7 {hex_bytes(head[:8])}: header length {length}"

    def malformed(why: str) -> Identification:
        return Identification(
            Format.SAFETENSORS,
            Family.SAFETENSORS,
            False,
            f"malformed safetensors file: {why}",
            evidence,
            problem=f"the safetensors loader refuses it: {why}",
        )

    problem = header_problem(length, view.size)
    if problem is not None:
        return malformed(problem)
    header = head[8 : 8 + length]
    if len(header) < length:
        header += view.read_at(len(head), 8 + length - len(head))
    if len(header) < length:
        return Identification(
            Format.SAFETENSORS,
            Family.SAFETENSORS,
            False,
            f"safetensors file; its {length}-byte header exceeds the read budget, not parsed",
            f"{evidence}; header starts with '{{'",
        )
    pairs = parse_header(header)
    if isinstance(pairs, str):
        return malformed(pairs)
    tensors = len([k for k, _ in pairs if k != "__metadata__"])
    return Identification(
        Format.SAFETENSORS,
        Family.SAFETENSORS,
        False,
        f"safetensors file with {tensors} tensors",
        f"{evidence}; header is a JSON object with {tensors} tensor entries",
    )


def scan_safetensors(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    size = blob.size
    with blob.open() as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return [_malformed(blob, f"file is {size} bytes, shorter than the 8-byte length field")]
        (length,) = struct.unpack("<Q", prefix)
        problem = header_problem(length, size)
        if problem is not None:
            return [_malformed(blob, problem)]
        header = handle.read(length)
    findings: list[Finding] = []
    verdict = _library_verdict(blob, header, size)
    if verdict is not None:
        findings.append(_malformed(blob, verdict))
    pairs = parse_header(header)
    if isinstance(pairs, str):
        if findings:
            return findings  # the library said it already; our parser agrees
        raise ScanError(f"header accepted by safetensors but not by Python's JSON: {pairs}")
    findings += _check_header(blob, pairs, ctx)
    return findings


# --- the library's verdict ------------------------------------------------------------------


def _library_verdict(blob: Blob, header: bytes, size: int) -> str | None:
    """The safetensors library's error message for this file, or None when it accepts it."""
    import safetensors

    error = safetensors.SafetensorError
    data_length = size - 8 - len(header)
    library_path = blob.library_path() if blob.path is not None else None
    try:
        if importlib.util.find_spec("numpy") is not None:
            # safe_open only memory-maps and validates the header against the file length:
            # tensor bytes are never read.
            if library_path is not None:
                _safe_open(library_path)
            else:
                _safe_open_sparse(header, data_length)
        elif size <= _DESERIALIZE_CAP:
            # deserialize copies every tensor: only affordable on small content.
            with blob.buffer() as content:
                safetensors.deserialize(bytes(content))  # type: ignore[no-untyped-call]
        else:
            return _validate_like_library(header, data_length)
    except error as exc:
        return _named(str(exc), library_path, blob)
    except OSError as exc:
        message = _named(str(exc), library_path, blob)
        raise ScanError(f"safetensors could not open the file: {message}") from exc
    return None


def _named(message: str, library_path: str | os.PathLike[str] | None, blob: Blob) -> str:
    """The library's message with the name it was given (``/proc/self/fd/N``, the checked
    handle) replaced by the file's own: a reader must see which file, not a descriptor."""
    if library_path is None or blob.path is None:
        return message
    return message.replace(os.fspath(library_path), os.fspath(blob.path))


def _safe_open(path: str | os.PathLike[str]) -> None:
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as opened:
        opened.keys()


def _safe_open_sparse(header: bytes, data_length: int) -> None:
    """Validate a member by its header alone: the data region is a hole in a sparse file."""
    with tempfile.TemporaryDirectory(prefix="mlsupply-st-") as tmp:
        path = os.path.join(tmp, "member.safetensors")
        with open(path, "wb") as handle:
            handle.write(struct.pack("<Q", len(header)) + header)
            handle.truncate(8 + len(header) + data_length)
        _safe_open(path)


def _validate_like_library(header: bytes, data_length: int) -> str | None:
    """The library's structural checks, for large content when ``safe_open`` is unavailable."""
    try:
        parsed = json.loads(header)
    except (ValueError, RecursionError) as exc:
        return f"invalid JSON in header: {exc}"
    if not isinstance(parsed, dict):
        return "invalid JSON in header: not an object"
    metadata = parsed.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        return "invalid JSON in header: __metadata__ is not a map of strings"
    spans: list[tuple[int, int, str]] = []
    for name, entry in parsed.items():
        checkpoint()
        if not isinstance(entry, dict) or not entry.keys() >= _TENSOR_FIELDS:
            return f"invalid JSON in header: tensor {name!r} lacks dtype, shape or data_offsets"
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPE_BITS:
            return f"invalid JSON in header: unknown dtype {dtype!r}"
        if not (isinstance(shape, list) and all(_is_size(d) for d in shape)):
            return f"invalid JSON in header: bad shape for tensor {name!r}"
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_size, offsets))):
            return f"invalid JSON in header: bad data_offsets for tensor {name!r}"
        bits = math.prod(shape) * _DTYPE_BITS[dtype]
        if bits % 8 or offsets[1] - offsets[0] != bits // 8:
            return f"invalid shape, data type, or offset for tensor {name!r}"
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        checkpoint()
        if begin != position or end < begin:
            return f"invalid offset for tensor {name!r}"
        position = end
    if position != data_length:
        return "incomplete metadata, file not fully covered"
    return None


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- our own checks -------------------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs in file order, duplicates included."""

    def get(self, key: str) -> Any:
        found = None
        for k, v in self:
            if k == key:
                found = v  # the last one wins, as in the library
        return found

    def duplicates(self) -> dict[str, list[Any]]:
        """Every name given more than once (in the order its second entry comes), with all its
        values in file order: one pass, whatever the number of names (a header of 10^5 names
        each given twice is 3 MB; a membership test in a list of them, or one pass over the
        header per name, took minutes with no checkpoint between)."""
        values: dict[str, list[Any]] = {}
        dups: dict[str, list[Any]] = {}
        for count, (key, value) in enumerate(self, 1):
            if not count % CHECK_EVERY:
                checkpoint()
            given = values.setdefault(key, [])
            given.append(value)
            if len(given) == 2:
                dups[key] = given
        return dups


def _check_header(blob: Blob, pairs: _Pairs, ctx: ScanContext) -> list[Finding]:
    findings: list[Finding] = []
    strings = StringAnalyser(blob, ctx.policy.pickle)
    for name, values in pairs.duplicates().items():
        checkpoint()
        entries = [json.dumps(_plain(v)) for v in values]
        findings.append(
            Finding(
                rule="MLS-ST-002",
                severity=Severity.HIGH if name != "__metadata__" else Severity.MEDIUM,
                category="format-confusion",
                title="safetensors header declares the same tensor twice",
                location=blob.location(key_path=name),
                evidence=f"{len(entries)} entries named {name!r}: "
                + " then ".join(e[:200] for e in entries),
                why="the library keeps the last entry and silently drops the others, so what a "
                "reviewer, a converter or another parser sees differs from what the loader "
                "loads (a shadowed tensor can swap weights unnoticed)",
                remediation="re-export the weights with safetensors' own save functions, "
                "which never write duplicate names",
                cwe="CWE-436",
            )
        )
    for name, entry in pairs:
        checkpoint()  # a header of 10^6 tensors: the scan's budgets
        if name == "__metadata__":
            continue
        findings += strings.value(child_path("", name), name, template=False)
        if not isinstance(entry, _Pairs):
            continue
        extra = [key for key, _ in entry if key not in _TENSOR_FIELDS]
        if extra:
            shown = ", ".join(
                f"{k}={json.dumps(_plain(entry.get(k)))[:120]}" for k in sorted(set(extra))
            )
            findings.append(
                Finding(
                    rule="MLS-ST-003",
                    severity=Severity.MEDIUM,
                    category="format-confusion",
                    title="safetensors tensor entry carries fields the format does not define",
                    location=blob.location(key_path=name),
                    evidence=shown,
                    why="the loader ignores unknown fields, so they are a hidden channel for "
                    "data that no reviewer looks at and that another tool may act on",
                    remediation="re-export the weights with safetensors' own save functions",
                    cwe="CWE-1287",
                )
            )
            # What the hidden channel carries: every field, every occurrence, nested values.
            extras = [(key, value) for key, value in entry if key not in _TENSOR_FIELDS]
            findings += strings.walk(_Pairs(extras), child_path("", name))
    metadata = pairs.get("__metadata__")
    if isinstance(metadata, _Pairs):
        findings += _check_metadata(blob, metadata, strings)
    return findings + strings.finish()


def _check_metadata(blob: Blob, metadata: _Pairs, strings: StringAnalyser) -> list[Finding]:
    findings: list[Finding] = []
    total = sum(len(k) + len(v) for k, v in metadata if isinstance(v, str))
    if total > METADATA_CAP:
        findings.append(_oversized(blob, "__metadata__", f"{total} characters in all"))
    # A pickle in metadata keeps the rule it always had.
    strings.pickle_rule, strings.pickle_title = "MLS-ST-004", "safetensors metadata holds a pickle"
    for key, value in metadata:
        checkpoint()
        if not isinstance(value, str):
            continue  # the library has already refused the file
        key_path = child_path("__metadata__", key)
        if len(value) > METADATA_VALUE_CAP:
            findings.append(_oversized(blob, key_path, f"value of {len(value)} characters"))
        found = strings.value(child_path("__metadata__", key), key, template=False)
        found += strings.value(key_path, value, key=key)
        findings += found
        if any(f.rule == "MLS-ST-004" for f in found):
            continue
        findings += _executable_text(blob, key_path, value)
    return findings


def _executable_text(blob: Blob, key_path: str, value: str) -> list[Finding]:
    hits = sorted({label for pattern, label in _CODE_PATTERNS if pattern.search(value)})
    run = _BASE64_RUN.search(value)
    if run is not None:
        hits.append(f"base64 run of {len(run.group())} characters")
    if not hits:
        return []
    return [
        Finding(
            rule="MLS-ST-005",
            severity=Severity.MEDIUM,
            category="suspicious-content",
            title="safetensors metadata looks executable",
            location=blob.location(key_path=key_path),
            evidence=f"{', '.join(hits)}: {value[:160]!r}",
            why="metadata is descriptive text; code, commands or encoded blobs in it are "
            "waiting for a tool or a person to run them",
            remediation="remove the content from the metadata and find out who put it there",
        )
    ]


def _oversized(blob: Blob, key_path: str, evidence: str) -> Finding:
    return Finding(
        rule="MLS-ST-006",
        severity=Severity.MEDIUM,
        category="resource-exhaustion",
        title="safetensors metadata is oversized",
        location=blob.location(key_path=key_path),
        evidence=f"{evidence} (limits: {METADATA_CAP} in all, {METADATA_VALUE_CAP} per value)",
        why="real metadata is a few short strings; megabytes of it hide payloads and slow "
        "every tool that parses the header",
        remediation="keep metadata to short descriptive strings",
    )


def _malformed(blob: Blob, message: str) -> Finding:
    return Finding(
        rule="MLS-ST-001",
        severity=Severity.HIGH,
        category="malformed-artifact",
        title="safetensors file is malformed",
        location=blob.location(offset=0),
        evidence=message,
        why="the safetensors loader refuses or mis-reads this file; a header crafted to break "
        "parsers is how inconsistent views of the weights (and parser bugs) are exploited",
        remediation="re-download the file from its source, or re-export it with safetensors' "
        "own save functions",
        cwe="CWE-20",
    )


def _plain(value: Any) -> Any:
    """``_Pairs`` back to plain JSON values, for evidence."""
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
