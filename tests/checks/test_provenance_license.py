"""The license claim: a model's licence, its datasets' and its base models' satisfy the policy."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.checks.provenance_license import base_of, card_licence
from pytest_mlsupply.licenses import LicenceError, evaluate
from pytest_mlsupply.manifest.model import (
    HubRef,
    LicensePolicy,
    Manifest,
    ModelDecl,
    OutputDecl,
    Policy,
    Span,
)
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from pytest_mlsupply.sources.inventory import Inventory, ResolvedModel

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


def write_model(root: Path, name: str, card_front: str | None = None) -> None:
    """A model directory with a card whose front matter is ``card_front`` (none: no card)."""
    directory = root / "models" / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text("{}")
    if card_front is not None:
        (directory / "README.md").write_text(f"---\n{card_front}\n---\n# {name}\n")


def manifest(pipeline: Pipeline, models: str, policy: str = "", datasets: str = "") -> None:
    text = "version: 1\nproject: {name: licences}\n"
    if policy:
        text += f"policy:\n  licenses: {policy}\n"
    text += "models:\n" + textwrap.indent(textwrap.dedent(models).strip(), "  ") + "\n"
    if datasets:
        text += "datasets:\n" + textwrap.indent(textwrap.dedent(datasets).strip(), "  ") + "\n"
    (pipeline.project.root / "mlsupply.yaml").write_text(text)


def one_model(pipeline: Pipeline, license_: str | None, policy: str = "") -> CheckResult:
    write_model(pipeline.project.root, "m")
    entry = "- name: m\n  path: models/m\n"
    if license_ is not None:
        entry += f"  license: {license_!r}\n"
    manifest(pipeline, entry, policy)
    return pipeline.result("provenance[m::license]")


def rules(result: CheckResult) -> list[str]:
    return [finding.rule for finding in result.findings]


# --- the allow list, expressions and restrictions ------------------------------------------------


def test_a_licence_in_the_allow_list_passes(pipeline: Pipeline) -> None:
    result = one_model(pipeline, "apache-2.0", "{allow: [apache-2.0, mit]}")

    assert result.findings == []
    assert result.facts["license"]["expression"] == "Apache-2.0"
    assert result.facts["license"]["restrictions"] == {"attribution": ["Apache-2.0"]}


def test_a_licence_outside_the_allow_list_fails_naming_it(pipeline: Pipeline) -> None:
    result = one_model(pipeline, "gpl-3.0", "{allow: [apache-2.0, mit]}")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-LIC-001", Severity.HIGH)
    assert "GPL-3.0-only is not in policy.licenses.allow" in finding.evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_ids_match_in_any_case(pipeline: Pipeline) -> None:
    result = one_model(pipeline, "APACHE-2.0 or Llama3", "{allow: [Apache-2.0]}")

    assert result.findings == []
    assert result.facts["license"]["licences"] == ["Apache-2.0"]


def test_an_or_takes_the_alternative_that_satisfies_the_policy(pipeline: Pipeline) -> None:
    result = one_model(pipeline, "cc-by-nc-4.0 OR mit", "{deny_restrictions: [non-commercial]}")

    assert result.findings == []
    assert result.facts["license"]["licences"] == ["MIT"]
    assert "non-commercial" not in result.facts["license"]["restrictions"]


def test_an_or_with_no_acceptable_alternative_fails(pipeline: Pipeline) -> None:
    result = one_model(
        pipeline, "cc-by-nc-4.0 OR cc-by-nc-sa-4.0", "{deny_restrictions: [non-commercial]}"
    )

    assert rules(result) == ["MLS-LIC-002"]
    assert "CC-BY-NC-4.0 carries the denied restriction 'non-commercial'" in (
        result.findings[0].evidence
    )


def test_an_and_carries_the_restrictions_of_every_part(pipeline: Pipeline) -> None:
    result = one_model(
        pipeline, "cc-by-4.0 AND openrail", "{deny_restrictions: [use-based-restrictions]}"
    )

    (finding,) = result.findings
    assert finding.rule == "MLS-LIC-002"
    assert "openrail carries the denied restriction 'use-based-restrictions'" in finding.evidence
    assert result.facts["license"]["restrictions"] == {
        "attribution": ["CC-BY-4.0", "openrail"],
        "use-based-restrictions": ["openrail"],
    }


def test_a_with_exception_counts_as_its_licence(pipeline: Pipeline) -> None:
    result = one_model(
        pipeline, "GPL-2.0-only WITH Classpath-exception-2.0", "{allow: [gpl-2.0-only]}"
    )

    assert result.findings == []
    assert result.facts["license"]["licences"] == ["GPL-2.0-only WITH Classpath-exception-2.0"]
    assert "share-alike" in result.facts["license"]["restrictions"]


def test_the_llama3_licence_fails_a_policy_that_denies_a_user_threshold(
    pipeline: Pipeline,
) -> None:
    result = one_model(pipeline, "llama3", "{deny_restrictions: [user-threshold]}")

    (finding,) = result.findings
    assert finding.rule == "MLS-LIC-002"
    assert finding.evidence.startswith("llama3 carries the denied restriction 'user-threshold'")


def test_a_licence_expression_that_does_not_parse_is_a_finding(pipeline: Pipeline) -> None:
    result = one_model(pipeline, "apache-2.0 OR (mit")

    assert rules(result) == ["MLS-LIC-005"]


# --- unknown licences -----------------------------------------------------------------------------


@pytest.mark.parametrize("licence", ["other", "unknown", "my-corp-eula"])
def test_an_unknown_licence_fails_by_default(pipeline: Pipeline, licence: str) -> None:
    result = one_model(pipeline, licence)

    (finding,) = result.findings
    assert (finding.rule, finding.cwe) == ("MLS-LIC-003", "CWE-1357")
    assert f"{licence} is not a licence the gate knows" in finding.evidence


def test_a_model_without_any_licence_fails_under_a_licence_policy(pipeline: Pipeline) -> None:
    result = one_model(pipeline, None, "{allow: [mit]}")

    assert rules(result) == ["MLS-LIC-004"]


def test_unknown_allow_accepts_an_unknown_licence_and_records_it(pipeline: Pipeline) -> None:
    result = one_model(pipeline, "my-corp-eula", "{unknown: allow}")

    assert result.findings == []
    assert result.facts["license"]["accepted_unknown"] == ["my-corp-eula"]


def test_no_claim_is_made_for_a_model_without_licence_or_policy(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m")
    manifest(pipeline, "- name: m\n  path: models/m\n")

    assert "provenance[m::license]" not in pipeline.names()


# --- where the licence comes from -----------------------------------------------------------------


def test_the_cards_licence_is_judged_when_the_manifest_declares_none(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m", "license: other\nlicense_name: llama3")
    manifest(pipeline, "- name: m\n  path: models/m\n", "{deny_restrictions: [user-threshold]}")

    result = pipeline.result("provenance[m::license]")

    assert rules(result) == ["MLS-LIC-002"]
    assert "from the card's `license`: 'llama3'" in result.findings[0].evidence
    assert result.facts["license"]["source"] == "card"


def test_a_card_that_disagrees_with_the_manifest_is_recorded_with_its_restrictions(
    pipeline: Pipeline,
) -> None:
    write_model(pipeline.project.root, "m", "license: cc-by-nc-4.0")
    (pipeline.project.root / "models" / "m" / "LICENSE").write_text("Apache License 2.0\n")
    manifest(pipeline, "- name: m\n  path: models/m\n  license: apache-2.0\n")

    result = pipeline.result("provenance[m::license]")

    # No policy denies anything, but the card's terms still apply next to the manifest's.
    assert result.findings == []
    facts = result.facts["license"]
    assert facts["restrictions"]["non-commercial"] == ["CC-BY-NC-4.0 of the card"]
    assert (facts["manifest"], facts["card"], facts["card_disagrees"]) == (
        "apache-2.0",
        "cc-by-nc-4.0",
        True,
    )
    assert facts["file"] == "LICENSE"


def test_a_card_that_agrees_in_another_spelling_is_no_disagreement(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m", "license: MIT OR Apache-2.0")
    manifest(pipeline, "- name: m\n  path: models/m\n  license: apache-2.0 or mit\n")

    result = pipeline.result("provenance[m::license]")

    assert "card_disagrees" not in result.facts["license"]


def test_a_card_licence_list_means_all_of_them_apply() -> None:
    assert (
        card_licence({"license": ["apache-2.0", "cc-by-nc-4.0"]}) == "Apache-2.0 AND CC-BY-NC-4.0"
    )
    assert card_licence({"license": "other"}) == "other"
    assert card_licence({}) is None


# --- inheritance: datasets and a three-hop lineage ------------------------------------------------


def test_a_model_trained_on_a_dataset_that_fails_the_policy_fails_saying_why(
    pipeline: Pipeline,
) -> None:
    root = pipeline.project.root
    write_model(root, "m")
    (root / "data" / "reviews").mkdir(parents=True)
    manifest(
        pipeline,
        "- name: m\n  path: models/m\n  license: apache-2.0\n  datasets: [reviews]\n",
        "{deny_restrictions: [non-commercial]}",
        "- name: reviews\n  path: data/reviews\n  license: cc-by-nc-sa-4.0\n",
    )

    result = pipeline.result("provenance[m::license]")

    (finding,) = result.findings
    assert finding.rule == "MLS-LIC-007"
    assert finding.evidence == (
        "dataset reviews (licence 'cc-by-nc-sa-4.0'): CC-BY-NC-SA-4.0 carries the denied "
        "restriction 'non-commercial'"
    )
    assert result.facts["license"]["restrictions"]["non-commercial"] == [
        "CC-BY-NC-SA-4.0 of dataset reviews"
    ]


def test_a_dataset_without_a_licence_fails_the_model_trained_on_it(pipeline: Pipeline) -> None:
    root = pipeline.project.root
    write_model(root, "m")
    (root / "data" / "scraped").mkdir(parents=True)
    manifest(
        pipeline,
        "- name: m\n  path: models/m\n  license: mit\n  datasets: [scraped]\n",
        datasets="- name: scraped\n  path: data/scraped\n",
    )

    result = pipeline.result("provenance[m::license]")

    assert rules(result) == ["MLS-LIC-007"]
    assert "dataset scraped (no licence): no licence is declared" in result.findings[0].evidence


THREE_HOPS = """\
- name: base
  path: models/base
  license: cc-by-nc-4.0
- name: finetune
  path: models/finetune
  license: apache-2.0
  lineage: {base_model: base}
- name: adapter
  path: models/adapter
  license: mit
  lineage: {base_model: finetune}
"""


def test_a_non_commercial_base_is_inherited_over_three_hops(pipeline: Pipeline) -> None:
    for name in ("base", "finetune", "adapter"):
        write_model(pipeline.project.root, name)
    manifest(pipeline, THREE_HOPS, "{deny_restrictions: [non-commercial]}")

    base = pipeline.result("provenance[base::license]")
    finetune = pipeline.result("provenance[finetune::license]")
    adapter = pipeline.result("provenance[adapter::license]")

    assert rules(base) == ["MLS-LIC-002"]
    assert rules(finetune) == ["MLS-LIC-006"]
    assert finetune.findings[0].evidence == (
        "model base (licence 'cc-by-nc-4.0'): CC-BY-NC-4.0 carries the denied restriction "
        "'non-commercial'"
    )
    (finding,) = adapter.findings
    assert finding.rule == "MLS-LIC-006"
    assert finding.evidence.startswith("model finetune → model base (licence 'cc-by-nc-4.0')")
    assert adapter.facts["license"]["restrictions"]["non-commercial"] == [
        "CC-BY-NC-4.0 of model base"
    ]
    assert adapter.verdict(Severity.HIGH) is Verdict.FAIL


def test_restrictions_are_inherited_even_when_no_policy_denies_them(pipeline: Pipeline) -> None:
    for name in ("base", "finetune", "adapter"):
        write_model(pipeline.project.root, name)
    manifest(pipeline, THREE_HOPS)

    adapter = pipeline.result("provenance[adapter::license]")

    assert adapter.findings == []
    assert sorted(adapter.facts["license"]["restrictions"]) == ["attribution", "non-commercial"]


LLAMA_BASE = "  lineage: {base_model: 'hf://meta-llama/Meta-Llama-3-8B@" + "a" * 40 + "'}\n"


def test_a_base_model_not_declared_fails_while_unknown_licences_are_denied(
    pipeline: Pipeline,
) -> None:
    # Its licence is unknown, and unknown licences are denied by default: a fine-tune of a
    # Llama 3 base declaring `license: mit` must not pass for want of a declared base.
    write_model(pipeline.project.root, "m")
    manifest(pipeline, "- name: m\n  path: models/m\n  license: mit\n" + LLAMA_BASE)

    result = pipeline.result("provenance[m::license]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-LIC-008", Severity.HIGH)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_base_model_not_declared_is_a_low_finding_under_unknown_allow(
    pipeline: Pipeline,
) -> None:
    write_model(pipeline.project.root, "m")
    manifest(
        pipeline, "- name: m\n  path: models/m\n  license: mit\n" + LLAMA_BASE, "{unknown: allow}"
    )

    result = pipeline.result("provenance[m::license]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-LIC-008", Severity.LOW)
    assert result.verdict(Severity.HIGH) is Verdict.WARN


def test_an_undeclared_base_two_hops_up_fails_the_adapter_too(pipeline: Pipeline) -> None:
    for name in ("finetune", "adapter"):
        write_model(pipeline.project.root, name)
    manifest(
        pipeline,
        "- name: finetune\n  path: models/finetune\n  license: apache-2.0\n"
        + LLAMA_BASE
        + "- name: adapter\n  path: models/adapter\n  license: mit\n"
        "  lineage: {base_model: finetune}\n",
    )

    adapter = pipeline.result("provenance[adapter::license]")

    (finding,) = adapter.findings
    assert (finding.rule, finding.severity) == ("MLS-LIC-006", Severity.HIGH)
    assert "meta-llama/Meta-Llama-3-8B" in finding.evidence


def test_a_lineage_that_loops_fails_instead_of_recursing(pipeline: Pipeline) -> None:
    for name in ("a", "b"):
        write_model(pipeline.project.root, name)
    manifest(
        pipeline,
        "- name: a\n  path: models/a\n  license: mit\n  lineage: {base_model: b}\n"
        "- name: b\n  path: models/b\n  license: mit\n  lineage: {base_model: a}\n",
    )

    result = pipeline.result("provenance[a::license]")

    assert "MLS-LIC-006" in rules(result)
    assert any("loops back" in finding.evidence for finding in result.findings)


def _declared(name: str, source: HubRef | None = None, base: str | None = None) -> ResolvedModel:
    decl = ModelDecl(name=name, span=Span(Path("m.yaml"), 1, 1), source=source, base_model=base)
    return ResolvedModel(decl=decl, root=None)


def test_a_hub_base_model_matches_the_declared_model_with_that_source_repository() -> None:
    base = _declared("llama", HubRef("model", "meta-llama/Meta-Llama-3-8B", "b" * 40))
    tuned = _declared("tuned", base="hf://Meta-Llama/meta-llama-3-8b@" + "c" * 40)
    bare = _declared("bare", base="meta-llama/Meta-Llama-3-8B")
    inventory = Inventory(
        manifest=Manifest(
            path=Path("m.yaml"),
            version=1,
            policy=Policy(licenses=LicensePolicy()),
            output=OutputDecl(bom=Path("b"), matrix=Path("m")),
            project_name="p",
        ),
        models=(base, tuned, bare),
        datasets=(),
        dependencies=(),
    )

    assert base_of(tuned, inventory) is base
    assert base_of(bare, inventory) is base
    assert base_of(base, inventory) is None


# --- bypasses found in review ---------------------------------------------------------------------


def test_a_model_without_a_licence_fails_an_allow_list_even_when_unknown_is_allowed(
    pipeline: Pipeline,
) -> None:
    result = one_model(pipeline, None, "{allow: [mit], unknown: allow}")

    assert rules(result) == ["MLS-LIC-004"]


def test_an_unknown_licence_fails_an_allow_list_even_when_unknown_is_allowed(
    pipeline: Pipeline,
) -> None:
    result = one_model(pipeline, "LicenseRef-acme-noncommercial", "{allow: [mit], unknown: allow}")

    assert rules(result) == ["MLS-LIC-001"]


def test_apache_with_the_commons_clause_fails_an_apache_allow_list(pipeline: Pipeline) -> None:
    result = one_model(
        pipeline, "Apache-2.0 WITH LicenseRef-scancode-commons-clause", "{allow: [apache-2.0]}"
    )

    assert rules(result) == ["MLS-LIC-003"]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


@pytest.mark.parametrize(
    "listed",
    [
        ["cc-by-nc-4.0", "mit) OR (mit"],
        ["cc-by-nc-4.0", "mit\tOR\tmit"],
        ["cc-by-nc-4.0", "mit\nOR\nmit"],
    ],
)
def test_a_card_licence_list_entry_cannot_escape_into_an_or(listed: list[str]) -> None:
    text = card_licence({"license": listed})

    assert text is not None
    try:
        verdict = evaluate(text, LicensePolicy(deny_restrictions=("non-commercial",)))
    except LicenceError:
        return  # reported as MLS-LIC-005
    assert not verdict.ok


def test_a_card_licence_list_that_smuggles_an_or_fails_the_model(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m", 'license: [cc-by-nc-4.0, "mit) OR (mit"]')
    manifest(pipeline, "- name: m\n  path: models/m\n", "{deny_restrictions: [non-commercial]}")

    result = pipeline.result("provenance[m::license]")

    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_card_that_contradicts_the_manifest_with_a_denied_licence_fails(
    pipeline: Pipeline,
) -> None:
    write_model(pipeline.project.root, "m", "license: cc-by-nc-4.0")
    manifest(
        pipeline,
        "- name: m\n  path: models/m\n  license: apache-2.0\n",
        "{deny_restrictions: [non-commercial]}",
    )

    result = pipeline.result("provenance[m::license]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-LIC-009", Severity.HIGH)
    assert "CC-BY-NC-4.0 carries the denied restriction 'non-commercial'" in finding.evidence
    assert "'apache-2.0'" in finding.evidence
    assert result.facts["license"]["restrictions"]["non-commercial"] == ["CC-BY-NC-4.0 of the card"]


def test_a_card_outside_the_allow_list_fails_even_when_the_manifest_is_in_it(
    pipeline: Pipeline,
) -> None:
    write_model(pipeline.project.root, "m", "license: gpl-3.0")
    manifest(pipeline, "- name: m\n  path: models/m\n  license: mit\n", "{allow: [mit]}")

    result = pipeline.result("provenance[m::license]")

    assert rules(result) == ["MLS-LIC-009"]


def test_a_card_naming_a_custom_licence_defers_to_the_manifest(pipeline: Pipeline) -> None:
    # The Hub's `license: other` with a free-form name: the manifest is the project's reading.
    write_model(
        pipeline.project.root, "m", "license: other\nlicense_name: llama-3-community-license"
    )
    manifest(pipeline, "- name: m\n  path: models/m\n  license: llama3\n", "{allow: [llama3]}")

    result = pipeline.result("provenance[m::license]")

    assert result.findings == []
    assert result.facts["license"]["card_disagrees"] is True


CC_BY_NC_LEGALCODE_HEAD = """\
Attribution-NonCommercial 4.0 International

=======================================================================

Creative Commons Corporation ("Creative Commons") is not a law firm and
does not provide legal services or legal advice.
"""


def test_a_license_file_that_is_non_commercial_fails_a_card_naming_a_permissive_licence(
    pipeline: Pipeline,
) -> None:
    write_model(
        pipeline.project.root, "m", "license: other\nlicense_name: mit\nlicense_link: LICENSE"
    )
    (pipeline.project.root / "models" / "m" / "LICENSE").write_text(CC_BY_NC_LEGALCODE_HEAD)
    manifest(pipeline, "- name: m\n  path: models/m\n", "{deny_restrictions: [non-commercial]}")

    result = pipeline.result("provenance[m::license]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-LIC-010",
        Severity.HIGH,
        "CWE-1357",
    )
    assert "LICENSE is the text of CC-BY-NC-4.0" in finding.evidence
    assert "CC-BY-NC-4.0 carries the denied restriction 'non-commercial'" in finding.evidence
    assert result.facts["license"]["restrictions"]["non-commercial"] == ["CC-BY-NC-4.0 of LICENSE"]


def test_a_license_file_of_the_declared_licence_is_no_contradiction(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m")
    (pipeline.project.root / "models" / "m" / "LICENSE").write_text(CC_BY_NC_LEGALCODE_HEAD)
    manifest(pipeline, "- name: m\n  path: models/m\n  license: mit OR cc-by-nc-4.0\n")

    result = pipeline.result("provenance[m::license]")

    assert result.findings == []
    assert "non-commercial" not in result.facts["license"]["restrictions"]


def test_a_gpl_text_under_a_declared_or_later_gpl_is_the_declared_licence(
    pipeline: Pipeline,
) -> None:
    # A GPL text cannot say "or later" (only its appendix does): it reads as GPL-3.0-only,
    # which a declared GPL-3.0-or-later names.
    write_model(pipeline.project.root, "m")
    (pipeline.project.root / "models" / "m" / "LICENSE").write_text(
        "                    GNU GENERAL PUBLIC LICENSE\n"
        "                       Version 3, 29 June 2007\n"
    )
    manifest(
        pipeline,
        "- name: m\n  path: models/m\n  license: gpl-3.0-or-later\n",
        "{allow: [GPL-3.0-or-later]}",
    )

    result = pipeline.result("provenance[m::license]")

    assert result.findings == []


def test_a_gpl_text_under_a_permissive_card_is_share_alike(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m", "license: mit")
    (pipeline.project.root / "models" / "m" / "LICENSE").write_text(
        "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n"
    )
    manifest(pipeline, "- name: m\n  path: models/m\n", "{deny_restrictions: [share-alike]}")

    result = pipeline.result("provenance[m::license]")

    assert rules(result) == ["MLS-LIC-010"]
    assert "LICENSE is the text of GPL-3.0-only" in result.findings[0].evidence


def test_a_license_file_the_gate_does_not_recognise_is_only_reported(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root, "m")
    (pipeline.project.root / "models" / "m" / "LICENSE").write_text(
        "Copyright 2026 Acme. Permission is hereby granted, free of charge, ...\n"
    )
    manifest(pipeline, "- name: m\n  path: models/m\n  license: mit\n", "{allow: [mit]}")

    result = pipeline.result("provenance[m::license]")

    assert result.findings == []
    assert result.facts["license"]["file"] == "LICENSE"


def test_a_card_that_states_its_licence_twice_is_not_read_as_the_last_one(
    pipeline: Pipeline,
) -> None:
    # YAML keeps the last duplicate; a reader of the card sees the first.
    write_model(
        pipeline.project.root,
        "m",
        "license: cc-by-nc-4.0\npipeline_tag: text-generation\nlicense: mit",
    )
    manifest(pipeline, "- name: m\n  path: models/m\n", "{allow: [mit, cc-by-4.0]}")

    result = pipeline.result("provenance[m::license]")

    (finding,) = result.findings
    assert finding.rule == "MLS-LIC-005"
    assert "'license' twice" in finding.evidence


def test_a_card_whose_front_matter_cannot_be_read_is_no_licence_even_under_unknown_allow(
    pipeline: Pipeline,
) -> None:
    write_model(pipeline.project.root, "m", "license: [cc-by-nc-4.0\n")
    manifest(pipeline, "- name: m\n  path: models/m\n", "{unknown: allow}")

    result = pipeline.result("provenance[m::license]")

    assert rules(result) == ["MLS-LIC-005"]
    assert "not valid YAML" in result.findings[0].evidence
