"""The model-card-accuracy claim: what a card says agrees with the manifest and the files.

Cards and model directories are written here in the style of widely used models (a BERT-style
encoder with a WordPiece vocab.txt, a Llama-style chat model with a community licence, sharded
safetensors and a tokenizer.json, a LoRA adapter); each contradiction is a finding quoting both
sides.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from safetensors.numpy import save_file

from pytest_mlsupply.engines.formats.safetensors import parameter_count
from pytest_mlsupply.engines.hf_config import tokenizer_vocabulary
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from tests.conftest import build_hub_cache

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

COMMIT = "86b5e0934494bd15c9632b12f734a8a67f723594"

APACHE = """\
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
LLAMA3 = """\
META LLAMA 3 COMMUNITY LICENSE AGREEMENT
Meta Llama 3 Version Release Date: April 18, 2024
"Agreement" means the terms and conditions for use, reproduction, distribution and
modification of the Llama Materials set forth herein.
"""

# --- model directories ------------------------------------------------------------------------

#: The BERT-style encoder's tensors: 100x32 + 2 * 32x32 + 2x32 + 2 = 5,314 parameters.
BERT_PARAMETERS = 5314

BERT_CARD = """\
---
license: apache-2.0
base_model: google-bert/bert-base-uncased
datasets: [acme/reviews]
pipeline_tag: text-classification
tags: [bert, text-classification, safetensors]
---
# tiny-bert

A 2-layer, 32-hidden BERT-style encoder fine-tuned for sentiment; 5.3K parameters, a
vocabulary size of 100 (WordPiece).

## Model details
- **Model type:** BERT
- Weights are distributed in safetensors only; no custom code is needed.
"""


def bert_model(directory: Path, card: str = BERT_CARD) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    zeros = np.zeros
    save_file(
        {
            "bert.embeddings.word_embeddings.weight": zeros((100, 32), np.float32),
            "bert.encoder.layer.0.weight": zeros((32, 32), np.float32),
            "bert.encoder.layer.1.weight": zeros((32, 32), np.float32),
            "classifier.weight": zeros((2, 32), np.float32),
            "classifier.bias": zeros((2,), np.float32),
        },
        str(directory / "model.safetensors"),
    )
    config = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "vocab_size": 100,
    }
    (directory / "config.json").write_text(json.dumps(config))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(95)]
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n")
    (directory / "README.md").write_text(card)
    (directory / "LICENSE").write_text(APACHE)
    return directory


#: Two shards: 64x16 embeddings + 2 * 16x16 layers, and a 64x16 head: 2,560 parameters.
LLAMA_PARAMETERS = 2560

LLAMA_CARD = """\
---
license: other
license_name: llama3
license_link: LICENSE
base_model: meta-llama/Meta-Llama-3-8B
pipeline_tag: text-generation
tags: [llama, llama-3, conversational]
---
# tiny-llama-chat

## Model Details
| | |
|---|---|
| Model type | Llama (decoder-only transformer) |
| Parameters | 2.56K |
| Layers | 2 |
| Hidden size | 16 |
| Vocabulary size | 64 |

## Uses
Chat in English. Use with `AutoModelForCausalLM`; it does not require trust_remote_code.
"""


def llama_model(directory: Path, card: str = LLAMA_CARD, vocab_size: int = 64) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    zeros = np.zeros
    shards = {
        "model-00001-of-00002.safetensors": {
            "model.embed_tokens.weight": zeros((64, 16), np.float16),
            "model.layers.0.mlp.weight": zeros((16, 16), np.float16),
            "model.layers.1.mlp.weight": zeros((16, 16), np.float16),
        },
        "model-00002-of-00002.safetensors": {"lm_head.weight": zeros((64, 16), np.float16)},
    }
    weight_map = {}
    for shard, tensors in shards.items():
        save_file(tensors, str(directory / shard))
        weight_map.update(dict.fromkeys(tensors, shard))
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 5120}, "weight_map": weight_map})
    )
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "vocab_size": vocab_size,
        "torch_dtype": "float16",
    }
    (directory / "config.json").write_text(json.dumps(config))
    vocab = {f"tok{i}": i for i in range(60)}
    added = [
        {"id": 60 + i, "content": c, "special": True}
        for i, c in enumerate(["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|pad|>"])
    ]
    tokenizer = {"version": "1.0", "added_tokens": added, "model": {"type": "BPE", "vocab": vocab}}
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer))
    (directory / "README.md").write_text(card)
    (directory / "LICENSE").write_text(LLAMA3)
    return directory


ADAPTER_CARD = """\
---
license: llama3
base_model: meta-llama/Meta-Llama-3-8B
base_model_relation: adapter
library_name: peft
tags: [lora, safetensors]
---
# support-bot-lora

A LoRA adapter (rank 4) on the 8B parameters of Llama 3, in safetensors only.
"""


def adapter_model(directory: Path, card: str = ADAPTER_CARD) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "base_model.model.layers.0.q_proj.lora_A.weight": np.zeros((4, 16), np.float32),
            "base_model.model.layers.0.q_proj.lora_B.weight": np.zeros((16, 4), np.float32),
        },
        str(directory / "adapter_model.safetensors"),
    )
    config = {
        "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B",
        "peft_type": "LORA",
        "r": 4,
        "target_modules": ["q_proj"],
    }
    (directory / "adapter_config.json").write_text(json.dumps(config))
    (directory / "README.md").write_text(card)
    return directory


def declare(
    pipeline: Pipeline, name: str, extra: str = "", datasets: str = "", license_: str = ""
) -> str:
    """A manifest declaring models/<name>; returns the claim's item name."""
    text = "version: 1\nproject: {name: cards}\nmodels:\n"
    text += f"  - name: {name}\n    path: models/{name}\n"
    if license_:
        text += f"    license: {license_}\n"
    if extra:
        text += textwrap.indent(textwrap.dedent(extra).strip(), "    ") + "\n"
    if datasets:
        (pipeline.project.root / "data" / "reviews").mkdir(parents=True, exist_ok=True)
        text += "datasets:\n" + textwrap.indent(textwrap.dedent(datasets).strip(), "  ") + "\n"
    (pipeline.project.root / "mlsupply.yaml").write_text(text)
    return f"provenance[{name}::model-card-accuracy]"


def models(pipeline: Pipeline) -> Path:
    return pipeline.project.root / "models"


def rules(result: CheckResult) -> list[str]:
    return sorted(f.rule for f in result.findings)


def only(result: CheckResult, rule: str) -> str:
    (finding,) = [f for f in result.findings if f.rule == rule]
    return finding.evidence


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


# --- accurate cards pass ----------------------------------------------------------------------


def test_an_accurate_bert_style_card_passes_having_compared_every_statement(
    pipeline: Pipeline,
) -> None:
    bert_model(models(pipeline) / "bert")
    claim = declare(pipeline, "bert", license_="apache-2.0")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.error is None
    compared = result.facts["card_accuracy"]
    assert compared["license"] == "apache-2.0"
    assert compared["license_file"] == {"file": "LICENSE", "identified": "Apache-2.0"}
    assert compared["architecture"] == {
        "model_type": "BERT",
        "hidden size": [32],
        "layers": [2],
        "vocabulary size": [100],
    }
    assert compared["vocabulary"] == {"config": 100, "tokenizer": 100}
    assert compared["parameters"] == {"computed": BERT_PARAMETERS, "files": ["model.safetensors"]}
    assert "safetensors only" in compared["safetensors_only"]
    assert compared["no_custom_code"] == "no custom code"


def test_an_accurate_llama_style_chat_card_with_a_community_licence_passes(
    pipeline: Pipeline,
) -> None:
    llama_model(models(pipeline) / "chat")
    claim = declare(pipeline, "chat", license_="llama3")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.error is None
    compared = result.facts["card_accuracy"]
    assert compared["license_file"] == {"file": "LICENSE", "identified": "llama3"}
    assert compared["vocabulary"] == {"config": 64, "tokenizer": 64}
    assert compared["parameters"]["computed"] == LLAMA_PARAMETERS
    assert compared["parameters"]["files"] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]


def test_an_accurate_lora_adapter_card_passes_without_comparing_its_bases_size(
    pipeline: Pipeline,
) -> None:
    adapter_model(models(pipeline) / "lora")
    claim = declare(pipeline, "lora", license_="llama3")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.error is None
    compared = result.facts["card_accuracy"]
    assert compared["base_model"] == "compared by the lineage claim"
    assert compared["base_model_relation"] == "adapter"
    assert compared["parameters"].startswith("not compared: an adapter")


def test_a_model_without_a_card_makes_no_accuracy_claim(pipeline: Pipeline) -> None:
    (bert_model(models(pipeline) / "bert") / "README.md").unlink()
    claim = declare(pipeline, "bert")

    assert claim not in pipeline.names()


# --- licence ----------------------------------------------------------------------------------


def test_a_card_licence_differing_from_the_manifests_fails_quoting_both(
    pipeline: Pipeline,
) -> None:
    bert_model(models(pipeline) / "bert")
    claim = declare(pipeline, "bert", license_="mit")
    (models(pipeline) / "bert" / "LICENSE").unlink()

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-101"]
    assert only(result, "MLS-CARD-101") == (
        "the card says license 'apache-2.0'; the manifest's `license:` says 'mit'"
    )
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_licences_are_compared_as_expressions_not_strings(pipeline: Pipeline) -> None:
    card = BERT_CARD.replace("license: apache-2.0", "license: apache-2.0 OR mit")
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert", license_="'MIT or Apache-2.0'")

    assert pipeline.result(claim).findings == []


def test_a_card_licence_contradicting_the_licence_text_shipped_fails_quoting_both(
    pipeline: Pipeline,
) -> None:
    directory = bert_model(models(pipeline) / "bert")
    (directory / "LICENSE").write_text(LLAMA3)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-101"]
    assert only(result, "MLS-CARD-101") == (
        "the card says license 'apache-2.0'; LICENSE is the text of llama3"
    )


def test_a_licence_text_the_gate_cannot_identify_contradicts_nothing(pipeline: Pipeline) -> None:
    directory = bert_model(models(pipeline) / "bert")
    (directory / "LICENSE").write_text("Copyright ACME. All rights reserved. Ask legal.\n")
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.facts["card_accuracy"]["license_file"] == {"file": "LICENSE", "identified": None}


# --- base model -------------------------------------------------------------------------------


def test_a_card_calling_full_weights_an_adapter_fails(pipeline: Pipeline) -> None:
    card = BERT_CARD.replace("pipeline_tag:", "base_model_relation: adapter\npipeline_tag:")
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-102"]
    assert only(result, "MLS-CARD-102") == (
        "the card says base_model_relation 'adapter'; the model has no adapter_config.json"
    )


def test_a_card_calling_an_adapter_a_fine_tune_fails(pipeline: Pipeline) -> None:
    adapter_model(
        models(pipeline) / "lora",
        ADAPTER_CARD.replace("base_model_relation: adapter", "base_model_relation: finetune"),
    )
    claim = declare(pipeline, "lora")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-102"]
    assert "base_model_relation 'finetune'; the model ships adapter_config.json" in only(
        result, "MLS-CARD-102"
    )


def test_a_card_base_model_disagreeing_with_the_adapter_is_left_to_the_lineage_claim(
    pipeline: Pipeline,
) -> None:
    adapter_model(
        models(pipeline) / "lora",
        ADAPTER_CARD.replace("meta-llama/Meta-Llama-3-8B", "mistralai/Mistral-7B-v0.1"),
    )
    claim = declare(pipeline, "lora")

    assert pipeline.result(claim).findings == []
    lineage = pipeline.result("provenance[lora::lineage]")
    assert "MLS-LIN-001" in rules(lineage)


# --- datasets ---------------------------------------------------------------------------------

DATASETS = f"""\
- name: reviews
  path: data/reviews
  license: cc-by-4.0
- name: chats
  source: hf-datasets://acme/support-chats@{COMMIT}
  license: cc-by-4.0
"""


def test_card_datasets_matching_the_declared_ones_pass(pipeline: Pipeline) -> None:
    card = BERT_CARD.replace("[acme/reviews]", "[acme/reviews, ACME/Support-Chats]")
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert", "datasets: [reviews, chats]", DATASETS)

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.facts["card_accuracy"]["datasets"]["declared"] == ["reviews", "chats"]


def test_a_card_naming_an_undeclared_dataset_and_omitting_a_declared_one_fails_quoting_both(
    pipeline: Pipeline,
) -> None:
    card = BERT_CARD.replace("[acme/reviews]", "[acme/reviews, scraped/web-forum]")
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert", "datasets: [reviews, chats]", DATASETS)

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-103"]
    assert only(result, "MLS-CARD-103") == (
        "the card says datasets ['acme/reviews', 'scraped/web-forum']; the manifest's "
        "`models[].datasets` declares reviews, chats (acme/support-chats): the card names "
        "'scraped/web-forum', not declared; the manifest declares 'chats', not in the card"
    )


def test_datasets_are_not_compared_when_the_manifest_declares_none(pipeline: Pipeline) -> None:
    bert_model(models(pipeline) / "bert")
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert result.findings == []
    assert "datasets" not in result.facts["card_accuracy"]


# --- architecture, sizes and vocabulary -------------------------------------------------------


def test_a_card_stating_other_dimensions_than_config_json_fails_quoting_both(
    pipeline: Pipeline,
) -> None:
    card = BERT_CARD.replace("A 2-layer, 32-hidden", "A 12-layer, 768-hidden")
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    evidence = sorted(f.evidence for f in result.findings if f.rule == "MLS-CARD-104")
    assert evidence == [
        "the card says '12-layer'; config.json says num_hidden_layers 2",
        "the card says '768-hidden'; config.json says hidden_size 32",
    ]


def test_a_card_naming_another_model_family_fails(pipeline: Pipeline) -> None:
    llama_model(
        models(pipeline) / "chat",
        LLAMA_CARD.replace("| Llama (decoder-only transformer) |", "| Mistral |"),
    )
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-104"]
    assert only(result, "MLS-CARD-104") == (
        "the card says 'Mistral'; config.json says model_type 'llama'"
    )


def test_a_free_text_model_type_contradicts_nothing(pipeline: Pipeline) -> None:
    llama_model(
        models(pipeline) / "chat",
        LLAMA_CARD.replace("| Llama (decoder-only transformer) |", "| Causal language model |"),
    )
    claim = declare(pipeline, "chat")

    assert pipeline.result(claim).findings == []


def test_a_card_vocabulary_size_matching_neither_config_nor_tokenizer_fails(
    pipeline: Pipeline,
) -> None:
    llama_model(
        models(pipeline) / "chat",
        LLAMA_CARD.replace("| Vocabulary size | 64 |", "| Vocabulary size | 128,256 |"),
    )
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-104"]
    assert only(result, "MLS-CARD-104") == (
        "the card says 'Vocabulary size | 128,256'; config.json says vocab_size 64 and the "
        "tokenizer (tokenizer.json) has 64 tokens"
    )


def test_a_tokenizer_larger_than_the_models_vocabulary_fails(pipeline: Pipeline) -> None:
    card = LLAMA_CARD.replace("| Vocabulary size | 64 |\n", "")
    llama_model(models(pipeline) / "chat", card, vocab_size=62)
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-105"]
    assert only(result, "MLS-CARD-105") == (
        "config.json says vocab_size 62; the tokenizer (tokenizer.json) has 64 tokens"
    )


def test_a_vocabulary_padded_beyond_the_tokenizer_is_not_a_contradiction(
    pipeline: Pipeline,
) -> None:
    card = LLAMA_CARD.replace("| Vocabulary size | 64 |", "| Vocabulary size | 128 |")
    llama_model(models(pipeline) / "chat", card, vocab_size=128)
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.facts["card_accuracy"]["vocabulary"] == {"config": 128, "tokenizer": 64}


def test_a_wordpiece_tokenizer_counts_the_added_tokens_of_tokenizer_config(
    tmp_path: Path,
) -> None:
    directory = bert_model(tmp_path / "bert")
    decoder = {"100": {"content": "[EMOJI]", "special": True}}
    (directory / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": decoder}))

    vocabulary = tokenizer_vocabulary(directory)

    assert vocabulary is not None
    assert (vocabulary.size, vocabulary.source) == (101, "vocab.txt + tokenizer_config.json")


def test_an_unreadable_config_json_makes_the_claim_error_when_the_card_states_sizes(
    pipeline: Pipeline,
) -> None:
    directory = bert_model(models(pipeline) / "bert")
    (directory / "config.json").write_text('{"hidden_size": 32, "hidden_size": 768}')
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert result.error is not None
    assert "config.json: duplicate key 'hidden_size'" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


# --- safetensors only, custom code ------------------------------------------------------------


def test_a_safetensors_only_card_with_a_pickle_file_fails_naming_the_file(
    pipeline: Pipeline,
) -> None:
    directory = bert_model(models(pipeline) / "bert")
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-106"]
    assert only(result, "MLS-CARD-106") == (
        "the card says 'safetensors only'; the model has pickle-based files: pytorch_model.bin"
    )


def test_a_pickle_is_found_by_its_content_whatever_its_name(pipeline: Pipeline) -> None:
    directory = bert_model(models(pipeline) / "bert")
    (directory / "extra_weights.dat").write_bytes(b"\x80\x04K\x01.")
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-106"]
    assert only(result, "MLS-CARD-106").endswith("pickle-based files: extra_weights.dat")


def test_the_safetensors_tag_fails_only_when_the_weights_are_pickles_alone(
    pipeline: Pipeline,
) -> None:
    card = BERT_CARD.replace("in safetensors only; ", "as usual; ")
    directory = bert_model(models(pipeline) / "bert", card)
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    claim = declare(pipeline, "bert")
    assert pipeline.result(claim).findings == []  # both formats: the tag is true

    edit(directory / "README.md", "5.3K parameters", "a small model")
    (directory / "model.safetensors").unlink()
    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-106"]
    assert only(result, "MLS-CARD-106") == (
        "the card is tagged 'safetensors'; the model has pickle-based weights only: "
        "pytorch_model.bin"
    )


def test_a_no_custom_code_card_with_code_and_auto_map_fails_naming_both(
    pipeline: Pipeline,
) -> None:
    directory = llama_model(models(pipeline) / "chat")
    (directory / "modeling_chat.py").write_text("import os\n")
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_chat.ChatModel"}
    (directory / "config.json").write_text(json.dumps(config))
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-107"]
    assert only(result, "MLS-CARD-107") == (
        "the card says 'does not require trust_remote_code'; the model ships Python code: "
        "modeling_chat.py; config.json maps classes to custom code (auto_map)"
    )


# --- parameter count --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stated", "holds"),
    [
        ("5.3K parameters", True),
        ("5K params", True),
        ("5.31K parameters", True),  # 5,305 to 5,315
        ("5.32K parameters", False),  # 5,315 to 5,325: 5,314 does not round to it
        ("5,314 parameters", True),
        ("5,315 parameters", False),
        ("110M parameters", False),
    ],
)
def test_a_stated_parameter_count_holds_when_the_computed_count_rounds_to_it(
    pipeline: Pipeline, stated: str, holds: bool
) -> None:
    bert_model(models(pipeline) / "bert", BERT_CARD.replace("5.3K parameters", stated))
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ([] if holds else ["MLS-CARD-108"])


@pytest.mark.parametrize(
    "text",
    [
        "Layers 1-2 were frozen; all parameters, 1000 steps.",
        "Trained the last 12 layers for 3 epochs.",
        "Training hyperparameters: 1000 warmup steps.",
    ],
)
def test_numbers_near_layers_or_parameters_are_not_statements_of_size(
    pipeline: Pipeline, text: str
) -> None:
    card = BERT_CARD.replace("- **Model type:** BERT", text)
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert result.findings == []
    assert result.facts["card_accuracy"]["architecture"]["layers"] == [2]


@pytest.mark.parametrize(
    "text",
    ["**Layers:** 12", "| Layers | 12 |", "number of hidden layers = 12", "12 decoder layers"],
)
def test_a_layer_count_is_read_in_the_ways_cards_write_it(pipeline: Pipeline, text: str) -> None:
    card = BERT_CARD.replace("A 2-layer, 32-hidden", "A 32-hidden").replace(
        "- **Model type:** BERT", text
    )
    bert_model(models(pipeline) / "bert", card)
    claim = declare(pipeline, "bert")

    result = pipeline.result(claim)

    assert rules(result) == ["MLS-CARD-104"]
    assert only(result, "MLS-CARD-104").endswith("; config.json says num_hidden_layers 2")


def test_a_wrong_parameter_count_is_a_warning_quoting_both_counts(pipeline: Pipeline) -> None:
    llama_model(models(pipeline) / "chat", LLAMA_CARD.replace("| 2.56K |", "| 8B |"))
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-CARD-108", Severity.MEDIUM)
    assert finding.evidence == (
        "the card says 'Parameters | 8B'; the safetensors headers of "
        "model-00001-of-00002.safetensors, model-00002-of-00002.safetensors hold 2,560 "
        "parameters (2.56K)"
    )
    assert result.verdict(Severity.HIGH) is Verdict.WARN


def test_a_shard_whose_header_cannot_be_read_makes_the_claim_error(pipeline: Pipeline) -> None:
    directory = llama_model(models(pipeline) / "chat")
    (directory / "model-00002-of-00002.safetensors").write_bytes(b"\xff" * 16)
    claim = declare(pipeline, "chat")

    result = pipeline.result(claim)

    assert result.error is not None
    assert "cannot count the parameters of model-00002-of-00002.safetensors" in result.error


def test_the_parameter_count_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"a": np.zeros((3, 4, 5), np.float32), "b": np.zeros((0, 7), np.float32)}, str(path))
    # The tensor data is overwritten: only the header is read, the data never.
    data = path.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    path.write_bytes(data[:header_end] + b"\0" * (len(data) - header_end))

    assert parameter_count(path) == 60


# --- a Hub snapshot ---------------------------------------------------------------------------


def hub_snapshot(tmp_path: Path, cache: Path, card: str) -> None:
    release = llama_model(tmp_path / "release", card)
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    build_hub_cache(cache, "acme/tiny-llama", COMMIT, files)


def test_a_hub_snapshots_card_is_the_hubs_metadata_and_is_compared_offline(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    hub_snapshot(tmp_path, empty_hub_cache, LLAMA_CARD.replace("llama3", "gemma", 1))
    text = "version: 1\nproject: {name: cards}\nmodels:\n"
    text += f"  - {{name: chat, source: 'hf://acme/tiny-llama@{COMMIT}', license: llama3}}\n"
    (pipeline.project.root / "mlsupply.yaml").write_text(text)

    result = pipeline.result("provenance[chat::model-card-accuracy]")

    assert result.facts["card_accuracy"]["hub_metadata"] == (
        "the snapshot's card is the Hub's card metadata"
    )
    assert sorted(f.evidence for f in result.findings) == [
        "the card says license 'gemma'; LICENSE is the text of llama3",
        "the card says license 'gemma'; the manifest's `license:` says 'llama3'",
    ]
    assert result.facts["card_accuracy"]["parameters"]["computed"] == LLAMA_PARAMETERS


# --- the example project ----------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
EXAMPLE_CLAIM = "provenance[sentiment::model-card-accuracy]"


@pytest.fixture
def example(tmp_path: Path) -> Pipeline:
    from tests.checks.conftest import Pipeline
    from tests.conftest import Project

    shutil.copytree(EXAMPLE, tmp_path / "example", ignore=shutil.ignore_patterns("build"))
    return Pipeline(Project(tmp_path / "example"))


def test_the_example_projects_card_is_accurate(example: Pipeline) -> None:
    result = example.result(EXAMPLE_CLAIM)

    assert result.findings == []
    assert result.error is None
    assert result.facts["card_accuracy"]["architecture"]["layers"] == [2]


@pytest.mark.parametrize(
    ("old", "new", "evidence"),
    [
        (
            "2 encoder layers",
            "12 encoder layers",
            "the card says '12 encoder layers'; config.json says num_hidden_layers 2",
        ),
        (
            "license: apache-2.0",
            "license: mit",
            "the card says license 'mit'; the manifest's `license:` says 'apache-2.0'",
        ),
    ],
)
def test_the_documented_one_line_changes_make_the_example_fail(
    example: Pipeline, old: str, new: str, evidence: str
) -> None:
    edit(example.project.root / "models" / "sentiment" / "README.md", old, new)

    result = example.result(EXAMPLE_CLAIM)

    assert [f.evidence for f in result.findings] == [evidence]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
