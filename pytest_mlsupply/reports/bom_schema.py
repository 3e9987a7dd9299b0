"""CycloneDX 1.6 schema validation of the ML-BOM: the one place that knows how a BOM is checked.

The JSON form is validated with jsonschema-rs (a compiled Rust validator) against the very schema
files cyclonedx-python-lib's ``JsonStrictValidator`` loads: ``bom-1.6.SNAPSHOT.schema.json`` (in
1.6 the strict and the plain schema are one file: every object already says
``additionalProperties: false``) with the SPDX licence-id, JSF signature and cryptography
definitions registered under the URIs the schema's ``$ref`` names, so no reference ever reaches
the network (``offline=True`` makes that a hard error, not a fetch). Formats are asserted, as
``JsonStrictValidator`` asserts them (``date-time``, ``iri-reference``, ``idn-email``, ``uri``).

Why not the library's validator: importing it imports ``jsonschema``'s format checkers, and the
IRI checker (``rfc3987_syntax``) compiles its lark grammars on import, 1.5 to 3.5 s per process.
This validator is imported and built in tens of milliseconds, once per process
(:func:`json_validator` is cached), and validates a 1,000-component BOM in milliseconds.
``tests/reports/test_bom_schema.py`` keeps ``JsonStrictValidator`` as the reference: both must
reject the same broken BOMs and accept the ones our reports write.

Where the two differ, this one is never the laxer on what a BOM of ours can contain:

- ``pattern`` is ECMA-262 here, Python ``re`` there: ``$`` does not match before a trailing
  newline, so ``"urn:uuid:…\\n"`` is rejected here and accepted there. Same for a ``date-time``
  with a trailing newline.
- ``idn-email`` is a full address check here; the reference only asks for an ``@``.
- Two RFC-valid values the reference rejects are accepted here: a leap second
  (``23:59:60``) in a ``date-time`` and an IPv6 literal host (``https://[::1]/``) in an
  ``iri-reference``. Our own timestamps never carry a leap second.

The XML form is validated against the 1.6 XSD with cyclonedx-python-lib's ``XmlValidator``
(lxml): the XSD is compiled on first use (~40 ms) and kept for the process.

Both rely on where cyclonedx-python-lib keeps its schema files (``cyclonedx.schema._res``), a
private module: this is the only module that imports it.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    import jsonschema_rs
    from cyclonedx.validation.xml import XmlValidator

#: The base the CycloneDX schemas' relative ``$ref``s resolve against (their ``$id``'s folder).
_SCHEMA_BASE = "http://cyclonedx.org/schema/"


class SchemaViolation(Exception):
    """A BOM does not validate against the CycloneDX 1.6 schema; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"at {path}: {message}")
        self.path = path
        self.message = message


def validate_json(document: Mapping[str, Any]) -> None:
    """Raise :class:`SchemaViolation` naming the first violation and its JSON path (``$.a[0].b``)."""
    validator = json_validator()
    try:
        # is_valid stops at the first failing keyword and builds no error: the common case.
        if validator.is_valid(document):
            return
    except ValueError as exc:
        # A value JSON cannot hold (a datetime, a non-string key): the document is not JSON.
        raise SchemaViolation("$", f"not a JSON document: {exc}") from exc
    error = next(iter(validator.iter_errors(document)))
    raise SchemaViolation(json_path(error.instance_path), error.message)


def validate_xml(text: str) -> None:
    """Raise :class:`SchemaViolation` naming the line and the XSD's complaint."""
    error = xml_validator().validate_str(text)
    if error is None:
        return
    entry = error.data
    line = getattr(entry, "line", None)
    message = getattr(entry, "message", str(entry))
    raise SchemaViolation(f"line {line}" if line else "the document", str(message))


def json_path(parts: list[str | int]) -> str:
    """``['components', 0, 'name']`` as ``$.components[0].name`` (the reference's notation)."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


@functools.cache
def json_validator() -> jsonschema_rs.Validator:
    """The compiled CycloneDX 1.6 JSON validator, built once per process."""
    import jsonschema_rs
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema._res import BOM_JSON_STRICT, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON

    schema_file = BOM_JSON_STRICT[SchemaVersion.V1_6]
    if schema_file is None:  # pragma: no cover - the library ships it; a guard for mypy
        raise RuntimeError("cyclonedx-python-lib ships no CycloneDX 1.6 JSON schema")
    # The same three resources, under the same names, as JsonStrictValidator's registry.
    registry = jsonschema_rs.Registry(
        [
            (f"{_SCHEMA_BASE}spdx.SNAPSHOT.schema.json", _load(SPDX_JSON)),
            (f"{_SCHEMA_BASE}jsf-0.82.SNAPSHOT.schema.json", _load(JSF)),
            (f"{_SCHEMA_BASE}cryptography-defs.SNAPSHOT.schema.json", _load(CRYPTOGRAPHY_DEFS)),
        ]
    )
    return jsonschema_rs.validator_for(
        _load(schema_file), registry=registry, validate_formats=True, offline=True
    )


@functools.cache
def xml_validator() -> XmlValidator:
    """cyclonedx-python-lib's XSD validator for 1.6; it compiles the XSD once and keeps it."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.xml import XmlValidator

    return XmlValidator(SchemaVersion.V1_6)


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


__all__ = [
    "SchemaViolation",
    "json_path",
    "json_validator",
    "validate_json",
    "validate_xml",
    "xml_validator",
]
