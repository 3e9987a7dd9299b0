"""skops files: a zip whose ``schema.json`` names every type ``skops.io.load`` will import.

skops stores an object as a tree of JSON nodes, each with a ``__loader__`` (``ObjectNode``,
``ReduceNode``, ``TypeNode``, ``FunctionNode``, ``MethodNode``, ``OperatorFuncNode``,
``ConstructorFromReduceNode``...) and the ``__module__`` / ``__class__`` it resolves with
``importlib``: a class to instantiate, a function to return, or a callable to *call* with
arguments from the file (``ConstructorFromReduceNode`` calls ``os.system("...")`` as readily as
``ZoneInfo(key)``). skops refuses types it does not trust by default unless the caller passes
them in ``trusted`` — and what users pass is ``get_untrusted_types(file=...)``, the file's own
list. The scan judges every type the tree names with the pickle allowlist
(:func:`~pytest_mlsupply.engines.pickle.decide`, lifted by the project's pickle policy like a
pickle global), and a method's ``obj.func`` as the attribute path it is.

The archive is walked by the zip engine (:func:`~pytest_mlsupply.engines.containers.scan_zip_members`,
with its checks for names, links, duplicates and bombs); ``schema.json`` (every entry of that
name) is handed to the tree walker and every other member (``.npy`` arrays, anything else) goes
back to the scanner.

Rules: MLS-SKOPS-001..004 (see ``docs/checks-onnx-keras.md``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.containers import read_handled_member, scan_zip_members
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.pickle import Decision, PicklePolicy, Verdict, decide
from pytest_mlsupply.engines.pickle.allowlist import reconstruct_only
from pytest_mlsupply.engines.ziparchive import ZipEntry, ZipListing
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["claim_skops_zip", "scan_skops", "skops_types"]

SCHEMA = "schema.json"
_MAX_SCHEMA_BYTES = 64 << 20
_MAX_NODES = 5_000_000
_MAX_EVIDENCE = 200
_BIT_GENERATORS = frozenset({"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"})
_SCHEMA_MARKERS = (b'"__loader__"', b'"__module__"', b'"__class__"')
#: Loaders that call the type they import, with arguments from the file (or none): what the
#: pickle allowlist trusts only re-created without ``__init__`` has its constructor run.
_CALLING_LOADERS = frozenset(
    {"ConstructorFromReduceNode", "ListNode", "SetNode", "DictNode", "NdArrayNode",
     "RandomStateNode", "RandomGeneratorNode", "LossNode"}
)  # fmt: skip


def _is_schema(entry: ZipEntry) -> bool:
    """Whether ``zipfile`` (which skops reads with) calls this member ``schema.json``: it
    ends a member's name at its first NUL byte, so ``schema.json\\x00x`` is the schema too."""
    return entry.name.split("\x00", 1)[0] == SCHEMA


def claim_skops_zip(listing: ZipListing) -> Identification | None:
    """A zip with ``schema.json`` at its root holding a JSON object: what ``skops.io.load``
    reads (the name as :mod:`zipfile` reads it, cut at a NUL byte). The node keys
    (``__loader__``, ``__module__``) are looked for only to say so in the evidence: padding can
    push them past any head, and a zip that is not skops yields no types."""
    entry = next((e for e in listing.files if _is_schema(e)), None)
    if entry is None:
        return None
    head = listing.head(entry, 4096)
    if head and not _may_open_object(head):
        return None
    keys = all(marker in head for marker in _SCHEMA_MARKERS)
    # Not a pickle-based format: what it would import is judged by the scan, type by type.
    return Identification(
        Format.SKOPS,
        Family.ZIP,
        False,
        "skops file (schema.json names the types skops.io.load imports)",
        f"{listing.evidence}; {SCHEMA} "
        + ("opens with skops node keys" if keys else "holds a JSON object (or could not be read)"),
    )


def _may_open_object(head: bytes) -> bool:
    """Whether ``head`` may begin a JSON object as ``json.loads`` reads bytes: in the encoding
    it detects (UTF-8, with or without a BOM, UTF-16 or UTF-32), after any amount of
    whitespace — a head that is all whitespace may still open one further on."""
    text = head.decode(json.detect_encoding(head), errors="ignore")
    stripped = text.lstrip("\ufeff \t\r\n")
    return not stripped or stripped.startswith("{")


def skops_types(tree: Any) -> Iterator[tuple[str, str, str, str]]:
    """(module, name, loader, key path) for every type a skops node tree makes the loader
    import, at any depth; a ``MethodNode``'s method is its class's dotted name plus ``.func``.
    A ``PartialNode`` imports nothing itself (skops builds ``functools.partial`` whatever the
    node says): only the nodes it holds are reported."""
    stack: list[tuple[Any, str]] = [(tree, "schema.json")]
    nodes = 0
    while stack:
        value, path = stack.pop()
        nodes += 1
        if nodes > _MAX_NODES:
            raise ScanError(f"{SCHEMA}: more than {_MAX_NODES} values; too large to analyse")
        if isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(value))))
            continue
        if not isinstance(value, dict):
            continue
        module, name, loader = (
            value.get("__module__"),
            value.get("__class__"),
            value.get("__loader__"),
        )
        if isinstance(module, str) and isinstance(name, str):
            kind = loader if isinstance(loader, str) else "?"
            if kind != "PartialNode":
                # PartialNode builds functools.partial itself whatever the node names, and
                # never calls it: what it wraps (content.func) is a node of its own, judged.
                yield module, name, kind, path
            content = value.get("content")
            func = content.get("func") if isinstance(content, dict) else None
            if kind == "MethodNode" and isinstance(func, str):
                yield module, f"{name}.{func}", kind, f"{path}.content.func"
            old = _protocol0_function(content) if kind == "FunctionNode" else None
            if old is not None:
                # Protocol 0's FunctionNode imports content.module_path / content.function and
                # never looks at __module__ / __class__; a file picks protocol 0 by saying so.
                yield old[0], old[1], kind, f"{path}.content"
            generator = _bit_generator(content) if kind == "RandomGeneratorNode" else None
            if generator is not None and generator not in _BIT_GENERATORS:
                # numpy.random.<name> is called to rebuild the generator: a name in a string.
                yield "numpy.random", generator, kind, f"{path}.content.bit_generator"
        stack.extend((v, f"{path}.{k}") for k, v in reversed(list(value.items())))


def _protocol0_function(content: Any) -> tuple[str, str] | None:
    """The (module, function) a protocol 0 FunctionNode imports, from its ``content``."""
    if not isinstance(content, dict):
        return None
    module, function = content.get("module_path"), content.get("function")
    if isinstance(module, str) and isinstance(function, str):
        return module, function
    return None


def _bit_generator(content: Any) -> str | None:
    """The bit generator class name a RandomGeneratorNode stores: a JSON string in a node
    (protocols 1 and 2), or a plain string in the raw state (protocol 0, which skops' audit
    never declares and calls with no argument)."""
    try:
        raw = content["bit_generator"]["content"]["bit_generator"]["content"]
        name = json.loads(raw)
    except (KeyError, TypeError, ValueError):
        try:
            name = content["bit_generator"]["bit_generator"]
        except (KeyError, TypeError):
            return None
    return name if isinstance(name, str) else None


def _judge(module: str, name: str, policy: PicklePolicy) -> Decision:
    decision = decide(module, name)
    if decision.verdict in (Verdict.UNKNOWN, Verdict.SUSPICIOUS) and policy.allows(
        f"{module}.{name}"
    ):
        return Decision(Verdict.SAFE, "allowed by the project's pickle policy", f"{module}.{name}")
    return decision


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_EVIDENCE else shown[:_MAX_EVIDENCE] + "..."


def _schema_findings(tree: Any, blob: Blob, ctx: ScanContext) -> list[Finding]:
    policy = ctx.policy.pickle
    deny = policy.mode == "default-deny"
    seen: dict[tuple[str, str, str], list[str]] = {}
    for module, name, loader, path in skops_types(tree):
        seen.setdefault((module, name, loader), []).append(path)
    findings: list[Finding] = []
    for (module, name, loader), paths in seen.items():
        dotted = f"{module}.{name}"
        decision = _judge(module, name, policy)
        if decision.verdict is Verdict.SAFE:
            if loader in _CALLING_LOADERS and reconstruct_only(module, name):
                findings.append(_constructor_call(blob, module, name, loader, paths))
            continue
        more = f" (and {len(paths) - 1} more nodes)" if len(paths) > 1 else ""
        evidence = f"{loader} {_show(module)} {_show(name)}{more}"
        location = blob.location(key_path=paths[0])
        if decision.verdict is Verdict.DANGEROUS:
            findings.append(
                Finding(
                    rule="MLS-SKOPS-001",
                    severity=Severity.CRITICAL,
                    category="unsafe-deserialization",
                    title=f"skops file makes the loader import dangerous {dotted}",
                    location=location,
                    evidence=evidence,
                    why=f"{decision.matched}: {decision.reason}. skops.io.load imports it when the "
                    "caller trusts it — and get_untrusted_types(file=...), which users pass as "
                    "trusted, lists it — then instantiates or calls it with arguments from the "
                    "file (ConstructorFromReduceNode, ReduceNode, OperatorFuncNode call it).",
                    remediation="Do not load this file. Never pass get_untrusted_types(...) "
                    "unreviewed as trusted; re-export the model from a trusted source.",
                    cwe="CWE-502",
                )
            )
            continue
        suspicious = decision.verdict is Verdict.SUSPICIOUS
        kind = "suspicious" if suspicious else "unknown"
        findings.append(
            Finding(
                rule="MLS-SKOPS-002",
                severity=Severity.HIGH if deny else Severity.MEDIUM if suspicious else Severity.LOW,
                category="unsafe-deserialization",
                title=f"skops file names {kind} type {dotted}",
                location=location,
                evidence=evidence,
                why=(f"{decision.reason}. " if suspicious else "")
                + "skops.io.load imports every type the schema names once it is trusted; only "
                "types on the allowlist are known to be harmless to import and instantiate.",
                remediation="If this type is yours and trusted, add it to the pickle policy's "
                "allow_globals ('mypkg.MyClass' or 'mypkg.*'); otherwise do not trust it "
                "when loading.",
                cwe="CWE-502",
            )
        )
    return findings


def _constructor_call(blob: Blob, module: str, name: str, loader: str, paths: list[str]) -> Finding:
    more = f" (and {len(paths) - 1} more nodes)" if len(paths) > 1 else ""
    return Finding(
        rule="MLS-SKOPS-004",
        severity=Severity.HIGH,
        category="unsafe-deserialization",
        title=f"skops file runs the constructor of {module}.{name}",
        location=blob.location(key_path=paths[0]),
        evidence=f"{loader} {_show(module)} {_show(name)}{more}",
        why="The allowlist trusts this class only as data re-created without __init__ (an "
        "ObjectNode, as skops writes it); this loader calls the class with arguments from the "
        "file, and its constructor does more (reads files named in its arguments, sets up "
        "devices or processes): the skops form of MLS-PKL-014.",
        remediation="Do not load the file. Re-save the object with skops.io.dump from a "
        "trusted environment.",
        cwe="CWE-502",
    )


def scan_skops(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan a skops zip: every ``schema.json`` tree, then every other member."""
    seen_schema = False

    def handle(fh: BinaryIO, entry: ZipEntry, size: int) -> list[Finding] | None:
        nonlocal seen_schema
        if not _is_schema(entry):
            return None
        data = read_handled_member(fh, entry, size, limit=_MAX_SCHEMA_BYTES, ctx=ctx, label=SCHEMA)
        seen_schema = True
        try:
            tree = json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            ctx.error(blob, f"{SCHEMA} is not valid JSON ({exc})", key_path=SCHEMA)
            return [
                Finding(
                    rule="MLS-SKOPS-003",
                    severity=Severity.MEDIUM,
                    category="malformed-artifact",
                    title="skops schema.json does not parse",
                    location=blob.location(key_path=SCHEMA),
                    evidence=str(exc)[:300],
                    why="skops refuses the file, or a lenient reader sees another tree than the "
                    "one reviewed; the types it would import cannot be checked",
                    remediation="re-export the model with skops.io.dump",
                    cwe="CWE-20",
                )
            ]
        return _schema_findings(tree, blob, ctx)

    findings = scan_zip_members(blob, ctx, handle)
    if not seen_schema:
        text = f"a skops file without a readable {SCHEMA}: its types cannot be checked"
        if not findings:
            raise ScanError(text)
        ctx.error(blob, text)  # findings outrank errors: keep what the members showed
    return findings
