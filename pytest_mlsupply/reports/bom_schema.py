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

The XML form is validated against the 1.6 XSD by lxml, as cyclonedx-python-lib's
``XmlValidator`` does it (the same XSD file, the same safe parser): the XSD is compiled on first
use (~40 ms) and kept for the process.

Both rely on where cyclonedx-python-lib keeps its schema files (``cyclonedx/schema/_res``, a
private folder): this is the only module that knows it. It finds the folder without importing
the library (``importlib.util.find_spec``), so a gate that writes a BOM imports none of
cyclonedx-python-lib's modules; the library is the schema files' source and, in the tests, the
reference the plugin's BOM is held equal to. :func:`spdx_ids` reads the SPDX licence ids of the
same schema, the ones a ``license.id`` may take.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    import jsonschema_rs
    from lxml import etree

#: The base the CycloneDX schemas' relative ``$ref``s resolve against (their ``$id``'s folder).
_SCHEMA_BASE = "http://cyclonedx.org/schema/"
#: The files of cyclonedx-python-lib's schema folder this module reads (``cyclonedx.schema._res``
#: names them: ``BOM_JSON_STRICT[V1_6]``, ``BOM_XML[V1_6]``, ``SPDX_JSON``, ``CRYPTOGRAPHY_DEFS``).
_BOM_JSON = "bom-1.6.SNAPSHOT.schema.json"
_BOM_XSD = "bom-1.6.SNAPSHOT.xsd"
_SPDX_JSON = "spdx.SNAPSHOT.schema.json"
_CRYPTOGRAPHY_DEFS = "cryptography-defs.SNAPSHOT.schema.json"


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
    from lxml import etree

    schema = xml_validator()
    document = etree.fromstring(text.encode("utf-8"), parser=xml_parser())
    if schema.validate(document):
        return
    entry = schema.error_log.last_error
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

    # The same three resources, under the same names, as JsonStrictValidator's registry (in 1.6
    # its strict schema is BOM_JSON_STRICT's file, the plain one).
    registry = jsonschema_rs.Registry(
        [
            (f"{_SCHEMA_BASE}{name}", _load(name))
            for name in (_SPDX_JSON, "jsf-0.82.SNAPSHOT.schema.json", _CRYPTOGRAPHY_DEFS)
        ]
    )
    return jsonschema_rs.validator_for(
        _load(_BOM_JSON), registry=registry, validate_formats=True, offline=True
    )


@functools.cache
def xml_validator() -> etree.XMLSchema:
    """The compiled 1.6 XSD (it imports the SPDX XSD beside it), built once per process."""
    from lxml import etree

    return etree.XMLSchema(file=(schema_folder() / _BOM_XSD).absolute().as_uri())


def xml_parser() -> etree.XMLParser:
    """XmlValidator's parser: no entities, no DTD, no network; any size."""
    from lxml import etree

    return etree.XMLParser(
        attribute_defaults=False,
        dtd_validation=False,
        load_dtd=False,
        no_network=True,
        resolve_entities=False,
        huge_tree=True,
        compact=True,
        recover=False,
    )


@functools.cache
def spdx_ids() -> dict[str, str]:
    """The SPDX licence ids the 1.6 schema accepts as ``license.id``, by their lower-case form
    (``apache-2.0`` -> ``Apache-2.0``): cyclonedx-python-lib's table for the same lookup."""
    return {spdx.lower(): spdx for spdx in _load(_SPDX_JSON)["enum"]}


@functools.cache
def schema_folder() -> Path:
    """Where cyclonedx-python-lib keeps its schema files, found without importing it."""
    spec = importlib.util.find_spec("cyclonedx")
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        folder = Path(location) / "schema" / "_res"
        if (folder / _BOM_JSON).is_file():
            return folder
    raise RuntimeError(
        "cannot find the CycloneDX 1.6 schemas: cyclonedx-python-lib (which ships them) is "
        "not installed, or installed without them; reinstall pytest-mlsupply's dependencies"
    )


def _load(name: str) -> Any:
    return json.loads((schema_folder() / name).read_text(encoding="utf-8"))


__all__ = [
    "SchemaViolation",
    "json_path",
    "json_validator",
    "schema_folder",
    "spdx_ids",
    "validate_json",
    "validate_xml",
    "xml_parser",
    "xml_validator",
]
