"""Dependencies in the ML-BOM: library purls and hashes, and vulnerabilities from the check's facts."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.bom import BomError, build_bom, render_bom_xml
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency
from pytest_mlsupply.vulns.model import FACTS_KEY, Advisory, Rating

if TYPE_CHECKING:
    from pathlib import Path

    from tests.reports.conftest import Scenario

D = RowKind.DEPENDENCY

#: The torch.load weights_only advisory, as OSV publishes it (abridged).
TORCH_LOAD = Advisory(
    id="GHSA-53q9-r3pm-6pq6",
    package="torch",
    version="2.4.0",
    aliases=("CVE-2025-32434",),
    summary="PyTorch: torch.load with weights_only=True leads to remote code execution",
    details="torch.load(..., weights_only=True) can still execute code; fixed in 2.6.0.",
    fixed=("2.6.0",),
    rating=Rating(
        severity="critical",
        method="CVSSv4",
        vector="CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        score="9.3",
        source="cvss",
    ),
    source="offline:osv-snapshot",
    url="https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6",
    published="2025-04-18T15:31:24Z",
    modified="2025-04-22T20:14:56Z",
)
#: The requests Proxy-Authorization leak, PYSEC-2018-28.
REQUESTS_LEAK = Advisory(
    id="PYSEC-2018-28",
    package="requests",
    version="2.19.1",
    aliases=("CVE-2018-18074", "GHSA-x84v-xcm2-53pg"),
    summary="Requests sends the Proxy-Authorization header to a redirect target",
    fixed=("2.20.0",),
    rating=Rating(severity="high", source="database"),
    source="osv",
)


def with_vulnerabilities(scenario: Scenario, found: dict[str, list[Advisory]]) -> Scenario:
    """The scenario with the ``vulnerabilities`` results carrying ``found`` in their facts."""
    results = [
        r
        for r in scenario.results
        if not (r.kind is D and r.check == FACTS_KEY and r.subject in found)
    ]
    for subject, advisories in found.items():
        results.append(
            CheckResult(
                D,
                subject,
                FACTS_KEY,
                findings=[
                    Finding(a.id, Severity.HIGH, "vulnerability", a.summary) for a in advisories
                ],
                facts={FACTS_KEY: [a.to_json() for a in advisories]},
            )
        )
    scenario.results = results
    return scenario


def build(scenario: Scenario) -> dict[str, Any]:
    return build_bom(scenario.inventory, scenario.items, scenario.results, Severity.HIGH)


def components(bom: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in bom["components"]}


@pytest.fixture
def vulnerable(scenario: Scenario) -> dict[str, Any]:
    """torch 2.4.0 and torch-audio both affected by the torch.load advisory."""
    audio = replace(TORCH_LOAD, package="torch-audio")
    scenario.items.append(PlannedItem(D, "torch-audio==2.4.0", ("vulnerabilities",)))
    return build(
        with_vulnerabilities(
            scenario, {"torch==2.4.0": [TORCH_LOAD], "torch-audio==2.4.0": [audio]}
        )
    )


def test_a_bom_with_vulnerabilities_still_validates_against_cyclonedx_1_6(
    vulnerable: dict[str, Any],
) -> None:
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(vulnerable)) is None


def test_an_advisory_becomes_a_vulnerability_with_id_source_and_description(
    vulnerable: dict[str, Any],
) -> None:
    (vulnerability,) = vulnerable["vulnerabilities"]

    assert vulnerability["id"] == "GHSA-53q9-r3pm-6pq6"
    assert vulnerability["source"] == {
        "name": "offline:osv-snapshot",
        "url": "https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6",
    }
    assert vulnerability["description"].startswith("PyTorch: torch.load")
    assert "weights_only=True" in vulnerability["detail"]
    assert vulnerability["published"].startswith("2025-04-18T15:31:24")


def test_aliases_are_references_with_the_database_that_describes_them(
    vulnerable: dict[str, Any],
) -> None:
    (vulnerability,) = vulnerable["vulnerabilities"]

    assert vulnerability["references"] == [
        {
            "id": "CVE-2025-32434",
            "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2025-32434"},
        }
    ]


def test_a_cvss_rating_keeps_score_vector_method_and_severity(vulnerable: dict[str, Any]) -> None:
    (vulnerability,) = vulnerable["vulnerabilities"]
    (rating,) = vulnerability["ratings"]

    assert rating["method"] == "CVSSv4"
    assert rating["severity"] == "critical"
    # CycloneDX writes the vector without its scheme prefix: the method names the scheme.
    assert rating["vector"] == "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert Decimal(str(rating["score"])) == Decimal("9.3")


def test_one_vulnerability_affects_every_component_it_was_found_in(
    vulnerable: dict[str, Any],
) -> None:
    (vulnerability,) = vulnerable["vulnerabilities"]

    assert vulnerability["affects"] == [
        {
            "ref": "library:torch-audio==2.4.0",
            "versions": [{"version": "2.4.0", "status": "affected"}],
        },
        {"ref": "library:torch==2.4.0", "versions": [{"version": "2.4.0", "status": "affected"}]},
    ]
    refs = components(vulnerable)
    assert all(target["ref"] in refs for target in vulnerability["affects"])


def test_the_recommendation_names_the_fixed_versions_per_package(
    vulnerable: dict[str, Any],
) -> None:
    (vulnerability,) = vulnerable["vulnerabilities"]

    assert vulnerability["recommendation"] == (
        "upgrade torch to a fixed version: 2.6.0; upgrade torch-audio to a fixed version: 2.6.0"
    )


def test_a_database_severity_without_vector_is_rated_by_method_other(
    scenario: Scenario,
) -> None:
    inventory = scenario.inventory
    scenario.inventory = replace(
        inventory,
        dependencies=(
            *inventory.dependencies,
            Dependency("requests", "requests==2.19.1", "requirements.txt:5", "2.19.1"),
        ),
    )
    scenario.items.append(PlannedItem(D, "requests==2.19.1", ("vulnerabilities",)))
    bom = build(with_vulnerabilities(scenario, {"requests==2.19.1": [REQUESTS_LEAK]}))

    (vulnerability,) = bom["vulnerabilities"]
    assert vulnerability["ratings"] == [
        {"method": "other", "severity": "high", "source": {"name": "osv"}}
    ]
    assert [ref["id"] for ref in vulnerability["references"]] == [
        "CVE-2018-18074",
        "GHSA-x84v-xcm2-53pg",
    ]
    assert vulnerability["source"]["url"] == "https://osv.dev/vulnerability/PYSEC-2018-28"
    assert vulnerability["affects"][0]["ref"] == "library:requests==2.19.1"


def test_two_advisories_on_one_component_are_two_vulnerabilities(scenario: Scenario) -> None:
    other = replace(TORCH_LOAD, id="GHSA-aaaa-bbbb-cccc", aliases=(), fixed=("2.5.0",))
    bom = build(with_vulnerabilities(scenario, {"torch==2.4.0": [TORCH_LOAD, other]}))

    assert [v["id"] for v in bom["vulnerabilities"]] == [
        "GHSA-53q9-r3pm-6pq6",
        "GHSA-aaaa-bbbb-cccc",
    ]


def test_malformed_vulnerability_facts_make_the_bom_fail_rather_than_drop_them(
    scenario: Scenario,
) -> None:
    scenario.results.append(
        CheckResult(D, "torch==2.4.0", FACTS_KEY, facts={FACTS_KEY: [{"id": "GHSA-x"}]})
    )

    with pytest.raises(BomError, match=r"torch==2\.4\.0.*malformed"):
        build(scenario)


def test_the_xml_bom_carries_the_vulnerabilities_and_validates(scenario: Scenario) -> None:
    with_vulnerabilities(scenario, {"torch==2.4.0": [TORCH_LOAD]})

    text = render_bom_xml(scenario.inventory, scenario.items, scenario.results, Severity.HIGH)

    assert "<id>GHSA-53q9-r3pm-6pq6</id>" in text
    assert "<target><ref>library:torch==2.4.0</ref>" in text.replace("\n", "").replace(" ", "")


def _with_dependency(scenario: Scenario, dependency: Dependency) -> dict[str, Any]:
    inventory = scenario.inventory
    scenario.inventory = replace(inventory, dependencies=(*inventory.dependencies, dependency))
    return components(build(scenario))


def test_a_library_from_another_index_has_it_as_the_purls_repository_url(
    scenario: Scenario,
) -> None:
    dependency = Dependency(
        "acme-tokenizer",
        "acme-tokenizer==1.2.0",
        "requirements.txt:9",
        "1.2.0",
        index="https://pypi.acme.internal/simple/",
        extra_indexes=("https://pypi.org/simple",),
    )

    component = _with_dependency(scenario, dependency)["library:acme-tokenizer==1.2.0"]

    assert component["purl"] == (
        "pkg:pypi/acme-tokenizer@1.2.0?repository_url=https://pypi.acme.internal/simple"
    )
    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert properties["mlsupply:extra-index"] == "https://pypi.org/simple"


def test_pypi_itself_as_the_index_adds_no_qualifier(scenario: Scenario) -> None:
    dependency = Dependency(
        "six", "six==1.16.0", "requirements.txt:9", "1.16.0", index="https://pypi.org/simple/"
    )

    component = _with_dependency(scenario, dependency)["library:six==1.16.0"]

    assert component["purl"] == "pkg:pypi/six@1.16.0"


def test_hash_pins_are_the_library_components_hashes(scenario: Scenario) -> None:
    wheel, sdist = "a1" * 32, "b2" * 32
    dependency = Dependency(
        "six",
        "six==1.16.0",
        "requirements.txt:9",
        "1.16.0",
        hashes=(f"sha256:{sdist}", f"sha256:{wheel.upper()}"),
    )

    component = _with_dependency(scenario, dependency)["library:six==1.16.0"]

    assert component["hashes"] == [
        {"alg": "SHA-256", "content": wheel},
        {"alg": "SHA-256", "content": sdist},
    ]


def test_a_skipped_dependency_records_why_and_its_marker(scenario: Scenario) -> None:
    dependency = Dependency(
        "pywin32",
        "pywin32==306",
        "requirements.txt:9",
        "306",
        marker='sys_platform == "win32"',
        skipped='its marker sys_platform == "win32" is false here',
    )

    component = _with_dependency(scenario, dependency)["library:pywin32==306"]

    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert properties["mlsupply:marker"] == 'sys_platform == "win32"'
    assert "is false here" in properties["mlsupply:skipped"]


def test_a_bom_without_vulnerability_facts_has_no_vulnerabilities(
    tmp_path: Path, scenario: Scenario
) -> None:
    assert "vulnerabilities" not in build(scenario)


def test_whether_hash_pins_were_checked_against_the_installed_archive_is_recorded(
    scenario: Scenario,
) -> None:
    scenario.items.append(PlannedItem(D, "numpy==2.1.0", ("integrity",)))
    scenario.results.append(
        CheckResult(
            D,
            "numpy==2.1.0",
            "integrity",
            facts={"hash_pins": "undecided", "hash_pins_reason": "pip recorded no archive hash"},
        )
    )

    component = components(build(scenario))["library:numpy==2.1.0"]

    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert properties["mlsupply:hash-pins"] == "undecided: pip recorded no archive hash"
    assert properties["mlsupply:check:integrity"] == "pass"


def test_an_advisory_for_a_subject_with_no_library_component_affects_the_project(
    scenario: Scenario,
) -> None:
    ghost = replace(TORCH_LOAD, package="ghost", version="1.0")

    bom = build(with_vulnerabilities(scenario, {"ghost==1.0": [ghost]}))

    (vulnerability,) = bom["vulnerabilities"]
    assert [target["ref"] for target in vulnerability["affects"]] == ["project:review-service"]
    assert bom["metadata"]["component"]["bom-ref"] == "project:review-service"
