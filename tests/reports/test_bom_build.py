"""``build_bom`` and ``render_bom_xml`` write the whole CycloneDX document themselves, without
cyclonedx-python-lib: their output must equal the library's.

``library_built_json`` and ``library_built_xml`` (``tests/reports/library_reference.py``) build
the BOM with cyclonedx-python-lib, as the package did before it wrote the document itself. They
stay the reference: on a rich BOM (model card, hub and local models with many files, files named
with tabs, line breaks, markup and control characters, hub and local datasets with files,
lineage, vulnerabilities with vectors, several ratings and line breaks in their texts, signature
and attestation references, licences that are SPDX ids, expressions and free text, links the
library percent-encodes, 60 libraries with every field a library component can carry) the JSON
documents are equal once parsed, the XML texts are equal byte for byte, and the XML form says
the same as the JSON one of every leaf. A BOM assembled once writes both forms as two separate
builds would, and a gate that writes the JSON BOM imports none of the library.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.manifest.model import ModelDecl, Span
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.bom import (
    CYCLONEDX_NS,
    assemble_bom,
    bom_json,
    bom_xml,
    build_bom,
    render_bom_xml,
)
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile, Dependency, ResolvedModel
from pytest_mlsupply.vulns.model import FACTS_KEY, Advisory, Rating
from tests.reports.library_reference import library_built_json, library_built_xml

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.reports.conftest import Scenario

SERIAL = uuid.UUID("87654321-4321-8765-4321-876543218765")
WHEN = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
P, D, A = RowKind.PROVENANCE, RowKind.DEPENDENCY, RowKind.ARTIFACT
#: Names a model's files may have on disk, each of which XML writes differently from JSON (a
#: normalizedString, an escape, a character XML cannot hold at all).
ODD_NAMES = (
    "tab\there.bin",
    "line\nbreak.bin",
    "carriage\rreturn.bin",
    "both\r\nbreaks.bin",
    "escape\x1b.bin",
    'markup <&> "quoted" \'.bin',
    "  spaced  .bin",
    "ünïcödé/日本.bin",
)

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


#: The same advisory as the database rated it for another package: a second rating, by
#: CVSS 3.1 (its vector loses its scheme prefix, its score is written with one decimal).
DATABASE_RATED = replace(
    ADVISORY,
    package="lib-1",
    rating=Rating(
        severity="high",
        method="CVSSv31",
        score="8.75",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        source="database",
    ),
)
#: An advisory with a naive date, no score or method, a link the library percent-encodes and
#: line breaks in its texts.
ODD_ADVISORY = Advisory(
    id="OSV-2025-17",
    package="lib-3",
    version="0.3.0",
    aliases=("GHSA-xxxx-yyyy-zzzz", "PYSEC-2025-9", "OTHER-1"),
    summary="A summary\r\nover two lines",
    details="Details:\r\n\ttabbed\rcarriage <markup> & more",
    fixed=(),
    rating=Rating(severity="medium", source="default"),
    source="osv",
    url="https://example.org/advisories/OSV 2025 [17]",
    published="2025-01-02T03:04:05",
    modified="not a date",
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


def _shards(root: Path) -> tuple[ResolvedModel, list[PlannedItem], list[CheckResult]]:
    """A local model of 40 files, with every kind of outcome a file can have: a reported digest
    (one upper case), none (the BOM hashes the file), a format, findings, an error, no result."""
    decl = ModelDecl(
        name="shards",
        span=Span(file=root / "mlsupply.yaml", line=1, column=1),
        # An SPDX expression (kept as written), and a description XML normalises.
        license="apache-2.0 OR mit",
        description="Shards\tof one model,\r\nsplit  in two\nlines",
    )
    names = [*ODD_NAMES, *(f"shard-{index:02d}.safetensors" for index in range(32))]
    files = []
    for index, name in enumerate(names):
        path = root / "shards" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * (index + 1))
        files.append(ArtifactFile("shards", name, path, path.stat().st_size))
    items, results = [], []
    for index, file in enumerate(files):
        items.append(PlannedItem(A, file.subject, ("sha256", "format")))
        if index % 5 == 0:
            continue  # never reported: the cells are "not run", the digest read from the file
        facts: dict[str, Any] = {"format": f"fmt\t{index % 3}"} if index % 2 else {}
        if index % 3:
            facts["sha256"] = f"{index:064x}".upper() if index % 7 == 0 else f"{index:064x}"
        results.append(CheckResult(A, file.subject, "sha256", facts=facts))
        findings = [Finding(f"R{index}", Severity.LOW, "format", "odd")] if index % 4 else []
        error = "cannot read it" if index % 11 == 0 else None
        results.append(CheckResult(A, file.subject, "format", findings=findings, error=error))
    return ResolvedModel(decl=decl, root=root / "shards", files=tuple(files)), items, results


#: The dataset claims' facts: file digests (one upper case, one malformed and left out), rows,
#: and for the hub dataset a commit other than the declared revision.
DATASET_FACTS = {
    "reviews": {
        "commit": "7" * 40,
        "rows": 1200,
        "files": {
            "data/train.parquet": "0a" * 32,
            "data/test.parquet": "0B" * 32,
            "data/odd\tname.parquet": "0c" * 32,
            "README.md": "not a digest",
        },
    },
    "support-logs": {"files": {f"2023/{month:02d}.jsonl": f"{month:064x}" for month in range(12)}},
}


@pytest.fixture(scope="module")
def rich(
    make_scenario: Callable[[Path], Scenario], tmp_path_factory: pytest.TempPathFactory
) -> Scenario:
    scenario = make_scenario(tmp_path_factory.mktemp("rich"))
    dependencies = [d for index in range(60) for d in _library(index)]
    shards, shard_items, shard_results = _shards(tmp_path_factory.mktemp("shards"))
    reviews, logs = scenario.inventory.datasets
    scenario.inventory = replace(
        scenario.inventory,
        models=(*scenario.inventory.models, shards),
        # A licence that is neither an SPDX id nor an expression: a named licence.
        datasets=(reviews, replace(logs, license="Proprietary: see LICENSE.txt")),
        dependencies=(*scenario.inventory.dependencies, *dependencies),
    )
    scenario.items += shard_items
    scenario.results += shard_results
    for name, facts in DATASET_FACTS.items():
        scenario.items.append(PlannedItem(P, name, ("dataset",)))
        scenario.results.append(CheckResult(P, name, "dataset", facts={"dataset": facts}))
    for dependency in dependencies:
        checks = ("typosquat", FACTS_KEY)
        scenario.items.append(PlannedItem(D, dependency.subject, checks))
        scenario.results.append(CheckResult(D, dependency.subject, "typosquat"))
    affected = {"torch==2.4.0": ADVISORY, "lib-1==1.1.0": DATABASE_RATED}
    # Rated 8.8 where lib-1's rating is 8.75: written alike, still two ratings.
    affected["lib-5==2.5.0"] = replace(
        DATABASE_RATED, package="lib-5", rating=replace(DATABASE_RATED.rating, score="8.8")
    )
    affected["lib-3>=3"] = ODD_ADVISORY
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
                    # Two with one path (one reference in the BOM), one without a digest, one
                    # named with what a URI percent-encodes.
                    "envelopes": [
                        {"path": "release/model.intoto.jsonl", "sha256": "cd" * 32},
                        {"path": "release/model.intoto.jsonl", "sha256": "cd" * 32},
                        {"path": "release/model.intoto.jsonl"},
                        {"path": "release/a {b} [c] 'd'.intoto.jsonl", "sha256": "ef" * 32},
                    ],
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
    reference = library_built_json(*args, serial_number=SERIAL, timestamp=WHEN)
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
    assert affected == {
        "library:torch==2.4.0",
        "library:lib-1==1.1.0",
        "library:lib-5==2.5.0",
        "project:review-service",
    }
    model = next(c for c in ours["components"] if c["bom-ref"] == "model:sentiment")
    assert {"modelCard", "pedigree", "externalReferences"} <= set(model)
    shards = next(c for c in ours["components"] if c["bom-ref"] == "model:shards")
    assert len(shards["components"]) == 40
    assert sum("hashes" in f for f in shards["components"]) == 40
    reviews = next(c for c in ours["components"] if c["bom-ref"] == "dataset:reviews")
    assert len(reviews["components"]) == 3
    assert reviews["version"] == "7" * 40
    licences = [entry for c in ours["components"] for entry in c.get("licenses", [])]
    assert {"expression": "apache-2.0 OR mit"} in licences
    assert {"license": {"id": "CC-BY-4.0"}} in licences
    assert {"license": {"name": "Proprietary: see LICENSE.txt"}} in licences
    ghsa = next(v for v in ours["vulnerabilities"] if v["id"] == "GHSA-53q9-r3pm-6pq6")
    assert [r["severity"] for r in ghsa["ratings"]] == ["critical", "high", "high"]
    assert ghsa["ratings"][1] == ghsa["ratings"][2]  # 8.75 and 8.8, both written 8.8
    assert ghsa["ratings"][1]["score"] == 8.8
    assert ghsa["ratings"][1]["vector"] == "AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"
    odd = next(v for v in ours["vulnerabilities"] if v["id"] == "OSV-2025-17")
    assert odd["source"]["url"] == "https://example.org/advisories/OSV%202025%20%5B17%5D"
    assert "updated" not in odd
    urls = [r["url"] for r in model["externalReferences"]]
    assert "release/a%20%7Bb%7D%20%5Bc%5D%20%27d%27.intoto.jsonl" in urls
    assert urls.count("release/model.intoto.jsonl") == 2  # with and without its digest


def _both_xml(scenario: Scenario) -> tuple[str, str]:
    args = (scenario.inventory, scenario.items, scenario.results, Severity.HIGH)
    ours = render_bom_xml(*args, serial_number=SERIAL, timestamp=WHEN)
    reference = library_built_xml(*args, serial_number=SERIAL, timestamp=WHEN)
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


def _leaves(components: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every library and file component, nested ones included, by bom-ref."""
    out = {}
    for component in components:
        if component["type"] in ("library", "file") and "bom-ref" in component:
            out[component["bom-ref"]] = component
        out.update(_leaves(component.get("components", [])))
    return out


def _normalized(text: str) -> str:
    """XSD normalizedString, as the library writes a name, a version or a property's value."""
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")


def test_the_xml_form_says_what_the_json_form_says_of_every_leaf(rich: Scenario) -> None:
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
    for element in ET.fromstring(xml).iter(f"{{{CYCLONEDX_NS}}}component"):
        if element.get("type") not in ("library", "file") or element.get("bom-ref") is None:
            continue
        entry: dict[str, Any] = {"type": element.get("type"), "bom-ref": element.get("bom-ref")}
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

    from_json = {}
    for component in _leaves(ours["components"]).values():
        # What XML says differently: whitespace in normalizedStrings, characters it cannot hold.
        component["bom-ref"] = component["bom-ref"].replace("\x1b", "\ufffd")
        for field in ("name", "version"):
            if field in component:
                component[field] = _normalized(component[field]).replace("\x1b", "\ufffd")
        for prop in component.get("properties", []):
            prop["value"] = _normalized(prop["value"])
        from_json[component["bom-ref"]] = component
    assert len(from_json) == 64 + 3 + 40 + 3 + 12
    assert from_xml == from_json


def test_a_bom_assembled_once_writes_both_forms_as_two_builds_would(rich: Scenario) -> None:
    args = (rich.inventory, rich.items, rich.results, Severity.HIGH)
    same = {"serial_number": SERIAL, "timestamp": WHEN}
    json_first = assemble_bom(*args, **same)
    xml_first = assemble_bom(*args, **same)

    # Either order: serialising the library's model once must not change what it writes next.
    assert bom_json(json_first) == build_bom(*args, **same)
    assert bom_xml(json_first) == render_bom_xml(*args, **same)
    assert bom_xml(xml_first) == render_bom_xml(*args, **same)
    assert bom_json(xml_first) == build_bom(*args, **same)


#: cyclonedx-python-lib and what it imports: the ~70 ms the plugin's own writer saves a gate.
LIBRARY_MODULES = ("cyclonedx", "py_serializable", "sortedcontainers")


def test_writing_the_bom_imports_none_of_cyclonedx_python_lib(tmp_path: Path) -> None:
    # A fresh interpreter: this one has imported the library for the reference.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.reports.conftest import build_scenario\n"
        "from pytest_mlsupply.reports.bom import (\n"
        "    assemble_bom, bom_json, bom_xml, render_bom_json)\n"
        "from pytest_mlsupply.results import Severity\n"
        f"s = build_scenario(Path({str(tmp_path)!r}))\n"
        "bom = assemble_bom(s.inventory, s.items, s.results, Severity.HIGH)\n"
        "render_bom_json(bom_json(bom))\n"
        f"prefixes = {(*LIBRARY_MODULES, 'lxml')!r}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(prefixes)}))\n"
        "bom_xml(bom)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(prefixes)}))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )

    assert proc.returncode == 0, proc.stderr
    after_json, after_xml = proc.stdout.splitlines()
    # The JSON form needs neither the library nor lxml; the XML form lxml only.
    assert after_json == "[]"
    assert after_xml == "['lxml']"
