"""Tests of the sentiment service: tokenizer, labels, probabilities and the model card's claim."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sentiment_service import DEFAULT_MODEL_DIR, SentimentModel

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load(DEFAULT_MODEL_DIR)


def test_the_tokenizer_lowercases_and_splits_punctuation(model: SentimentModel) -> None:
    assert model.tokenizer.tokenize("Great movie!") == ["great", "movie", "!"]


def test_the_tokenizer_splits_known_words_into_wordpieces(model: SentimentModel) -> None:
    assert model.tokenizer.tokenize("films") == ["film", "##s"]


def test_the_tokenizer_maps_unknown_words_to_unk(model: SentimentModel) -> None:
    assert model.tokenizer.tokenize("qwxz great") == ["[UNK]", "great"]


def test_encoding_frames_the_tokens_and_respects_the_maximum_length(
    model: SentimentModel,
) -> None:
    tokenizer = model.tokenizer
    ids = tokenizer.encode("good " * 500)
    assert len(ids) == tokenizer.max_length
    assert ids[0] == tokenizer.vocab["[CLS]"]
    assert ids[-1] == tokenizer.vocab["[SEP]"]


def test_labels_come_from_the_config_id2label(model: SentimentModel) -> None:
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text(encoding="utf-8"))
    assert set(model.labels) == set(config["id2label"].values())
    assert model.predict("an ordinary sentence")["label"] in model.labels


def test_probabilities_sum_to_one(model: SentimentModel) -> None:
    probs = model.probabilities("The camera is excellent but the battery is poor.")
    assert sum(probs.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in probs.values())


@pytest.mark.parametrize(
    ("text", "label"),
    [("What a wonderful film, I loved it.", "POSITIVE"), ("Awful, a waste of money.", "NEGATIVE")],
)
def test_clear_reviews_get_the_expected_label(model: SentimentModel, text: str, label: str) -> None:
    assert model.predict(text)["label"] == label


def test_predictions_are_deterministic_across_loads(model: SentimentModel) -> None:
    text = "The staff were lovely and the room was perfect."
    again = SentimentModel.load(DEFAULT_MODEL_DIR)
    assert model.predict(text) == model.predict(text) == again.predict(text)


def test_the_model_card_accuracy_claim_holds_on_the_reviews(model: SentimentModel) -> None:
    yaml = pytest.importorskip("yaml")
    card = (DEFAULT_MODEL_DIR / "README.md").read_text(encoding="utf-8")
    front_matter = yaml.safe_load(card.split("---\n")[1])
    metrics = front_matter["model-index"][0]["results"][0]["metrics"]
    claimed = next(m["value"] for m in metrics if m["type"] == "accuracy")

    with (PROJECT / "data" / "reviews" / "reviews.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    correct = sum(model.predict(row["text"])["label"] == row["label"] for row in rows)
    assert correct / len(rows) >= claimed
