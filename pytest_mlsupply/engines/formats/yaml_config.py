"""YAML configuration that loaders act on: python tags, Hydra ``_target_`` keys, MLflow ``MLmodel``.

One reader (:func:`read_yaml`) walks PyYAML's *event stream* (the safe loader's scanner and
parser; no composer, no constructor): it never builds a Python object, never resolves an alias
into a copy, and sees every tag exactly as the parser resolved it — ``!!python/...``, a verbatim
``!<tag:yaml.org,2002:python/...>``, a ``%TAG`` handle, ``%2E``-style escapes in a verbatim tag
or a suffix all arrive as one decoded tag URI, on keys, sequences, mappings, in flow collections
and in every document of a stream. Detection is therefore on what the loader will construct,
never on a pattern over the text.

What is reported (rules MLS-YAML-0xx, documented in ``docs/checks-config.md``):

* a ``tag:yaml.org,2002:python/...`` tag that constructs, calls or imports (``object``,
  ``object/apply``, ``object/new``, ``name``, ``module``, and any python tag PyYAML does not
  define) is critical, the callable judged by the pickle policy for the evidence; PyYAML's plain
  data tags (``python/tuple``...) are low; any other non-standard tag is medium (a custom
  constructor the application registered);
* Hydra / OmegaConf ``_target_`` (``hydra.utils.instantiate`` imports and calls it): a target the
  pickle policy finds dangerous or suspicious is critical, a resolver of other names
  (``hydra.utils.get_method``...) is high unless its arguments are judged so, a target outside the
  well-known ML libraries is medium, one inside them is not reported; a plain ``${a.b}``
  interpolation is followed to the key it names, any other computed target is high; the older
  keys NeMo and Lightning CLI import from (``target``, ``cls``, ``class_path``) are critical when
  the policy condemns their dotted name; ``trust_remote_code`` beside a target is high;
* interpolations through resolvers named like code evaluators (``${eval:...}``) are medium;
* a config-position YAML file (``*.yaml``, ``*.yml``, ``MLmodel``, or text opening with a
  ``%YAML`` / ``%TAG`` directive) that does not parse, or is too large to analyse.

Any other text file (a renamed config) is read for python tags only, because a loader pointed at
it constructs them whatever its name. ``MLmodel`` documents are handed to
:mod:`pytest_mlsupply.engines.formats.mlflow` with the tree read here.

:func:`string_scalars` exposes every string scalar with its key path, for analysers of values.
"""

from __future__ import annotations

import codecs
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import yaml

from pytest_mlsupply.engines.blob import Blob
from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint
from pytest_mlsupply.engines.pickle.policy import Decision, Verdict, decide
from pytest_mlsupply.engines.python_paths import CODE_FILE
from pytest_mlsupply.engines.yaml_loader import LinearSafeLoader
from pytest_mlsupply.results import Finding, Location, Severity

__all__ = [
    "MAX_EVENTS",
    "MAX_YAML_BYTES",
    "TARGET_KEY",
    "YAML_SUFFIXES",
    "Alias",
    "DocumentCheck",
    "Mapping",
    "Node",
    "Scalar",
    "Sequence",
    "StringScalar",
    "YamlStream",
    "is_config_position",
    "merged_pairs",
    "read_yaml",
    "scan_yaml_text",
    "string_scalars",
    "too_large_to_read",
]

#: YAML documents larger than this are not parsed: no real config comes close, and PyYAML's
#: pure-Python parser takes seconds per megabyte.
MAX_YAML_BYTES = 4 << 20
#: Parser events read at most (an event is a scalar, an alias, or a collection's start or end).
MAX_EVENTS = 1_000_000
YAML_SUFFIXES = (".yaml", ".yml")
#: Names without a YAML suffix that loaders read as YAML.
YAML_NAMES = frozenset({"mlmodel"})

_CORE = "tag:yaml.org,2002:"
_PYTHON = _CORE + "python/"
#: The tags of the YAML 1.1 type repository that safe loaders construct as plain data.
_STANDARD = frozenset(
    _CORE + name
    for name in (
        "str",
        "int",
        "float",
        "bool",
        "null",
        "map",
        "seq",
        "omap",
        "pairs",
        "set",
        "binary",
        "timestamp",
        "merge",
        "value",
    )
)
#: PyYAML's python tags that build plain data (FullLoader builds them; nothing is imported).
_PYTHON_DATA = frozenset(
    _PYTHON + name
    for name in (
        "none",
        "bool",
        "str",
        "unicode",
        "bytes",
        "int",
        "long",
        "float",
        "complex",
        "list",
        "tuple",
        "dict",
    )
)
#: PyYAML's python tags that import (``name``, ``module``) or construct and call.
_PYTHON_CODE = {
    "object/apply:": "calls",
    "object/new:": "constructs (cls.__new__ with arguments, then state)",
    "object:": "constructs (and sets state on)",
    "name:": "imports",
    "module:": "imports the module",
}


# --- the reader -------------------------------------------------------------------------------


@dataclass
class Scalar:
    value: str
    tag: str | None
    line: int
    anchor: str | None = None
    quoted: bool = False
    """Written in quotes (or as a block): always a string, never resolved to a bool or null."""

    @property
    def is_string(self) -> bool:
        """Whether the loader builds a str whatever the text says (``"false"`` is truthy)."""
        return self.quoted or self.tag == _CORE + "str"


@dataclass
class Alias:
    anchor: str
    line: int
    target: Node | None = None
    """The node anchored under that name earlier in the same document, as the composer finds
    it (None: undefined, which the loader refuses)."""


@dataclass
class Sequence:
    tag: str | None
    line: int
    anchor: str | None = None
    items: list[Node] = field(default_factory=list)


@dataclass
class Mapping:
    tag: str | None
    line: int
    anchor: str | None = None
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    """Every pair in document order, duplicate keys included (loaders keep the last)."""
    pending: Node | None = None


Node = Scalar | Alias | Sequence | Mapping


@dataclass
class YamlStream:
    """A YAML stream as the parser saw it: one tree per document, never constructed.

    When the parser stops (an error, or :data:`MAX_EVENTS`), the trees hold everything read up to
    there: ``yaml.load_all`` constructs the documents before an error, so what they carry counts.
    """

    documents: list[Node] = field(default_factory=list)
    anchors: dict[str, Node] = field(default_factory=dict)
    """The anchors of the document being read (the composer forgets them between documents)."""
    error: str | None = None
    error_line: int | None = None
    truncated: bool = False
    events: int = 0
    values_at: dict[str, str] | None = field(default=None, repr=False, compare=False)
    """Each scalar's value by its normalised key path (the first one), built on first use."""

    def resolve(self, node: Node) -> Node:
        """An alias's anchored node (never a copy: nothing is expanded)."""
        if isinstance(node, Alias) and node.target is not None:
            return node.target
        return node

    def prefix(self, index: int) -> str:
        return f"(document {index + 1}) " if len(self.documents) > 1 else ""


def read_yaml(text: str, *, max_events: int = MAX_EVENTS) -> YamlStream:
    """Parse ``text`` into event trees with the safe loader's scanner and parser."""
    stream = YamlStream()
    stack: list[Sequence | Mapping] = []

    def attach(node: Node) -> None:
        if not stack:
            stream.documents.append(node)
            return
        parent = stack[-1]
        if isinstance(parent, Sequence):
            parent.items.append(node)
        elif parent.pending is None:
            parent.pending = node
        else:
            parent.pairs.append((parent.pending, node))
            parent.pending = None

    def remember(anchor: str | None, node: Node) -> None:
        if anchor is not None:
            stream.anchors[anchor] = node

    try:
        # yaml.parse drives the safe loader's scanner and parser only: events, no objects.
        for event in yaml.parse(text, Loader=LinearSafeLoader):
            stream.events += 1
            if stream.events > max_events:
                stream.truncated = True
                break
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            if isinstance(event, yaml.ScalarEvent):
                quoted = event.style is not None  # ' " | > : not a plain scalar
                scalar = Scalar(event.value, _tag(event.tag), line, event.anchor, quoted)
                remember(event.anchor, scalar)
                attach(scalar)
            elif isinstance(event, yaml.AliasEvent):
                anchor = event.anchor or ""
                attach(Alias(anchor, line, stream.anchors.get(anchor)))
            elif isinstance(event, yaml.DocumentStartEvent):
                stream.anchors = {}
            elif isinstance(event, yaml.SequenceStartEvent):
                sequence = Sequence(_tag(event.tag), line, event.anchor)
                remember(event.anchor, sequence)
                stack.append(sequence)
            elif isinstance(event, yaml.MappingStartEvent):
                mapping = Mapping(_tag(event.tag), line, event.anchor)
                remember(event.anchor, mapping)
                stack.append(mapping)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)) and stack:
                attach(_close(stack.pop()))
    except yaml.YAMLError as exc:
        stream.error = str(exc)
        mark = getattr(exc, "problem_mark", None)
        stream.error_line = mark.line + 1 if mark is not None else None
    # Collections left open by an error or the cap keep what they hold.
    while stack:
        attach(_close(stack.pop()))
    return stream


def _tag(tag: str | None) -> str | None:
    # "!" is the non-specific tag: the resolver picks str/map/seq, as for an untagged node.
    return None if tag in (None, "!") else tag


def _close(node: Sequence | Mapping) -> Node:
    if isinstance(node, Mapping) and node.pending is not None:
        node.pairs.append((node.pending, Scalar("", None, node.pending.line)))
        node.pending = None
    return node


class StringScalar(NamedTuple):
    """A string value and where it sits: what analysers of encoded payloads walk."""

    key_path: str
    key: str
    value: str
    line: int


@dataclass(frozen=True)
class _Visit:
    node: Node
    path: str
    key: str
    is_key: bool = False

    @property
    def where(self) -> str | None:
        """The key path for a finding (a key is named as the key itself)."""
        path = self.path.rstrip()
        if self.is_key:
            return f"{path} (the key itself)"
        return path or None


def _walk(stream: YamlStream) -> Iterator[_Visit]:
    """Every node of every document, keys included, with its key path (iterative: no depth
    limit). A key is visited at the path of its mapping, with the key text ``?`` marked."""
    for index, document in enumerate(stream.documents):
        todo = [_Visit(document, stream.prefix(index), "")]
        visited = 0
        while todo:
            visit = todo.pop()
            visited += 1
            if not visited % CHECK_EVERY:
                checkpoint()  # every pass over a config of 10^5 nodes: the scan's budgets
            yield visit
            node = visit.node
            if isinstance(node, Sequence):
                for position in range(len(node.items) - 1, -1, -1):
                    path = f"{visit.path}[{position}]"
                    todo.append(_Visit(node.items[position], path, str(position)))
            elif isinstance(node, Mapping):
                for key, value in reversed(node.pairs):
                    name = _key_text(stream, key)
                    path = _join(visit.path, name)
                    todo.append(_Visit(value, path, name))
                    todo.append(_Visit(key, path, name, is_key=True))


def merged_pairs(stream: YamlStream, mapping: Mapping) -> list[tuple[Node, Node]]:
    """The pairs a loader builds for ``mapping``: ``<<`` merge keys expanded (PyYAML's
    ``flatten_mapping``, which safe loaders, OmegaConf and MLflow all use) before the explicit
    pairs, so that with "the last duplicate wins" explicit keys override merged ones and the
    first of a merged sequence overrides the later ones. Nothing is copied; cycles stop."""
    seen: set[int] = set()

    def flatten(node: Mapping) -> list[tuple[Node, Node]]:
        if id(node) in seen:
            return []
        seen.add(id(node))
        merged: list[tuple[Node, Node]] = []
        explicit: list[tuple[Node, Node]] = []
        for key, value in node.pairs:
            resolved_key = stream.resolve(key)
            if not _is_merge_key(resolved_key):
                explicit.append((key, value))
                continue
            source = stream.resolve(value)
            sources = [source] if isinstance(source, Mapping) else []
            if isinstance(source, Sequence):
                items = [stream.resolve(item) for item in source.items]
                sources = [item for item in reversed(items) if isinstance(item, Mapping)]
            for item in sources:
                merged += flatten(item)
        return merged + explicit

    return flatten(mapping)


def _is_merge_key(key: Node) -> bool:
    if not isinstance(key, Scalar):
        return False
    if key.tag is not None:
        return key.tag == _CORE + "merge"
    return not key.quoted and key.value == "<<"


def _key_text(stream: YamlStream, key: Node) -> str:
    resolved = stream.resolve(key)
    if isinstance(resolved, Scalar) and resolved.value:
        return resolved.value
    return "?"


def _join(path: str, name: str) -> str:
    if not path or path.endswith(") "):
        return f"{path}{name}"
    return f"{path}.{name}"


def string_scalars(stream: YamlStream) -> Iterator[StringScalar]:
    """Every scalar value (not keys) with its key path: ``(key_path, key, value, line)``.

    Values the resolver reads as numbers or booleans are strings too at this level; a tagged
    ``!!binary`` value is yielded as its base64 text.
    """
    for visit in _walk(stream):
        node = visit.node
        if isinstance(node, Scalar) and not visit.is_key:
            yield StringScalar(visit.path.rstrip(), visit.key, node.value, node.line)


# --- identification of config positions ------------------------------------------------------


def is_config_position(name: str, text: str) -> bool:
    """Whether a loader reads this text as a YAML config: by name, or by a YAML directive."""
    lowered = name.lower()
    if lowered.endswith(YAML_SUFFIXES) or lowered in YAML_NAMES:
        return True
    # %YAML and %TAG directives exist only in YAML; whatever opens with one is YAML.
    for line in text.lstrip("\ufeff").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return stripped.startswith(("%YAML", "%TAG"))
    return False


# --- the scan ---------------------------------------------------------------------------------


#: A format-specific check of a config's documents (MLflow's MLmodel): run on config positions.
DocumentCheck = Callable[[Blob, YamlStream], list[Finding]]


def scan_yaml_text(blob: Blob, text: str, checks: tuple[DocumentCheck, ...] = ()) -> list[Finding]:
    """Analyse text a text engine read: a config in full, any other text for python tags."""
    config = is_config_position(blob.name, text)
    targets = TARGET_KEY in text
    if not config and "!" not in text and not targets:
        # Every tag starts with "!": text without one (or a _target_ key) constructs nothing.
        return []
    if len(text) > MAX_YAML_BYTES:
        if config or targets or _may_hold_python_tag(text):
            return [_too_large(blob, f"{len(text)} characters (cap {MAX_YAML_BYTES})")]
        return []
    stream = read_yaml(text)
    findings = _tag_findings(blob, stream)
    hidden = _hidden_after_error(text, stream)
    if hidden is not None:
        findings.append(_unread_payload(blob, stream, hidden))
    if not config:
        if stream.truncated and (targets or _may_hold_python_tag(text)):
            findings.append(_too_large(blob, f"more than {MAX_EVENTS} parser events"))
        if targets:
            # OmegaConf.load reads any file name (a renamed config, JSON): a _target_ that the
            # policy condemns is instantiated all the same (high verdicts are kept; the medium
            # ones, unknown packages and odd values, stay with *.yaml).
            findings += [f for f in _target_findings(blob, stream) if f.severity >= Severity.HIGH]
        return findings
    if stream.truncated:
        findings.append(_too_large(blob, f"more than {MAX_EVENTS} parser events"))
    if stream.error is not None:
        findings.append(_parse_failure(blob, stream))
    findings += _target_findings(blob, stream)
    findings += _resolver_findings(blob, stream)
    for check in checks:
        findings += check(blob, stream)
    return findings


# A tag property as the scanner reads one: "!" then a verbatim "<...>" or URI characters.
_TAG_TOKEN = re.compile(r"!(?:<[^>\s]*>|[^\s,\[\]{}]*)")


def _may_hold_python_tag(text: str) -> bool:
    """Whether text too large to parse could carry a python tag: a ``%TAG`` directive (any
    handle may then expand to one), or a tag token that names ``python`` once ``%xx`` escapes
    are decoded. Only decides whether the size is reported; detection is the parser's."""
    if "%TAG" in text:
        return True
    for match in _TAG_TOKEN.finditer(text):
        token = match.group(0)
        if "%" in token:
            token = urllib.parse.unquote(token)
        if "python" in token.lower():
            return True
    return False


def too_large_to_read(blob: Blob) -> list[Finding]:
    """A text blob above the text engine's read cap: a finding for a config, or for other text
    that may hold a python tag or a ``_target_`` (a YAML loader pointed at it reads its first
    document and constructs it however large the rest is), else nothing."""
    if is_config_position(blob.name, ""):
        return [_too_large(blob, f"{blob.size} bytes (cap {MAX_YAML_BYTES})")]
    if _stream_may_hold_code(blob):
        return [
            _too_large(blob, f"{blob.size} bytes, holding what may be a python tag or a _target_")
        ]
    return []


#: Text kept from one chunk to the next, longer than any tag token that can spell ``python``.
_OVERLAP = 4096
_CHUNK = 8 << 20


def _stream_may_hold_code(blob: Blob) -> bool:
    """:func:`_may_hold_python_tag` (or a ``_target_`` key) over a blob read in chunks."""
    with blob.open() as handle:
        head = handle.read(_CHUNK)
        encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        tail = ""
        chunk = head
        while chunk:
            text = tail + decoder.decode(chunk)
            if TARGET_KEY in text or _may_hold_python_tag(text):
                return True
            tail = text[-_OVERLAP:]
            chunk = handle.read(_CHUNK)
    return False


def _tag_findings(blob: Blob, stream: YamlStream) -> list[Finding]:
    findings: list[Finding] = []
    for visit in _walk(stream):
        node = visit.node
        tag = None if isinstance(node, Alias) else node.tag
        if tag is None or tag in _STANDARD:
            continue
        kind = {Scalar: "scalar", Sequence: "sequence", Mapping: "mapping"}[type(node)]
        location = blob.location(key_path=visit.where, line=node.line)
        if tag.lower().startswith(_PYTHON) and tag not in _PYTHON_DATA:
            findings.append(_python_tag(tag, kind, node, location))
        elif tag in _PYTHON_DATA:
            findings.append(
                Finding(
                    rule="MLS-YAML-002",
                    severity=Severity.LOW,
                    category="unsafe-serialization",
                    title="YAML python data tag: only unsafe loaders read this file",
                    location=location,
                    evidence=f"tag {tag!r} on a {kind}",
                    why="PyYAML's python data tags (tuple, complex, bytes...) import nothing, but "
                    "safe_load refuses them, so the file makes its users switch to a loader that "
                    "also runs python/object tags",
                    remediation="write plain YAML (lists instead of tuples) so the file loads "
                    "with yaml.safe_load",
                    cwe="CWE-502",
                )
            )
        else:
            findings.append(
                Finding(
                    rule="MLS-YAML-003",
                    severity=Severity.MEDIUM,
                    category="unsafe-serialization",
                    title="YAML tag outside the standard types: a custom constructor runs on it",
                    location=location,
                    evidence=f"tag {tag!r} on a {kind}",
                    why="a tag the YAML type repository does not define only loads through a "
                    "constructor the application registered (file includes, environment reads, "
                    "other languages' object tags); what it does is that code's choice",
                    remediation="check which constructor the loader registers for this tag, or "
                    "remove the tag",
                    cwe="CWE-502",
                )
            )
    return findings


def _python_tag(tag: str, kind: str, node: Node, location: Location) -> Finding:
    suffix = tag[len(_PYTHON) :]
    action, target = "constructs", ""
    for prefix, what in _PYTHON_CODE.items():
        if suffix.startswith(prefix):
            action, target = what, suffix[len(prefix) :]
            break
    else:
        action = "is a python tag PyYAML does not define (a loader may register it)"
    evidence = f"tag {tag!r} on a {kind}"
    if target:
        decision = _judge(target)
        evidence += f"; {action} {target}: {_verdict_text(decision)}"
    if isinstance(node, Scalar) and node.value:
        evidence += f"; value {node.value[:120]!r}"
    return Finding(
        rule="MLS-YAML-001",
        severity=Severity.CRITICAL,
        category="code-execution",
        title=f"YAML python tag {action.split(' (')[0]} {target or suffix}".rstrip(),
        location=location,
        evidence=evidence,
        why="yaml.load with the unsafe or full loader (and yaml.unsafe_load) imports and calls "
        "what python/object and python/name tags name while it reads the file: reading the "
        "config runs the code",
        remediation="do not load this file; configs are plain data and load with "
        "yaml.safe_load. Remove the tag and report the file's source",
        cwe="CWE-502",
    )


# --- Hydra / OmegaConf targets --------------------------------------------------------------

#: Top-level packages whose classes configs instantiate as a matter of course; a target inside
#: them is not reported unless the pickle policy finds it dangerous or suspicious.
KNOWN_ML_PACKAGES = frozenset(
    {
        "torch",
        "torchvision",
        "torchaudio",
        "torchmetrics",
        "torchtext",
        "lightning",
        "pytorch_lightning",
        "lightning_fabric",
        "nemo",
        "megatron",
        "apex",
        "transformers",
        "tokenizers",
        "datasets",
        "accelerate",
        "peft",
        "diffusers",
        "timm",
        "sentence_transformers",
        "sklearn",
        "numpy",
        "scipy",
        "pandas",
        "omegaconf",
        "einops",
        "hydra_zen",
        "keras",
        "tensorflow",
        "jax",
        "flax",
        "optax",
        "xgboost",
        "lightgbm",
        "catboost",
        "mlflow",
        "wandb",
        "deepspeed",
        "bitsandbytes",
        "lhotse",
        "librosa",
        "sentencepiece",
    }
)
#: Targets that resolve *other* names from the config at call time: their string arguments are
#: judged as targets too.
RESOLVERS = frozenset(
    {
        "hydra.utils.get_method",
        "hydra.utils.get_class",
        "hydra.utils.get_object",
        "hydra.utils.call",
        "hydra.utils.instantiate",
        "hydra._internal.utils._locate",
        "hydra._internal.instantiate._instantiate2.instantiate",
        "hydra._internal.instantiate._instantiate2._resolve_target",
        "pydoc.locate",
        "importlib.import_module",
        "operator.attrgetter",
        "operator.methodcaller",
        "functools.partial",
    }
)
#: The key ``hydra.utils.instantiate`` imports and calls.
TARGET_KEY = "_target_"
_TARGET_KEYS = (TARGET_KEY,)
#: Older spellings that loaders still import from: NeMo's ``from_config_dict`` (``target``,
#: Hydra 0.11's ``cls``), Lightning CLI / jsonargparse (``class_path``). Words this common are
#: judged only when they hold a dotted name, and reported only when the policy condemns it.
_LEGACY_TARGET_KEYS = ("target", "cls", "class_path")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FALSE = frozenset({"", "false", "no", "off", "null", "~", "0"})
#: Functions of the well-known libraries that write where their arguments say (torch.save of a
#: config-chosen path over ~/.bashrc): a config that instantiates them is still reported.
_FILE_WRITERS = frozenset(
    {
        "save",
        "savez",
        "savez_compressed",
        "save_file",
        "dump",
        "to_pickle",
        "to_csv",
        "tofile",
        "to_json",
        "to_excel",
        "to_parquet",
        "to_string",
        "to_markdown",
        "to_html",
        "to_latex",
        "to_xml",
        "to_feather",
        "to_hdf",
        "savetxt",
        "write_text",
        "write_bytes",
    }
)


#: Module names inside the well-known libraries that hold command-line and process helpers
#: or the implementation behind the public API (``keras.src``), rather than model API (test
#: helpers are recognised by name: ``test*``, ``*testing``).
_INTERNAL_MODULES = frozenset({"commands", "cli", "process", "scripts", "src"})


def _internal_part(target: str) -> str | None:
    """The first component of ``target`` (after the package) that is private (``_name``, not a
    dunder), a test helper module or a command-line module, or None for public API."""
    for part in target.split(".")[1:]:
        lowered = part.lower()
        if (
            (part.startswith("_") and not part.endswith("__"))
            or lowered.startswith("test")
            or lowered.endswith("testing")
            or lowered in _INTERNAL_MODULES
        ):
            return part
    return None


def _judge(dotted: str) -> Decision:
    """The pickle policy's verdict on a dotted name, read both ways a locator walks it: the
    module part then an attribute (``os.path`` + ``join``), and the first package then an
    attribute path through its namespace (``torch`` + ``os.system``). The worse one wins."""
    dotted = dotted.strip()
    if "." not in dotted:
        # A bare name reads as a builtin (eval, exec) in the loaders that accept one.
        return decide("builtins", dotted)
    module, name = dotted.rsplit(".", 1)
    first, rest = dotted.split(".", 1)
    one, two = decide(module, name), decide(first, rest)
    return two if two.verdict > one.verdict else one


def _verdict_text(decision: Decision) -> str:
    return f"{decision.verdict.name.lower()} ({decision.reason})"


def _target_findings(blob: Blob, stream: YamlStream) -> list[Finding]:
    findings: list[Finding] = []
    for visit in _walk(stream):
        # An aliased mapping is judged once, where it is anchored.
        node = visit.node
        if not isinstance(node, Mapping) or visit.is_key:
            continue
        has_target = any(
            _key_text(stream, key) in _TARGET_KEYS for key, _ in merged_pairs(stream, node)
        )
        for key, value in node.pairs:
            name = _key_text(stream, key)
            path = _join(visit.path, name).rstrip()
            finding: Finding | None = None
            if name in _TARGET_KEYS:
                finding = _target_finding(blob, stream, node, path, value)
            elif name in _LEGACY_TARGET_KEYS:
                finding = _legacy_target(blob, stream, name, path, value)
            if finding is not None:
                findings.append(finding)
        if has_target:
            findings += _remote_code(blob, stream, node, visit.path)
    return findings


def _legacy_target(
    blob: Blob, stream: YamlStream, key: str, path: str, value: Node
) -> Finding | None:
    resolved = stream.resolve(value)
    if not isinstance(resolved, Scalar) or not _DOTTED.match(resolved.value.strip()):
        return None
    target = resolved.value.strip()
    decision = _judge(target)
    if decision.verdict < Verdict.SUSPICIOUS:
        return None
    return _target(
        "MLS-YAML-010",
        Severity.CRITICAL,
        f"config key {key} imports {target}",
        blob.location(key_path=path, line=value.line),
        f"{key} {target!r}: {_verdict_text(decision)}",
        f"NeMo's from_config_dict ('target', 'cls') and Lightning CLI ('class_path') import the "
        f"dotted name under {key!r} and call it with the config",
    )


def _is_false(node: Node) -> bool:
    """Whether the loaded value is falsy: a plain ``false``/``no``/``0``/``null``, or an empty
    string. A quoted ``"false"`` is a non-empty str, which transformers takes as consent."""
    if not isinstance(node, Scalar):
        return False
    if node.is_string:
        return node.value == ""
    return node.value.strip().lower() in _FALSE


def _remote_code(blob: Blob, stream: YamlStream, mapping: Mapping, path: str) -> list[Finding]:
    findings: list[Finding] = []
    for key, value, where in _pairs_below(stream, mapping, path):
        if _key_text(stream, key) != "trust_remote_code" or _is_false(stream.resolve(value)):
            continue
        findings.append(
            _target(
                "MLS-YAML-014",
                Severity.HIGH,
                "instantiated target is told to trust remote code",
                blob.location(key_path=_join(where, "trust_remote_code").rstrip(), line=value.line),
                "trust_remote_code is set beside a _target_: the target (from_pretrained, a "
                "pipeline) imports Python code from the repository it downloads",
                "instantiating the config makes transformers import and run modelling code from "
                "a repository the config names, code that is not in this model directory",
            )
        )
    return findings


#: Final attributes of targets that load a checkpoint or model from a path the config gives.
_CHECKPOINT_LOADERS = frozenset(
    {
        "load_from_checkpoint",
        "restore_from",
        "load_checkpoint",
        "load_model",
        "load_state_dict_from_url",
    }
)


def _code_destination(stream: YamlStream, mapping: Mapping) -> str | None:
    """A string argument of a file-writing target that names a code file, or climbs or starts
    outside the model directory (``/``, ``~``, ``..``). Nested targets are judged on their own."""
    todo: list[Node] = [value for _, value in merged_pairs(stream, mapping)]
    seen: set[int] = set()
    while todo:
        node = stream.resolve(todo.pop())
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Scalar):
            value = node.value.strip()
            if CODE_FILE.search(value) or value.startswith(("/", "~", "../")):
                return value
        elif isinstance(node, Sequence):
            todo += node.items
        elif isinstance(node, Mapping):
            pairs = merged_pairs(stream, node)
            if not any(_key_text(stream, key) in _TARGET_KEYS for key, _ in pairs):
                todo += [value for _, value in pairs]
    return None


def _unsafe_checkpoint_arguments(stream: YamlStream, mapping: Mapping) -> str:
    """Why a checkpoint loader's arguments make it unpickle: ``weights_only`` turned off, or a
    URL (Lightning turns weights_only off for remote checkpoints). Empty when neither."""
    for key, value in merged_pairs(stream, mapping):
        name = _key_text(stream, key)
        resolved = stream.resolve(value)
        if name == "weights_only" and _is_false(resolved):
            return "weights_only is off: the checkpoint is unpickled"
        items = resolved.items if isinstance(resolved, Sequence) else [resolved]
        for item in items:
            item = stream.resolve(item)
            if isinstance(item, Scalar) and re.match(r"(?i)^\s*(?:https?|s3|gs|hf)://", item.value):
                return f"{name} is a URL: a remote checkpoint is downloaded and unpickled"
    return ""


def _pairs_below(
    stream: YamlStream, mapping: Mapping, path: str
) -> Iterator[tuple[Node, Node, str]]:
    """Every pair of ``mapping`` and of the argument mappings below it (``model_kwargs``,
    ``config_kwargs``...: the target passes them on), stopping at nested targets, which are
    judged on their own. Each node is visited once (aliases are not followed)."""
    todo: list[tuple[Node, str]] = [(mapping, path)]
    first = True
    while todo:
        node, where = todo.pop()
        if isinstance(node, Sequence):
            todo += [(item, f"{where}[{i}]") for i, item in enumerate(node.items)]
            continue
        if not isinstance(node, Mapping):
            continue
        pairs = merged_pairs(stream, node)
        keys = [_key_text(stream, key) for key, _ in pairs]
        if not first and any(k in _TARGET_KEYS for k in keys):
            continue
        first = False
        for (key, value), name in zip(pairs, keys, strict=True):
            yield key, value, where
            todo.append((value, _join(where, name)))


def _target_finding(
    blob: Blob, stream: YamlStream, mapping: Mapping, path: str, value: Node
) -> Finding | None:
    resolved = stream.resolve(value)
    location = blob.location(key_path=path, line=value.line)
    if not isinstance(resolved, Scalar):
        return _target(
            "MLS-YAML-013",
            Severity.MEDIUM,
            "Hydra _target_ is not a plain dotted name",
            location,
            f"the value is a {type(resolved).__name__.lower()}",
            "instantiate resolves whatever the value becomes once loaded; a target that is not "
            "a string cannot be judged before it runs",
        )
    written = resolved.value.strip()
    target, via = _interpolated(stream, written)
    if target is None:
        return _target(
            "MLS-YAML-012",
            Severity.HIGH,
            "Hydra _target_ is computed when the config is resolved",
            location,
            f"_target_ {written!r}{via}",
            "an OmegaConf interpolation or resolver decides the target at load time (from "
            "another key, the environment, a registered resolver): what runs is not written here",
        )
    decision = _judge(target)
    if decision.verdict >= Verdict.SUSPICIOUS:
        return _target(
            "MLS-YAML-010",
            Severity.CRITICAL,
            f"Hydra _target_ calls {target}",
            location,
            f"_target_ {written!r}{via}: {_verdict_text(decision)}",
            "hydra.utils.instantiate (and NeMo, Lightning CLI and every Hydra app) imports the "
            "target and calls it with the sibling keys as arguments: loading the config runs it",
        )
    if target in RESOLVERS:
        dangerous = _dangerous_argument(stream, mapping)
        if dangerous is not None:
            name, argument = dangerous
            return _target(
                "MLS-YAML-010",
                Severity.CRITICAL,
                f"Hydra _target_ {target} resolves {name}",
                location,
                f"_target_ {target!r} with argument {name!r}: {_verdict_text(argument)}",
                "the target looks up another dotted name from its arguments and calls or "
                "returns it: the config reaches that callable through one indirection",
            )
        return _target(
            "MLS-YAML-012",
            Severity.HIGH,
            f"Hydra _target_ {target} resolves names taken from the config",
            location,
            f"_target_ {target!r}",
            "the target looks up another dotted name from its arguments, so what finally "
            "runs is not what _target_ names; a config has no need for this indirection",
        )
    loader = target.rsplit(".", 1)[-1]
    if loader in _FILE_WRITERS:
        destination = _code_destination(stream, mapping)
        if destination is not None:
            return _target(
                "MLS-YAML-018",
                Severity.HIGH,
                f"Hydra _target_ {target} writes a file that something else will run",
                location,
                f"_target_ {target!r} with the destination {destination!r}",
                "the config makes a file writer (to_csv, save, dump...) write where a .pth, "
                "a Python module, a shell profile or a path outside the model is, with content "
                "the config chooses: code planted for the next interpreter start or login",
            )
    if loader in _CHECKPOINT_LOADERS:
        unsafe = _unsafe_checkpoint_arguments(stream, mapping)
        return _target(
            "MLS-YAML-017",
            Severity.CRITICAL if unsafe else Severity.HIGH,
            f"Hydra _target_ {target} loads a checkpoint or model when the config loads",
            location,
            f"_target_ {target!r}" + (f"; {unsafe}" if unsafe else ""),
            "checkpoint and model loaders unpickle (torch.load behind Lightning's "
            "load_from_checkpoint, NeMo's restore_from) or import the model's code (MLflow's "
            "load_model) from a path or URL the config chooses, a file this scan never saw",
        )
    top = target.split(".", 1)[0]
    internal = _internal_part(target)
    if top in KNOWN_ML_PACKAGES and internal is not None:
        return _target(
            "MLS-YAML-016",
            Severity.HIGH,
            f"Hydra _target_ {target} reaches a private or testing helper of {top}",
            location,
            f"_target_ {target!r}: the component {internal!r} is not public model API "
            f"({_verdict_text(decision)})",
            "configs instantiate a library's public classes; its private modules and test "
            "helpers include command runners and script launchers (MLflow's _exec_cmd, "
            "scikit-learn's assert_run_python_script_without_output) that run their arguments",
        )
    if top in KNOWN_ML_PACKAGES and target.rsplit(".", 1)[-1] not in _FILE_WRITERS:
        return None
    return _target(
        "MLS-YAML-011",
        Severity.MEDIUM,
        f"Hydra _target_ instantiates {target}, outside the well-known ML libraries",
        location,
        f"_target_ {target!r}: {_verdict_text(decision)}",
        "instantiate imports the target's module and calls it: code from this package (the "
        "model's own code, or anything installed under that name) runs when the config loads",
    )


_INTERPOLATION = re.compile(r"^\$\{\s*([A-Za-z0-9_.\[\]-]+)\s*\}$")


def _interpolated(stream: YamlStream, value: str) -> tuple[str | None, str]:
    """The target an OmegaConf value resolves to: itself when it interpolates nothing, the
    referenced key's value for a plain ``${a.b}`` (followed a few times), else None."""
    seen: list[str] = []
    while "${" in value:
        match = _INTERPOLATION.match(value)
        if match is None or match.group(1).startswith(".") or len(seen) >= 8:
            return None, ""  # a resolver, a relative reference, or a chain too long to follow
        reference = match.group(1)
        seen.append(reference)
        found = _value_at(stream, reference)
        if found is None:
            return None, f" (interpolates {reference}, which is not a plain string here)"
        value = found.strip()
    via = f" (through {' -> '.join(seen)})" if seen else ""
    return value, via


def _value_at(stream: YamlStream, reference: str) -> str | None:
    """The string at an absolute OmegaConf key path (``a.b``, ``a.b.0``, ``a.b[0]``) in the
    first document, or None."""
    if stream.values_at is None:
        # Once per stream, not once per reference: a config of 1,000 targets interpolating a
        # key written last walked the whole tree per target (25 KB took 25 s, no checkpoint).
        stream.values_at = {}
        for scalar in string_scalars(stream):
            stream.values_at.setdefault(_INDEXES.sub(r".\1", scalar.key_path), scalar.value)
    return stream.values_at.get(_INDEXES.sub(r".\1", reference).strip("."))


_INDEXES = re.compile(r"\[(\d+)\]")


def _dangerous_argument(stream: YamlStream, mapping: Mapping) -> tuple[str, Decision] | None:
    """The worst-judged dotted-name string among a resolver target's arguments."""
    worst: tuple[str, Decision] | None = None
    for key, value in mapping.pairs:
        if _key_text(stream, key) in _TARGET_KEYS:
            continue
        values = [value]
        resolved = stream.resolve(value)
        if isinstance(resolved, Sequence):
            values = list(resolved.items)
        for item in values:
            item = stream.resolve(item)
            if not isinstance(item, Scalar) or not item.value or " " in item.value.strip():
                continue
            decision = _judge(item.value)
            if decision.verdict >= Verdict.SUSPICIOUS and (
                worst is None or decision.verdict > worst[1].verdict
            ):
                worst = (item.value.strip(), decision)
    return worst


def _target(
    rule: str, severity: Severity, title: str, location: Location, evidence: str, why: str
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        category="code-execution",
        title=title,
        location=location,
        evidence=evidence,
        why=why,
        remediation="instantiate only targets you have reviewed: pin the config, or load it "
        "with OmegaConf and check _target_ before calling hydra.utils.instantiate",
        cwe="CWE-470",
    )


# --- OmegaConf resolvers ----------------------------------------------------------------------

#: Resolver names that applications register to evaluate code (``OmegaConf.register_new_resolver
#: ("eval", eval)`` is a common recipe): an interpolation calling one runs its argument.
_CODE_RESOLVER = re.compile(
    r"\$\{\s*(eval|exec|python|py|lambda|sh|shell|cmd|system|subprocess|import)\s*:", re.I
)


def _resolver_findings(blob: Blob, stream: YamlStream) -> list[Finding]:
    findings: list[Finding] = []
    for scalar in string_scalars(stream):
        match = _CODE_RESOLVER.search(scalar.value)
        if match is None:
            continue
        findings.append(
            Finding(
                rule="MLS-YAML-015",
                severity=Severity.MEDIUM,
                category="code-execution",
                title=f"OmegaConf interpolation calls a code-evaluating resolver "
                f"{match.group(1)!r}",
                location=blob.location(key_path=scalar.key_path or None, line=scalar.line),
                evidence=scalar.value[:200],
                why="OmegaConf runs no code of its own, but applications commonly register "
                "resolvers such as eval; where one is registered, resolving this value runs "
                "its argument",
                remediation="compute the value in code, or check that no such resolver is "
                "registered where the config is loaded",
                cwe="CWE-95",
            )
        )
    return findings


# --- files that cannot be analysed ------------------------------------------------------------


def _hidden_after_error(text: str, stream: YamlStream) -> str | None:
    """What the text from the parse error on may hold that a loader constructs: PyYAML's pure
    Python parser stops there, but libyaml (``yaml.CLoader``, ``CUnsafeLoader``) accepts some
    of what it refuses (a tab after ``key:``) and reads on to a python tag or a ``_target_``."""
    if stream.error is None:
        return None
    start = max((stream.error_line or 1) - 1, 0)
    rest = "\n".join(text.splitlines()[start:])
    if _may_hold_python_tag(rest):
        return "a python tag"
    if TARGET_KEY in rest:
        return "a _target_ key"
    return None


def _unread_payload(blob: Blob, stream: YamlStream, what: str) -> Finding:
    return Finding(
        rule="MLS-YAML-006",
        severity=Severity.HIGH,
        category="code-execution",
        title=f"YAML parsing stops before what may be {what}",
        location=blob.location(line=stream.error_line),
        evidence=f"{what} after the parse error: " + " ".join((stream.error or "").split())[:200],
        why="PyYAML's Python parser refuses the text here, but libyaml (yaml.CLoader, the "
        "loader chosen for speed) accepts some of what it refuses and goes on to construct "
        "what follows, which this analysis could not read",
        remediation="do not load the file; fix the YAML and scan it again",
        cwe="CWE-502",
    )


def _parse_failure(blob: Blob, stream: YamlStream) -> Finding:
    return Finding(
        rule="MLS-YAML-004",
        severity=Severity.MEDIUM,
        category="malformed-artifact",
        title="YAML configuration does not parse",
        location=blob.location(line=stream.error_line),
        evidence=" ".join((stream.error or "").split())[:300],
        why="the loader refuses it, or a more lenient YAML parser reads something other than "
        "what was analysed; documents before the error are still constructed by load_all",
        remediation="re-download the file from its source or fix the YAML",
        cwe="CWE-20",
    )


def _too_large(blob: Blob, evidence: str) -> Finding:
    return Finding(
        rule="MLS-YAML-005",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title="YAML configuration is too large to analyse",
        location=blob.location(),
        evidence=evidence,
        why="no configuration comes close to this size; what cannot be read to its end can "
        "hide tags and targets that its loader will construct",
        remediation="split the file, or review and trim it to the configuration it needs",
        cwe="CWE-400",
    )
