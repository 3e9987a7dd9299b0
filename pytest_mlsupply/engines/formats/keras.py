"""Keras models: ``.keras`` archives (Keras 3) and legacy HDF5 ``.h5`` files with a model config.

A Keras model is rebuilt from a JSON config: every ``{"module", "class_name", "config"}`` object
in it names something the loader imports and instantiates. That is where code hides —
``Lambda`` layers carry marshalled Python bytecode, ``module`` can name any importable module
(older Keras 3 imports it even in safe mode), ``TorchModuleWrapper`` carries a pickled torch
module, ``TFSMLayer`` loads a SavedModel from a path, and Keras' own ``get_file`` downloads at
load time. One walker (:func:`walk_keras_config`) reads configs from both containers, at any
depth, without importing or unmarshalling anything.

The ``.keras`` archive is read with the one zip reader (:mod:`~pytest_mlsupply.engines.ziparchive`,
which reads at least everything :mod:`zipfile`, Keras' reader, accepts); its other members
(``model.weights.h5``, ``assets/``, ``metadata.json``) go back to the scanner. Legacy ``.h5`` files are not parsed
as a whole (h5py is not a dependency): the ``model_config`` / ``training_config`` attribute
names are located in the bytes, the attribute message around each is read (its value inline or
in the global heap), and, where that fails, the JSON is looked for by its first keys. A file that
names a ``model_config`` whose JSON cannot be found fails closed.

Rules: MLS-KERAS-001..009 (see ``docs/checks-onnx-keras.md``).
"""

from __future__ import annotations

import binascii
import json
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint
from pytest_mlsupply.engines.containers import read_handled_member, scan_zip_members
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.strings import StringAnalyser
from pytest_mlsupply.engines.ziparchive import ZipEntry, ZipListing
from pytest_mlsupply.printable import printable
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["KERAS_PACKAGES", "scan_hdf5", "scan_keras_archive", "walk_keras_config"]

#: Top-level packages whose classes a Keras config may name without importing third-party code.
KERAS_PACKAGES = frozenset({"keras", "keras_hub", "keras_nlp", "keras_cv", "tf_keras"})
_KERAS_MODULE_PREFIXES = ("tensorflow.keras", "tensorflow.python.keras")

# JSON configs larger than this are not a model description; they cannot be analysed here.
_MAX_CONFIG_BYTES = 64 << 20
_MAX_NODES = 5_000_000
_MAX_FINDINGS_PER_RULE = 50
_MAX_EVIDENCE = 200
_MAX_H5_HITS = 100_000
# Where an inline HDF5 attribute value starts after its name: datatype and dataspace messages
# sit in between and take well under this.
_H5_VALUE_WINDOW = 4096
_JSON_WINDOWS = (64 << 10, 1 << 20, 16 << 20, _MAX_CONFIG_BYTES)

_URL = re.compile(r"\b(?:https?|ftp|gs|s3|hf|file)://[^\s\"']+", re.IGNORECASE)
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{1,254}")
# marshal's type codes for short ASCII strings: 'z', and 'Z' when interned (one length byte).
_MARSHAL_SHORT_STRINGS = frozenset(b"zZ")

#: Keras functions that fetch or load other artifacts, or switch protections off, when a
#: config names them (``{"class_name": "function", "config": NAME}``).
_FETCHING_FUNCTIONS = frozenset({"get_file"})
_UNSAFE_SWITCHES = frozenset({"enable_unsafe_deserialization"})
_LOADING_FUNCTIONS = frozenset(
    {"load_model", "load_weights", "model_from_json", "model_from_config", "model_from_yaml"}
)
_LAMBDA_CLASSES = frozenset({"Lambda", "keras.layers.Lambda", "keras>Lambda"})


# --- the shared config walker -----------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    severity: Severity
    category: str
    title: str
    why: str
    remediation: str
    cwe: str


_RULES: dict[str, _Rule] = {
    "MLS-KERAS-001": _Rule(
        Severity.CRITICAL,
        "code-execution",
        "Lambda layer carries serialized Python bytecode",
        "the bytecode is unmarshalled into a function and run when the model is rebuilt or "
        "called; with safe_mode=False (or a legacy .h5 loader, which never checks) it runs "
        "whatever its author wrote",
        "replace the Lambda by a registered custom layer whose code you ship and review, and "
        "never load this file with safe_mode=False",
        "CWE-94",
    ),
    "MLS-KERAS-002": _Rule(
        Severity.MEDIUM,
        "code-execution",
        "Lambda layer calls a named Python function",
        "the function is looked up by name when the model loads; what runs depends on the "
        "modules of the loading environment",
        "replace the Lambda by a registered custom layer",
        "CWE-470",
    ),
    "MLS-KERAS-003": _Rule(
        Severity.HIGH,
        "code-execution",
        "config imports a module outside Keras",
        "Keras imports the named module to find the class or function (Keras before 3.9 does so "
        "even in safe mode); importing a module runs its code, and the object is then called",
        "only load configs whose objects come from keras / keras_hub; pass trusted custom "
        "classes through custom_objects instead of letting the file name modules",
        "CWE-470",
    ),
    "MLS-KERAS-004": _Rule(
        Severity.CRITICAL,
        "unsafe-deserialization",
        "TorchModuleWrapper carries a pickled torch module",
        "the wrapped module is restored with torch.load, i.e. unpickled: any code in the pickle "
        "runs when the model loads",
        "rebuild the torch module in code and load only its weights (safetensors)",
        "CWE-502",
    ),
    "MLS-KERAS-005": _Rule(
        Severity.HIGH,
        "untrusted-code",
        "TFSMLayer loads a TensorFlow SavedModel from a path",
        "the SavedModel named by the config is loaded with its graph, which can read and write "
        "files; the path points outside the reviewed artifact",
        "ship the layer's weights inside the model, or review and pin the SavedModel it loads",
        "CWE-829",
    ),
    "MLS-KERAS-006": _Rule(
        Severity.HIGH,
        "remote-content",
        "config downloads content at load time",
        "keras.utils.get_file or a URL in the config fetches bytes from the network while the "
        "model loads: unpinned, unreviewed content (and get_file can write anywhere it is told)",
        "vendor everything the model needs into the artifact; no URLs in model configs",
        "CWE-494",
    ),
    "MLS-KERAS-007": _Rule(
        Severity.HIGH,
        "protection-bypass",
        "config switches Keras' safe mode off",
        "safe_mode=False or a call to enable_unsafe_deserialization lets every Lambda and "
        "serialized function in this or a later-loaded model run",
        "remove the setting; a model never needs to turn its loader's protections off",
        "CWE-693",
    ),
    "MLS-KERAS-008": _Rule(
        Severity.MEDIUM,
        "untrusted-code",
        "config needs a custom object from another package",
        "a registered name outside Keras resolves to whatever class the loading process "
        "registered (or was given in custom_objects) under that name",
        "make sure the package that registers the class is a trusted, pinned dependency",
        "CWE-829",
    ),
    "MLS-KERAS-009": _Rule(
        Severity.HIGH,
        "untrusted-code",
        "config loads another model while it loads",
        "a config that calls load_model / model_from_json pulls in a second artifact the scan "
        "never saw, possibly with different loader settings",
        "flatten the model into one artifact",
        "CWE-829",
    ),
}


class _Walk:
    """State of one walk: findings so far, and how many each rule has produced."""

    def __init__(self, blob: Blob, ctx: ScanContext, root: str, offset: int | None) -> None:
        self.blob = blob
        self.ctx = ctx
        self.root = root
        self.offset = offset
        self.findings: list[Finding] = []
        self.counts: dict[str, int] = {}

    def report(self, rule: str, path: str, evidence: str) -> None:
        count = self.counts.get(rule, 0)
        self.counts[rule] = count + 1
        if count >= _MAX_FINDINGS_PER_RULE:
            return
        spec = _RULES[rule]
        self.findings.append(
            Finding(
                rule=rule,
                severity=spec.severity,
                category=spec.category,
                title=spec.title,
                location=self.blob.location(offset=self.offset, key_path=path),
                evidence=evidence,
                why=spec.why,
                remediation=spec.remediation,
                cwe=spec.cwe,
            )
        )


def walk_keras_config(
    config: Any,
    *,
    blob: Blob,
    ctx: ScanContext,
    root: str,
    offset: int | None = None,
) -> list[Finding]:
    """Every finding in a parsed Keras config (``config.json``, ``model_config``, ...).

    ``root`` starts every key path (``config.json``, ``model_config``); ``offset`` is where the
    JSON starts in the scanned bytes, when known. The walk is iterative and visits every dict,
    list and string at any depth: nested models, wrappers, compile configs and all.
    """
    walk = _Walk(blob, ctx, root, offset)
    stack: list[tuple[Any, str]] = [(config, root)]
    nodes = 0
    while stack:
        value, path = stack.pop()
        nodes += 1
        if not nodes % CHECK_EVERY:
            ctx.checkpoint()  # a config of 10^5 layers: the scan's budgets
        if nodes > _MAX_NODES:
            raise ScanError(f"{root}: more than {_MAX_NODES} values; too large to analyse")
        if isinstance(value, dict):
            _visit_object(walk, value, path)
            children = [(v, f"{path}.{k}") for k, v in value.items()]
        elif isinstance(value, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            if isinstance(value, str):
                _visit_string(walk, value, path)
            continue
        stack.extend(reversed(children))
    # Encoded pickles and templates in any string of the config: the shared string analyser,
    # less the values this walk already handed to the scanner (a TorchModuleWrapper's pickle).
    strings = StringAnalyser(blob, ctx.policy.pickle)
    scanned = {f.location.member for f in walk.findings if f.location.member}

    def new(finding: Finding) -> bool:
        # As Blob.child named the member: a JSON key is the publisher's, escaped there.
        path = printable((finding.location.key_path or "").split(" (", 1)[0])
        return not any(m == path or m.endswith("/" + path) for m in scanned)

    return walk.findings + [f for f in strings.walk(config, root) + strings.finish() if new(f)]


def _visit_object(walk: _Walk, obj: dict[str, Any], path: str) -> None:
    class_name = obj.get("class_name")
    inner = obj.get("config")
    inner_config = inner if isinstance(inner, dict) else {}
    if "safe_mode" in obj and obj["safe_mode"] is False:
        walk.report("MLS-KERAS-007", f"{path}.safe_mode", "safe_mode: false")
    if not isinstance(class_name, str):
        return
    module = obj.get("module")
    registered = obj.get("registered_name")
    if isinstance(module, str) and not _is_keras_module(module):
        walk.report(
            "MLS-KERAS-003",
            f"{path}.module",
            f"module {_show(module)}, class_name {_show(class_name)}"
            + (f", config {_show(inner)}" if isinstance(inner, str) else ""),
        )
    if isinstance(registered, str) and ">" in registered:
        package = registered.split(">", 1)[0]
        if package.split(".", 1)[0].lower() not in KERAS_PACKAGES:
            walk.report(
                "MLS-KERAS-008", f"{path}.registered_name", f"registered_name {_show(registered)}"
            )
    if class_name == "__lambda__":
        code = inner_config.get("code")
        if code is None and isinstance(inner_config.get("value"), list | str):
            value = inner_config["value"]
            code = value[0] if isinstance(value, list) and value else value
        walk.report("MLS-KERAS-001", path, "__lambda__ object; " + _describe_bytecode(code))
    elif class_name in _LAMBDA_CLASSES or class_name.endswith(">Lambda"):
        _visit_lambda(walk, inner_config, path)
    elif class_name == "TorchModuleWrapper" or class_name.endswith(">TorchModuleWrapper"):
        _visit_torch_wrapper(walk, inner_config, path)
    elif class_name == "TFSMLayer" or class_name.endswith(">TFSMLayer"):
        target = inner_config.get("filepath")
        walk.report("MLS-KERAS-005", path, f"TFSMLayer filepath {_show(target)}")
    elif class_name == "function" and isinstance(inner, str):
        name = inner.rsplit(".", 1)[-1]
        qualified = f"{module}.{name}" if isinstance(module, str) else name
        if name in _FETCHING_FUNCTIONS:
            walk.report("MLS-KERAS-006", path, f"function {qualified}")
        elif name in _UNSAFE_SWITCHES:
            pass  # the string visit reports it, wherever it appears
        elif name in _LOADING_FUNCTIONS:
            walk.report("MLS-KERAS-009", path, f"function {qualified}")


def _visit_lambda(walk: _Walk, config: dict[str, Any], path: str) -> None:
    """Keras 2 / legacy Lambda: ``function`` is [code, defaults, closure] or a name."""
    found_code = False
    for key, type_key in (("function", "function_type"), ("output_shape", "output_shape_type")):
        value = config.get(key)
        kind = config.get(type_key)
        if isinstance(value, dict):
            if value.get("class_name") == "__lambda__":
                found_code = True  # reported when the walk reaches the __lambda__ object
            continue
        code = value[0] if isinstance(value, list) and value else value
        if kind == "lambda" or (key == "function" and kind is None and _looks_like_bytecode(code)):
            found_code = True
            walk.report(
                "MLS-KERAS-001",
                f"{path}.config.{key}",
                f"Lambda {key}; " + _describe_bytecode(code),
            )
    if not found_code:
        function = config.get("function")
        shown = function if not isinstance(function, dict) else function.get("config")
        walk.report(
            "MLS-KERAS-002",
            f"{path}.config.function",
            f"Lambda function {_show(shown)} (module {_show(config.get('module'))})",
        )


def _visit_torch_wrapper(walk: _Walk, config: dict[str, Any], path: str) -> None:
    payload = _wrapper_bytes(config.get("module"))
    size = f"{len(payload)} bytes of torch.save output" if payload else "no module bytes"
    walk.report("MLS-KERAS-004", f"{path}.config.module", f"TorchModuleWrapper with {size}")
    if payload and walk.blob.depth < walk.ctx.policy.limits.max_depth:
        child = walk.blob.child(f"{path}.config.module", payload)
        walk.findings.extend(walk.ctx.scan_blob(child))


def _wrapper_bytes(value: Any) -> bytes:
    """The torch.save bytes a TorchModuleWrapper config holds (base64 text or ``__bytes__``)."""
    if isinstance(value, dict) and value.get("class_name") == "__bytes__":
        value = (value.get("config") or {}).get("value")
    if not isinstance(value, str) or not value:
        return b""
    try:
        return binascii.a2b_base64(value)
    except (binascii.Error, ValueError):
        # Old Keras wrote the bytes as text; map characters back to bytes one to one.
        return value.encode("latin-1", "replace")


def _visit_string(walk: _Walk, text: str, path: str) -> None:
    if "enable_unsafe_deserialization" in text:
        walk.report("MLS-KERAS-007", path, f"mentions enable_unsafe_deserialization: {_show(text)}")
    url = _URL.search(text)
    if url is not None:
        walk.report("MLS-KERAS-006", path, f"URL {_show(url.group(0))}")
    elif ("get_file(" in text or "utils.get_file" in text) and len(text) < 4096:
        walk.report("MLS-KERAS-006", path, f"names get_file: {_show(text)}")


def _is_keras_module(module: str) -> bool:
    if module.split(".", 1)[0] in KERAS_PACKAGES:
        return True
    return any(module == p or module.startswith(p + ".") for p in _KERAS_MODULE_PREFIXES)


def _looks_like_bytecode(code: Any) -> bool:
    raw = _b64(code)
    return raw is not None and len(raw) > 16 and raw[0] & 0x7F == ord("c")


def _b64(code: Any) -> bytes | None:
    if not isinstance(code, str):
        return None
    try:
        return binascii.a2b_base64(code)
    except (binascii.Error, ValueError):
        return None


def _describe_bytecode(code: Any) -> str:
    """Size and names of marshalled code, read as bytes (it is never unmarshalled)."""
    raw = _b64(code)
    if raw is None:
        return f"function payload {_show(code)} (not base64)"
    kind = "a marshalled code object" if raw[:1] and raw[0] & 0x7F == ord("c") else "bytes"
    names = _marshal_names(raw)
    listed = f"; names in it: {', '.join(names)}" if names else ""
    return f"base64 decodes to {len(raw)} bytes, {kind}{listed}"


def _marshal_names(raw: bytes) -> list[str]:
    """Identifiers among marshal's short strings (type byte, length byte, ASCII): the names
    and attributes the code uses, without unmarshalling it."""
    names: list[str] = []
    pos = 0
    end = min(len(raw), 64 << 10)
    while pos + 2 < end and len(names) < 12:
        if raw[pos] & 0x7F in _MARSHAL_SHORT_STRINGS:
            length = raw[pos + 1]
            text = raw[pos + 2 : pos + 2 + length]
            if length >= 2 and len(text) == length and _IDENTIFIER.fullmatch(text):
                name = text.decode("ascii")
                if name not in names:
                    names.append(name)
                pos += 2 + length
                continue
        pos += 1
    return names


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_EVIDENCE else shown[:_MAX_EVIDENCE] + "..."


def _loads(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScanError(f"{what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ScanError(f"{what} is nested too deeply to analyse") from None


# --- identification ----------------------------------------------------------------------------

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def claim_keras_zip(listing: ZipListing) -> Identification | None:
    """A zip with ``config.json`` at its root. Keras reads (and acts on) that config before it
    looks for weights, so it is enough: the engine walks it and scans every other member."""
    root = {entry.name for entry in listing.files if "/" not in entry.name}
    if "config.json" not in root:
        return None
    return Identification(
        Format.KERAS_V3,
        Family.ZIP,
        False,
        "Keras v3 archive (config.json at the root)",
        f"{listing.evidence}; root members {', '.join(sorted(root)[:5])}",
    )


def identify_hdf5(view: View) -> Identification | None:
    """An HDF5 file (Keras ``.h5`` or other), found where the engine looks for its superblock."""
    at = find_superblock(view.read_at if view.file is not None else _head_reader(view), view.size)
    if at is None:
        return None
    return Identification(
        Format.HDF5,
        Family.HDF5,
        False,
        "HDF5 file (Keras .h5 or other)",
        f"signature 89 48 44 46 0d 0a 1a 0a at byte {at}",
    )


def _head_reader(view: View) -> Callable[[int, int], bytes]:
    return lambda offset, length: view.head[offset : offset + length]


# --- .keras archives --------------------------------------------------------------------------


def scan_keras_archive(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan a Keras 3 ``.keras`` zip: every ``config.json`` entry, then the other members.

    The archive is walked by the zip engine (the way torch and Keras both read it, with its
    checks for traversal names, links, duplicates and bombs); ``config.json`` entries (every
    one of a duplicated name: Keras reads the last) are handed to the config walker instead of
    being rescanned as plain JSON.
    """
    seen_config = False

    def handle(fh: BinaryIO, entry: ZipEntry, size: int) -> list[Finding] | None:
        nonlocal seen_config
        if entry.name != "config.json":
            return None
        data = read_handled_member(
            fh, entry, size, limit=_MAX_CONFIG_BYTES, ctx=ctx, label=entry.name
        )
        seen_config = True
        config = _loads(data, "config.json")
        return walk_keras_config(config, blob=blob, ctx=ctx, root="config.json")

    findings = scan_zip_members(blob, ctx, handle)
    if not seen_config:
        raise ScanError("a .keras archive without config.json: Keras cannot load it")
    return findings


# --- legacy HDF5 --------------------------------------------------------------------------------

_H5_ATTRIBUTES = (b"model_config", b"training_config")
# The keys Keras writes first in each attribute's JSON: where the attribute message itself cannot
# be read, the JSON is looked for by them, wherever it is stored.
_H5_JSON_KEYS: dict[bytes, tuple[bytes, ...]] = {
    b"model_config": (b'"class_name"', b'"module"'),
    b"training_config": (b'"loss"', b'"optimizer_config"'),
}
_H5_MAX_ELEMENTS = 1024
_WHITESPACE = b" \t\r\n"


@dataclass
class _H5Config:
    attribute: str
    start: int
    end: int
    value: Any


def scan_hdf5(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan an HDF5 file for a Keras ``model_config`` / ``training_config`` and walk them.

    An HDF5 file without those attributes (weights only, or not Keras at all) has nothing to
    run and yields nothing.
    """
    with blob.buffer() as buf:
        configs, present = _h5_configs(buf)
    findings: list[Finding] = []
    for config in configs:
        findings.extend(
            walk_keras_config(
                config.value, blob=blob, ctx=ctx, root=config.attribute, offset=config.start
            )
        )
    found = {c.attribute for c in configs}
    missing = [name for name in present if name not in found]
    if missing:
        text = (
            f"the file names a Keras {' and '.join(missing)} attribute but its JSON could not "
            "be located; the model config cannot be analysed"
        )
        if not findings:
            raise ScanError(text)
        ctx.errors.append(f"{blob.location().describe()}: {text}")
    return findings


def _h5_configs(buf: bytes | Any) -> tuple[list[_H5Config], list[str]]:
    """JSON values stored in Keras' attributes, and the attribute names present.

    First the attribute messages themselves are read (name, datatype, dataspace, then the value
    inline or in the global heap), which finds exactly the bytes the loader reads. Where a
    message cannot be read, the JSON is looked for after the name and by its first keys.
    """
    configs: list[_H5Config] = []
    spans: list[tuple[int, int]] = []

    def take(label: str, start: int, value: Any, end: int) -> None:
        if isinstance(value, dict) and not _inside(spans, start):
            configs.append(_H5Config(label, start, end, value))
            spans.append((start, end))

    def take_at(label: str, start: int) -> None:
        decoded = _decode_json_at(buf, start)
        if decoded is not None:
            take(label, start, decoded[0], decoded[1])

    geometry = _h5_geometry(buf)
    present = {name: list(_find_all(buf, name, 0)) for name in _H5_ATTRIBUTES}
    unread: list[tuple[bytes, int]] = []
    for name, hits in present.items():
        for hit in hits:
            values = _attribute_values(buf, hit, name, geometry)
            if values is None:
                unread.append((name, hit))
            for start, raw in values or ():
                try:
                    value = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    continue
                take(name.decode(), start, value, start + len(raw))
    # Messages we could not read (a layout this reader does not know): the JSON that follows.
    for name, hit in unread:
        window_end = min(len(buf), hit + len(name) + _H5_VALUE_WINDOW)
        start = buf.find(b"{", hit + len(name), window_end)
        if start >= 0:
            take_at(name.decode(), start)
    # And wherever else the JSON may be stored: by the keys Keras writes first.
    for name, hits in present.items():
        if not hits:
            continue
        for key in _H5_JSON_KEYS[name]:
            for at in _find_all(buf, key, 0, spans):
                opening = _object_start(buf, at)
                if opening is not None:
                    take_at(name.decode(), opening)
    return configs, [name.decode() for name, hits in present.items() if hits]


def _object_start(buf: bytes | Any, key_at: int) -> int | None:
    """The ``{`` that opens the object whose first key starts at ``key_at``, if any."""
    pos = key_at - 1
    while pos >= 0 and key_at - pos <= 64 and buf[pos] in _WHITESPACE:
        pos -= 1
    return pos if pos >= 0 and buf[pos] == ord("{") else None


@dataclass(frozen=True)
class _H5Geometry:
    """What the superblock says about addresses: where they start and how wide they are."""

    base: int
    offsets: int
    lengths: int


def find_superblock(read_at: Callable[[int, int], bytes], size: int | None) -> int | None:
    """Where the HDF5 superblock starts: at 0, or after a user block (512, 1024, 2048, ...)."""
    at = 0
    while size is None or at + 8 <= size:
        chunk = read_at(at, 8)
        if chunk == HDF5_SIGNATURE:
            return at
        if len(chunk) < 8:
            return None
        at = 512 if at == 0 else at * 2
    return None


def _h5_geometry(buf: bytes | Any) -> _H5Geometry | None:
    at = find_superblock(lambda offset, length: bytes(buf[offset : offset + length]), len(buf))
    if at is None or at + 32 > len(buf):
        return None
    version = buf[at + 8]
    if version in (0, 1):
        offsets, lengths = buf[at + 13], buf[at + 14]
        base_at = at + (24 if version == 0 else 28)
    elif version in (2, 3):
        offsets, lengths = buf[at + 9], buf[at + 10]
        base_at = at + 12
    else:
        return None
    if offsets not in (2, 4, 8) or lengths not in (2, 4, 8):
        return None
    base = int.from_bytes(buf[base_at : base_at + offsets], "little")
    # Addresses count from the superblock when it follows a user block and records base 0.
    return _H5Geometry(base or at, offsets, lengths)


def _attribute_values(
    buf: bytes | Any, hit: int, name: bytes, geometry: _H5Geometry | None
) -> list[tuple[int, bytes]] | None:
    """The string values of the attribute message whose name is at ``hit``, with their offsets.

    None when no attribute message (versions 1 to 3) frames the name there, or its datatype is
    not a string, or its layout is one this reader does not follow (shared messages).
    """
    name_size = len(name) + 1
    if buf[hit + len(name) : hit + name_size] != b"\x00":
        return None
    for version, header in ((1, 8), (2, 8), (3, 9)):
        head = hit - header
        if head < 0 or buf[head] != version:
            continue
        sizes = struct.unpack_from("<HHH", buf, head + 2)
        if sizes[0] != name_size or (version > 1 and buf[head + 1] & 0x03):
            continue  # another name size, or a shared datatype / dataspace
        align = 8 if version == 1 else 1
        datatype = hit + _aligned(name_size, align)
        dataspace = datatype + _aligned(sizes[1], align)
        data = dataspace + _aligned(sizes[2], align)
        count = _dataspace_elements(buf, dataspace, geometry)
        if count is None or data > len(buf):
            return None
        return _string_values(buf, datatype, data, count, geometry)
    return None


def _aligned(size: int, align: int) -> int:
    return size + (-size % align)


def _dataspace_elements(buf: bytes | Any, at: int, geometry: _H5Geometry | None) -> int | None:
    if at + 8 > len(buf):
        return None
    version, rank = buf[at], buf[at + 1]
    width = geometry.lengths if geometry else 8
    if version == 1:
        dims_at = at + 8
    elif version == 2:
        if buf[at + 3] == 2:
            return 0  # a null dataspace: no value
        dims_at = at + 4
    else:
        return None
    count = 1
    for i in range(rank):
        start = dims_at + i * width
        count *= int.from_bytes(buf[start : start + width], "little")
    return count if count <= _H5_MAX_ELEMENTS else None


def _string_values(
    buf: bytes | Any, datatype: int, data: int, count: int, geometry: _H5Geometry | None
) -> list[tuple[int, bytes]] | None:
    type_class = buf[datatype] & 0x0F
    (size,) = struct.unpack_from("<I", buf, datatype + 4)
    values: list[tuple[int, bytes]] = []
    if type_class == 3:  # fixed-length string, stored inline
        for i in range(count):
            checkpoint()
            start = data + i * size
            if size > _MAX_CONFIG_BYTES or start + size > len(buf):
                return None
            values.append((start, bytes(buf[start : start + size]).rstrip(b"\x00")))
        return values
    if type_class == 9 and buf[datatype + 1] & 0x0F == 1 and geometry is not None:
        # Variable-length string: (length, global heap collection address, object index).
        width = 4 + geometry.offsets + 4
        for i in range(count):
            checkpoint(costly=True)  # each value walks a heap collection
            at = data + i * width
            if at + width > len(buf):
                return None
            address = int.from_bytes(buf[at + 4 : at + 4 + geometry.offsets], "little")
            (index,) = struct.unpack_from("<I", buf, at + 4 + geometry.offsets)
            found = _global_heap_object(buf, geometry, address, index)
            if found is None:
                return None
            values.append(found)
        return values
    return None


def _global_heap_object(
    buf: bytes | Any, geometry: _H5Geometry, address: int, index: int
) -> tuple[int, bytes] | None:
    """Object ``index`` of the global heap collection at ``address`` ("GCOL")."""
    lengths = geometry.lengths
    pos = geometry.base + address
    if buf[pos : pos + 4] != b"GCOL":
        return None
    size = int.from_bytes(buf[pos + 8 : pos + 8 + lengths], "little")
    end = min(pos + size, len(buf))
    at = pos + 8 + lengths
    count = 0
    while at + 8 + lengths <= end:
        count += 1
        if not count % CHECK_EVERY:
            checkpoint()
        (object_index,) = struct.unpack_from("<H", buf, at)
        object_size = int.from_bytes(buf[at + 8 : at + 8 + lengths], "little")
        start = at + 8 + lengths
        if object_index == 0:
            return None  # free space ends the objects in use
        if object_index == index:
            if object_size > _MAX_CONFIG_BYTES or start + object_size > len(buf):
                return None
            return start, bytes(buf[start : start + object_size])
        at = start + _aligned(object_size, 8)
    return None


def _inside(spans: list[tuple[int, int]], offset: int) -> bool:
    return any(start <= offset < end for start, end in spans)


def _find_all(
    buf: bytes | Any, needle: bytes, start: int, spans: list[tuple[int, int]] | None = None
) -> Iterator[int]:
    """Offsets of ``needle`` (a C-speed scan), stepping over already-decoded JSON spans."""
    hits = 0
    pos = start
    while True:
        found = buf.find(needle, pos)
        if found < 0:
            return
        span = next((s for s in spans or () if s[0] <= found < s[1]), None)
        if span is not None:
            pos = span[1]
            continue
        hits += 1
        # Each hit is a message read, perhaps a JSON value decoded from a window of up to
        # 64 MiB: the clock is read at every hit, not at every 64th.
        checkpoint(costly=True)
        if hits > _MAX_H5_HITS:
            raise ScanError(f"more than {_MAX_H5_HITS} occurrences of {needle!r}; cannot analyse")
        yield found
        pos = found + 1


def _decode_json_at(buf: bytes | Any, start: int) -> tuple[Any, int] | None:
    """The JSON value starting at ``start`` and the offset just past it, or None.

    :meth:`json.JSONDecoder.raw_decode` is a string-aware bracket matcher in C: it stops at the
    end of the value whatever bytes follow. The window grows only while the value is cut short.
    """
    decoder = json.JSONDecoder()
    for window in _JSON_WINDOWS:
        chunk = bytes(buf[start : start + window])
        text = chunk.decode("utf-8", "surrogateescape")
        try:
            value, end = decoder.raw_decode(text)
        except json.JSONDecodeError as exc:
            cut_short = exc.msg.startswith("Unterminated string") or exc.pos >= len(text) - 16
            if not cut_short or start + window >= len(buf):
                return None
            continue
        except RecursionError:
            return None
        return value, start + len(text[:end].encode("utf-8", "surrogateescape"))
    return None
