"""The BOM's ``modelCard`` from real cards run through the model-card claim, strict-validated
as CycloneDX 1.6 JSON (build_bom validates) and XML (render_bom_xml validates against the XSD)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.reports.bom import build_bom, render_bom_xml
from pytest_mlsupply.results import Severity
from tests.cards import BERT_ENCODER, LLAMA_CHAT, LORA_ADAPTER, LORA_ADAPTER_CONFIG
from tests.checks.conftest import Pipeline
from tests.conftest import build_project

if TYPE_CHECKING:
    from pathlib import Path

MANIFEST = """\
version: 1
models:
  - name: tiny
    path: models/tiny
    card: {require: [license]}
datasets:
  - name: ultrachat_200k
    path: data/ultrachat
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    pipeline = Pipeline(build_project(tmp_path / "project"))
    (pipeline.project.root / "data" / "ultrachat").mkdir(parents=True)
    pipeline.manifest(MANIFEST)
    return pipeline


def _boms(pipeline: Pipeline, card: str) -> tuple[dict[str, Any], str]:
    """The JSON and XML BOMs of the model-card claim's run over ``card``."""
    (pipeline.model_dir / "README.md").write_text(card, encoding="utf-8")
    plan, ctx = pipeline.planned()
    (item,) = [i for i in plan if i.name == "provenance[tiny::model-card]"]
    results = run_item(item, ctx)
    document = build_bom(ctx.inventory, [item], results, Severity.HIGH)
    xml = render_bom_xml(ctx.inventory, [item], results, Severity.HIGH)
    return document, xml


def _model_card(document: dict[str, Any]) -> dict[str, Any]:
    (model,) = [c for c in document["components"] if c["bom-ref"] == "model:tiny"]
    card: dict[str, Any] = model["modelCard"]
    return card


def test_a_bert_card_gives_task_architecture_datasets_metrics_and_considerations(
    pipeline: Pipeline,
) -> None:
    document, xml = _boms(pipeline, BERT_ENCODER)
    card = _model_card(document)

    assert card["modelParameters"] == {
        "task": "fill-mask",
        "architectureFamily": "bert",  # config.json's model_type
        "modelArchitecture": "TinyClassifier",  # config.json's architectures
        # Named by the card's datasets: list, declared nowhere in the manifest: still in the BOM.
        "datasets": [
            {
                "type": "dataset",
                "name": name,
                "description": "named by the model card's datasets: list; not declared in the "
                "manifest, so not checked",
            }
            for name in ("bookcorpus", "wikipedia")
        ],
        "inputs": [{"format": "string"}],
        "outputs": [{"format": "string"}],
    }
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "f1", "value": "88.9", "slice": "GLUE MRPC (glue, mrpc), split validation"},
        {"type": "accuracy", "value": "84.6", "slice": "GLUE MRPC (glue, mrpc), split validation"},
    ]
    considerations = card["considerations"]
    assert considerations["useCases"][0].startswith("You can use the raw model")
    # "Intended uses & limitations" is both; "Limitations and bias" is a limitation and ethical.
    assert [text[:20] for text in considerations["technicalLimitations"]] == [
        "You can use the raw ",
        "Even if the training",
    ]
    assert considerations["ethicalConsiderations"][0]["name"].startswith("Even if the training")
    assert "<dataset>\n" in xml.replace(" ", "")  # inline data in the schema-valid XML
    assert "<name>bookcorpus</name>" in xml


def test_a_card_dataset_that_is_declared_is_a_reference_to_its_data_component(
    pipeline: Pipeline,
) -> None:
    (pipeline.model_dir / "config.json").unlink()
    (pipeline.model_dir / "adapter_config.json").write_text(json.dumps(LORA_ADAPTER_CONFIG))

    document, xml = _boms(pipeline, LORA_ADAPTER)
    parameters = _model_card(document)["modelParameters"]

    # HuggingFaceH4/ultrachat_200k is the manifest's local copy `ultrachat_200k`.
    assert parameters["datasets"] == [{"ref": "dataset:ultrachat_200k"}]
    assert parameters["modelArchitecture"] == "LORA adapter of meta-llama/Llama-3.1-8B-Instruct"
    assert "architectureFamily" not in parameters
    assert "<ref>dataset:ultrachat_200k</ref>" in xml


def test_a_lora_card_gives_use_out_of_scope_risks_and_their_mitigation(
    pipeline: Pipeline,
) -> None:
    document, _xml = _boms(pipeline, LORA_ADAPTER)
    considerations = _model_card(document)["considerations"]

    assert considerations["useCases"] == [
        "Drafting replies to customer-support tickets for a human agent to review."
    ]
    assert considerations["technicalLimitations"] == [
        "Out of scope: Sending replies without human review; legal, medical or financial advice.",
        "Trained on English tickets of one company: it invents product details it has not seen "
        "and\nanswers other languages poorly.",
    ]
    (ethical,) = considerations["ethicalConsiderations"]
    assert ethical["name"].startswith("Trained on English tickets")
    assert ethical["mitigationStrategy"].endswith("Keep a human in the loop for every reply.")
    # "Downstream Use [optional]" is a placeholder: no use case.
    assert len(considerations["useCases"]) == 1


def test_a_llama_card_gives_its_bold_label_parts_and_metrics(pipeline: Pipeline) -> None:
    document, xml = _boms(pipeline, LLAMA_CHAT)
    card = _model_card(document)

    assert card["modelParameters"]["task"] == "text-generation"
    assert card["modelParameters"]["datasets"][0]["name"] == "acme/chat-preferences"
    assert card["considerations"]["useCases"][0].startswith("Intended for commercial and research")
    assert card["considerations"]["technicalLimitations"][0].startswith(
        "Out of scope: Use in any manner that violates"
    )
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "acc", "value": "69.4", "slice": "MMLU (cais/mmlu, all), split test"}
    ]
    assert "<ethicalConsideration>" in xml


def test_a_section_about_users_gives_the_users_and_a_placeholder_gives_nothing(
    pipeline: Pipeline,
) -> None:
    card = (
        "---\nlicense: mit\npipeline_tag: image-classification\n---\n# m\n\n"
        "## Intended users\n\nRadiologists reviewing chest X-rays, as a second reader.\n\n"
        "## Limitations\n\n[More Information Needed]\n"
    )

    document, _xml = _boms(pipeline, card)
    model_card = _model_card(document)

    assert model_card["considerations"] == {
        "users": ["Radiologists reviewing chest X-rays, as a second reader."]
    }
    assert model_card["modelParameters"]["inputs"] == [{"format": "image"}]
    assert model_card["modelParameters"]["outputs"] == [{"format": "label"}]


def test_control_characters_in_a_card_do_not_break_the_xml_bom(pipeline: Pipeline) -> None:
    # Valid YAML escapes and raw text: the author's characters, which XML 1.0 cannot hold.
    card = BERT_ENCODER.replace("pipeline_tag: fill-mask", 'pipeline_tag: "fill\\x1bmask"').replace(
        "Even if the training data", "Beware \x1b[31m ]]> <script>&amp; even if the data"
    )

    document, xml = _boms(pipeline, card)

    limitations = _model_card(document)["considerations"]["technicalLimitations"]
    assert any("\x1b[31m ]]> <script>&amp;" in text for text in limitations)
    assert "Beware \ufffd[31m ]]&gt; &lt;script&gt;&amp;amp;" in xml
    assert "\x1b" not in xml


def test_a_model_file_named_with_a_control_character_does_not_break_the_xml_bom(
    pipeline: Pipeline,
) -> None:
    # A file name is the uploader's choice: one control character in it used to make the XML
    # form unparseable, and the session ended without any BOM (exit 6).
    (pipeline.model_dir / "notes\x01.txt").write_text("hello\n")
    plan, ctx = pipeline.planned()
    (item,) = [i for i in plan if i.name == "provenance[tiny::model-card]"]
    results = run_item(item, ctx)

    xml = render_bom_xml(ctx.inventory, [item], results, Severity.HIGH)

    assert "notes\\x01.txt" in xml  # its subject's escape (pytest_mlsupply.printable)
    assert "\x01" not in xml
