"""Hugging Face repository JSON: configs that make loaders import code, tokenizers, templates.

Dispatch is on content first (a key such as ``auto_map`` or ``chat_template`` is analysed in
any JSON file, so renaming a file does not hide it) and on the file name second:

* ``auto_map`` (``config.json``, ``tokenizer_config.json``, processor configs) and
  ``custom_pipelines``: ``trust_remote_code=True`` imports the named module (MLS-CFG-001); a
  reference into another repository (``org/repo--module.Class``) pulls code from outside the
  snapshot (MLS-CFG-002);
* ``chat_template`` (a string, or a list of ``{name, template}``), every occurrence including
  duplicate keys: analysed by :mod:`pytest_mlsupply.engines.templates`;
* ``tokenizer.json`` ``added_tokens`` and ``tokenizer_config.json`` ``added_tokens_decoder``:
  token anomalies (MLS-TOK-0xx, checked by :mod:`pytest_mlsupply.engines.tokens`);
* every string value and key of any document (vocabularies included), through
  :mod:`pytest_mlsupply.engines.strings`: encoded or compressed pickles (MLS-ENC-0xx) and
  templates under any other template key (``custom_chat_template``, ``*_template``);
* sentence-transformers ``modules.json`` module types outside the library (MLS-CFG-004);
* ``tokenizer_class`` that is not a plain class name (MLS-CFG-003).

``generation_config.json`` and ``preprocessor_config.json`` hold nothing executable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError, ScanPolicy
from pytest_mlsupply.engines.budget import checkpoint
from pytest_mlsupply.engines.formats.diffusers import model_index_findings
from pytest_mlsupply.engines.identification import Family, Format, Identification, decode_text
from pytest_mlsupply.engines.strings import StringAnalyser
from pytest_mlsupply.engines.tokens import token_findings
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "CONFIG_NAMES",
    "CONFIG_PARSE_ERROR",
    "config_parse_error",
    "identify_json",
    "scan_json",
    "scan_json_text",
]

#: JSON documents larger than this are not parsed (a tokenizer.json is tens of MB at most).
MAX_JSON_BYTES = 256 << 20

#: File names whose content loaders act on; a parse error in one of them is a finding.
CONFIG_NAMES = frozenset(
    {
        "config.json",
        "tokenizer_config.json",
        "tokenizer.json",
        "special_tokens_map.json",
        "generation_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "modules.json",
        "adapter_config.json",
        "model_index.json",
        "added_tokens.json",
        "config_sentence_transformers.json",
        "sentence_bert_config.json",
    }
)
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_OTHER_REPO = re.compile(r"^(?P<repo>[\w.\-]+/[\w.\-]+)--(?P<ref>.+)$")
_SENTENCE_TRANSFORMERS = ("sentence_transformers.",)


def identify_json(view: View) -> Identification | None:
    """A JSON document: parsed whole when it fits in the read budget (a config, a tokenizer),
    judged by how it opens otherwise."""
    text = decode_text(view.head, view.truncated)
    if text is None:
        return None
    stripped = text.lstrip()
    if stripped[:1] not in ("{", "["):
        return None
    if view.truncated:
        file, size = view.file, view.size
        if file is None or size is None or size - len(view.head) > file.remaining:
            return _json_prefix(stripped, view)
        text = decode_text(view.head + file.read_at(len(view.head), size), False) or ""
        stripped = text.lstrip()
    try:
        parsed = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    shape = f"object with {len(parsed)} keys" if isinstance(parsed, dict) else "array"
    return Identification(Format.JSON, Family.JSON, False, f"JSON {shape}", "parses as JSON")


def _json_prefix(text: str, view: View) -> Identification | None:
    """Too big to parse within the budget: accept a document that opens like JSON."""
    second = text[1:].lstrip()[:1]
    if (text[0] == "{" and second not in ('"', "}")) or (
        text[0] == "[" and second not in tuple('{["-0123456789tfn]')
    ):
        return None
    return Identification(
        Format.JSON,
        Family.JSON,
        False,
        "JSON document (larger than the read budget, only its start was checked)",
        f"first {len(view.head)} bytes are UTF-8 text opening with {text[:2]!r}",
    )


def scan_json(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    if blob.size > MAX_JSON_BYTES:
        raise ScanError(f"JSON document of {blob.size} bytes exceeds the {MAX_JSON_BYTES} cap")
    with blob.open() as handle:
        raw = handle.read(MAX_JSON_BYTES + 1)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _parse_failure(blob, f"not UTF-8: {exc}")
    return scan_json_text(blob, text, ctx)


def scan_json_text(blob: Blob, text: str, ctx: ScanContext | None = None) -> list[Finding]:
    """Analyse a JSON document already decoded (also used by the text engine)."""
    try:
        document = json.loads(text, object_pairs_hook=_Object)
    except RecursionError:
        raise ScanError("JSON nested too deeply to parse") from None
    except ValueError as exc:
        return _parse_failure(blob, str(exc))
    name = blob.name.lower()
    findings = _strings(blob, document, ctx)
    if isinstance(document, list) and (name == "modules.json" or _looks_like_modules(document)):
        return _modules_json(blob, document) + findings
    if not isinstance(document, _Object):
        return findings
    findings += _auto_map(blob, document)
    findings += _custom_pipelines(blob, document)
    findings += _templates(blob, document)
    findings += _tokenizer_class(blob, document)
    findings += _remote_code_flag(blob, document)
    findings += model_index_findings(blob, document)
    added = document.get("added_tokens")
    if isinstance(added, list):
        findings += _tokens(blob, _added_tokens(added), "added_tokens", document)
    decoder = document.get("added_tokens_decoder")
    if isinstance(decoder, _Object):
        findings += _tokens(blob, _decoder_tokens(decoder), "added_tokens_decoder", None)
    return findings


class _Object(dict[str, Any]):
    """A JSON object (the last duplicate wins, as in Python loaders) that keeps every pair."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        # json.loads calls this for every object it parses, and lets what it raises through:
        # a document of 10^6 objects is parsed under the scan's budgets.
        checkpoint()
        super().__init__(pairs)
        self.all_pairs = pairs


#: The rule of a config-named file that is not JSON.
CONFIG_PARSE_ERROR = "MLS-CFG-005"


def config_parse_error(blob: Blob, message: str) -> Finding:
    return Finding(
        rule=CONFIG_PARSE_ERROR,
        severity=Severity.MEDIUM,
        category="malformed-artifact",
        title="configuration file does not parse as JSON",
        location=blob.location(),
        evidence=message[:300],
        why="the loader will refuse it, or a lenient parser will read something other than "
        "what was reviewed; either way the file cannot be analysed",
        remediation="re-download the file from its source or fix the JSON",
        cwe="CWE-20",
    )


def _parse_failure(blob: Blob, message: str) -> list[Finding]:
    if blob.name.lower() in CONFIG_NAMES or blob.name.lower().endswith("_config.json"):
        return [config_parse_error(blob, message)]
    raise ScanError(f"not valid JSON: {message}")


def _strings(blob: Blob, document: Any, ctx: ScanContext | None) -> list[Finding]:
    """Every string value and key: encoded pickles, and templates under any template key
    (the top-level ``chat_template`` is analysed by :func:`_templates`, with its own paths)."""
    policy = ctx.policy if ctx is not None else ScanPolicy()
    analyser = StringAnalyser(blob, policy.pickle)
    findings = analyser.walk(document, handled=_top_chat_template)
    return findings + analyser.finish()


def _top_chat_template(key_path: str) -> bool:
    return key_path == "chat_template" or key_path.startswith("chat_template[")


# --- code the loaders import ----------------------------------------------------------------


def _references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(key path, "module.Class") for every class reference in an auto_map value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, f"{path}[{index}]")


def _auto_map(blob: Blob, document: _Object) -> list[Finding]:
    auto_map = document.get("auto_map")
    if not isinstance(auto_map, dict):
        return []
    by_module: dict[str, list[str]] = {}
    findings: list[Finding] = []
    for auto_class, value in auto_map.items():
        for key_path, reference in _references(value, f"auto_map.{auto_class}"):
            checkpoint()
            remote = _OTHER_REPO.match(reference)
            if remote:
                findings.append(_other_repo(blob, key_path, remote["repo"], remote["ref"]))
                continue
            module, _, cls = reference.rpartition(".")
            by_module.setdefault(module or reference, []).append(f"{auto_class} → {cls}")
    for module, uses in sorted(by_module.items()):
        present, note = _sibling(blob, module)
        findings.append(
            Finding(
                rule="MLS-CFG-001",
                # Code that ships beside the config is scanned on its own and judged by what it
                # does (a modeling file that only builds a network is low); code the loader
                # must fetch from elsewhere cannot be vouched for here.
                severity=Severity.MEDIUM if present else Severity.HIGH,
                category="remote-code",
                title="config makes loaders import custom code (trust_remote_code)",
                location=blob.location(key_path="auto_map"),
                evidence=f"module {module}.py ({note}); classes: {', '.join(uses)}",
                why="with trust_remote_code=True, transformers imports and runs this module "
                "from the repository: it is arbitrary code, not data",
                remediation="review the module (its findings are reported on the .py file "
                "itself), pin the repository revision, or use an architecture built into "
                "transformers",
                cwe="CWE-829",
            )
        )
    return findings


def _sibling(blob: Blob, module: str) -> tuple[bool, str]:
    """Whether the module's file lies beside the config (and so is scanned with it)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", module):
        return False, "not a plain module name"
    relative = module.replace(".", "/") + ".py"
    present = blob.beside(relative)
    if present is None:
        return False, "not checked: this config was read from inside an archive"
    if present:
        return True, (
            f"present in this repository as {relative}, analysed by the code scanner: "
            "its own findings say what it does"
        )
    return False, "not found next to this config: the loader fetches it from the hub"


def _other_repo(blob: Blob, key_path: str, repo: str, reference: str) -> Finding:
    return Finding(
        rule="MLS-CFG-002",
        severity=Severity.HIGH,
        category="remote-code",
        title="config imports code from another repository",
        location=blob.location(key_path=key_path),
        evidence=f"{repo} → {reference}",
        why="the loader downloads and runs code from a repository outside this snapshot, at "
        "whatever revision it has when loaded: the code was never reviewed or pinned here",
        remediation="vendor the code into a pinned, reviewed revision, or remove the reference",
        cwe="CWE-829",
    )


def _custom_pipelines(blob: Blob, document: _Object) -> list[Finding]:
    pipelines = document.get("custom_pipelines")
    if not isinstance(pipelines, dict):
        return []
    findings: list[Finding] = []
    for task, spec in pipelines.items():
        checkpoint()
        impl = spec.get("impl") if isinstance(spec, dict) else None
        findings.append(
            Finding(
                rule="MLS-CFG-001",
                severity=Severity.HIGH,
                category="remote-code",
                title="config registers a custom pipeline (trust_remote_code)",
                location=blob.location(key_path=f"custom_pipelines.{task}"),
                evidence=f"task {task!r} implemented by {impl!r}",
                why="pipeline() imports and runs this implementation from the repository",
                remediation="review the implementation, or use a built-in pipeline",
                cwe="CWE-829",
            )
        )
    return findings


def _remote_code_flag(blob: Blob, document: _Object) -> list[Finding]:
    if document.get("trust_remote_code") is not True:
        return []
    return [
        Finding(
            rule="MLS-CFG-006",
            severity=Severity.MEDIUM,
            category="remote-code",
            title="config asks for trust_remote_code",
            location=blob.location(key_path="trust_remote_code"),
            evidence="trust_remote_code: true",
            why="tools that honour this key run the repository's code without the user "
            "passing trust_remote_code themselves",
            remediation="remove the key; trusting remote code is the user's decision",
            cwe="CWE-829",
        )
    ]


def _tokenizer_class(blob: Blob, document: _Object) -> list[Finding]:
    value = document.get("tokenizer_class")
    if not isinstance(value, str) or _CLASS_NAME.match(value):
        return []
    return [
        Finding(
            rule="MLS-CFG-003",
            severity=Severity.MEDIUM,
            category="remote-code",
            title="tokenizer_class is not a transformers class name",
            location=blob.location(key_path="tokenizer_class"),
            evidence=f"tokenizer_class: {value!r}",
            why="transformers resolves tokenizer classes by name; a dotted path or odd name "
            "points at code outside the library",
            remediation="use a tokenizer class that ships with transformers",
            cwe="CWE-829",
        )
    ]


def _looks_like_modules(document: list[Any]) -> bool:
    return bool(document) and all(
        isinstance(entry, dict) and {"type", "path"} <= entry.keys() for entry in document
    )


def _modules_json(blob: Blob, modules: list[Any]) -> list[Finding]:
    """sentence-transformers ``modules.json``: each module's ``type`` is imported."""
    findings: list[Finding] = []
    for index, entry in enumerate(modules):
        checkpoint()
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type")
        if not isinstance(kind, str) or kind.startswith(_SENTENCE_TRANSFORMERS):
            continue
        findings.append(
            Finding(
                rule="MLS-CFG-004",
                severity=Severity.HIGH,
                category="remote-code",
                title="sentence-transformers module outside the library",
                location=blob.location(key_path=f"[{index}].type"),
                evidence=f"type {kind!r} (path {entry.get('path')!r})",
                why="SentenceTransformer imports each module's type by name; a type outside "
                "sentence_transformers runs code from that module (from the repository "
                "when trust_remote_code is on)",
                remediation="use the library's own module types, or review the module",
                cwe="CWE-829",
            )
        )
    return findings


# --- templates ------------------------------------------------------------------------------


def _templates(blob: Blob, document: _Object) -> list[Finding]:
    findings: list[Finding] = []
    occurrences = [v for k, v in document.all_pairs if k == "chat_template"]
    if not occurrences:
        return findings
    # Imported here: jinja2 costs ~60 ms to import, and only a template needs it.
    from pytest_mlsupply.engines.templates import template_findings

    for number, value in enumerate(occurrences):
        suffix = f" (occurrence {number + 1} of {len(occurrences)})" if len(occurrences) > 1 else ""
        if isinstance(value, str):
            findings += template_findings(value, blob.location(key_path="chat_template" + suffix))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict) and isinstance(item.get("template"), str):
                    where = f"chat_template[{index}] ({item.get('name')!r}){suffix}"
                    findings += template_findings(item["template"], blob.location(key_path=where))
    return findings


# --- tokens ---------------------------------------------------------------------------------


def _added_tokens(added: list[Any]) -> Iterator[tuple[str, int | None, str, bool]]:
    for index, entry in enumerate(added):
        if isinstance(entry, dict) and isinstance(entry.get("content"), str):
            token_id = entry.get("id")
            yield (
                f"added_tokens[{index}]",
                token_id if isinstance(token_id, int) else None,
                entry["content"],
                bool(entry.get("special")),
            )


def _decoder_tokens(decoder: dict[str, Any]) -> Iterator[tuple[str, int | None, str, bool]]:
    for key, entry in decoder.items():
        if isinstance(entry, dict) and isinstance(entry.get("content"), str):
            token_id = int(key) if key.isdigit() else None
            yield (
                f"added_tokens_decoder.{key}",
                token_id,
                entry["content"],
                bool(entry.get("special")),
            )


def _tokens(
    blob: Blob,
    tokens: Iterator[tuple[str, int | None, str, bool]],
    section: str,
    tokenizer: _Object | None,
) -> list[Finding]:
    findings: list[Finding] = []
    by_id: dict[int, str] = {}
    for key_path, token_id, content, special in tokens:
        checkpoint()  # 10^5 added tokens: the scan's budgets
        findings += token_findings(blob.location(key_path=key_path), content, special)
        if token_id is not None:
            previous = by_id.get(token_id)
            if previous is not None and previous != content:
                findings.append(_id_clash(blob, key_path, token_id, previous, content))
            by_id.setdefault(token_id, content)
    if tokenizer is not None:
        findings += _vocab_clashes(blob, by_id, tokenizer)
    return findings


def _vocab_clashes(blob: Blob, by_id: dict[int, str], tokenizer: _Object) -> list[Finding]:
    """Added tokens whose id already belongs to a different vocabulary entry."""
    model = tokenizer.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if not isinstance(vocab, dict) or not by_id:
        return []
    owners = {token_id: piece for piece, token_id in vocab.items() if token_id in by_id}
    findings: list[Finding] = []
    for token_id, content in sorted(by_id.items()):
        owner = owners.get(token_id)
        if owner is not None and owner != content:
            findings.append(_id_clash(blob, f"model.vocab[{owner!r}]", token_id, owner, content))
    return findings


def _id_clash(blob: Blob, key_path: str, token_id: int, first: str, second: str) -> Finding:
    return Finding(
        rule="MLS-TOK-004",
        severity=Severity.MEDIUM,
        category="tokenizer-tampering",
        title="two different tokens share one id",
        location=blob.location(key_path=key_path),
        evidence=f"id {token_id}: {first[:60]!r} and {second[:60]!r}",
        why="encoding and decoding disagree: text decodes to something other than what "
        "produced it, which hides injected tokens from logs and filters",
        remediation="restore the tokenizer from its source",
    )
