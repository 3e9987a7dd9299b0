"""Write the example project's small BERT-style sentiment model, deterministically and offline.

The output directory (``example_project/models/sentiment/`` by default) holds what a Hugging Face
``BertForSequenceClassification`` checkpoint holds, shrunk to a few hundred kilobytes:
``model.safetensors``, ``config.json``, ``tokenizer_config.json``, ``special_tokens_map.json``,
``vocab.txt`` and a ``README.md`` model card. The weights are fixed-seed random numbers, except
for one embedding dimension that carries a hand-set sentiment signal, so the example service gives
sensible answers without any training run.

Running it twice gives byte-identical files (fixed seed, sorted keys, no timestamps); the sha256 of
every file is printed at the end so the digests pinned in ``example_project/mlsupply.yaml`` can be
checked. Needs only numpy and safetensors; no torch, no network.

The directory also holds ``model.sig``, the model's signature (made with the example's
demonstration key). Identical files keep it valid; after any change, re-sign with
``python scripts/sign_example_model.py`` (it signs only when the files no longer verify).

    python scripts/make_example_model.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SEED = 20240601
HIDDEN = 32
LAYERS = 2
HEADS = 2
INTERMEDIATE = 64
MAX_POSITIONS = 64
TYPE_VOCAB = 2
LABELS = ("NEGATIVE", "POSITIVE")
#: The embedding dimension that carries the sentiment signal read by the classifier.
SENTIMENT_DIM = 0
#: Accuracy and F1 of the example service on ``example_project/data/reviews/reviews.csv``,
#: claimed in the model card and re-checked by ``example_project/tests/test_service.py``.
EVAL_ACCURACY = 1.0
EVAL_F1 = 1.0


def _words(text: str) -> tuple[str, ...]:
    """Whitespace-separated words, in order; keeps long word lists readable and diffable."""
    return tuple(text.split())


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PUNCTUATION = tuple(".,!?'-:;()\"")
LETTERS = tuple("abcdefghijklmnopqrstuvwxyz")
DIGITS = tuple("0123456789")

#: Words whose embeddings carry a positive signal in SENTIMENT_DIM.
POSITIVE_WORDS = _words(
    """
    amazing awesome beautiful best brilliant charming delight delightful enjoy enjoyable enjoyed
    excellent fantastic fun good great happy incredible like liked love loved lovely masterpiece
    nice perfect pleasant recommend superb wonderful worth
    """
)

#: Words whose embeddings carry a negative signal in SENTIMENT_DIM.
NEGATIVE_WORDS = _words(
    """
    annoying awful bad boring broken disappointed disappointing dull hate hated horrible mediocre
    mess poor poorly refund terrible waste worse worst wrong useless ugly slow cheap
    """
)

#: Common English and review vocabulary with no sentiment of its own.
NEUTRAL_WORDS = _words(
    """
    a about after again all also always an and any are as at be because been before being both but
    by can could day did do does done down each even ever every few first for from get give go
    going had has have he her here him his how i if in into is it its just know last long look made
    make many may me more most much must my never new no not now of off old on once one only or
    other our out over own part people place really right said same say see she should show since
    so some still such take than that the their them then there these they thing things think this
    those though through time times to too two under up us use used very was way we well went were
    what when where which while who why will with would year years you your actor actors acting
    album app battery book buy bought camera cast character characters customer delivery device
    director ending episode film food hotel item minutes money movie music order ordered phone plot
    price product quality restaurant review room screen scene scenes season series service shipping
    song staff story support team version week work works worked arrived came feel felt found got
    kept left looks seems took tried watch watched watching read listen stars star second hour
    hours back box case size fit color sound picture experience overall quite rather pretty enough
    almost definitely probably maybe totally completely absolutely highly extremely nothing
    something everything anything instead without within minute died fast fair damaged asked
    """
)

#: WordPiece continuations: suffixes that attach to a preceding piece.
SUBWORDS = _words(
    """
    ##s ##es ##ed ##d ##ing ##ly ##er ##ers ##est ##ness ##ful ##less ##able ##ment ##ion ##tion
    ##al ##y ##ize ##ized ##ity ##ish ##n't ##un ##re
    """
)

MODEL_CARD = """\
---
base_model: google-bert/bert-base-uncased
datasets:
- acme/reviews
language: en
library_name: transformers
license: apache-2.0
metrics:
- accuracy
- f1
model-index:
- name: sentiment
  results:
  - dataset:
      name: acme/reviews
      split: test
      type: acme/reviews
    metrics:
    - name: Accuracy
      type: accuracy
      value: {accuracy}
    - name: F1
      type: f1
      value: {f1}
    task:
      name: Text Classification
      type: text-classification
pipeline_tag: text-classification
tags:
- bert
- sentiment-analysis
- text-classification
- example
---

# sentiment

A deliberately tiny BERT-style binary sentiment classifier (NEGATIVE / POSITIVE) that ships with
the pytest-mlsupply example project. It exists to be put under supply-chain test, not to be
deployed.

## Model description

- **Architecture:** `BertForSequenceClassification`, {layers} encoder layers, hidden size {hidden},
  {heads} attention heads, intermediate size {intermediate}, vocabulary of {vocab} WordPiece tokens.
- **Weights:** `model.safetensors` (float32, safetensors format; no pickle anywhere).
- **Base model:** [google-bert/bert-base-uncased](https://huggingface.co/google-bert/bert-base-uncased)
  (architecture and tokenizer conventions; the weights here are synthetic).
- **Generated by:** `scripts/make_example_model.py`, deterministically from a fixed seed.
- **License:** Apache-2.0.

## Intended uses & limitations

### Intended use

Demonstrating and testing ML supply-chain checks (hash pins, file formats, model cards, ML-BOM
generation) in the pytest-mlsupply example project. The example service classifies short English
product and film reviews as NEGATIVE or POSITIVE.

### Limitations

The weights are synthetic: the model recognises a fixed list of sentiment words and nothing else.
It does not understand negation ("not good"), sarcasm, or any language other than English, and
inputs are truncated to {max_positions} tokens.

## Training data

No gradient training was run. The sentiment signal was set by hand from word lists in
`scripts/make_example_model.py`; the review set
[acme/reviews](https://huggingface.co/datasets/acme/reviews) (20 short English reviews,
CC-BY-4.0, a copy in `example_project/data/reviews/`) was used only for evaluation.

## Evaluation

| dataset | split | accuracy | f1 |
|---|---|---|---|
| acme/reviews | test | {accuracy} | {f1} |

The figures are for the example service's forward pass (mean-pooled embeddings, then the
classifier head) on `data/reviews/reviews.csv`; the example project's tests re-check them.

## Bias, risks and limitations

The word lists reflect one author's judgement of English review vocabulary and will misjudge
dialects, domain jargon and reviews whose sentiment is carried by context. Do not use this model
to make decisions about people or content moderation.
"""


def vocabulary() -> list[str]:
    """The WordPiece vocabulary: special tokens first, then unique tokens in a fixed order."""
    tokens: list[str] = []
    seen: set[str] = set()
    groups = (
        SPECIAL_TOKENS,
        PUNCTUATION,
        DIGITS,
        LETTERS,
        NEUTRAL_WORDS,
        POSITIVE_WORDS,
        NEGATIVE_WORDS,
        SUBWORDS,
    )
    for group in groups:
        for token in group:
            if token not in seen:
                seen.add(token)
                tokens.append(token)
    return tokens


def weights(vocab: list[str]) -> dict[str, np.ndarray]:
    """Fixed-seed float32 tensors named as in a Hugging Face BertForSequenceClassification."""
    rng = np.random.default_rng(SEED)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    def ones(*shape: int) -> np.ndarray:
        return np.ones(shape, dtype=np.float32)

    tensors: dict[str, np.ndarray] = {}
    word = normal(len(vocab), HIDDEN)
    index = {token: i for i, token in enumerate(vocab)}
    # The hand-set sentiment signal: one dimension of each sentiment word's embedding.
    for token in POSITIVE_WORDS:
        word[index[token], SENTIMENT_DIM] = 1.0
    for token in NEGATIVE_WORDS:
        word[index[token], SENTIMENT_DIM] = -1.0
    word[index["[PAD]"]] = 0.0
    tensors["bert.embeddings.word_embeddings.weight"] = word
    tensors["bert.embeddings.position_embeddings.weight"] = normal(MAX_POSITIONS, HIDDEN)
    tensors["bert.embeddings.token_type_embeddings.weight"] = normal(TYPE_VOCAB, HIDDEN)
    tensors["bert.embeddings.LayerNorm.weight"] = ones(HIDDEN)
    tensors["bert.embeddings.LayerNorm.bias"] = zeros(HIDDEN)
    for layer in range(LAYERS):
        prefix = f"bert.encoder.layer.{layer}"
        for part in ("query", "key", "value"):
            tensors[f"{prefix}.attention.self.{part}.weight"] = normal(HIDDEN, HIDDEN)
            tensors[f"{prefix}.attention.self.{part}.bias"] = zeros(HIDDEN)
        tensors[f"{prefix}.attention.output.dense.weight"] = normal(HIDDEN, HIDDEN)
        tensors[f"{prefix}.attention.output.dense.bias"] = zeros(HIDDEN)
        tensors[f"{prefix}.attention.output.LayerNorm.weight"] = ones(HIDDEN)
        tensors[f"{prefix}.attention.output.LayerNorm.bias"] = zeros(HIDDEN)
        tensors[f"{prefix}.intermediate.dense.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[f"{prefix}.intermediate.dense.bias"] = zeros(INTERMEDIATE)
        tensors[f"{prefix}.output.dense.weight"] = normal(HIDDEN, INTERMEDIATE)
        tensors[f"{prefix}.output.dense.bias"] = zeros(HIDDEN)
        tensors[f"{prefix}.output.LayerNorm.weight"] = ones(HIDDEN)
        tensors[f"{prefix}.output.LayerNorm.bias"] = zeros(HIDDEN)
    tensors["bert.pooler.dense.weight"] = normal(HIDDEN, HIDDEN)
    tensors["bert.pooler.dense.bias"] = zeros(HIDDEN)
    classifier = normal(len(LABELS), HIDDEN)
    classifier[0, SENTIMENT_DIM] = -8.0  # NEGATIVE
    classifier[1, SENTIMENT_DIM] = 8.0  # POSITIVE
    tensors["classifier.weight"] = classifier
    tensors["classifier.bias"] = zeros(len(LABELS))
    return tensors


def config(vocab_size: int) -> dict[str, object]:
    return {
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "id2label": {str(i): label for i, label in enumerate(LABELS)},
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "label2id": {label: i for i, label in enumerate(LABELS)},
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": MAX_POSITIONS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "problem_type": "single_label_classification",
        "torch_dtype": "float32",
        "transformers_version": "4.44.2",
        "type_vocab_size": TYPE_VOCAB,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def tokenizer_config() -> dict[str, object]:
    return {
        "clean_up_tokenization_spaces": True,
        "cls_token": "[CLS]",
        "do_basic_tokenize": True,
        "do_lower_case": True,
        "mask_token": "[MASK]",
        "model_max_length": MAX_POSITIONS,
        "never_split": None,
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer",
        "unk_token": "[UNK]",
    }


def special_tokens_map() -> dict[str, str]:
    return {
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "unk_token": "[UNK]",
    }


def dump_json(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write(out: Path) -> dict[str, str]:
    """Write every file of the model directory; return {file name: sha256 hex}."""
    out.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    # save_file writes tensors sorted by dtype then name, and the header with sorted keys, so the
    # bytes depend only on the tensors and this metadata.
    save_file(weights(vocab), str(out / "model.safetensors"), metadata={"format": "pt"})
    texts: dict[str, bytes] = {
        "config.json": dump_json(config(len(vocab))),
        "tokenizer_config.json": dump_json(tokenizer_config()),
        "special_tokens_map.json": dump_json(special_tokens_map()),
        "vocab.txt": ("\n".join(vocab) + "\n").encode(),
        "README.md": MODEL_CARD.format(
            accuracy=EVAL_ACCURACY,
            f1=EVAL_F1,
            layers=LAYERS,
            hidden=HIDDEN,
            heads=HEADS,
            intermediate=INTERMEDIATE,
            vocab=len(vocab),
            max_positions=MAX_POSITIONS,
        ).encode(),
    }
    for name, data in texts.items():
        (out / name).write_bytes(data)
    # safetensors creates its file owner-only; make every file world-readable like the rest.
    for path in out.iterdir():
        path.chmod(0o644)
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.iterdir())
        if path.is_file()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent / "example_project" / "models" / "sentiment"
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args()
    digests = write(args.out)
    total = sum((args.out / name).stat().st_size for name in digests)
    for name, digest in digests.items():
        print(f"sha256:{digest}  {name}")
    print(f"{len(digests)} files, {total} bytes in {args.out}")
    # The signature lists every file's digest: a changed file needs a new one.
    print("if any file changed, re-sign: python scripts/sign_example_model.py")


if __name__ == "__main__":
    main()
