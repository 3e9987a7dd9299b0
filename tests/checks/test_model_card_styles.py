"""The model-card claim on cards in the style of widely used models: complete, incomplete, with
synonym headings and with placeholder sections, each with the verdict it must get."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.results import Severity, Verdict
from tests.cards import BERT_ENCODER, EVERY_PART, LLAMA_CHAT, LORA_ADAPTER, LORA_TEMPLATE

if TYPE_CHECKING:
    from pytest_mlsupply.results import CheckResult
    from tests.checks.conftest import Pipeline

CLAIM = "provenance[tiny::model-card]"


def _judge(pipeline: Pipeline, card: str, require: tuple[str, ...]) -> CheckResult:
    (pipeline.model_dir / "README.md").write_text(card, encoding="utf-8")
    pipeline.manifest(
        "version: 1\nmodels:\n  - name: tiny\n    path: models/tiny\n"
        f"    card: {{require: [{', '.join(require)}]}}\n"
    )
    return pipeline.result(CLAIM)


def _missing(result: CheckResult) -> list[str]:
    return [f.location.key_path or "" for f in result.findings if f.rule == "MLS-CARD-002"]


BERT_PARTS = (
    "license",
    "datasets",
    "language",
    "model_description",
    "intended_use",
    "limitations",
    "bias_risks",
    "training_data",
    "evaluation",
)


@pytest.mark.parametrize(
    ("card", "require"),
    [
        pytest.param(BERT_ENCODER, BERT_PARTS, id="bert-encoder"),
        pytest.param(LLAMA_CHAT, (*EVERY_PART, "model_description", "bias_risks"), id="llama-chat"),
        pytest.param(LORA_ADAPTER, (*EVERY_PART, "model_description"), id="lora-adapter"),
    ],
)
def test_a_complete_card_in_each_style_passes(
    pipeline: Pipeline, card: str, require: tuple[str, ...]
) -> None:
    result = _judge(pipeline, card, require)

    assert result.findings == []
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_intended_uses_and_limitations_counts_for_both_parts(pipeline: Pipeline) -> None:
    # With its "Limitations and bias" sub-section gone, the BERT card's one heading meaning both
    # ("Intended uses & limitations") still states both; bias is no longer stated anywhere.
    card = re.sub(
        r"### Limitations and bias\n.*?(?=## Training data)", "", BERT_ENCODER, flags=re.S
    )

    result = _judge(pipeline, card, ("intended_use", "limitations", "bias_risks"))

    assert _missing(result) == ["bias_risks"]


def test_a_bert_card_without_base_model_or_out_of_scope_use_names_both_with_examples(
    pipeline: Pipeline,
) -> None:
    result = _judge(pipeline, BERT_ENCODER, ("base_model", "out_of_scope_use", "license"))

    base, scope = result.findings
    assert (base.rule, base.location.key_path) == ("MLS-CARD-002", "base_model")
    assert "no front matter key 'base_model'" in base.evidence
    assert "base_model: google-bert/bert-base-uncased" in base.remediation
    assert (scope.rule, scope.location.key_path) == ("MLS-CARD-002", "out_of_scope_use")
    assert "## Out-of-Scope Use" in scope.remediation
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_model_index_without_the_dataset_measured_on_is_not_evaluation(
    pipeline: Pipeline,
) -> None:
    # huggingface_hub itself rejects a result without a dataset: the card's results are lost.
    card = BERT_ENCODER.replace(
        "    dataset: {name: GLUE MRPC, type: glue, config: mrpc, split: validation}\n", ""
    )

    result = _judge(pipeline, card, ("evaluation",))

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-CARD-004", Severity.HIGH)
    assert "dataset" in finding.evidence
    assert "model-index" not in result.facts["card"]["metadata"]


def test_a_malformed_model_index_not_required_is_a_medium_finding(pipeline: Pipeline) -> None:
    card = BERT_ENCODER.replace(
        "  - task: {type: text-classification, name: Text Classification}\n", ""
    )

    result = _judge(pipeline, card, ("license",))

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-CARD-004", Severity.MEDIUM)
    assert result.verdict(Severity.HIGH) is Verdict.WARN  # reported, not failing


def test_results_in_prose_only_are_named_but_do_not_count_as_evaluation(
    pipeline: Pipeline,
) -> None:
    card = (
        LLAMA_CHAT[: LLAMA_CHAT.index("model-index:")] + LLAMA_CHAT[LLAMA_CHAT.index("---\n\n##") :]
    )

    result = _judge(pipeline, card, ("evaluation",))

    (finding,) = result.findings
    assert finding.location.key_path == "evaluation"
    assert "'Benchmark scores' reports results in prose only" in finding.evidence
    assert "model-index:" in finding.remediation


def test_the_llama_card_keeps_its_gated_access_fields_and_community_licence(
    pipeline: Pipeline,
) -> None:
    result = _judge(pipeline, LLAMA_CHAT, ("license",))

    metadata = result.facts["card"]["metadata"]
    assert metadata["license_name"] == "llama3.1"
    assert metadata["extra_gated_fields"]["Country"] == "country"
    assert metadata["extra_gated_button_content"] == "Submit"


def test_license_other_without_a_name_or_link_is_missing(pipeline: Pipeline) -> None:
    card = LLAMA_CHAT.replace("license_name: llama3.1\nlicense_link: LICENSE\n", "")

    result = _judge(pipeline, card, ("license",))

    assert _missing(result) == ["license"]
    assert "license: other names no licence" in result.findings[0].evidence


def test_bold_labels_state_intended_and_out_of_scope_use_by_meaning(pipeline: Pipeline) -> None:
    without_scope = LLAMA_CHAT.replace("**Out-of-scope** Use in any manner", "Use in any manner")

    assert _judge(pipeline, LLAMA_CHAT, ("intended_use", "out_of_scope_use")).findings == []
    assert _missing(_judge(pipeline, without_scope, ("out_of_scope_use",))) == ["out_of_scope_use"]


def test_the_lora_template_card_is_placeholders_and_fails_every_written_part(
    pipeline: Pipeline,
) -> None:
    result = _judge(pipeline, LORA_TEMPLATE, (*EVERY_PART, "model_description"))

    assert _missing(result) == [
        "license",
        "datasets",
        "language",
        "intended_use",
        "out_of_scope_use",
        "limitations",
        "training_data",
        "evaluation",
        "model_description",
    ]
    by_part = {f.location.key_path: f for f in result.findings}
    # The template's own sentences and labels are not the author's statement.
    assert "'Direct Use' holds only placeholder text" in by_part["intended_use"].evidence
    assert (
        "'Model Description' holds only placeholder text" in by_part["model_description"].evidence
    )
    assert "'Training Data' holds only placeholder text" in by_part["training_data"].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_grouping_heading_does_not_inherit_a_sibling_parts_text(pipeline: Pipeline) -> None:
    # "Training Details" holds a filled "Training Procedure" but an empty "Training Data".
    card = LORA_ADAPTER.replace(
        "HuggingFaceH4/ultrachat_200k, filtered to support-style dialogues.",
        "[More Information Needed]",
    )

    assert _missing(_judge(pipeline, card, ("training_data",))) == ["training_data"]


@pytest.mark.parametrize(
    ("heading", "part"),
    [
        ("## Uses", "intended_use"),
        ("## 2. Intended Use Cases", "intended_use"),
        ("### Downstream Use [optional]", "intended_use"),
        ("## Misuse and Out-of-scope Use", "out_of_scope_use"),
        ("## Risks and Limitations", "limitations"),
        ("## Caveats and Recommendations", "limitations"),
        ("## Bias, Risks, and Limitations", "bias_risks"),
        ("## Training and evaluation data", "training_data"),
        ("## Pre-training Data", "training_data"),
        ("## Model Summary", "model_description"),
    ],
)
def test_a_part_is_recognised_under_each_of_its_usual_headings(
    pipeline: Pipeline, heading: str, part: str
) -> None:
    card = f"---\nlicense: mit\n---\n# m\n\n{heading}\n\nA sentence of real content here.\n"

    assert _judge(pipeline, card, (part,)).findings == []


def test_an_unrelated_heading_does_not_count(pipeline: Pipeline) -> None:
    card = "---\nlicense: mit\n---\n# m\n\n## How to use\n\nfrom transformers import pipeline\n"

    assert _missing(_judge(pipeline, card, ("intended_use", "limitations"))) == [
        "intended_use",
        "limitations",
    ]


def test_a_licence_stated_twice_is_a_finding_on_the_second_line(pipeline: Pipeline) -> None:
    card = LLAMA_CHAT.replace("license: other\n", "license: apache-2.0\nlicense: other\n", 1)

    result = _judge(pipeline, card, ("license",))

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-CARD-005", Severity.HIGH)
    assert (finding.location.line, finding.location.key_path) == (4, "license")
    assert "lines 3 and 4" in finding.evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
