"""Text files in a model repository: chat templates, Python code, configs that failed to parse.

Dispatch is by name, because plain text has no magic: ``*.jinja`` / ``*.j2`` / ``*.template``
(including ``chat_template.jinja``, the separate template file newer transformers releases
write, and ``additional_chat_templates/*.jinja``) go to the template analyser, ``*.py`` to the Python
analyser, and a config file name whose content the sniffer could not parse as JSON is reported
as such. YAML configs (``*.yaml``, ``*.yml``, ``MLmodel``, text opening with a YAML directive)
go to :mod:`pytest_mlsupply.engines.formats.yaml_config`, and every other text file is read there
for python tags too, since a YAML loader pointed at a renamed file constructs them all the same.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.formats import mlflow, yaml_config
from pytest_mlsupply.engines.formats.hf_json import (
    CONFIG_NAMES,
    CONFIG_PARSE_ERROR,
    scan_json,
    scan_json_text,
)
from pytest_mlsupply.engines.identification import Family, Format, Identification, decode_text
from pytest_mlsupply.engines.python_ast import code_findings
from pytest_mlsupply.engines.strings import StringAnalyser, is_template_key
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "MAX_SOURCE_BYTES",
    "TEMPLATE_SUFFIXES",
    "identify_lfs_pointer",
    "identify_text",
    "identify_utf16_text",
    "read_text",
    "scan_json_document",
    "scan_text",
]

#: ``.template`` is how prompt and chat templates are shipped beside configs (``*.template``).
TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2", ".template")
PYTHON_SUFFIXES = (".py", ".pyw")
#: Source or template text above this is not analysed (and says so): no real file comes close.
MAX_SOURCE_BYTES = 64 << 20


_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
_LFS_LINE = re.compile(r"^[a-z0-9.-]+ [!-~]+$")


def identify_lfs_pointer(view: View) -> Identification | None:
    """A Git LFS pointer where a file should be: the real content was never downloaded."""
    if not view.head.startswith(_LFS_POINTER) or len(view.head) > 1024:
        return None
    # The spec's pointer is "key value" lines and nothing else: text that only opens like one
    # (a YAML stream whose first document is a pointer, then "---" and a payload) is text.
    lines = view.head.decode("utf-8", errors="replace").splitlines()
    if not all(_LFS_LINE.match(line) for line in lines if line.strip()):
        return None
    return Identification(
        Format.GIT_LFS_POINTER,
        Family.TEXT,
        False,
        "Git LFS pointer file: the real content was never downloaded",
        "starts with 'version https://git-lfs.github.com/spec/v1'",
    )


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def identify_utf16_text(view: View) -> Identification | None:
    """UTF-16 text with a byte-order mark: PyYAML reads it from a binary stream (its reader
    detects the mark), so a YAML payload saved as UTF-16 is text to be analysed, not unknown."""
    if view.head[:2] not in _UTF16_BOMS:
        return None
    decoder = codecs.getincrementaldecoder("utf-16")(errors="strict")
    try:
        text: str = decoder.decode(view.head, final=not view.truncated)
    except UnicodeDecodeError:
        return None
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return None
    if not any(c.isalnum() for c in text):
        return None  # byte-order marks over and over are not a document
    return Identification(
        Format.TEXT,
        Family.TEXT,
        False,
        "UTF-16 text",
        f"byte-order mark {view.head[:2].hex(' ')}; decodes as UTF-16 with no control characters",
    )


def identify_text(view: View) -> Identification | None:
    if decode_text(view.head, view.truncated) is None:
        return None
    return Identification(
        Format.TEXT,
        Family.TEXT,
        False,
        "UTF-8 text",
        "decodes as UTF-8 with no NUL or control bytes",
    )


def scan_text(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    name = blob.name.lower()
    if name.endswith(TEMPLATE_SUFFIXES):
        # Imported here: jinja2 costs ~60 ms to import, and only a template needs it.
        from pytest_mlsupply.engines.templates import template_findings

        text = read_text(blob)
        if text is None:
            return [_too_large(blob, "chat template")]
        return template_findings(text, blob.location())
    if name.endswith(PYTHON_SUFFIXES):
        text = read_text(blob)
        if text is None:
            raise ScanError(f"Python source of {blob.size} bytes is too large to analyse")
        return code_findings(text, blob.location())
    if name in CONFIG_NAMES or name.endswith(".json"):
        text = read_text(blob)
        if text is None:
            raise ScanError(f"JSON document of {blob.size} bytes is too large to analyse")
        findings = scan_json_text(blob, text, ctx)
        if any(f.rule == CONFIG_PARSE_ERROR for f in findings):
            # Not JSON, so not read as JSON by anyone: a YAML loader (JSON is YAML) still reads
            # it, and constructs its python tags and Hydra targets whatever the file's name.
            findings += yaml_config.scan_yaml_text(blob, text)
        return findings
    text = read_text(blob)
    if text is None:
        return yaml_config.too_large_to_read(blob)
    return yaml_config.scan_yaml_text(blob, text, (mlflow.mlmodel_findings, _yaml_strings(ctx)))


def _yaml_strings(ctx: ScanContext) -> yaml_config.DocumentCheck:
    """The YAML config's string values through the shared string analyser: encoded pickles
    (base64, hex, compressed) and templates under any template key, with their key paths."""

    def check(blob: Blob, stream: yaml_config.YamlStream) -> list[Finding]:
        analyser = StringAnalyser(blob, ctx.policy.pickle)
        findings: list[Finding] = []
        sequences: dict[str, list[str]] = {}
        for scalar in yaml_config.string_scalars(stream):
            # A template key anywhere on the path (``prompts.chat_template[1].template``, a
            # list under ``*_templates``) makes the value a template, as in JSON documents.
            segments = re.split(r"[.\[\]]+", scalar.key_path)
            templated = any(is_template_key(part) for part in segments if part)
            findings += analyser.value(scalar.key_path, scalar.value, template=templated)
            if scalar.key_path.endswith("]"):
                parent = scalar.key_path[: scalar.key_path.rfind("[")]
                sequences.setdefault(parent, []).append(scalar.value)
        for parent, values in sequences.items():
            findings += analyser.joined(parent, values)  # base64 split across a sequence
        return findings + analyser.finish()

    return check


def scan_json_document(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """A JSON document; one named as a YAML config is also read as the YAML it is (JSON is
    YAML: OmegaConf.load and Hydra instantiate the ``_target_`` of a ``config.yaml`` in JSON)."""
    findings = scan_json(blob, ident, ctx)
    if yaml_config.is_config_position(blob.name, ""):
        text = read_text(blob)
        if text is None:
            return findings + yaml_config.too_large_to_read(blob)
        findings += yaml_config.scan_yaml_text(blob, text, (mlflow.mlmodel_findings,))
    elif blob.size <= MAX_SOURCE_BYTES:
        # OmegaConf.load reads JSON under any name: a JSON config's _target_ is instantiated
        # like a YAML one's (only targets the policy condemns are reported outside *.yaml).
        text = read_text(blob)
        if text is not None and yaml_config.TARGET_KEY in text:
            findings += yaml_config.scan_yaml_text(blob, text)
    return findings


def read_text(blob: Blob) -> str | None:
    """The whole content as text (None when above :data:`MAX_SOURCE_BYTES`)."""
    if blob.size > MAX_SOURCE_BYTES:
        return None
    with blob.open() as handle:
        raw = handle.read(MAX_SOURCE_BYTES + 1)
    if raw[:2] in _UTF16_BOMS:
        return raw.decode("utf-16", errors="replace")
    # The sniffer has already found the content to be UTF-8; replacement only guards races.
    return raw.decode("utf-8-sig", errors="replace")


def _too_large(blob: Blob, what: str) -> Finding:
    return Finding(
        rule="MLS-TPL-010",
        severity=Severity.HIGH,
        category="template-injection",
        title=f"{what} is too large to analyse",
        location=blob.location(),
        evidence=f"{blob.size} bytes (cap {MAX_SOURCE_BYTES})",
        why="a chat template of this size is not a chat format; it cannot be analysed and every "
        "loader will render it",
        remediation="use the template published by the model authors",
        cwe="CWE-1336",
    )
