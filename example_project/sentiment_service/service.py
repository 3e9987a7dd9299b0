"""Load the sentiment model from its directory and classify text with numpy alone.

The weights are read with ``safetensors.numpy.load_file``: a safe format that holds only tensors,
so loading it can never run code. The forward pass is deliberately small: token, position and
segment embeddings, mean-pooled over the real tokens, then the classifier head and a softmax.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "sentiment"


class WordPieceTokenizer:
    """BERT's uncased tokenizer: lowercase, split on spaces and punctuation, then WordPiece."""

    def __init__(
        self,
        vocab: list[str],
        *,
        unk_token: str = "[UNK]",
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        max_length: int = 512,
        max_chars_per_word: int = 100,
    ) -> None:
        self.vocab = {token: index for index, token in enumerate(vocab)}
        self.unk_token = unk_token
        self.cls_token = cls_token
        self.sep_token = sep_token
        self.pad_token = pad_token
        self.max_length = max_length
        self.max_chars_per_word = max_chars_per_word

    @classmethod
    def from_directory(cls, directory: Path) -> WordPieceTokenizer:
        vocab = (directory / "vocab.txt").read_text(encoding="utf-8").splitlines()
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
        return cls(
            vocab,
            unk_token=config.get("unk_token", "[UNK]"),
            cls_token=config.get("cls_token", "[CLS]"),
            sep_token=config.get("sep_token", "[SEP]"),
            pad_token=config.get("pad_token", "[PAD]"),
            max_length=int(config.get("model_max_length", 512)),
        )

    def basic_tokens(self, text: str) -> list[str]:
        """Lowercased words and single punctuation marks, accents stripped as BERT uncased does."""
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        tokens: list[str] = []
        for word in text.split():
            current = ""
            for ch in word:
                if unicodedata.category(ch).startswith("P") or (ch.isascii() and not ch.isalnum()):
                    if current:
                        tokens.append(current)
                        current = ""
                    tokens.append(ch)
                else:
                    current += ch
            if current:
                tokens.append(current)
        return tokens

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first split of one word; ``[UNK]`` if any part is unknown."""
        if len(word) > self.max_chars_per_word:
            return [self.unk_token]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in self.basic_tokens(text) for piece in self.wordpiece(word)]

    def encode(self, text: str) -> list[int]:
        """Token ids framed by ``[CLS]`` and ``[SEP]``, truncated to the model's length."""
        pieces = self.tokenize(text)[: self.max_length - 2]
        tokens = [self.cls_token, *pieces, self.sep_token]
        return [self.vocab[token] for token in tokens]


@dataclass(frozen=True)
class SentimentModel:
    """A loaded model: its weights, labels and tokenizer."""

    tokenizer: WordPieceTokenizer
    labels: tuple[str, ...]
    word_embeddings: np.ndarray
    position_embeddings: np.ndarray
    token_type_embeddings: np.ndarray
    classifier_weight: np.ndarray
    classifier_bias: np.ndarray

    @classmethod
    def load(cls, directory: Path = DEFAULT_MODEL_DIR) -> SentimentModel:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        id2label = config["id2label"]
        labels = tuple(id2label[str(i)] for i in range(len(id2label)))
        tensors = load_file(str(directory / "model.safetensors"))
        classifier_weight = tensors["classifier.weight"]
        if classifier_weight.shape != (len(labels), config["hidden_size"]):
            raise ValueError(
                f"classifier.weight has shape {classifier_weight.shape}, "
                f"config.json implies {(len(labels), config['hidden_size'])}"
            )
        return cls(
            tokenizer=WordPieceTokenizer.from_directory(directory),
            labels=labels,
            word_embeddings=tensors["bert.embeddings.word_embeddings.weight"],
            position_embeddings=tensors["bert.embeddings.position_embeddings.weight"],
            token_type_embeddings=tensors["bert.embeddings.token_type_embeddings.weight"],
            classifier_weight=classifier_weight,
            classifier_bias=tensors["classifier.bias"],
        )

    def probabilities(self, text: str) -> dict[str, float]:
        """The softmax over labels for one text."""
        ids = np.asarray(self.tokenizer.encode(text))
        hidden = (
            self.word_embeddings[ids]
            + self.position_embeddings[: len(ids)]
            + self.token_type_embeddings[0]
        )
        pooled = hidden.mean(axis=0)
        logits = self.classifier_weight @ pooled + self.classifier_bias
        exp = np.exp(logits - logits.max())
        probs = exp / exp.sum()
        return {label: float(p) for label, p in zip(self.labels, probs, strict=True)}

    def predict(self, text: str) -> dict[str, object]:
        """The most likely label and its probability: ``{"label": ..., "score": ...}``."""
        probs = self.probabilities(text)
        label = max(probs, key=lambda name: probs[name])
        return {"label": label, "score": probs[label]}
