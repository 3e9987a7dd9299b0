"""ONNX models: external-data paths, custom operator domains and smuggled metadata.

An ONNX file is a bare protobuf ``ModelProto``. It holds no code, but loading it can still
reach outside the model: a tensor whose data lives in an *external* file names that file with a
``location`` which the loader (``onnx.load`` / onnxruntime) joins to the model's directory and
reads — an absolute path, ``..`` components or a symlink read any file the user can (CWE-22),
and custom operator domains make onnxruntime look for native custom-op libraries.

The model is walked with :mod:`pytest_mlsupply.engines.protobuf` (the ``onnx`` package is not a
dependency): the main graph, every node attribute's subgraph (``If``/``Loop``/``Scan`` bodies,
at any depth), initializers, sparse initializers, ``Constant`` tensors, training graphs and
model-local functions. Tensor ``raw_data`` is skipped by its length, never copied.

Rules: MLS-ONNX-001..007 (see ``docs/checks-onnx-keras.md``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.pickle import scan_pickle_bytes
from pytest_mlsupply.engines.pickle.nested import embedded_pickles
from pytest_mlsupply.engines.protobuf import LEN, VARINT, Field, ProtobufError, iter_fields
from pytest_mlsupply.engines.strings import StringAnalyser
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["BENIGN_DOMAINS", "identify_onnx", "scan_onnx"]

#: Operator domains the ONNX standard defines, plus onnxruntime's built-in contrib domains
#: (their kernels ship inside onnxruntime itself; no custom library is loaded for them).
BENIGN_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.training",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.microsoft.experimental",
    }
)

# protobuf's own parsers stop at 100 levels of nesting; a model nested deeper cannot load.
_MAX_NESTING = 100
# Strings we read whole (names, locations, domains); longer ones are cut for analysis.
_MAX_STRING = 64 * 1024
_MAX_EVIDENCE = 200
# Metadata values above this size are reported: nothing a loader reads needs that much text.
_LARGE_METADATA = 1 << 20
_MAX_METADATA_SCAN = 64 << 20
# Larger offsets/lengths than this (256 TiB) describe no real tensor file.
_ABSURD_SIZE = 1 << 48

_CATEGORY_PATH = "path-traversal"
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(//|[^\\/])")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXECUTABLE_MAGIC = {
    b"\x7fELF": "an ELF executable",
    b"MZ": "a Windows executable",
    b"\xcf\xfa\xed\xfe": "a Mach-O executable",
    b"\xfe\xed\xfa\xcf": "a Mach-O executable",
    b"#!": "a script with a shebang line",
}

# Field numbers of onnx.proto3 messages that lead to tensors, graphs, domains or metadata.
_MODEL_GRAPH, _MODEL_OPSET, _MODEL_METADATA, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 8, 14, 20, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER, _GRAPH_METADATA = 1, 5, 15, 16
_NODE_NAME, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 3, 4, 5, 7
_ATTR_NAME, _ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS = 1, 5, 6, 10, 11
_ATTR_SPARSE_TENSOR, _ATTR_SPARSE_TENSORS = 22, 23
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_FUNCTION_NAME, _FUNCTION_NODE, _FUNCTION_OPSET, _FUNCTION_DOMAIN = 1, 7, 9, 10
_FUNCTION_ATTRIBUTE_PROTO, _FUNCTION_METADATA = 11, 14
_TRAINING_GRAPHS = (1, 2)  # TrainingInfoProto.initialization, .algorithm
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass
class _ExternalRef:
    """One tensor's external-data reference, as the loader would read it."""

    tensor: str
    key_path: str
    offset: int
    location: str | None = None
    data_offset: str | None = None
    data_length: str | None = None
    declared_external: bool = False


@dataclass
class _DomainUse:
    key_path: str
    offset: int
    ops: set[str] = field(default_factory=set)
    opset_version: int | None = None


class _ModelWalker:
    """Walks a ModelProto, collecting external references, domains and findings."""

    def __init__(self, buf: memoryview, blob: Blob, ctx: ScanContext) -> None:
        self.buf = buf
        self.blob = blob
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.external: list[_ExternalRef] = []
        self.node_domains: dict[str, _DomainUse] = {}
        self.opset_domains: dict[str, _DomainUse] = {}
        self.functions: set[tuple[str, str]] = set()

    # --- protobuf helpers -------------------------------------------------------------------

    def _text(self, f: Field) -> str:
        end = min(f.end, f.start + _MAX_STRING)
        return bytes(self.buf[f.start : end]).decode("utf-8", "replace")

    def _fields(self, f: Field, depth: int) -> list[Field]:
        if depth > _MAX_NESTING:
            raise ProtobufError("messages nested deeper than protobuf allows", f.offset)
        return list(iter_fields(self.buf, f.start, f.end))

    # --- messages ---------------------------------------------------------------------------

    def model(self) -> None:
        for f in iter_fields(self.buf):
            if f.wire != LEN:
                continue
            if f.number == _MODEL_GRAPH:
                self.graph(f, "graph", 1)
            elif f.number == _MODEL_OPSET:
                self.opset(f, "opset_import", 1)
            elif f.number == _MODEL_METADATA:
                self.metadata(f, "metadata_props", 1)
            elif f.number == _MODEL_TRAINING:
                for g in self._fields(f, 1):
                    if g.wire == LEN and g.number in _TRAINING_GRAPHS:
                        self.graph(g, "training_info.graph", 2)
            elif f.number == _MODEL_FUNCTIONS:
                self.function(f, 1)

    def graph(self, f: Field, path: str, depth: int) -> None:
        nodes = 0
        initializers = 0
        for g in self._fields(f, depth):
            if g.wire != LEN:
                continue
            if g.number == _GRAPH_NODE:
                self.node(g, f"{path}.node[{nodes}]", depth + 1)
                nodes += 1
            elif g.number == _GRAPH_INITIALIZER:
                self.tensor(g, f"{path}.initializer[{initializers}]", depth + 1)
                initializers += 1
            elif g.number == _GRAPH_SPARSE_INITIALIZER:
                self.sparse_tensor(g, f"{path}.sparse_initializer", depth + 1)
            elif g.number == _GRAPH_METADATA:
                self.metadata(g, f"{path}.metadata_props", depth + 1)

    def node(self, f: Field, path: str, depth: int) -> None:
        fields = self._fields(f, depth)
        op_type = domain = name = ""
        for g in fields:
            if g.wire == LEN and g.number == _NODE_OP_TYPE:
                op_type = self._text(g)
            elif g.wire == LEN and g.number == _NODE_DOMAIN:
                domain = self._text(g)
            elif g.wire == LEN and g.number == _NODE_NAME:
                name = self._text(g)
        label = f"{path}({op_type}{' ' + repr(name) if name else ''})"
        if domain not in BENIGN_DOMAINS:
            use = self.node_domains.setdefault(domain, _DomainUse(label, f.offset))
            use.ops.add(op_type)
        for g in fields:
            if g.wire == LEN and g.number == _NODE_ATTRIBUTE:
                self.attribute(g, label, depth + 1)

    def attribute(self, f: Field, node_path: str, depth: int) -> None:
        fields = self._fields(f, depth)
        name = next((self._text(g) for g in fields if g.number == _ATTR_NAME and g.wire == LEN), "")
        path = f"{node_path}.attribute[{name or '?'}]"
        tensors = graphs = sparse = 0
        # Every field is followed whatever the attribute's declared type: a loader that
        # trusts ``type`` and a scanner that does not must never disagree in the loader's favour.
        for g in fields:
            if g.wire != LEN:
                continue
            if g.number == _ATTR_T:
                self.tensor(g, f"{path}.t", depth + 1)
            elif g.number == _ATTR_TENSORS:
                self.tensor(g, f"{path}.tensors[{tensors}]", depth + 1)
                tensors += 1
            elif g.number == _ATTR_G:
                self.graph(g, f"{path}.g", depth + 1)
            elif g.number == _ATTR_GRAPHS:
                self.graph(g, f"{path}.graphs[{graphs}]", depth + 1)
                graphs += 1
            elif g.number == _ATTR_SPARSE_TENSOR:
                self.sparse_tensor(g, f"{path}.sparse_tensor", depth + 1)
            elif g.number == _ATTR_SPARSE_TENSORS:
                self.sparse_tensor(g, f"{path}.sparse_tensors[{sparse}]", depth + 1)
                sparse += 1

    def sparse_tensor(self, f: Field, path: str, depth: int) -> None:
        for g in self._fields(f, depth):
            if g.wire == LEN and g.number == _SPARSE_VALUES:
                self.tensor(g, f"{path}.values", depth + 1)
            elif g.wire == LEN and g.number == _SPARSE_INDICES:
                self.tensor(g, f"{path}.indices", depth + 1)

    def tensor(self, f: Field, path: str, depth: int) -> None:
        ref = _ExternalRef(tensor="", key_path=path, offset=f.offset)
        has_entries = False
        # raw_data (field 9) is never touched: iter_fields steps over it by its length.
        for g in self._fields(f, depth):
            if g.number == _TENSOR_NAME and g.wire == LEN:
                ref.tensor = self._text(g)
            elif g.number == _TENSOR_DATA_LOCATION and g.wire == VARINT:
                # protobuf semantics: the last occurrence of a scalar field wins.
                ref.declared_external = g.value == _EXTERNAL
            elif g.number == _TENSOR_EXTERNAL_DATA and g.wire == LEN:
                has_entries = True
                key, value = self.entry(g, depth + 1)
                if key == "location":
                    ref.location = value
                elif key == "offset":
                    ref.data_offset = value
                elif key == "length":
                    ref.data_length = value
        if ref.declared_external or has_entries:
            if ref.tensor:
                ref.key_path = f"{path}({ref.tensor!r})"
            self.external.append(ref)

    def entry(self, f: Field, depth: int) -> tuple[str, str]:
        key = value = ""
        for g in self._fields(f, depth):
            if g.wire == LEN and g.number == _ENTRY_KEY:
                key = self._text(g)
            elif g.wire == LEN and g.number == _ENTRY_VALUE:
                value = self._text(g)
        return key, value

    def opset(self, f: Field, path: str, depth: int) -> None:
        domain = ""
        version: int | None = None
        for g in self._fields(f, depth):
            if g.wire == LEN and g.number == _OPSET_DOMAIN:
                domain = self._text(g)
            elif g.wire == VARINT and g.number == _OPSET_VERSION:
                version = g.value
        if domain not in BENIGN_DOMAINS and domain not in self.opset_domains:
            self.opset_domains[domain] = _DomainUse(path, f.offset, opset_version=version)

    def function(self, f: Field, depth: int) -> None:
        fields = self._fields(f, depth)
        name = next((self._text(g) for g in fields if g.number == _FUNCTION_NAME), "")
        domain = next((self._text(g) for g in fields if g.number == _FUNCTION_DOMAIN), "")
        self.functions.add((domain, name))
        path = f"functions[{domain}.{name}]" if domain else f"functions[{name}]"
        nodes = 0
        for g in fields:
            if g.wire != LEN:
                continue
            if g.number == _FUNCTION_NODE:
                self.node(g, f"{path}.node[{nodes}]", depth + 1)
                nodes += 1
            elif g.number == _FUNCTION_OPSET:
                self.opset(g, f"{path}.opset_import", depth + 1)
            elif g.number == _FUNCTION_ATTRIBUTE_PROTO:
                self.attribute(g, path, depth + 1)
            elif g.number == _FUNCTION_METADATA:
                self.metadata(g, f"{path}.metadata_props", depth + 1)

    def metadata(self, f: Field, path: str, depth: int) -> None:
        key = ""
        value: Field | None = None
        for g in self._fields(f, depth):
            if g.wire == LEN and g.number == _ENTRY_KEY:
                key = self._text(g)
            elif g.wire == LEN and g.number == _ENTRY_VALUE:
                value = g
        if value is None:
            return
        where = f"{path}[{key!r}]"
        self.findings.extend(_metadata_findings(self.buf, value, where, self.blob, self.ctx))


# --- external data ----------------------------------------------------------------------------


def _location_problems(location: str) -> tuple[list[str], list[str]]:
    """What is wrong with a ``location``: (escapes the model directory, odd path syntax)."""
    escapes: list[str] = []
    odd: list[str] = []
    if location.startswith(("/", "\\")):
        escapes.append("an absolute path" if location[:2] not in ("\\\\", "//") else "a UNC path")
    if _DRIVE.match(location):
        escapes.append("a Windows drive letter")
    # Windows treats both separators alike, so ``..`` is looked for between either.
    if ".." in re.split(r"[\\/]+", location):
        escapes.append("'..' components")
    if "\x00" in location:
        odd.append("a NUL byte (C code stops reading the path there)")
    elif _CONTROL.search(location):
        odd.append("control characters")
    if "\\" in location:
        odd.append("backslashes (a directory separator on Windows)")
    if _URL_SCHEME.match(location) and not _DRIVE.match(location):
        odd.append("a URL scheme")
    return escapes, odd


def _show(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= _MAX_EVIDENCE else shown[:_MAX_EVIDENCE] + "..."


def _parse_size(text: str | None) -> int | str | None:
    """An offset/length value: None when absent, the int, or a description of what is wrong."""
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return f"not an integer: {_show(text)}"
    if value < 0:
        return f"negative: {value}"
    if value > _ABSURD_SIZE:
        return f"absurdly large: {value}"
    return value


@dataclass
class _Group:
    """External references that share a (rule, location): reported once, with a count."""

    first: _ExternalRef
    count: int = 1


def _external_findings(
    refs: list[_ExternalRef], blob: Blob, model_dir: Path | None
) -> list[Finding]:
    groups: dict[tuple[str, str, str], _Group] = {}

    def note(rule: str, detail: str, ref: _ExternalRef) -> None:
        key = (rule, ref.location or "", detail)
        if key in groups:
            groups[key].count += 1
        else:
            groups[key] = _Group(ref)

    disk_checked: dict[str, list[tuple[str, str]]] = {}
    for ref in refs:
        location = ref.location
        if not location:
            if ref.declared_external:
                note("MLS-ONNX-004", "no location", ref)
            continue
        escapes, odd = _location_problems(location)
        if escapes:
            note("MLS-ONNX-001", " and ".join(escapes), ref)
        if odd:
            note("MLS-ONNX-002", " and ".join(odd), ref)
        sizes = {"offset": _parse_size(ref.data_offset), "length": _parse_size(ref.data_length)}
        for key, parsed in sizes.items():
            if isinstance(parsed, str):
                note("MLS-ONNX-005", f"{key} {parsed}", ref)
        if model_dir is None or escapes or odd:
            # Never follow a path that already leaves the directory; it is reported as is.
            continue
        if location not in disk_checked:
            disk_checked[location] = _disk_problems(model_dir, location)
        for rule, detail in disk_checked[location]:
            note(rule, detail, ref)
        size_problem = _size_problem(model_dir, location, sizes)
        if size_problem:
            note("MLS-ONNX-005", size_problem, ref)
    return [
        _external_finding(rule, detail, group, blob) for (rule, _, detail), group in groups.items()
    ]


def _disk_problems(model_dir: Path, location: str) -> list[tuple[str, str]]:
    """Resolve ``location`` the way the loader does and report escapes and absences."""
    target = os.path.join(model_dir, location)
    base = os.path.realpath(model_dir)
    real = os.path.realpath(target)
    if os.path.commonpath([base, real]) != base and not _inside_hf_blobs(model_dir, real):
        return [("MLS-ONNX-003", f"resolves to {real} through a symlink")]
    if not os.path.exists(real):
        return [("MLS-ONNX-004", "the file does not exist next to the model")]
    if not os.path.isfile(real):
        return [("MLS-ONNX-004", "it is not a regular file")]
    return []


def _inside_hf_blobs(model_dir: Path, real: str) -> bool:
    """A Hugging Face cache snapshot links every file to ``../../blobs/<sha256>``: that is fine."""
    if model_dir.parent.name != "snapshots":
        return False
    blobs = os.path.realpath(model_dir.parent.parent / "blobs")
    return os.path.commonpath([blobs, real]) == blobs


def _size_problem(model_dir: Path, location: str, sizes: dict[str, int | str | None]) -> str:
    offset, length = sizes["offset"], sizes["length"]
    if not isinstance(offset, int) and not isinstance(length, int):
        return ""
    try:
        size = os.stat(os.path.join(model_dir, location)).st_size
    except OSError:
        return ""
    start = offset if isinstance(offset, int) else 0
    if start > size:
        return f"offset {start} is past the end of the {size}-byte file"
    if isinstance(length, int) and start + length > size:
        return f"offset {start} + length {length} runs past the end of the {size}-byte file"
    return ""


_EXTERNAL_RULES: dict[str, tuple[Severity, str, str, str, str]] = {
    "MLS-ONNX-001": (
        Severity.HIGH,
        "external data location leaves the model directory",
        "the ONNX loader joins `location` to the model's directory and reads that file into a "
        "tensor: an absolute path or '..' reads any file the user can read (keys, credentials) "
        "and may send it on wherever the model's outputs go",
        "store external data in files next to the model and name them by a plain relative path "
        "(onnx.save_model(..., save_as_external_data=True, location='model.onnx_data'))",
        "CWE-22",
    ),
    "MLS-ONNX-002": (
        Severity.HIGH,
        "external data location uses path syntax a loader may misread",
        "backslashes, NUL bytes, control characters and URL schemes are read differently by "
        "different loaders and platforms; they are how a path that looks harmless to one check "
        "reaches a file outside the model directory on another",
        "name external data files with plain relative POSIX paths inside the model directory",
        "CWE-22",
    ),
    "MLS-ONNX-003": (
        Severity.HIGH,
        "external data file is a symlink out of the model directory",
        "the loader follows symlinks: a relative, innocent-looking location reads a file "
        "elsewhere on the machine",
        "replace the symlink by the data file itself; never ship symlinks in a model directory",
        "CWE-59",
    ),
    "MLS-ONNX-004": (
        Severity.MEDIUM,
        "external data file is missing",
        "the model cannot load as shipped; a file that appears later (or elsewhere on the search "
        "path) decides what the tensor holds",
        "ship every external data file with the model, or re-save it with data inline",
        "CWE-20",
    ),
    "MLS-ONNX-005": (
        Severity.MEDIUM,
        "external data offset or length is invalid",
        "negative, huge or out-of-range offsets make loaders seek or allocate without bound "
        "(memory exhaustion) or read bytes that are not the tensor",
        "re-save the model with onnx.save_model so offsets and lengths are written correctly",
        "CWE-400",
    ),
}


def _external_finding(rule: str, detail: str, group: _Group, blob: Blob) -> Finding:
    severity, title, why, remediation, cwe = _EXTERNAL_RULES[rule]
    ref = group.first
    where = f"tensor {ref.tensor!r}" if ref.tensor else "a tensor"
    more = f" (and {group.count - 1} more tensors)" if group.count > 1 else ""
    location = "(none)" if ref.location is None else _show(ref.location)
    evidence = f"{where}{more}: external_data location {location}: {detail}"
    return Finding(
        rule=rule,
        severity=severity,
        category=_CATEGORY_PATH if rule != "MLS-ONNX-005" else "resource-exhaustion",
        title=title,
        location=blob.location(offset=ref.offset, key_path=ref.key_path),
        evidence=evidence,
        why=why,
        remediation=remediation,
        cwe=cwe,
    )


# --- domains and metadata ---------------------------------------------------------------------


def _domain_findings(walker: _ModelWalker, blob: Blob) -> list[Finding]:
    local = walker.functions
    function_domains = {domain for domain, _ in local}
    findings: list[Finding] = []
    domains = sorted(set(walker.node_domains) | set(walker.opset_domains))
    for domain in domains:
        node_use = walker.node_domains.get(domain)
        # Ops that a model-local FunctionProto defines run as ONNX subgraphs, not native code.
        native_ops = sorted(
            op for op in (node_use.ops if node_use else ()) if (domain, op) not in local
        )
        if node_use is not None and not native_ops:
            continue
        if node_use is None and domain in function_domains:
            continue
        use = node_use if node_use is not None else walker.opset_domains[domain]
        declared = walker.opset_domains.get(domain)
        parts = [f"domain {_show(domain)}"]
        if native_ops:
            parts.append("ops " + ", ".join(_show(op) for op in native_ops[:10]))
        if declared is not None:
            parts.append(f"opset_import version {declared.opset_version}")
        findings.append(
            Finding(
                rule="MLS-ONNX-006",
                severity=Severity.MEDIUM,
                category="untrusted-code",
                title="custom operator domain",
                location=blob.location(offset=use.offset, key_path=use.key_path),
                evidence="; ".join(parts),
                why="operators outside the ONNX standard and onnxruntime's built-in domains run "
                "only when a custom-op library (native code) is registered with the runtime; "
                "the model asks its user to load such a library",
                remediation="use standard ONNX operators, or make sure the custom-op library comes "
                "from a trusted, pinned source and review it like any native dependency",
                cwe="CWE-829",
            )
        )
    return findings


def _metadata_findings(
    buf: memoryview, value: Field, where: str, blob: Blob, ctx: ScanContext
) -> list[Finding]:
    findings: list[Finding] = []
    size = value.end - value.start
    location = blob.location(offset=value.start, key_path=where)
    if size > _LARGE_METADATA:
        findings.append(
            Finding(
                rule="MLS-ONNX-008",
                severity=Severity.MEDIUM,
                category="smuggled-content",
                title="very large metadata value",
                location=location,
                evidence=f"{size} bytes",
                why="no loader needs megabytes of metadata; oversized values are a place to hide "
                "payloads for a second stage to extract",
                remediation="keep metadata to short descriptive strings; ship data as tensors",
                cwe="CWE-506",
            )
        )
    # Pickles hidden in metadata are small; past this only the head is looked at.
    data = bytes(buf[value.start : min(value.end, value.start + _MAX_METADATA_SCAN)])
    kind = next((k for magic, k in _EXECUTABLE_MAGIC.items() if data.startswith(magic)), None)
    pickled = None
    for candidate in embedded_pickles(data, verbatim=True)[:1]:
        scan = scan_pickle_bytes(
            candidate.data,
            policy=ctx.policy.pickle,
            origin=blob.subject,
            member=blob.member,
            base_offset=value.start if candidate.exact_offsets else 0,
        )
        if scan.findings or (scan.error is None and scan.pickles_seen):
            pickled = scan
            kind = f"a pickle ({candidate.encoding})"
    if kind is None:
        # What the look above does not undo (compressed pickles, data URIs, JSON holding
        # them, template escapes): the shared string analyser.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # byte for byte
        strings = StringAnalyser(blob, ctx.policy.pickle)
        return findings + strings.value(where, text, offset=value.start) + strings.finish()
    if pickled is not None:
        findings.extend(pickled.findings)
    findings.append(
        Finding(
            rule="MLS-ONNX-007",
            severity=Severity.MEDIUM,
            category="smuggled-content",
            title="metadata value holds executable content",
            location=location,
            evidence=f"value is {kind}, {size} bytes",
            why="ONNX metadata is free text for people; serialized code or a binary in it is a "
            "payload waiting for whatever tool deserializes or extracts it",
            remediation="remove the value; if it is legitimate, ship it as a separate, reviewed "
            "file in a safe format",
            cwe="CWE-506",
        )
    )
    return findings


# --- identification ---------------------------------------------------------------------------

# Top-level ModelProto fields and their wire types (0 varint, 2 length-delimited).
_MODEL_FIELDS = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN,
                 20: LEN, 25: LEN}  # fmt: skip


def identify_onnx(view: View) -> Identification | None:
    """ONNX is a bare protobuf ModelProto: recognise its top-level fields, in any order.

    Read with the protobuf reader the engine uses. Protobuf readers accept fields in any order
    and skip unknown ones, and so does ``onnx.load``; demanding ``ir_version`` first would let a
    reordered model slip past as "unknown" while still loading (and reading its external data)
    everywhere. Without a magic number, the ``.onnx`` extension breaks a tie.
    """
    head = memoryview(view.head)
    present: set[int] = set()
    ir_version: int | None = None
    try:
        for item in iter_fields(head, head=view.truncated):
            expected = _MODEL_FIELDS.get(item.number)
            if expected is not None and expected != item.wire:
                return None
            if item.number == 1:
                ir_version = item.value
            present.add(item.number)
    except ProtobufError:
        return None  # not protobuf, or a length past the end of a file read whole
    if not present or (ir_version is not None and not 1 <= ir_version <= 20):
        return None
    structural = {7, 8} <= present or (1 in present and bool({2, 7, 8} & present))
    marker = structural or (b"onnx" in view.head and 7 in present)
    if not marker and not (view.suffix == ".onnx" and present & set(_MODEL_FIELDS)):
        return None
    how = "ONNX fields present" if marker else "its .onnx extension breaks the tie"
    version = f"ir_version {ir_version}" if ir_version is not None else "no ir_version"
    return Identification(
        Format.ONNX,
        Family.ONNX,
        False,
        f"ONNX model ({version})",
        f"protobuf ModelProto fields {sorted(present)}; {how}",
    )


# --- entry point ------------------------------------------------------------------------------


def scan_onnx(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan one ONNX ModelProto; raise :class:`ScanError` when it is not valid protobuf."""
    model_dir: Path | None = None
    error: ProtobufError | None = None
    with blob.buffer() as raw, memoryview(raw) as view:
        walker = _ModelWalker(view, blob, ctx)
        try:
            walker.model()
        except ProtobufError as exc:
            error = exc
        message = str(error) if error is not None else ""
        # Tracebacks keep frames alive, and frames keep slices of the mmap: drop them here.
        error = None
    findings = walker.findings
    if walker.external:
        # Judged against the files beside the model (blob.folder marks the report as such).
        model_dir = blob.folder()
    findings.extend(_external_findings(walker.external, blob, model_dir))
    findings.extend(_domain_findings(walker, blob))
    if message:
        text = f"not a valid ONNX model (malformed protobuf: {message})"
        if not findings:
            raise ScanError(text)
        # Findings outrank errors: keep what was found and record why the scan stopped.
        ctx.errors.append(f"{blob.location().describe()}: {text}")
    return findings
