"""``build_bom`` and ``render_bom_xml`` write the library components themselves: their output
must equal the library's.

``_library_built_json`` and ``_library_built_xml`` (in :mod:`pytest_mlsupply.reports.bom`) build
every component with cyclonedx-python-lib, as both did before they took the libraries out of the
library's model (seconds for a thousand of them). They stay the reference: on a rich BOM (model
card, datasets, lineage, vulnerabilities, signature and attestation references, 60 libraries with
every field a library component can carry) the JSON documents are equal once parsed, the XML
texts are equal byte for byte, and the XML form says the same as the JSON one of every library.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.bom import (
    CYCLONEDX_NS,
    _library_built_json,
    _library_built_xml,
    build_bom,
    render_bom_xml,
)
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency
from pytest_mlsupply.vulns.model import FACTS_KEY, Advisory, Rating

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.reports.conftest import Scenario

SERIAL = uuid.UUID("87654321-4321-8765-4321-876543218765")
WHEN = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
P, D = RowKind.PROVENANCE, RowKind.DEPENDENCY

ADVISORY = Advisory(
    id="GHSA-53q9-r3pm-6pq6",
    package="torch",
    version="2.4.0",
    aliases=("CVE-2025-32434",),
    summary="PyTorch: torch.load with weights_only=True leads to remote code execution",
    details="torch.load(..., weights_only=True) can still execute code; fixed in 2.6.0.",
    fixed=("2.6.0",),
    rating=Rating(severity="critical", method="CVSSv4", score="9.3", source="cvss"),
    source="osv",
    published="2025-04-18T15:31:24Z",
    modified="2025-04-22T20:14:56Z",
)


def _library(index: int) -> list[Dependency]:
    """Library ``index``, varied so that every field and every sort of the library's model is
    exercised: hash pins (duplicated, upper case, several algorithms), links, other indexes,
    markers, skipped ones, unpinned ones and one distribution declared twice."""
    name = f"lib-{index}"
    version = None if index % 7 == 0 else f"{index % 3}.{index}.0"
    requirement = f"{name}=={version}" if version else f"{name}>={index}"
    hashes: tuple[str, ...] = ()
    if index % 2:
        hashes = (f"sha512:{index:0128x}", f"sha256:{index:064X}", f"sha256:{index:064x}")
    first = Dependency(
        name,
        requirement,
        f"requirements.txt:{index}",
        version,
        hashes=hashes,
        link=f"https://example.org/{name}.whl" if index % 11 == 0 else None,
        index="https://mirror.example.org/simple/" if index % 5 == 0 else None,
        extra_indexes=("https://extra.example.org/simple", "https://b.example.org")
        if index % 4 == 0
        else (),
        marker='python_version < "3.9"' if index % 6 == 0 else None,
        skipped="its marker is false here" if index % 6 == 0 else None,
    )
    if index % 3:
        return [first]
    # Declared again by the environment: one component, both origins.
    return [first, replace(first, origin="environment", requirement=first.subject)]


@pytest.fixture(scope="module")
def rich(
    make_scenario: Callable[[Path], Scenario], tmp_path_factory: pytest.TempPathFactory
) -> Scenario:
    scenario = make_scenario(tmp_path_factory.mktemp("rich"))
    dependencies = [d for index in range(60) for d in _library(index)]
    scenario.inventory = replace(
        scenario.inventory,
        dependencies=(*scenario.inventory.dependencies, *dependencies),
    )
    for dependency in dependencies:
        checks = ("typosquat", FACTS_KEY)
        scenario.items.append(PlannedItem(D, dependency.subject, checks))
        scenario.results.append(CheckResult(D, dependency.subject, "typosquat"))
    affected = {"torch==2.4.0": ADVISORY, "lib-1==1.1.0": replace(ADVISORY, package="lib-1")}
    # A subject with no component of its own: the advisory affects the project.
    affected["ghost==1.0"] = replace(ADVISORY, id="PYSEC-2099-1", package="ghost")
    for subject, advisory in affected.items():
        scenario.results.append(
            CheckResult(
                D,
                subject,
                FACTS_KEY,
                findings=[Finding(advisory.id, Severity.HIGH, "vulnerability", "affected")],
                facts={FACTS_KEY: [advisory.to_json()]},
            )
        )
    scenario.items.append(PlannedItem(P, "sentiment", ("signature", "attestation", "lineage")))
    scenario.results += [
        CheckResult(
            P,
            "sentiment",
            "signature",
            facts={"signature": {"bundle": "model.sig", "sha256": "ab" * 32, "mode": "key"}},
        ),
        CheckResult(
            P,
            "sentiment",
            "attestation",
            facts={
                "attestation": {
                    "verified": True,
                    "envelopes": [{"path": "release/model.intoto.jsonl", "sha256": "cd" * 32}],
                    "statements": [{"builder": "https://ci.example.org", "source_commit": "f0"}],
                }
            },
        ),
        CheckResult(
            P,
            "sentiment",
            "lineage",
            facts={
                "lineage": {
                    "ancestors": [
                        {"ref": "hf://base/root@" + "1" * 40, "repo": "base/root"},
                        {
                            "ref": "hf://base/tuned@" + "2" * 40,
                            "repo": "base/tuned",
                            "revision": "2" * 40,
                            "sha256": "ef" * 32,
                            "files": {"model.safetensors": "12" * 32},
                        },
                    ]
                }
            },
        ),
    ]
    return scenario


def _both(scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    args = (scenario.inventory, scenario.items, scenario.results, Severity.HIGH)
    ours = build_bom(*args, serial_number=SERIAL, timestamp=WHEN)
    reference = _library_built_json(*args, serial_number=SERIAL, timestamp=WHEN)
    return ours, reference


def test_the_rich_json_bom_equals_the_one_the_library_builds_whole(rich: Scenario) -> None:
    ours, reference = _both(rich)

    assert ours == reference
    # ... and the BOM is as rich as it claims, so the equality proves something.
    libraries = [c for c in ours["components"] if c["type"] == "library"]
    assert len(libraries) == 64
    assert {"vulnerabilities", "dependencies", "metadata"} <= set(ours)
    assert any("hashes" in c for c in libraries)
    assert any("purl" not in c for c in libraries)
    affected = {t["ref"] for v in ours["vulnerabilities"] for t in v["affects"]}
    assert affected == {"library:torch==2.4.0", "library:lib-1==1.1.0", "project:review-service"}
    model = next(c for c in ours["components"] if c["bom-ref"] == "model:sentiment")
    assert {"modelCard", "pedigree", "externalReferences"} <= set(model)


def _both_xml(scenario: Scenario) -> tuple[str, str]:
    args = (scenario.inventory, scenario.items, scenario.results, Severity.HIGH)
    ours = render_bom_xml(*args, serial_number=SERIAL, timestamp=WHEN)
    reference = _library_built_xml(*args, serial_number=SERIAL, timestamp=WHEN)
    return ours, reference


def test_a_bom_of_libraries_only_or_of_nothing_equals_the_librarys(rich: Scenario) -> None:
    libraries_only = replace(rich.inventory, models=(), datasets=())
    nothing = replace(rich.inventory, models=(), datasets=(), dependencies=())
    for inventory in (libraries_only, nothing):
        scenario = replace(rich, inventory=inventory)
        ours, reference = _both(scenario)
        assert ours == reference
        ours_xml, reference_xml = _both_xml(scenario)
        assert ours_xml == reference_xml


def test_the_rich_xml_bom_is_the_text_the_library_writes_whole(rich: Scenario) -> None:
    ours, reference = _both_xml(rich)

    assert ours == reference
    assert ours.count('<component type="library"') == 64
    assert "<vulnerabilities>" in ours
    assert "<modelCard>" in ours


def test_the_xml_form_says_what_the_json_form_says_of_every_library(rich: Scenario) -> None:
    ours, _ = _both(rich)
    xml = render_bom_xml(
        rich.inventory,
        rich.items,
        rich.results,
        Severity.HIGH,
        serial_number=SERIAL,
        timestamp=WHEN,
    )
    ns = {"c": CYCLONEDX_NS}
    from_xml = {}
    for element in ET.fromstring(xml).findall("c:components/c:component", ns):
        if element.get("type") != "library":
            continue
        entry: dict[str, Any] = {"type": "library", "bom-ref": element.get("bom-ref")}
        for field in ("name", "version", "purl"):
            found = element.find(f"c:{field}", ns)
            if found is not None:
                entry[field] = found.text
        hashes = [
            {"alg": h.get("alg"), "content": h.text}
            for h in element.iterfind("c:hashes/c:hash", ns)
        ]
        properties = [
            {"name": p.get("name"), "value": p.text}
            for p in element.iterfind("c:properties/c:property", ns)
        ]
        if hashes:
            entry["hashes"] = hashes
        if properties:
            entry["properties"] = properties
        from_xml[entry["bom-ref"]] = entry

    from_json = {c["bom-ref"]: c for c in ours["components"] if c["type"] == "library"}
    assert from_xml == from_json
