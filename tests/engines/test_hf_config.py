"""config.json and tokenizer sizes, read as the files are, one parser per tokenizer format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mlsupply.engines.hf_config import (
    ConfigError,
    architecture,
    read_json_object,
    tokenizer_vocabulary,
)


def test_each_familys_names_for_the_architecture_numbers_are_read() -> None:
    gpt2 = architecture({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "vocab_size": 50257})
    t5 = architecture({"model_type": "t5", "d_model": 512, "num_layers": 6, "vocab_size": 32128})

    assert (gpt2.hidden_size, gpt2.layers) == (("n_embd", 768), ("n_layer", 12))
    assert (t5.hidden_size, t5.layers, t5.vocab_size) == (
        ("d_model", 512),
        ("num_layers", 6),
        ("vocab_size", 32128),
    )


def test_quantisation_and_auto_map_are_recorded() -> None:
    arch = architecture({"quantization_config": {"bits": 4}, "auto_map": {"AutoModel": "m.M"}})

    assert arch.quantized
    assert arch.auto_map


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('{"vocab_size": 1, "vocab_size": 2}', "duplicate key 'vocab_size'"),
        ('{"hidden_size": NaN}', "NaN is not JSON"),
        ("[1, 2]", "is not a JSON object"),
    ],
)
def test_a_config_two_readers_could_read_differently_is_refused(
    tmp_path: Path, text: str, cause: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)

    with pytest.raises(ConfigError, match=cause):
        read_json_object(path)


def test_a_unigram_tokenizers_size_is_its_list_of_pieces_and_added_tokens(
    tmp_path: Path,
) -> None:
    pieces = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁the", -3.1]]
    added = [{"id": 4, "content": "<extra_id_0>", "special": True}]
    document = {"model": {"type": "Unigram", "vocab": pieces}, "added_tokens": added}
    (tmp_path / "tokenizer.json").write_text(json.dumps(document))

    vocabulary = tokenizer_vocabulary(tmp_path)

    assert vocabulary is not None
    assert (vocabulary.size, vocabulary.source) == (5, "tokenizer.json")


def test_a_sentencepiece_model_alone_is_not_guessed_at(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_bytes(b"\x0a\x05hello")

    assert tokenizer_vocabulary(tmp_path) is None


def test_a_tokenizer_json_without_a_vocabulary_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "BPE"}}')

    with pytest.raises(ConfigError, match=r"has no model\.vocab"):
        tokenizer_vocabulary(tmp_path)
