"""The model-card claim: a readable card that states every field the manifest requires."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.results import Location, Severity, Verdict

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

CLAIM = "provenance[tiny::model-card]"


def test_a_complete_card_passes_and_its_metadata_reaches_the_facts(pipeline: Pipeline) -> None:
    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.error is None
    card = result.facts["card"]
    assert card["metadata"]["license"] == "apache-2.0"
    assert card["metadata"]["base_model"] == "google-bert/bert-base-uncased"
    assert "Intended use" in card["sections"]
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_a_missing_card_is_a_high_finding(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "README.md").unlink()

    result = pipeline.result(CLAIM)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-CARD-001", Severity.HIGH)
    assert finding.location == Location(file="tiny/README.md")
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_card_with_broken_front_matter_cannot_be_read(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "README.md").write_text("---\nlicense: [apache-2.0\n---\n# tiny\n")

    result = pipeline.result(CLAIM)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-CARD-003", Severity.HIGH)
    assert finding.location == Location(file="tiny/README.md", line=2)  # the broken line
    assert "front matter is not valid YAML" in finding.evidence


def test_an_unclosed_front_matter_cannot_be_read(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "README.md").write_text("---\nlicense: mit\n# tiny\n")

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-CARD-003"
    assert "never closed" in finding.evidence


def test_each_missing_required_field_is_its_own_finding(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")

    result = pipeline.result(CLAIM)

    assert [(f.rule, f.location.key_path) for f in result.findings] == [
        ("MLS-CARD-002", "base_model"),
        ("MLS-CARD-002", "intended_use"),
        ("MLS-CARD-002", "limitations"),
        ("MLS-CARD-002", "evaluation"),
    ]
    assert all(f.severity is Severity.HIGH for f in result.findings)
    assert result.facts["card"]["metadata"] == {"license": "mit"}


def test_a_placeholder_section_does_not_count_as_content(pipeline: Pipeline) -> None:
    card = pipeline.model_dir / "README.md"
    card.write_text(
        card.read_text().replace("English only; short texts.", "[More Information Needed]")
    )

    result = pipeline.result(CLAIM)

    assert [f.location.key_path for f in result.findings] == ["limitations"]


def test_the_card_path_from_the_manifest_is_used(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "README.md").rename(pipeline.model_dir / "MODEL_CARD.md")
    pipeline.manifest(
        "version: 1\nmodels: [{name: tiny, path: models/tiny, card: {path: MODEL_CARD.md}}]\n"
    )

    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.facts["card"]["metadata"]["license"] == "apache-2.0"
