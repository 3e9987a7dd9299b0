"""What a Hugging Face model directory says about itself: ``config.json`` and the tokenizer's size.

Pure reading, nothing loaded or imported: ``config.json`` as strict JSON (a duplicated key or a
``NaN`` is refused: two readers of such a file may disagree on its value), the architecture
numbers under the names the common model families use, and the tokenizer's vocabulary size with
one parser per format:

* ``tokenizer.json`` (the fast tokenizer, what ``transformers`` loads first): ``model.vocab`` (a
  token → id map for BPE / WordPiece / WordLevel, a list of pieces for Unigram) and
  ``added_tokens``;
* ``vocab.txt`` (WordPiece, one token per line) with ``tokenizer_config.json``'s
  ``added_tokens_decoder``.

The size is the largest id plus one: that is what the embedding matrix must hold. A SentencePiece
``tokenizer.model`` alone is not read (a protobuf; the size is then unknown, never guessed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlsupply.engines import strict_json

__all__ = [
    "Architecture",
    "ConfigError",
    "TokenizerVocabulary",
    "architecture",
    "read_json_object",
    "tokenizer_vocabulary",
]

#: config.json, tokenizer_config.json: kilobytes. tokenizer.json: tens of megabytes at most.
MAX_CONFIG = 4 << 20
MAX_TOKENIZER = 256 << 20

#: Where each family keeps each number (first present wins).
_HIDDEN = ("hidden_size", "d_model", "n_embd", "dim")
_LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_VOCAB = ("vocab_size", "padded_vocab_size", "n_vocab")
#: Where multimodal configs (LLaVA, Gemma 3, Qwen2-VL, InternVL, ...) keep their language model's
#: numbers when the top level does not state them.
_NESTED = ("text_config", "llm_config", "language_config")


class ConfigError(ValueError):
    """A file that exists but cannot be read as the JSON object it must be (says why)."""


def read_json_object(path: Path, cap: int = MAX_CONFIG) -> dict[str, Any]:
    """``path`` as a strict JSON object; :class:`ConfigError` naming the file and the cause."""
    with path.open("rb") as handle:
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise ConfigError(f"{path.name} is larger than {cap} bytes")
    try:
        document = strict_json.loads(data)
    except strict_json.StrictJsonError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name} is not a JSON object")
    return document


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


@dataclass(frozen=True)
class Architecture:
    """The numbers ``config.json`` states, each with the key it was read from."""

    model_type: str | None
    hidden_size: tuple[str, int] | None
    layers: tuple[str, int] | None
    vocab_size: tuple[str, int] | None
    auto_map: bool
    """Whether the config maps classes to code shipped with the model (``auto_map``)."""
    text_model_type: str | None = None
    """The nested language model's ``model_type`` (``text_config.model_type``) of a multimodal
    config: a card may name either."""
    quantized: bool = False
    """Whether the weights are quantised (``quantization_config``): packed tensors then hold
    several parameters per element, so a count from shapes is not the parameter count."""


def _first(config: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, int] | None:
    for key in keys:
        value = _count(config.get(key))
        if value is not None:
            return key, value
    for nested in _NESTED:
        inner = config.get(nested)
        if isinstance(inner, dict):
            for key in keys:
                value = _count(inner.get(key))
                if value is not None:
                    return f"{nested}.{key}", value
    return None


def _text_model_type(config: dict[str, Any]) -> str | None:
    for nested in _NESTED:
        inner = config.get(nested)
        if isinstance(inner, dict) and isinstance(inner.get("model_type"), str):
            return str(inner["model_type"]) or None
    return None


def architecture(config: dict[str, Any]) -> Architecture:
    model_type = config.get("model_type")
    return Architecture(
        model_type=model_type if isinstance(model_type, str) and model_type else None,
        hidden_size=_first(config, _HIDDEN),
        layers=_first(config, _LAYERS),
        vocab_size=_first(config, _VOCAB),
        auto_map=bool(config.get("auto_map")),
        text_model_type=_text_model_type(config),
        quantized=bool(config.get("quantization_config")),
    )


@dataclass(frozen=True)
class TokenizerVocabulary:
    size: int
    """The largest token id plus one."""
    source: str
    """Which files it was read from (``tokenizer.json``, ``vocab.txt + tokenizer_config.json``)."""


def tokenizer_vocabulary(root: Path) -> TokenizerVocabulary | None:
    """The tokenizer's vocabulary size, or None when the directory has no tokenizer this reads.

    :class:`ConfigError` when a tokenizer file exists but cannot be read as its format."""
    fast = root / "tokenizer.json"
    if fast.is_file():
        return TokenizerVocabulary(_tokenizer_json(fast), "tokenizer.json")
    vocab = root / "vocab.txt"
    if vocab.is_file():
        size = _vocab_txt(vocab)
        source = "vocab.txt"
        config = root / "tokenizer_config.json"
        if config.is_file():
            added = _added_tokens_decoder(read_json_object(config))
            if added is not None:
                size = max(size, added + 1)
                source += " + tokenizer_config.json"
        return TokenizerVocabulary(size, source)
    return None


def _tokenizer_json(path: Path) -> int:
    document = read_json_object(path, MAX_TOKENIZER)
    model = document.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    ids: list[int] = []
    if isinstance(vocab, dict):
        ids += [
            v for v in vocab.values() if isinstance(v, int) and not isinstance(v, bool) and v >= 0
        ]
    elif isinstance(vocab, list):
        # Unigram: a list of [piece, score]; the id is the position.
        ids.append(len(vocab) - 1)
    else:
        raise ConfigError(f"{path.name} has no model.vocab (neither a map nor a list)")
    for entry in document.get("added_tokens") or []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), int):
            ids.append(entry["id"])
    if not ids:
        raise ConfigError(f"{path.name} has an empty vocabulary")
    return max(ids) + 1


def _vocab_txt(path: Path) -> int:
    with path.open("rb") as handle:
        data = handle.read(MAX_TOKENIZER + 1)
    if len(data) > MAX_TOKENIZER:
        raise ConfigError(f"{path.name} is larger than {MAX_TOKENIZER} bytes")
    lines = data.decode("utf-8", errors="replace").split("\n")
    # WordPiece ends the file with a newline; a final empty string is not a token.
    if lines and lines[-1] == "":
        lines.pop()
    return len(lines)


def _added_tokens_decoder(config: dict[str, Any]) -> int | None:
    decoder = config.get("added_tokens_decoder")
    if not isinstance(decoder, dict):
        return None
    ids = [int(key) for key in decoder if key.isdigit()]
    return max(ids) if ids else None
