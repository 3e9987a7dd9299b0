"""The BOM a release engineer needs: the model's aggregate digest, every finding, the VCS
repository and CI run, installed licences and hashes, and no card statement the gate found false."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.build_context import BuildContext, detect
from pytest_mlsupply.reports.bom import (
    assemble_bom,
    bom_json,
    bom_xml,
    build_bom,
    model_hash,
    render_bom_json,
)
from pytest_mlsupply.reports.bom_release import installed_library, model_digest
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency
from tests.reports.library_reference import library_built_json

if TYPE_CHECKING:
    from tests.reports.conftest import Scenario

TOKEN = "ghs_TopSecretToken1234567890"
SAME: dict[str, Any] = {
    "serial_number": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "timestamp": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
}


def component(bom: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(c for c in bom["components"] if c["bom-ref"] == ref)


def properties(node: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in node.get("properties", []) if p["name"] == f"mlsupply:{name}"]


def nested(model: dict[str, Any], relpath: str) -> dict[str, Any]:
    return next(c for c in model["components"] if c["name"] == relpath)


# --- the model's own digest ----------------------------------------------------------------------


def test_the_model_component_carries_the_aggregate_digest_anyone_can_recompute(
    scenario: Scenario,
) -> None:
    bom = build_bom(scenario.inventory, scenario.items, scenario.results, Severity.HIGH)
    model = component(bom, "model:sentiment")

    # The documented recipe, written out here independently of the package.
    files = {c["name"]: c["hashes"][0]["content"] for c in model["components"]}
    lines = "".join(f"{rel}\0{sha}\n" for rel, sha in sorted(files.items()))
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert model["hashes"] == [{"alg": "SHA-256", "content": expected}]
    assert files["model.safetensors"] == scenario.REPORTED_SHA256  # the file-level ones stay
    assert properties(model, "model-hash")[0].endswith("(2 files)")


def test_a_changed_file_changes_the_aggregate_and_a_renamed_one_too() -> None:
    sha = "ab" * 32
    base = model_digest({"a.bin": sha, "b.bin": sha})
    assert model_digest({"a.bin": sha, "b.bin": "cd" * 32}) != base
    assert model_digest({"a.bin": sha, "c.bin": sha}) != base
    # Order of the mapping does not matter: the lines are sorted.
    assert model_digest({"b.bin": sha, "a.bin": sha}) == base


def test_a_model_with_a_file_without_a_digest_gets_no_aggregate_and_says_why() -> None:
    hashes, note = model_hash({"a.bin": "ab" * 32}, 2)

    assert hashes == []
    assert note == [("mlsupply:model-hash", "none: 1 of its 2 files have no digest")]


# --- findings ------------------------------------------------------------------------------------


def test_every_finding_is_recorded_with_rule_severity_and_location_below_the_threshold_too(
    scenario: Scenario,
) -> None:
    bom = build_bom(scenario.inventory, scenario.items, scenario.results, Severity.HIGH)

    (pickle,) = properties(nested(component(bom, "model:legacy"), "model.pkl"), "finding")
    assert json.loads(pickle) == {
        "blocking": True,
        "check": "pickle",
        "cwe": "CWE-502",
        "location": {"file": "legacy/model.pkl", "offset": 2},
        "rule": "PKL001",
        "severity": "critical",
        "title": "pickle imports os.system",
    }
    # A low finding does not fail its item, and is recorded all the same.
    (low,) = properties(component(bom, "library:requests>=2"), "finding")
    assert json.loads(low)["rule"] == "PIN001"
    assert json.loads(low)["blocking"] is False


def test_a_findings_evidence_is_bounded_and_its_control_characters_escaped(
    scenario: Scenario,
) -> None:
    evidence = "\x1b[31mred\r\n" + "x" * 5000
    finding = Finding("X1", Severity.LOW, "test", "odd", Location(file="f"), evidence=evidence)
    results = [
        *scenario.results,
        CheckResult(RowKind.ARTIFACT, "legacy/model.pkl", "format", findings=[finding]),
    ]
    assembled = assemble_bom(scenario.inventory, scenario.items, results, Severity.HIGH)
    bom = bom_json(assembled)

    values = properties(nested(component(bom, "model:legacy"), "model.pkl"), "finding")
    (value,) = [v for v in values if '"X1"' in v]
    # Safe for XML, terminals, any consumer:
    assert value.isascii()
    assert value.isprintable()
    assert len(json.loads(value)["evidence"]) == 200
    assert json.loads(value)["evidence"].startswith("\x1b[31mred\r\n")
    assert "\\u001b[31mred" in bom_xml(assembled)  # and the XML form validates


# --- where the run was made ----------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_project_names_the_repository_commit_and_ci_run_and_never_the_token(
    scenario: Scenario, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", f"https://x-access-token:{TOKEN}@github.com/acme/svc.git")
    (repo / "README").write_text("hello\n")
    git(repo, "add", "README")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "first")
    commit = git(repo, "rev-parse", "HEAD")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/svc",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": commit,
    }
    build = detect(repo, env)

    assembled = assemble_bom(
        scenario.inventory, scenario.items, scenario.results, Severity.HIGH, build=build
    )
    bom = bom_json(assembled)
    project = bom["metadata"]["component"]

    assert project["externalReferences"] == [
        {"type": "build-system", "url": "https://github.com/acme/svc/actions/runs/42",
         "comment": "the CI run that made this BOM"},
        {"type": "vcs", "url": "https://github.com/acme/svc.git", "comment": f"commit {commit}"},
    ]  # fmt: skip
    assert properties(project, "vcs:commit") == [commit]
    assert properties(project, "vcs:dirty") == ["false"]
    assert TOKEN not in render_bom_json(bom)
    assert TOKEN not in bom_xml(assembled)


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:acme/svc.git", "ssh://git@github.com/acme/svc.git"),
        ("/srv/git/svc.git", "file:///srv/git/svc.git"),
    ],
)
def test_a_remote_git_writes_without_a_scheme_becomes_a_uri_that_validates(
    scenario: Scenario, remote: str, url: str
) -> None:
    build = BuildContext(repository=remote, commit="a" * 40, dirty=True)

    bom = build_bom(
        scenario.inventory, scenario.items, scenario.results, Severity.HIGH, build=build
    )

    (vcs,) = bom["metadata"]["component"]["externalReferences"]
    assert vcs == {
        "type": "vcs",
        "url": url,
        "comment": f"commit {'a' * 40}, with uncommitted changes",
    }


def test_a_relative_remote_is_kept_as_a_property_not_a_link(scenario: Scenario) -> None:
    build = BuildContext(repository="../svc", commit=None)

    bom = build_bom(
        scenario.inventory, scenario.items, scenario.results, Severity.HIGH, build=build
    )

    assert "externalReferences" not in bom["metadata"]["component"]
    assert properties(bom["metadata"]["component"], "vcs:repository") == ["../svc"]


def test_the_library_reference_agrees_on_the_build_context(scenario: Scenario) -> None:
    build = BuildContext(
        repository="https://github.com/acme/svc",
        commit="b" * 40,
        dirty=False,
        ci_run_url="https://ci.example.com/run/7",
    )
    args = (scenario.inventory, scenario.items, scenario.results, Severity.HIGH)

    assert build_bom(*args, build=build, **SAME) == library_built_json(*args, build=build, **SAME)


# --- installed distributions ---------------------------------------------------------------------


def install(site: Path, name: str, version: str, metadata: str, direct_url: str | None) -> None:
    """A distribution as an installer leaves it: ``*.dist-info`` with METADATA and RECORD."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n{metadata}"
    )
    (info / "RECORD").write_text("")
    if direct_url is not None:
        (info / "direct_url.json").write_text(direct_url)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])
    return folder


def dep(name: str, version: str) -> Dependency:
    return Dependency(name, f"{name}=={version}", "requirements.txt:1", version)


def test_a_librarys_licence_and_archive_hash_come_from_its_installed_metadata(
    site: Path, scenario: Scenario
) -> None:
    wheel = "12" * 32
    install(
        site,
        "acme-widgets",
        "1.0",
        "License-Expression: MIT OR Apache-2.0\nLicense: ignored when there is an expression\n",
        json.dumps(
            {
                "url": "file:///wheels/acme_widgets-1.0-py3-none-any.whl",
                "archive_info": {"hashes": {"sha256": wheel, "md5": "00"}},
            }
        ),
    )
    inventory = replace(
        scenario.inventory,
        dependencies=(*scenario.inventory.dependencies, dep("acme-widgets", "1.0")),
    )
    args = (inventory, scenario.items, scenario.results, Severity.HIGH)

    bom = build_bom(*args, **SAME)

    library = component(bom, "library:acme-widgets==1.0")
    assert library["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert library["hashes"] == [{"alg": "SHA-256", "content": wheel}]
    assert properties(library, "license-source") == ["installed metadata (License-Expression)"]
    assert bom == library_built_json(*args, **SAME)  # cyclonedx-python-lib writes the same


def test_another_installed_version_lends_the_declared_one_nothing(site: Path) -> None:
    install(site, "acme-widgets", "2.0", "License-Expression: MIT\n", None)

    assert installed_library([dep("acme-widgets", "1.0")]) == (None, None, [])


def test_classifiers_name_the_licence_when_the_metadata_has_no_short_field(site: Path) -> None:
    install(
        site,
        "acme-old",
        "0.1",
        "License: " + "Permission is hereby granted, free of charge, " * 5 + "\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
        "Classifier: License :: OSI Approved :: Apache Software License\n",
        None,
    )
    install(site, "acme-named", "0.2", "License: Acme Community Licence\n", None)

    assert installed_library([dep("acme-old", "0.1")]) == (
        "Apache-2.0 OR MIT",
        "classifiers",
        [],
    )
    assert installed_library([dep("acme-named", "0.2")])[:2] == (
        "Acme Community Licence",
        "License",
    )


# --- the card, as far as it was found true -------------------------------------------------------


def card_finding(key_path: str) -> Finding:
    return Finding(
        "MLS-CARD-101",
        Severity.HIGH,
        "documentation",
        "the card's statement is contradicted",
        Location(file="sentiment/README.md", key_path=key_path),
    )


def test_card_statements_a_card_check_flagged_are_left_out_of_the_bom(scenario: Scenario) -> None:
    sentiment = scenario.inventory.models[0]
    unlicensed = replace(sentiment, decl=replace(sentiment.decl, license=None))
    inventory = replace(scenario.inventory, models=(unlicensed, *scenario.inventory.models[1:]))
    accuracy = CheckResult(
        RowKind.PROVENANCE,
        "sentiment",
        "model-card-accuracy",
        findings=[card_finding("license"), card_finding("model-index[0].results")],
    )
    before = build_bom(inventory, scenario.items, scenario.results, Severity.HIGH)
    after = build_bom(inventory, scenario.items, [*scenario.results, accuracy], Severity.HIGH)

    # Without the findings the card's licence and metrics are copied ...
    assert component(before, "model:sentiment")["licenses"] == [{"license": {"id": "MIT"}}]
    assert "quantitativeAnalysis" in component(before, "model:sentiment")["modelCard"]
    # ... with them, neither is repeated as if true, and the BOM says what was left out.
    model = component(after, "model:sentiment")
    assert "licenses" not in model
    assert "quantitativeAnalysis" not in model["modelCard"]
    assert model["modelCard"]["modelParameters"]["task"] == "text-classification"  # unflagged
    omitted = properties(model["modelCard"], "card-omitted")
    assert omitted == [
        "license: a card check flagged it",
        "model-index: a card check flagged it",
    ]


def test_a_bom_with_an_unusable_ci_url_still_validates(scenario: Scenario) -> None:
    build = BuildContext(ci_run_url="not a url")

    bom = build_bom(
        scenario.inventory, scenario.items, scenario.results, Severity.HIGH, build=build
    )

    assert "externalReferences" not in bom["metadata"]["component"]
