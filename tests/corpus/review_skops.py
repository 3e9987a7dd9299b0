"""skops samples from the adversarial review of the skops engine: trees and zips that
``skops.io.load`` reads differently from the schema walker that judged them.

The victim is what users write (see :mod:`tests.corpus.skops_files`): the file's own
``get_untrusted_types`` list passed back as ``trusted``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from tests.corpus import Sample, file_sample
from tests.corpus.skops_files import VICTIM, call_node, json_node


def key_called(callable_node: dict[str, Any], key: str) -> dict[str, Any]:
    """A dict node whose key type is ``callable_node``: skops' DictNode calls every key type
    with its key (``content[k_type(key)] = ...``), so the key is the argument."""
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {key: json_node(1)},
        "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                      "content": [callable_node]},
    }  # fmt: skip


def _protocol0_function(canary: Path) -> bytes:
    """Protocol 0's FunctionNode imports ``content.module_path`` / ``content.function`` and
    ignores ``__module__`` / ``__class__``, which here name the harmless ``builtins.int``."""
    function = {"__class__": "int", "__module__": "builtins", "__loader__": "FunctionNode",
                "content": {"module_path": "os", "function": "system"}}  # fmt: skip
    state = dict(key_called(function, f"touch {canary}"), protocol=0, _skops_version="0.6.0")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(state))
    return buffer.getvalue()


def _schema_name_nul(canary: Path) -> bytes:
    """The schema member is named ``schema.json\\x00``: zipfile cuts a name at its NUL byte,
    so skops reads it as ``schema.json``."""
    state = dict(call_node("os", "system", f"touch {canary}"), protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json#", json.dumps(state))
    return buffer.getvalue().replace(b"schema.json#", b"schema.json\x00")


def encoded_schema(canary: Path, encode: Any) -> bytes:
    """A skops file whose ``schema.json`` text (calling os.system) is ``encode(text)``."""
    state = dict(call_node("os", "system", f"touch {canary}"), protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", encode(json.dumps(state)))
    return buffer.getvalue()


def _schema_utf16(canary: Path) -> bytes:
    """json.loads(bytes) detects UTF-16 and UTF-32 by their BOM or NUL pattern."""
    return encoded_schema(canary, lambda text: text.encode("utf-16"))


def _schema_utf32_be(canary: Path) -> bytes:
    return encoded_schema(canary, lambda text: text.encode("utf-32-be"))


def _schema_leading_whitespace(canary: Path) -> bytes:
    """8 kB of spaces before the object: past any head a claim reads."""
    return encoded_schema(canary, lambda text: (" " * 8192 + text).encode())


_RULES = ("MLS-SKOPS-001",)

SAMPLES: list[Sample] = [
    file_sample("skops-protocol0-function-module-path", _protocol0_function,
                "protocol 0 FunctionNode: the function is content.module_path/function, "
                "called as a dict key type", VICTIM, filename="model.skops", rules=_RULES,
                requires=("skops",)),
    file_sample("skops-schema-member-name-nul", _schema_name_nul,
                "schema.json\\x00 as the schema member's name", VICTIM,
                filename="model.skops", rules=_RULES, requires=("skops",)),
    file_sample("skops-schema-utf16", _schema_utf16, "schema.json encoded as UTF-16 with a BOM",
                VICTIM, filename="model.skops", rules=_RULES, requires=("skops",)),
    file_sample("skops-schema-utf32-be", _schema_utf32_be,
                "schema.json encoded as UTF-32 big-endian, no BOM", VICTIM,
                filename="model.skops", rules=_RULES, requires=("skops",)),
    file_sample("skops-schema-leading-whitespace", _schema_leading_whitespace,
                "8 kB of whitespace before the schema object", VICTIM,
                filename="model.skops", rules=_RULES, requires=("skops",)),
]  # fmt: skip
