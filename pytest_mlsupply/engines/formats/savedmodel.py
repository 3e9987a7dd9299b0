"""TensorFlow SavedModels: the ``saved_model.pb`` graph and Keras' ``keras_metadata.pb``.

A SavedModel is a protobuf ``SavedModel`` holding ``MetaGraphDef`` s. Loading one
(``tf.saved_model.load``, ``keras.layers.TFSMLayer``, TF Serving) imports its ``GraphDef``
and runs the graph's functions: every ``NodeDef`` names an op by string. Most ops compute;
some call back into the Python interpreter (``PyFunc``, ``EagerPyFunc``: whatever function the
loading process registered under the node's token), some read, write and list files or open
databases (``ReadFile``, ``WriteFile``, ``MatchingFiles``, dataset readers and writers), some
reach other machines (``RemoteCall``, the RPC and data-service ops), and an op name TensorFlow
does not register itself needs a custom op library (native code) loaded first.

The model is walked with the one protobuf reader (:mod:`pytest_mlsupply.engines.protobuf`, also
the ONNX reader): every meta graph, its graph's nodes and every function of its function
library, the asset files it names, and the Keras metadata of its object graph. Op names are
judged against TensorFlow's own op list (:mod:`~pytest_mlsupply.engines.formats.tf_ops`).
Checkpoint ops (``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints``...) are in every SavedModel
for its variables; they are judged only by constant file arguments that leave the model
directory. Tensor contents are stepped over by their length, never copied.

A bare ``GraphDef`` (a frozen graph, imported with ``tf.import_graph_def``) is walked the same
way.

``keras_metadata.pb`` (a ``SavedMetadata`` message, written by Keras 2 next to
``saved_model.pb``) holds one JSON layer config per Keras object: each is handed to the Keras
config walker (:func:`~pytest_mlsupply.engines.formats.keras.walk_keras_config`), which reports
``Lambda`` bytecode, foreign modules and the rest exactly as in ``.keras`` and ``.h5`` files.

Rules: MLS-TF-001..008, MLS-KERAS-010 (see ``docs/checks-onnx-keras.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import watched
from pytest_mlsupply.engines.formats.keras import walk_keras_config
from pytest_mlsupply.engines.formats.onnx import scan_onnx
from pytest_mlsupply.engines.formats.tf_ops import CORE_OPS
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.protobuf import (
    FIXED32,
    FIXED64,
    LEN,
    VARINT,
    Field,
    ProtobufError,
    iter_fields,
    read_varint,
    to_signed,
)
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "FILE_OPS",
    "GRAPH_OPS",
    "NETWORK_OPS",
    "PYTHON_OPS",
    "identify_savedmodel",
    "scan_savedmodel",
]

#: Ops that call a Python function the loading process registered under the node's token.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

#: Ops that touch the file system, with what they do (their path is an input or an attribute).
FILE_OPS: dict[str, str] = {
    "ReadFile": "reads a whole file into a tensor",
    "WriteFile": "writes a tensor to a file",
    "MatchingFiles": "lists the files matching a glob pattern",
    "MatchingFilesDataset": "lists the files matching glob patterns",
    "ExperimentalMatchingFilesDataset": "lists the files matching glob patterns",
    "ImmutableConst": "memory-maps the file named by memory_region_name",
    "FileSystemSetConfiguration": "reconfigures a file system",
    "RecordInput": "reads the files matching file_pattern",
    "CreateSummaryFileWriter": "writes event files into a directory",
    "CreateSummaryDbWriter": "writes a database file",
    "DatasetToTFRecord": "writes a dataset to a file",
    "ExperimentalDatasetToTFRecord": "writes a dataset to a file",
    "SaveDataset": "writes a dataset to a directory",
    "SaveDatasetV2": "writes a dataset to a directory",
    "LoadDataset": "reads a dataset from a directory",
    "SnapshotDataset": "reads and writes snapshot files",
    "SnapshotDatasetV2": "reads and writes snapshot files",
    "SqlDataset": "opens a database and runs a query",
    "ExperimentalSqlDataset": "opens a database and runs a query",
    "DistributedSave": "writes a dataset snapshot to a directory",
    "SnapshotDatasetReader": "reads snapshot files",
    "SnapshotChunkDataset": "reads a snapshot chunk file",
    "SnapshotNestedDatasetReader": "reads snapshot files",
    "ListSnapshotChunksDataset": "lists a snapshot directory",
}
for _op in ("WholeFileReader", "TextLineReader", "TFRecordReader", "FixedLengthRecordReader"):
    FILE_OPS[_op] = FILE_OPS[_op + "V2"] = "reads the files queued to it"
FILE_OPS["LMDBReader"] = "reads the files queued to it"
for _op in (
    "TFRecordDataset",
    "TFRecordDatasetV2",
    "TextLineDataset",
    "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2",
    "CSVDataset",
    "CSVDatasetV2",
    "ExperimentalCSVDataset",
    "LMDBDataset",
    "ExperimentalLMDBDataset",
):
    FILE_OPS[_op] = "reads the files it is given"

#: Ops that reach other machines or processes.
NETWORK_OPS: dict[str, str] = {
    "RemoteCall": "runs a function on another task",
    "RegisterDataset": "registers a dataset with a tf.data service",
    "RegisterDatasetV2": "registers a dataset with a tf.data service",
    "RpcClient": "opens an RPC client",
    "RpcCall": "makes an RPC",
    "RpcServer": "starts an RPC server",
    "RpcServerStart": "starts an RPC server",
    "RpcServerRegister": "registers an RPC handler",
}
for _op in ("DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3"):
    NETWORK_OPS[_op] = "reads from a tf.data service over the network"
NETWORK_OPS["DataServiceDatasetV4"] = NETWORK_OPS["DataServiceDataset"]

#: Ops that run a graph they are handed as data (a serialized GraphDef string): whatever ops
#: that graph holds run too, and none of them is in the model's own graph to be judged.
GRAPH_OPS: dict[str, str] = {
    "DatasetFromGraph": "imports and runs the serialized GraphDef it is given as a string",
}

#: Ops every SavedModel carries for its variables and tables: judged only by a constant file
#: argument (input indices) that leaves the model directory.
_PATH_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "Save": (0,),
    "SaveSlices": (0,),
    "SaveV2": (0,),
    "Restore": (0,),
    "RestoreSlice": (0,),
    "RestoreV2": (0,),
    "MergeV2Checkpoints": (0, 1),
    "ShardedFilename": (0,),
    "ShardedFilespec": (0,),
    "InitializeTableFromTextFile": (1,),
    "InitializeTableFromTextFileV2": (1,),
    "GenerateVocabRemapping": (0, 1),
    "LoadAndRemapMatrix": (0,),
    "CacheDataset": (1,),
    "CacheDatasetV2": (1,),
}

#: Ops that open exactly the file their argument names (no suffix added, unlike SaveV2's
#: prefix): a constant relative path is read from, or written into, the working directory.
_EXACT_FILE_OPS = {
    "InitializeTableFromTextFile": "read from",
    "InitializeTableFromTextFileV2": "read from",
    "Save": "written into",
    "SaveSlices": "written into",
}

#: Ops that reach a file or a network address only when an attribute says so:
#: (attribute, predicate on its string values).
_ATTRIBUTE_PATHS: dict[str, tuple[str, Any]] = {
    "PrintV2": ("output_stream", lambda v: v.startswith("file://")),
    "DecodeProtoV2": ("descriptor_source", lambda v: v not in ("", "local://")),
    "EncodeProto": ("descriptor_source", lambda v: v not in ("", "local://")),
    "FixedUnigramCandidateSampler": ("vocab_file", lambda v: v != ""),
}
for _op in (
    "DebugIdentity",
    "DebugIdentityV2",
    "DebugIdentityV3",
    "DebugNanCount",
    "DebugNumericSummary",
    "DebugNumericSummaryV2",
):
    _ATTRIBUTE_PATHS[_op] = ("debug_urls", lambda v: v != "")

# Graph-internal ops TensorFlow registers with a leading underscore, seen in exported graphs.
_INTERNAL_OPS = frozenset(
    {"_Arg", "_Retval", "_Send", "_Recv", "_HostSend", "_HostRecv", "_ArrayToList",
     "_ListToArray", "_FusedMatMul", "_FusedConv2D", "_FusedBatchNormEx", "_DeviceArg",
     "_DeviceRetval", "_ReadVariablesOp", "_VarHandlesOp"}
)  # fmt: skip

# Field numbers (tensorflow/core/protobuf/saved_model.proto, meta_graph.proto,
# framework/graph.proto, node_def.proto, function.proto, attr_value.proto, tensor.proto,
# protobuf/saved_object_graph.proto; tf_keras/protobuf/saved_metadata.proto).
_SM_VERSION, _SM_META_GRAPHS = 1, 2
_MG_INFO, _MG_GRAPH, _MG_SAVER, _MG_ASSETS, _MG_OBJECTS = 1, 2, 3, 6, 7
_SAVER_FILENAME = 1
_MG_FIELDS = frozenset(range(1, 10))
_GRAPH_NODE, _GRAPH_LIBRARY = 1, 2
_LIBRARY_FUNCTION = 1
_FUNCTION_SIGNATURE, _FUNCTION_NODE = 1, 3
_OPDEF_NAME, _OPDEF_INPUT_ARG = 1, 2
_ARGDEF_NAME = 1
_NODE_NAME, _NODE_OP, _NODE_INPUT, _NODE_ATTR = 1, 2, 3, 5
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_ATTR_LIST, _ATTR_S, _ATTR_TENSOR, _ATTR_FUNC = 1, 2, 8, 10
_LIST_S, _LIST_TENSOR, _LIST_FUNC = 2, 8, 9
_TENSOR_DTYPE, _TENSOR_SHAPE, _TENSOR_CONTENT, _TENSOR_STRING_VAL = 1, 2, 4, 8
_SHAPE_DIM, _DIM_SIZE = 2, 1
_DT_STRING = 7
_NAME_ATTR_LIST_NAME = 1
_ASSET_TENSOR, _ASSET_FILENAME = 1, 2
_TENSOR_INFO_NAME = 1
_OBJECTS_NODES = 1
_OBJECT_USER = 4
_USER_IDENTIFIER, _USER_METADATA = 1, 3
_KM_NODES = 1
_KM_NODE_ID, _KM_PATH, _KM_IDENTIFIER, _KM_METADATA = 2, 3, 4, 5
_KM_FIELDS = frozenset({2, 3, 4, 5, 6})
_NODE_FIELDS = frozenset(range(1, 8))
_OP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_>.]{0,200}$")
_ONNX_GRAPH_FIELDS = frozenset({7, 8})  # ModelProto.graph, .opset_import

_MAX_STRING = 64 * 1024
_MAX_EVIDENCE = 200
_MAX_METADATA = 64 << 20
_MAX_NODES = 2_000_000
_MAX_TENSOR_STRINGS = 256
_MAX_PACKED_STRINGS = 1 << 16
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass(frozen=True)
class _Rule:
    severity: Severity
    category: str
    title: str
    why: str
    remediation: str
    cwe: str


_RULES: dict[str, _Rule] = {
    "MLS-TF-001": _Rule(
        Severity.CRITICAL,
        "code-execution",
        "graph calls back into Python (PyFunc / EagerPyFunc)",
        "the op runs the Python function registered under its token in the loading process; "
        "a graph that carries it is built to run Python code, and a loader that registers "
        "functions (tf.py_function in the serving code, a wrapper library) runs whatever the "
        "token selects",
        "rewrite the model with TensorFlow ops only and re-export it; never serve a SavedModel "
        "that needs Python callbacks",
        "CWE-94",
    ),
    "MLS-TF-002": _Rule(
        Severity.HIGH,
        "file-access",
        "graph reads, writes or lists files",
        "running the model's functions reads or writes files the loading user can reach "
        "(keys, credentials, source), or lists directories: a model that computes has no need "
        "to touch the file system",
        "remove the file ops (ship data as constants or assets the loader resolves), or review "
        "every path the graph can reach",
        "CWE-73",
    ),
    "MLS-TF-003": _Rule(
        Severity.HIGH,
        "network-access",
        "graph reaches other machines",
        "the op sends tensors to, or runs functions on, an address outside the process when "
        "the model runs: data leaves the machine, or remote code decides the result",
        "remove the op; a model artifact must compute locally",
        "CWE-829",
    ),
    "MLS-TF-004": _Rule(
        Severity.HIGH,
        "path-traversal",
        "checkpoint or table op names a file outside the model directory",
        "SaveV2/RestoreV2 and table initialisers take their file from their input; a constant "
        "absolute path, '..' or URL makes loading read or overwrite files elsewhere instead of "
        "the model's own variables/ and assets/",
        "re-export the model with tf.saved_model.save so checkpoint paths come from the "
        "loader, and assets are files inside assets/",
        "CWE-22",
    ),
    "MLS-TF-005": _Rule(
        Severity.HIGH,
        "path-traversal",
        "asset file name leaves the assets directory",
        "the loader joins each asset's filename to the SavedModel's assets/ directory and "
        "feeds the path to the graph: an absolute path or '..' reads any file the user can",
        "keep every asset a plain file name inside assets/",
        "CWE-22",
    ),
    "MLS-TF-006": _Rule(
        Severity.MEDIUM,
        "untrusted-code",
        "graph uses an op TensorFlow does not define (custom op)",
        "a custom op runs only after its native library is loaded "
        "(tf.load_op_library); the model asks its user to load and trust native code",
        "use TensorFlow's own ops, or make sure the custom-op library comes from a trusted, "
        "pinned source and review it like any native dependency",
        "CWE-829",
    ),
    "MLS-TF-007": _Rule(
        Severity.MEDIUM,
        "malformed-artifact",
        "SavedModel protobuf does not parse",
        "TensorFlow refuses the file, or a lenient reader reads something other than what was "
        "reviewed; either way its graph cannot be analysed",
        "re-export the model or re-download it from its source",
        "CWE-20",
    ),
    "MLS-TF-008": _Rule(
        Severity.HIGH,
        "code-execution",
        "graph runs a graph it carries as a string",
        "DatasetFromGraph parses its string input as a GraphDef and runs it: any op (PyFunc, "
        "ReadFile, WriteFile...) can hide in that string, out of sight of a review of the "
        "model's own graph; exported models never need it",
        "remove the op; build the dataset in the loading code, not inside the model",
        "CWE-94",
    ),
    "MLS-KERAS-010": _Rule(
        Severity.MEDIUM,
        "malformed-artifact",
        "Keras metadata is not valid JSON",
        "Keras rebuilds each layer from this JSON when the SavedModel is loaded with "
        "keras.models.load_model; what cannot be read here cannot be checked for Lambda "
        "bytecode or foreign modules",
        "re-export the model (keras.saving.save_model to a .keras file)",
        "CWE-20",
    ),
}


@dataclass
class _Node:
    name: str
    op: str
    path: str
    offset: int
    inputs: list[str] = field(default_factory=list)
    strings: dict[str, list[str]] = field(default_factory=dict)
    """Attribute name → its string values (``s``, ``list.s`` and string tensor values)."""


@dataclass
class _Group:
    rule: str
    subject: str
    path: str
    offset: int
    detail: str
    count: int = 1


class _Walker:
    """Walks a SavedModel (or SavedMetadata) message, collecting findings."""

    def __init__(self, buf: memoryview, blob: Blob, ctx: ScanContext) -> None:
        self.buf = buf
        self.blob = blob
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.groups: dict[tuple[str, str], _Group] = {}
        self.nodes = 0
        self.top_numbers: set[int] = set()
        self.lenient = False
        self.in_saved_model = False
        self.signatures: dict[str, list[str]] = {}
        """Library function name → its input argument names, in order."""
        self.quiet = False
        """Another reading than identification's: only what looks like Keras JSON is parsed."""
        self.asset_tensors: frozenset[str] = frozenset()
        """Names of the tensors the loader feeds with a path: assets (``asset_file_def``) and
        the saver's filename (``saver_def``)."""

    # --- protobuf helpers -------------------------------------------------------------------

    def text(self, f: Field) -> str:
        end = min(f.end, f.start + _MAX_STRING)
        return bytes(self.buf[f.start : end]).decode("utf-8", "replace")

    def fields(self, f: Field) -> Iterator[Field]:
        # A truncated file is read as far as it goes: each message cut by the end is followed
        # into, so what precedes the cut is judged.
        return iter_fields(self.buf, f.start, f.end, head=self.lenient, partial=self.lenient)

    def report(self, rule: str, subject: str, path: str, offset: int, detail: str) -> None:
        key = (rule, subject)
        group = self.groups.get(key)
        if group is not None:
            group.count += 1
            return
        self.groups[key] = _Group(rule, subject, path, offset, detail)

    # --- SavedModel -------------------------------------------------------------------------

    def saved_model(self) -> None:
        self.in_saved_model = True
        graphs = 0
        for f in self.fields(Field(0, LEN, len(self.buf), 0, len(self.buf), 0)):
            self.top_numbers.add(f.number)
            if f.number == _SM_META_GRAPHS and f.wire == LEN:
                self.meta_graph(f, f"meta_graphs[{graphs}]")
                graphs += 1

    def meta_graph(self, f: Field, path: str) -> None:
        assets = 0
        graphs: list[Field] = []
        try:
            for g in self.fields(f):
                if g.wire != LEN:
                    continue
                if g.number == _MG_GRAPH:
                    graphs.append(g)
                elif g.number == _MG_SAVER:
                    self.saver(g)
                elif g.number == _MG_ASSETS:
                    self.asset(g, f"{path}.asset_file_def[{assets}]")
                    assets += 1
                elif g.number == _MG_OBJECTS:
                    self.object_graph(g, f"{path}.object_graph_def")
        finally:
            # graph_def is a singular message field: the parser merges every occurrence into
            # one GraphDef, so a constant in one and the op it feeds in another are one graph.
            if graphs:
                self.graph(graphs, f"{path}.graph_def")

    def graph(self, parts: list[Field], path: str) -> None:
        nodes: list[_Node] = []
        functions: list[tuple[str, list[_Node]]] = []
        try:
            for f in parts:
                for g in self.fields(f):
                    if g.wire != LEN:
                        continue
                    if g.number == _GRAPH_NODE:
                        nodes.append(self.node(g, f"{path}.node[{len(nodes)}]"))
                    elif g.number == _GRAPH_LIBRARY:
                        for h in self.fields(g):
                            if h.wire == LEN and h.number == _LIBRARY_FUNCTION:
                                self.function(h, f"{path}.library.function", functions)
        finally:
            # What was read before a malformed byte is judged too: findings outrank errors.
            # A node may call a library function by naming it as its op.
            defined = {name for name, _ in functions}
            bound = _bind_arguments(nodes, functions, self.signatures)
            self.judge_scope(nodes, defined)
            for name, body in functions:
                self.judge_scope(body, defined, bound.get(name))

    def function(self, f: Field, path: str, out: list[tuple[str, list[_Node]]]) -> None:
        name = ""
        body: list[_Node] = []
        arguments: list[str] = []
        try:
            raw: list[Field] = []
            for g in self.fields(f):
                if g.wire != LEN:
                    continue
                if g.number == _FUNCTION_SIGNATURE:
                    for h in self.fields(g):
                        if h.wire == LEN and h.number == _OPDEF_NAME:
                            name = self.text(h)
                        elif h.wire == LEN and h.number == _OPDEF_INPUT_ARG:
                            for item in self.fields(h):
                                if item.wire == LEN and item.number == _ARGDEF_NAME:
                                    arguments.append(self.text(item))
                elif g.number == _FUNCTION_NODE:
                    raw.append(g)
            if arguments:
                self.signatures[name] = arguments
            where = f"{path}[{name!r}]"
            for index, g in enumerate(raw):
                body.append(self.node(g, f"{where}.node_def[{index}]"))
        finally:
            out.append((name, body))

    def node(self, f: Field, path: str) -> _Node:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise ScanError(f"more than {_MAX_NODES} graph nodes; too large to analyse")
        found = _Node("", "", path, f.offset)
        for g in self.fields(f):
            if g.wire != LEN:
                continue
            if g.number == _NODE_NAME:
                found.name = self.text(g)
            elif g.number == _NODE_OP:
                found.op = self.text(g)
            elif g.number == _NODE_INPUT:
                found.inputs.append(self.text(g))
            elif g.number == _NODE_ATTR:
                key, values = self.attribute(g)
                found.strings.setdefault(key, []).extend(values)
        found.path = f"{path}({found.op}{' ' + repr(found.name) if found.name else ''})"
        return found

    def attribute(self, f: Field) -> tuple[str, list[str]]:
        """A ``map<string, AttrValue>`` entry: its key and every string value it holds."""
        key = ""
        values: list[str] = []
        for g in self.fields(f):
            if g.wire != LEN:
                continue
            if g.number == _ENTRY_KEY:
                key = self.text(g)
            elif g.number == _ENTRY_VALUE:
                for h in self.fields(g):
                    if h.wire != LEN:
                        continue
                    if h.number == _ATTR_S:
                        values.append(self.text(h))
                    elif h.number == _ATTR_TENSOR:
                        values.extend(self.tensor_strings(h))
                    elif h.number == _ATTR_FUNC:
                        # A function reference (PartitionedCall's f): its name.
                        for item in self.fields(h):
                            if item.wire == LEN and item.number == _NAME_ATTR_LIST_NAME:
                                values.append(self.text(item))
                    elif h.number == _ATTR_LIST:
                        for item in self.fields(h):
                            if item.wire != LEN:
                                continue
                            if item.number == _LIST_S:
                                values.append(self.text(item))
                            elif item.number == _LIST_TENSOR:
                                values.extend(self.tensor_strings(item))
        return key, values

    def tensor_strings(self, f: Field) -> list[str]:
        """The first string values of a tensor: enough for a file argument, while a vocabulary
        constant of a million strings is stepped over rather than decoded.

        A string tensor holds its values in ``string_val``, or packed in ``tensor_content``
        (what ``Tensor::FromProto`` reads first when it is not empty): the element count's
        varint lengths, then the bytes. Both are read.
        """
        values: list[str] = []
        dtype, content, elements = 0, None, 1
        for g in self.fields(f):
            if g.number == _TENSOR_STRING_VAL and g.wire == LEN:
                if len(values) < _MAX_TENSOR_STRINGS:
                    values.append(self.text(g))
            elif g.number == _TENSOR_DTYPE and g.wire == VARINT:
                dtype = g.value
            elif g.number == _TENSOR_CONTENT and g.wire == LEN:
                content = g
            elif g.number == _TENSOR_SHAPE and g.wire == LEN:
                elements = self.elements(g)
        if dtype == _DT_STRING and content is not None and content.end > content.start:
            values += self.packed_strings(content, elements)
        return values

    def elements(self, f: Field) -> int:
        """The element count of a ``TensorShapeProto`` (its dims' sizes multiplied)."""
        count = 1
        for g in self.fields(f):
            if g.number == _SHAPE_DIM and g.wire == LEN:
                size = 0  # a dim without a size is 0, as in TensorFlow
                for h in self.fields(g):
                    if h.number == _DIM_SIZE and h.wire == VARINT:
                        size = to_signed(h.value)
                count = max(-1, min(count * size, 1 << 40))
        return count

    def packed_strings(self, f: Field, elements: int) -> list[str]:
        """The first strings of ``port::DecodeStringList`` bytes (``elements`` varint32
        lengths, then the strings back to back); nothing when they do not decode."""
        if not 0 < elements <= _MAX_PACKED_STRINGS:
            return []
        sizes: list[int] = []
        pos = f.start
        try:
            for _ in range(elements):
                size, pos = read_varint(self.buf, pos, f.end)
                sizes.append(size)
        except ProtobufError:
            return []
        values: list[str] = []
        for size in sizes[:_MAX_TENSOR_STRINGS]:
            if pos + size > f.end:
                break
            values.append(self.text(Field(0, LEN, size, pos, pos + size, pos)))
            pos += size
        return values

    def judge_scope(
        self,
        nodes: list[_Node],
        functions: set[str],
        arguments: dict[str, list[str]] | None = None,
    ) -> None:
        constants = _Constants(nodes, arguments)
        for node in watched(nodes):
            op = node.op
            if op in PYTHON_OPS:
                tokens = node.strings.get("token", [])
                detail = f"op {op}" + (f", token {_show(tokens[0])}" if tokens else "")
                self.report("MLS-TF-001", op, node.path, node.offset, detail)
            elif op in FILE_OPS:
                paths = constants.inputs(node, range(len(node.inputs)))
                shown = f"; constant argument {_show(paths[0])}" if paths else ""
                self.report(
                    "MLS-TF-002", op, node.path, node.offset, f"op {op} {FILE_OPS[op]}{shown}"
                )
            elif op in GRAPH_OPS:
                self.report("MLS-TF-008", op, node.path, node.offset, f"op {op} {GRAPH_OPS[op]}")
            elif op in NETWORK_OPS:
                self.report("MLS-TF-003", op, node.path, node.offset, f"op {op} {NETWORK_OPS[op]}")
            elif op in _ATTRIBUTE_PATHS:
                attr, risky = _ATTRIBUTE_PATHS[op]
                hits = [v for v in node.strings.get(attr, []) if risky(v)]
                if hits:
                    detail = f"op {op} with {attr} {_show(hits[0])}"
                    rule = "MLS-TF-003" if _is_remote(hits[0]) else "MLS-TF-002"
                    self.report(rule, f"{op}:{attr}", node.path, node.offset, detail)
            elif op in _PATH_ARGUMENTS:
                for value in constants.inputs(node, _PATH_ARGUMENTS[op]):
                    why = _escape(value)
                    if not why and op in _EXACT_FILE_OPS and value and self.in_saved_model:
                        # Opened as given: a relative path is read from the working
                        # directory (often the home directory), not from the model, whose
                        # files are assets. A tensor the loader feeds with an asset's path
                        # (TF1 models) is no constant. (A frozen graph has no assets: its
                        # tables read from where it is run, by design.)
                        fed = constants.inputs(node, _PATH_ARGUMENTS[op], fed=self.asset_tensors)
                        if value in fed:
                            why = f"a relative path, {_EXACT_FILE_OPS[op]} the working directory"
                    if why:
                        detail = f"op {op} file argument {_show(value)}: {why}"
                        self.report("MLS-TF-004", f"{op}:{value}", node.path, node.offset, detail)
            elif op and op not in CORE_OPS and op not in functions and op not in _INTERNAL_OPS:
                self.report("MLS-TF-006", op, node.path, node.offset, f"op {_show(op)}")
            elif not op:
                self.report("MLS-TF-006", "", node.path, node.offset, "a node without an op name")

    def saver(self, f: Field) -> None:
        """The SaverDef's filename tensor: the loader feeds it the variables path."""
        for g in self.fields(f):
            if g.wire == LEN and g.number == _SAVER_FILENAME:
                self.asset_tensors = self.asset_tensors | {self.text(g).split(":", 1)[0]}

    def asset(self, f: Field, path: str) -> None:
        for g in self.fields(f):
            if g.wire == LEN and g.number == _ASSET_TENSOR:
                for h in self.fields(g):
                    if h.wire == LEN and h.number == _TENSOR_INFO_NAME:
                        name = self.text(h).split(":", 1)[0]
                        self.asset_tensors = self.asset_tensors | {name}
            elif g.wire == LEN and g.number == _ASSET_FILENAME:
                name = self.text(g)
                why = _escape(name)
                if why:
                    detail = f"asset filename {_show(name)}: {why}"
                    self.report("MLS-TF-005", name, path, g.offset, detail)

    def object_graph(self, f: Field, path: str) -> None:
        index = 0
        for g in self.fields(f):
            if g.wire != LEN or g.number != _OBJECTS_NODES:
                continue
            for h in self.fields(g):
                if h.wire == LEN and h.number == _OBJECT_USER:
                    self.user_object(h, f"{path}.nodes[{index}].user_object")
            index += 1

    def user_object(self, f: Field, path: str) -> None:
        identifier = ""
        metadata: Field | None = None
        for g in self.fields(f):
            if g.wire == LEN and g.number == _USER_IDENTIFIER:
                identifier = self.text(g)
            elif g.wire == LEN and g.number == _USER_METADATA:
                metadata = g
        if metadata is not None and metadata.end > metadata.start:
            self.keras_json(metadata, f"{path}[{identifier!r}].metadata")

    # --- keras_metadata.pb ------------------------------------------------------------------

    def saved_metadata(self) -> None:
        index = 0
        for f in iter_fields(self.buf):
            if f.number != _KM_NODES or f.wire != LEN:
                continue
            node_path = ""
            metadata: Field | None = None
            for g in self.fields(f):
                if g.wire == LEN and g.number == _KM_PATH:
                    node_path = self.text(g)
                elif g.wire == LEN and g.number == _KM_METADATA:
                    metadata = g
            if metadata is not None and metadata.end > metadata.start:
                label = f"nodes[{index}]" + (f"({node_path})" if node_path else "")
                self.keras_json(metadata, f"{label}.metadata")
            index += 1

    def keras_json(self, f: Field, path: str) -> None:
        """A Keras object's JSON config, handed to the Keras config walker."""
        size = f.end - f.start
        if size > _MAX_METADATA:
            raise ScanError(f"{path}: {size} bytes of Keras metadata; too large to analyse")
        self.keras_text(bytes(self.buf[f.start : f.end]), f, path)

    def keras_text(self, raw: bytes | str, f: Field, path: str) -> None:
        if self.quiet and raw.lstrip()[:1] not in ("{", b"{"):
            return  # another message's bytes, read as Keras metadata by another reading
        try:
            config = json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.findings.append(
                _finding("MLS-KERAS-010", self.blob, path, f.start, f"{len(raw)} bytes: {exc}")
            )
            self.ctx.error(self.blob, f"Keras metadata is not valid JSON ({exc})", key_path=path)
            return
        self.findings.extend(
            walk_keras_config(config, blob=self.blob, ctx=self.ctx, root=path, offset=f.start)
        )

    def grouped(self) -> list[Finding]:
        out: list[Finding] = []
        for group in self.groups.values():
            more = f" (and {group.count - 1} more nodes)" if group.count > 1 else ""
            out.append(
                _finding(group.rule, self.blob, group.path, group.offset, group.detail + more)
            )
        return out


def _finding(rule: str, blob: Blob, path: str, offset: int, evidence: str) -> Finding:
    spec = _RULES[rule]
    return Finding(
        rule=rule,
        severity=spec.severity,
        category=spec.category,
        title=spec.title,
        location=blob.location(offset=offset, key_path=path),
        evidence=evidence,
        why=spec.why,
        remediation=spec.remediation,
        cwe=spec.cwe,
    )


#: Ops whose output is (a piece of) their data inputs' strings: a constant path passed through
#: one still names that path.
_PASS_THROUGH = frozenset(
    {"Identity", "IdentityN", "Snapshot", "StopGradient", "PreventGradient", "RefIdentity",
     "PlaceholderWithDefault", "EnsureShape", "CheckNumerics", "DeepCopy", "Copy", "CopyHost",
     "Pack", "ConcatV2", "Concat", "Reshape", "ExpandDims", "Squeeze", "Tile", "BroadcastTo",
     "Gather", "GatherV2", "GatherNd", "Slice", "StridedSlice", "Unpack", "Split", "SplitV",
     "Select", "SelectV2", "Enter", "RefEnter", "Exit", "RefExit", "Switch", "RefSwitch",
     "Merge", "RefMerge", "NextIteration", "StringStrip", "ShardedFilename", "ShardedFilespec",
     "Fill", "ZerosLike", "OnesLike", "_Retval", "Print", "PrintV2"}
)  # fmt: skip
_MAX_RESOLVE_DEPTH = 64
_MAX_RESOLVED = 256


class _Constants:
    """The constant strings that reach a node's inputs within one scope (a graph or a function
    body): ``Const`` values, followed through ops that pass strings on (``Identity``,
    ``PlaceholderWithDefault``, ``Pack``...) and joined by ``StringJoin`` (an input that is not
    constant, like a function argument, joins as a plain name)."""

    def __init__(self, nodes: list[_Node], arguments: dict[str, list[str]] | None = None) -> None:
        self.nodes = {n.name: n for n in nodes if n.name}
        self.arguments = arguments or {}
        """A function body's argument name → the constants its callers pass."""
        self.memo: dict[str, list[str]] = {}

    def inputs(self, node: _Node, indices: Any, fed: frozenset[str] = frozenset()) -> list[str]:
        """The constant strings reaching ``node``'s inputs at ``indices``; ``fed`` names
        tensors the loader feeds, which count as no constant."""
        if fed:
            kept = [n for n in self.nodes.values() if n.name not in fed]
            return _Constants(kept, self.arguments).inputs(node, indices)
        values: list[str] = []
        for index in indices:
            if index < len(node.inputs):
                values += self.source(node.inputs[index], 0)
        return values[:_MAX_RESOLVED]

    def source(self, source: str, depth: int) -> list[str]:
        """Graph inputs read ``name`` or ``name:1``; function bodies ``name:output:0``;
        ``^name`` is a control dependency, not data."""
        if source.startswith("^"):
            return []
        name = source.split(":", 1)[0]
        if name in self.memo:
            return self.memo[name]
        node = self.nodes.get(name)
        if node is None:
            return self.arguments.get(name, [])
        if depth > _MAX_RESOLVE_DEPTH:
            return []
        self.memo[name] = []  # a cycle (a loop's NextIteration) resolves to nothing more
        values: list[str] = []
        if node.op == "Const":
            values = node.strings.get("value", [])
        elif node.op in _PASS_THROUGH:
            for item in node.inputs:
                values += self.source(item, depth + 1)
                if len(values) >= _MAX_RESOLVED:
                    break
        elif node.op == "StringJoin":
            separator = (node.strings.get("separator") or [""])[0]
            parts = []
            for item in node.inputs:
                if item.startswith("^"):
                    continue
                found = self.source(item, depth + 1)
                parts.append(found[0] if found else "input")
            values = [separator.join(parts)] if parts else []
        self.memo[name] = values[:_MAX_RESOLVED]
        return self.memo[name]


#: Ops that call the library function named by their ``f`` attribute with their inputs.
_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall", "TPUPartitionedCall"})
_MAX_BINDING_ROUNDS = 8


def _bind_arguments(
    nodes: list[_Node],
    functions: list[tuple[str, list[_Node]]],
    signatures: dict[str, list[str]],
) -> dict[str, dict[str, list[str]]]:
    """For each library function, the constants its call sites pass to each argument: a
    constant path handed to a function call reaches the ops in its body. Calls inside
    functions pass on what they were passed (a few rounds, for nested calls)."""
    bound: dict[str, dict[str, list[str]]] = {}
    scopes: list[tuple[str | None, list[_Node]]] = [(None, nodes), *functions]
    for _ in range(_MAX_BINDING_ROUNDS):
        changed = False
        for scope, members in scopes:
            constants = _Constants(members, bound.get(scope) if scope is not None else None)
            for node in watched(members):
                target = node.op
                if node.op in _CALL_OPS:
                    target = (node.strings.get("f") or [""])[0]
                arguments = signatures.get(target)
                if not arguments:
                    continue
                for index, argument in enumerate(arguments):
                    values = constants.inputs(node, [index])
                    known = bound.setdefault(target, {}).setdefault(argument, [])
                    new = [v for v in values if v not in known][: _MAX_RESOLVED - len(known)]
                    if new:
                        known += new
                        changed = True
        if not changed:
            break
    return bound


def _escape(path: str) -> str:
    """Why ``path`` reaches outside the model directory ("" when it does not)."""
    if "\x00" in path:
        return "a NUL byte (C code stops reading the path there)"
    if path.startswith(("/", "\\", "~")):
        return "an absolute path"
    if re.match(r"^[A-Za-z]:", path):
        return "a Windows drive letter"
    if ".." in re.split(r"[\\/]+", path):
        return "'..' components"
    if _URL_SCHEME.match(path):
        return "a URL (TensorFlow's file systems read gs://, s3://, hdfs:// and http(s) paths)"
    return ""


def _is_remote(value: str) -> bool:
    return bool(_URL_SCHEME.match(value)) and not value.startswith("file://")


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_EVIDENCE else shown[:_MAX_EVIDENCE] + "..."


# --- identification ---------------------------------------------------------------------------


def _top_level(head: memoryview) -> list[tuple[int, int, int, int]]:
    """(number, value start, end within ``head``, declared end) of the length-delimited
    top-level fields of ``head``, in order; a field the head cuts short comes last."""
    return [
        (f.number, f.start, f.end, f.start + f.value)
        for f in iter_fields(head, head=True, partial=True)
        if f.wire == LEN
    ]


def _first_varint(head: memoryview, number: int) -> int | None:
    """The first varint field ``number`` of ``head``, if it comes before any other kind."""
    for f in iter_fields(head, head=True, partial=True):
        if f.wire != VARINT:
            return None
        if f.number == number:
            return f.value
    return None


def _inner_numbers(head: memoryview, start: int, end: int, cut: bool) -> dict[int, list[Field]]:
    found: dict[int, list[Field]] = {}
    for item in iter_fields(head, start, end, head=cut, partial=cut):
        found.setdefault(item.number, []).append(item)
    return found


def identify_savedmodel(view: View) -> Identification | None:
    """A SavedModel (``saved_model_schema_version`` and a ``MetaGraphDef``), a Keras
    ``SavedMetadata`` (nodes naming ``_tf_keras_*`` objects), or a ``.pb`` that is no protobuf.

    Read with the protobuf reader the scan uses. Neither message has a magic number: the field
    layout (a first meta graph whose fields are all messages numbered as MetaGraphDef's, with a
    graph or meta info) is what sets a SavedModel apart from ONNX, whose field 2 is a producer
    name. Unknown fields are skipped, as TensorFlow's parser skips them; a file that is both
    (ONNX's graph and opset fields too) is scanned as both.
    """
    text = _identify_text(view)
    if text is not None:
        return text
    head = memoryview(view.head)
    found = _identify_binary(head, view)
    if found is None and view.suffix == ".pb":
        # Large fields TensorFlow's parser skips (unknown ones) may fill the head: look again
        # at the head of what follows them.
        spliced = _past_large_fields(view)
        if spliced is not None:
            found = _identify_binary(memoryview(spliced), replace(view, head=spliced, size=None))
    if found is not None or view.suffix != ".pb":
        return found
    try:
        for _ in iter_fields(head, head=view.truncated):
            pass
    except ProtobufError as exc:
        return Identification(
            Format.TF_SAVED_MODEL,
            Family.PROTOBUF,
            False,
            "file named .pb (TensorFlow protobuf) that is not protobuf",
            f"protobuf parse fails: {exc}",
            problem=f"not protobuf ({exc}): TensorFlow refuses it",
        )
    return None


def _identify_binary(head: memoryview, view: View) -> Identification | None:
    """Each binary reading in turn; one that the head breaks does not stop the next."""
    readings: list[Callable[[], Identification | None]] = [
        lambda: _identify_saved_model(head, view),
        lambda: _identify_metadata(head, view),
        lambda: _identify_graph_def(head, view),
    ]
    if view.suffix == ".pb":
        readings.append(lambda: _identify_metadata(head, view, loose=True))
    for reading in readings:
        try:
            found = reading()
        except ProtobufError:
            continue
        if found is not None:
            return found
    return None


_MAX_HOPS = 64


def _past_large_fields(view: View) -> bytes | None:
    """The file's top-level fields with those larger than half the head left out, as a new
    head; a field numbered 1 or 2 (a node, a meta graph, Keras' nodes) is kept, cut to fit.
    None when nothing was left out, or the top level does not parse."""
    if view.size is None or not view.truncated:
        return None
    budget = len(view.head)
    out = bytearray()
    pos, skipped = 0, False
    for _ in range(_MAX_HOPS):
        if pos >= view.size or len(out) >= budget:
            break
        chunk = memoryview(view.read_at(pos, 24))
        try:
            key, at = read_varint(chunk, 0, len(chunk))
            wire, number = key & 7, key >> 3
            if wire == VARINT:
                _, at = read_varint(chunk, at, len(chunk))
                end = pos + at
            elif wire == FIXED64:
                end = pos + at + 8
            elif wire == FIXED32:
                end = pos + at + 4
            elif wire == LEN:
                length, at = read_varint(chunk, at, len(chunk))
                end = pos + at + length
            else:
                return None
        except ProtobufError:
            return None
        if end > view.size:
            return None
        if wire == LEN and end - pos > budget // 2:
            if number in (_SM_META_GRAPHS, _GRAPH_NODE):
                out += view.read_at(pos, budget - len(out))
                break
            skipped = True
        else:
            out += view.read_at(pos, end - pos)
        pos = end
    return bytes(out[:budget]) if skipped else None


def _identify_saved_model(head: memoryview, view: View) -> Identification | None:
    # The schema version (a varint) is written first; a writer may leave it out (0). Loaders
    # do not check it, so in a .pb any value goes.
    loose = view.suffix == ".pb"
    version = _first_varint(head, _SM_VERSION)
    if version is not None and version > 16 and not loose:
        return None
    fields = _top_level(head)
    if any(number == _SM_VERSION for number, *_ in fields) and (
        not loose or _identify_graph_def(head, view) is not None
    ):
        # Field 1 is a message: a GraphDef's nodes, not a schema version. (A .pb that is both,
        # or whose field 1 has the wrong wire type and so is skipped by TensorFlow's parser, is
        # walked as a SavedModel too: see scan_savedmodel.)
        return None
    for number, start, end, declared in fields:
        if number != _SM_META_GRAPHS:
            continue
        cut = view.size is not None and declared > view.size
        inner = _inner_numbers(head, start, end, end < declared)
        # MetaGraphDef's own fields are all messages; fields it does not define are skipped by
        # TensorFlow's parser, so they are allowed here too (a .pb needs no more than that), and
        # so is a defined field with another wire type, which the parser skips as unknown.
        known = {n: items for n, items in inner.items() if n in _MG_FIELDS}
        if any(f.wire != LEN for items in known.values() for f in items) and not loose:
            return None
        if not {_MG_INFO, _MG_GRAPH} & set(known) and view.suffix != ".pb":
            return None
        if not known and not inner:
            return None
        return Identification(
            Format.TF_SAVED_MODEL,
            Family.PROTOBUF,
            False,
            f"TensorFlow SavedModel (schema version {version or 0})",
            f"protobuf SavedModel: saved_model_schema_version {version}, a MetaGraphDef with "
            f"fields {sorted(inner)}",
            problem=(
                f"truncated: a meta graph of {declared - start} bytes runs past the end of the "
                "file; TensorFlow refuses it"
                if cut
                else None
            ),
        )
    return None


def _identify_metadata(head: memoryview, view: View, loose: bool = False) -> Identification | None:
    # Loose (a .pb that is no GraphDef): fields SavedObject does not define (skipped by the
    # parser) and nodes in front are allowed: the first node whose identifier is Keras' or
    # whose metadata is a JSON object is the one looked at.
    for number, start, end, declared in _top_level(head):
        if number != _KM_NODES:
            continue
        if view.size is not None and declared > view.size:
            return None
        inner = _inner_numbers(head, start, end, end < declared)
        if not loose:
            break
        if _keras_like(head, inner):
            inner = {n: items for n, items in inner.items() if n in _KM_FIELDS}
            break
    else:
        return None
    if not inner or not set(inner) <= _KM_FIELDS or not {_KM_IDENTIFIER, _KM_METADATA} & set(inner):
        return None
    # Keras names every object it saves "_tf_keras_..."; a first node that does not (a decoy in
    # front of the real layers) still counts when another node does, or the file is a .pb.
    identifier = inner.get(_KM_IDENTIFIER, [None])[0]
    named = (
        identifier is not None
        and bytes(head[identifier.start : identifier.start + 9]) == b"_tf_keras"
    )
    if not named and b"_tf_keras" not in view.head and view.suffix != ".pb":
        return None
    shown = bytes(head[identifier.start : identifier.end]) if identifier is not None else None
    return Identification(
        Format.KERAS_METADATA,
        Family.PROTOBUF,
        False,
        "Keras SavedModel metadata (keras_metadata.pb)",
        f"protobuf SavedMetadata: a first node with identifier {shown!r}",
    )


def _keras_like(head: memoryview, inner: dict[int, list[Field]]) -> bool:
    for item in inner.get(_KM_IDENTIFIER, []):
        if item.wire == LEN and bytes(head[item.start : item.start + 9]) == b"_tf_keras":
            return True
    for item in inner.get(_KM_METADATA, []):
        if item.wire == LEN and bytes(head[item.start : item.end]).lstrip()[:1] == b"{":
            return True
    return False


def _identify_graph_def(head: memoryview, view: View) -> Identification | None:
    """A bare ``GraphDef`` (a frozen graph, ``tf.io.write_graph`` output): its first field is a
    NodeDef with a name and an op TensorFlow defines (any op when the file is a ``.pb``)."""
    # In a .pb, as TensorFlow's parser reads it: other fields (versions, library, unknown ones)
    # may come first, and the node's own unknown or wrong-wire-type fields are skipped.
    loose = view.suffix == ".pb"
    fields = _top_level(head)
    bent = False  # read past something a GraphDef writer does not write: the op must be core
    if loose:
        nodes = [f for f in fields if f[0] == _GRAPH_NODE and f[2] > f[1]]
        bent = nodes[:1] != fields[:1]
        fields = nodes
    if not fields or fields[0][0] != _GRAPH_NODE:
        return None
    _, start, end, declared = fields[0]
    if view.size is not None and declared > view.size:
        return None
    inner = _inner_numbers(head, start, end, end < declared)
    if loose:
        kept = {
            n: [f for f in items if f.wire == LEN]
            for n, items in inner.items()
            if n in _NODE_FIELDS and any(f.wire == LEN for f in items)
        }
        bent = bent or kept != inner
        inner = kept
    if not {_NODE_NAME, _NODE_OP} <= set(inner) or not set(inner) <= _NODE_FIELDS:
        return None
    if any(f.wire != LEN for items in inner.values() for f in items):
        return None
    op_field = inner[_NODE_OP][0]
    op = bytes(head[op_field.start : op_field.end]).decode("utf-8", "replace")
    if not _OP_NAME.match(op) or (op not in CORE_OPS and (view.suffix != ".pb" or bent)):
        return None
    return Identification(
        Format.TF_GRAPH_DEF,
        Family.PROTOBUF,
        False,
        "TensorFlow GraphDef (frozen graph)",
        f"protobuf GraphDef: first NodeDef runs op {op!r}",
    )


# --- text format (saved_model.pbtxt, graph.pbtxt) -------------------------------------------

# Protobuf text format: whitespace and '#' comments between tokens, strings in either quote
# with C escapes, and adjacent strings concatenated ("Py" "Func" is "PyFunc").
_WS = rb"(?:\s|#[^\n]*(?:\n|$))*"
_QUOTED = rb"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
_STRINGS = _QUOTED + rb"(?:" + _WS + _QUOTED + rb")*"
# The first field of a SavedModel or GraphDef in text format.
# Between a field's name and its value or message: comments too, and '<' opens a message.
_TEXT_START = re.compile(
    rb"^"
    + _WS
    + rb"(saved_model_schema_version|meta_graphs|node|library|versions)"
    + _WS
    + rb"[:{<]"
)
_TEXT_OP = re.compile(rb"\bop" + _WS + rb":")
# A string or a comment is one token, matched whole from its start, so that a field name
# inside one ("op:" as an input's text) is never taken for a field, nor hides the next one.
_TEXT_STRING = re.compile(
    rb"(?P<skip>"
    + _QUOTED
    + rb"|#[^\n]*)|\b(?P<field>op|filename|metadata)"
    + _WS
    + rb":"
    + _WS
    + rb"(?P<value>"
    + _STRINGS
    + rb")"
)
_TEXT_SIGNATURE = re.compile(
    rb"\bsignature"
    + _WS
    + rb":?"
    + _WS
    + rb"\{"
    + _WS
    + rb"name"
    + _WS
    + rb":"
    + _WS
    + rb"("
    + _STRINGS
    + rb")"
)
_QUOTED_RE = re.compile(_QUOTED)
_MAX_TEXT_BYTES = 256 << 20


def _identify_text(view: View) -> Identification | None:
    """A SavedModel or GraphDef in protobuf text format (``saved_model.pbtxt``, which the loader
    reads when there is no ``saved_model.pb``; ``tf.io.write_graph(as_text=True)``)."""
    match = _TEXT_START.match(view.head)
    if match is None or b"\x00" in view.head[:4096]:
        return None
    first = match.group(1).decode()
    # A GraphDef's fields may come in any order: versions or the function library first.
    graph = first in ("node", "library", "versions")
    if graph and _TEXT_OP.search(view.head) is None:
        return None
    kind = "GraphDef" if graph else "SavedModel"
    return Identification(
        Format.TF_GRAPH_DEF if graph else Format.TF_SAVED_MODEL,
        Family.TEXT,
        False,
        f"TensorFlow {kind} in protobuf text format",
        f"text opening with the field {first}",
    )


_ESCAPE = re.compile(
    rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.S
)
_SIMPLE_ESCAPES = {
    b"a": b"\a", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t",
    b"v": b"\v", b"\\": b"\\", b"'": b"'", b'"': b'"', b"?": b"?",
}  # fmt: skip


def _unescape(match: re.Match[bytes]) -> bytes:
    octal, hexa, short, long, other = match.groups()
    if octal:
        return bytes([int(octal, 8) & 0xFF])
    if hexa:
        return bytes([int(hexa, 16)])
    if short or long:
        point = int(short or long, 16)
        if point > 0x10FFFF:
            return bytes(match[0])
        return chr(point).encode("utf-8", "surrogatepass")
    return _SIMPLE_ESCAPES.get(other, bytes(match[0]))


def _unquote(raw: bytes) -> str:
    """The value of adjacent quoted strings, escapes decoded as protobuf's text-format tokenizer
    decodes them: C escapes, octal, ``\\x`` with one or two hex digits, and the ``\\u`` and
    ``\\U`` Unicode escapes (``"\\u0050yFunc"`` is ``PyFunc``)."""
    value = b"".join(_ESCAPE.sub(_unescape, quoted[1:-1]) for quoted in _QUOTED_RE.findall(raw))
    return value.decode("utf-8", "replace")


def _scan_text(blob: Blob, ctx: ScanContext) -> list[Finding]:
    """The ops, asset file names and Keras metadata of a text-format SavedModel or GraphDef.

    Text format has no lengths to follow: every ``op: "..."`` string field is a node's op,
    wherever it sits (graph, function library), every ``filename`` an asset's, every
    ``metadata`` a Keras object's JSON. Constants are not resolved, so checkpoint ops are not
    judged here; an op's name alone decides.
    """
    if blob.size > _MAX_TEXT_BYTES:
        raise ScanError(f"text-format model of {blob.size} bytes exceeds the {_MAX_TEXT_BYTES} cap")
    with blob.buffer() as raw:
        data = bytes(raw)
    walker = _Walker(memoryview(data), blob, ctx)
    functions = {_unquote(m.group(1)) for m in _TEXT_SIGNATURE.finditer(data)}
    nodes: list[_Node] = []
    line, counted = 1, 0
    for match in watched(_TEXT_STRING.finditer(data)):
        if match.group("skip") is not None:
            continue
        field_name, value = match.group("field"), _unquote(match.group("value"))
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        where = f"line {line}"
        if field_name == b"op":
            nodes.append(_Node("", value, f"{where}(op {value!r})", match.start()))
        elif field_name == b"filename":
            why = _escape(value)
            if why:
                walker.report(
                    "MLS-TF-005",
                    value,
                    where,
                    match.start(),
                    f"asset filename {_show(value)}: {why}",
                )
        elif field_name == b"metadata" and value.lstrip().startswith("{"):
            span = Field(0, LEN, 0, 0, 0, match.start())
            walker.keras_text(value, span, f"{where}.metadata")
    walker.judge_scope(nodes, functions)
    return walker.findings + walker.grouped()


# --- entry point ------------------------------------------------------------------------------

_READINGS = (Format.TF_SAVED_MODEL, Format.TF_GRAPH_DEF, Format.KERAS_METADATA)


def _keras_named(name: str) -> bool:
    return name.replace("\\", "/").rsplit("/", 1)[-1].lower() == "keras_metadata.pb"


def _other_readings(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """High-severity findings of the file read as the other TensorFlow messages.

    None of the three messages has a magic number, and their parsers skip the fields (and the
    wire types) they do not define: the same bytes can be a SavedModel when the loader opens
    ``saved_model.pb``, a GraphDef when ``tf.import_graph_def`` reads them and Keras metadata
    as ``keras_metadata.pb``. Identification picks one reading; the others are walked here too
    (Keras metadata only for a file of that name),
    quietly: a reading that does not parse is one TensorFlow refuses too (its error is dropped),
    and of what parses only high and critical findings count, so a benign file read as the
    wrong message raises no noise.
    """
    found: list[Finding] = []
    quiet = replace(ctx, errors=[], formats={})
    with blob.buffer() as raw, memoryview(raw) as view:
        for reading in _READINGS:
            if reading is ident.format:
                continue
            if reading is Format.KERAS_METADATA and not _keras_named(blob.name):
                # Keras opens keras_metadata.pb by that name only (and a graph's every node
                # would otherwise be tried as a Keras object).
                continue
            walker = _Walker(view, blob, quiet)
            walker.quiet = True
            try:
                if reading is Format.KERAS_METADATA:
                    walker.saved_metadata()
                elif reading is Format.TF_GRAPH_DEF:
                    walker.graph([Field(0, LEN, len(view), 0, len(view), 0)], "graph_def")
                else:
                    walker.saved_model()
            except (ProtobufError, ScanError):
                continue
            found += [f for f in walker.findings + walker.grouped() if f.severity >= Severity.HIGH]
    return found


def scan_savedmodel(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan ``saved_model.pb``, a frozen ``GraphDef`` or ``keras_metadata.pb``; a malformed one
    is a finding and an error (the check fails closed), after what was read is judged."""
    if ident.family is Family.TEXT:
        return _scan_text(blob, ctx)
    error: ProtobufError | None = None
    with blob.buffer() as raw, memoryview(raw) as view:
        walker = _Walker(view, blob, ctx)
        walker.lenient = ident.problem is not None
        try:
            if ident.format is Format.KERAS_METADATA:
                walker.saved_metadata()
            elif ident.format is Format.TF_GRAPH_DEF:
                walker.graph([Field(0, LEN, len(view), 0, len(view), 0)], "graph_def")
            else:
                walker.saved_model()
        except ProtobufError as exc:
            error = exc
        except ScanError as exc:
            stopped = str(exc)
            if not walker.findings and not walker.groups:
                raise ScanError(stopped) from None
            ctx.error(blob, stopped)  # findings outrank errors
        message = str(error) if error is not None else ""
        error = None  # tracebacks hold frames, frames hold slices of the mmap
    findings = walker.findings + walker.grouped()
    findings += _other_readings(blob, ident, ctx)
    if walker.top_numbers & _ONNX_GRAPH_FIELDS:
        # Also an ONNX ModelProto (graph, opset): onnx.load reads that side of the polyglot.
        try:
            findings += scan_onnx(blob, ident, ctx)
        except ScanError as exc:
            ctx.error(blob, f"read as ONNX: {exc}")
    problem = ident.problem or (f"malformed protobuf: {message}" if message else "")
    if problem:
        # Reported after what was read before the damage (findings outrank errors).
        findings.append(_finding("MLS-TF-007", blob, "", 0, problem))
        ctx.error(blob, f"not a valid TensorFlow protobuf ({problem})")
    return findings
