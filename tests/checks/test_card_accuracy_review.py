"""Adversarial review of model-card-accuracy: a card that contradicts the artifacts must fail,
wherever in the card it says so and however the config nests its numbers."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import numpy as np
from safetensors.numpy import save_file

from pytest_mlsupply.results import Severity, Verdict
from tests.checks.test_provenance_card_accuracy import (
    BERT_CARD,
    BERT_PARAMETERS,
    LLAMA3,
    LLAMA_CARD,
    bert_model,
    declare,
    edit,
    llama_model,
    models,
    only,
    rules,
)

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


def test_a_contradiction_before_the_first_heading_fails(pipeline: Pipeline) -> None:
    # A card with no title heading: its opening paragraph states the sizes all the same.
    card = BERT_CARD.replace("# tiny-bert\n\n", "").replace("2-layer", "12-layer")
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-104"]
    assert only(result, "MLS-CARD-104") == (
        "the card says '12-layer'; config.json says num_hidden_layers 2"
    )
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_safetensors_only_claim_before_the_first_heading_is_checked(pipeline: Pipeline) -> None:
    card = "---\nlicense: apache-2.0\n---\nWeights in safetensors only.\n"
    directory = bert_model(models(pipeline) / "bert", card)
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    claim = declare(pipeline, "bert")

    assert rules(pipeline.result(claim)) == ["MLS-CARD-106"]


def nest_in_text_config(pipeline: Pipeline, layers: int) -> str:
    """The Llama-style model as a multimodal (LLaVA-style) config: the language model's numbers
    under text_config only."""
    directory = llama_model(models(pipeline) / "chat")
    config = json.loads((directory / "config.json").read_text())
    text = {k: config.pop(k) for k in ("hidden_size", "num_hidden_layers", "vocab_size")}
    text["num_hidden_layers"] = layers
    config.update(
        architectures=["LlavaForConditionalGeneration"],
        model_type="llava",
        text_config={"model_type": "llama", **text},
        vision_config={"model_type": "clip_vision_model", "hidden_size": 8},
    )
    (directory / "config.json").write_text(json.dumps(config))
    return declare(pipeline, "chat")


def test_sizes_nested_in_a_multimodal_text_config_are_compared(pipeline: Pipeline) -> None:
    claim = nest_in_text_config(pipeline, layers=4)

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-104"]
    assert only(result, "MLS-CARD-104") == (
        "the card says 'Layers | 2'; config.json says text_config.num_hidden_layers 4"
    )


def test_an_accurate_multimodal_card_naming_its_language_model_passes(pipeline: Pipeline) -> None:
    # Guard: "Model type | Llama" names text_config's family, not a contradiction of "llava".
    claim = nest_in_text_config(pipeline, layers=2)

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.error is None
    assert result.facts["card_accuracy"]["vocabulary"] == {"config": 64, "tokenizer": 64}


def test_a_tokenizer_larger_than_a_nested_vocab_size_fails(pipeline: Pipeline) -> None:
    claim = nest_in_text_config(pipeline, layers=2)
    path = models(pipeline) / "chat" / "config.json"
    edit(path, '"vocab_size": 64', '"vocab_size": 60')
    edit(models(pipeline) / "chat" / "README.md", "| Vocabulary size | 64 |\n", "")

    assert rules(pipeline.result(claim)) == ["MLS-CARD-105"]


def test_a_size_with_thousands_of_digits_is_a_contradiction_not_a_crash(
    pipeline: Pipeline,
) -> None:
    card = LLAMA_CARD.replace("| Layers | 2 |", "| Layers | " + "9" * 5000 + " |")
    llama_model(models(pipeline) / "chat", card)
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-104"]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_processor_auto_map_contradicts_no_custom_code(pipeline: Pipeline) -> None:
    directory = llama_model(models(pipeline) / "chat")
    (directory / "processor_config.json").write_text(
        json.dumps({"auto_map": {"AutoProcessor": "acme/tools--processing_chat.ChatProcessor"}})
    )
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-107"]
    assert "processor_config.json maps classes to custom code (auto_map)" in only(
        result, "MLS-CARD-107"
    )


def test_a_custom_pipeline_contradicts_no_custom_code(pipeline: Pipeline) -> None:
    directory = llama_model(models(pipeline) / "chat")
    config = json.loads((directory / "config.json").read_text())
    config["custom_pipelines"] = {
        "text-generation": {"impl": "acme/tools--pipeline_chat.ChatPipeline"}
    }
    (directory / "config.json").write_text(json.dumps(config))
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-107"]
    assert "custom_pipelines" in only(result, "MLS-CARD-107")


def test_a_shard_index_beside_model_safetensors_does_not_stand_for_the_weights(
    pipeline: Pipeline,
) -> None:
    # transformers loads model.safetensors before the index: the decoy shard the index names
    # holds the card's 5.3K parameters, the weights that load hold four times as many.
    directory = bert_model(models(pipeline) / "bert")
    decoy = "model-00001-of-00001.safetensors"
    (directory / "model.safetensors").rename(directory / decoy)
    save_file(
        {"w": np.zeros((4, BERT_PARAMETERS), np.float32)}, str(directory / "model.safetensors")
    )
    weight_map = {"w": decoy}
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-108"]
    assert "model.safetensors hold 21,256 parameters" in only(result, "MLS-CARD-108")


def test_an_adapter_config_beside_full_weights_does_not_skip_the_parameter_count(
    pipeline: Pipeline,
) -> None:
    directory = bert_model(models(pipeline) / "bert")
    edit(directory / "README.md", "5.3K parameters", "7B parameters")
    adapter = {"base_model_name_or_path": "google-bert/bert-base-uncased", "peft_type": "LORA"}
    (directory / "adapter_config.json").write_text(json.dumps(adapter))
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-108"]
    assert only(result, "MLS-CARD-108").startswith("the card says '7B parameters'")


def test_an_unrecognised_license_file_does_not_hide_the_licence_text_beside_it(
    pipeline: Pipeline,
) -> None:
    directory = bert_model(models(pipeline) / "bert")
    (directory / "LICENSE").write_text("See LICENSE.md.\n")
    (directory / "LICENSE.md").write_text(LLAMA3)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-101"]
    assert only(result, "MLS-CARD-101") == (
        "the card says license 'apache-2.0'; LICENSE.md is the text of llama3"
    )


def quantised(pipeline: Pipeline, packed: bool) -> str:
    directory = llama_model(models(pipeline) / "chat")
    edit(directory / "README.md", "| Parameters | 2.56K |", "| Parameters | 7B |")
    if packed:  # 4-bit weights: two per byte, in U8 tensors
        save_file(
            {"lm_head.weight": np.zeros((64, 8), np.uint8)},
            str(directory / "model-00002-of-00002.safetensors"),
        )
    config = json.loads((directory / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (directory / "config.json").write_text(json.dumps(config))
    return declare(pipeline, "chat")


def test_a_quantization_config_over_float_weights_does_not_skip_the_parameter_count(
    pipeline: Pipeline,
) -> None:
    claim = quantised(pipeline, packed=False)

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-108"]
    assert "hold 2,560 parameters" in only(result, "MLS-CARD-108")


def test_packed_quantised_weights_are_not_counted(pipeline: Pipeline) -> None:
    # Guard: U8 tensors under a quantization_config hold several parameters per element.
    claim = quantised(pipeline, packed=True)

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.facts["card_accuracy"]["parameters"].startswith("not compared: quantised")


def test_a_parameter_count_in_words_is_compared(pipeline: Pipeline) -> None:
    directory = bert_model(models(pipeline) / "bert")
    edit(directory / "README.md", "5.3K parameters", "seven billion parameters")
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-108"]
    assert only(result, "MLS-CARD-108").startswith("the card says 'seven billion parameters'")


def test_safetensors_only_in_other_words_is_compared(pipeline: Pipeline) -> None:
    card = BERT_CARD.replace(
        "Weights are distributed in safetensors only;",
        "Weights are only available in the safetensors format;",
    )
    directory = bert_model(models(pipeline) / "bert", card)
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    claim = declare(pipeline, "bert")

    assert rules(pipeline.result(claim)) == ["MLS-CARD-106"]


def test_trust_remote_code_is_not_required_is_a_no_custom_code_statement(
    pipeline: Pipeline,
) -> None:
    card = LLAMA_CARD.replace(
        "it does not require trust_remote_code.", "`trust_remote_code` is not required."
    )
    directory = llama_model(models(pipeline) / "chat", card)
    (directory / "modeling_chat.py").write_text("import os\n")
    claim = declare(pipeline, "chat")

    assert rules(pipeline.result(claim)) == ["MLS-CARD-107"]


def test_a_shard_index_naming_files_outside_the_model_is_an_error(pipeline: Pipeline) -> None:
    directory = llama_model(models(pipeline) / "chat")
    save_file({"w": np.zeros((40, 64), np.float16)}, str(directory.parent / "other.safetensors"))
    index = {"weight_map": {"w": "../other.safetensors"}}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert result.error is not None
    assert "names shards outside the model: '../other.safetensors'" in result.error


def test_a_family_card_listing_every_size_passes_for_the_size_it_ships(
    pipeline: Pipeline,
) -> None:
    # The Llama 3 card's wording: "comes in two sizes — 8B and 70B parameters".
    card = LLAMA_CARD.replace(
        "| Parameters | 2.56K |", "The family comes in two sizes — 2.56K and 70B parameters."
    )
    llama_model(models(pipeline) / "chat", card)
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.error is None


def test_an_enumeration_of_sizes_none_of_which_the_weights_have_fails(
    pipeline: Pipeline,
) -> None:
    # Guard: the enumeration widens the statement to its sizes, not to any size.
    card = LLAMA_CARD.replace("| Parameters | 2.56K |", "Sizes: 8, 70 and 405B parameters.")
    llama_model(models(pipeline) / "chat", card)
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-108"]
    assert only(result, "MLS-CARD-108").startswith("the card says '8, 70 and 405B parameters'")


def test_a_card_of_comma_grouped_digits_is_compared_in_linear_time(pipeline: Pipeline) -> None:
    # 200 KB of "1,000,000,...": every pattern used to restart inside the run at each comma
    # (2,000 groups took 0.4 s per pattern, 50,000 groups hours for the nine patterns).
    card = LLAMA_CARD + "\n## Notes\n\n" + "1" + ",000" * 50_000 + " parameters\n"
    llama_model(models(pipeline) / "chat", card)
    claim = declare(pipeline, "chat")

    began = time.monotonic()
    result = pipeline.result(claim)

    assert time.monotonic() - began < 20
    assert rules(result) == ["MLS-CARD-108"]
