"""Model cards: parse a Hugging Face style README (YAML front matter + Markdown sections).

Pure data extraction: the front matter is read with ``yaml.SafeLoader`` (plain data, no tags
that construct objects; top-level keys given twice are noted) and sections are split on Markdown headings. Used by the model-card claim and
by the BOM's ``modelCard``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Hub cards ship with this placeholder in every empty section; it is not content.
_PLACEHOLDERS = ("[more information needed]", "more information needed", "todo", "tbd")
# huggingface_hub.repocard.REGEX_YAML_BLOCK: where the Hub's library finds a card's metadata.
_FRONT_MATTER_RE = re.compile(
    r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))"
)
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class CardError(ValueError):
    """The card exists but its front matter cannot be read."""


@dataclass(frozen=True)
class ModelCard:
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    """Heading text → the section's body (without sub-sections' headings)."""
    repeated: tuple[str, ...] = ()
    """Top-level front-matter keys given more than once: YAML keeps the last value, a reader of
    the card sees the first, so a claim that reads such a key cannot trust it."""

    def to_dict(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "sections": self.sections}


def parse_card(text: str) -> ModelCard:
    """Split ``text`` into front matter and sections; raise :class:`CardError` on bad YAML.

    The front matter is delimited as ``huggingface_hub``'s ``ModelCard`` delimits it (the reader
    every Hub tool uses): after leading blank lines, closed by a ``---`` at the start of a line.
    A gate that read another block than the Hub's would compare a ``base_model`` or a
    ``license`` nobody else sees. A byte order mark is skipped first (the Hub library would
    find no front matter at all; reading it compares more, never less).
    """
    metadata: dict[str, Any] = {}
    repeated: tuple[str, ...] = ()
    text = text.removeprefix("\ufeff")
    body = text
    match = _FRONT_MATTER_RE.match(text)
    if match is None and text.lstrip().startswith("---"):
        first = text.lstrip().splitlines()[0]
        if first.strip() == "---":
            raise CardError("front matter starts with '---' but is never closed")
    if match is not None:
        try:
            loaded, repeated = _load(match.group(2))
        except yaml.YAMLError as exc:
            raise CardError(f"front matter is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise CardError("front matter must be a YAML mapping")
        metadata = _jsonable(loaded or {})
        body = text[match.end() :]
    return ModelCard(metadata=metadata, sections=_sections(body), repeated=repeated)


def _load(text: str) -> tuple[Any, tuple[str, ...]]:
    """``yaml.safe_load(text)``, and the top-level keys it gives more than once (one parse)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        repeated: list[str] = []
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen and key.value not in repeated:
                        repeated.append(key.value)
                    seen.add(key.value)
        data = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    return data, tuple(repeated)


def read_card(path: Path) -> ModelCard:
    return parse_card(path.read_text(encoding="utf-8", errors="replace"))


def _sections(body: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_code = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING_RE.match(line)
        if match:
            title = match.group(2).strip()
            current = sections.setdefault(title, [])
            continue
        if current is not None:
            current.append(line)
    return {title: "\n".join(text).strip() for title, text in sections.items()}


def _jsonable(value: Any) -> Any:
    # Front matter may hold dates and other YAML scalars; reports need plain JSON types.
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _meaningful(text: str | None) -> bool:
    if not text:
        return False
    stripped = re.sub(r"<!--.*?-->", "", text, flags=re.S).strip()
    return bool(stripped) and stripped.lower() not in _PLACEHOLDERS


def section(card: ModelCard, *patterns: str) -> str | None:
    """The first section whose heading matches any pattern (case-insensitive) with content."""
    for title, text in card.sections.items():
        if any(re.search(p, title, re.I) for p in patterns) and _meaningful(text):
            return text
    return None


def _meta(card: ModelCard, *keys: str) -> bool:
    return any(card.metadata.get(k) not in (None, "", [], {}) for k in keys)


def _evaluation(card: ModelCard) -> bool:
    for entry in card.metadata.get("model-index") or []:
        if isinstance(entry, dict) and any(
            isinstance(r, dict) and r.get("metrics") for r in entry.get("results") or []
        ):
            return True
    return section(card, r"evaluation", r"results", r"metrics") is not None


#: How each card field named in ``card.require`` is found. Keys match the manifest's CARD_FIELDS.
FIELD_FINDERS: dict[str, Callable[[ModelCard], bool]] = {
    "license": lambda c: _meta(c, "license", "license_name") or section(c, r"^licen") is not None,
    "base_model": lambda c: _meta(c, "base_model"),
    "datasets": lambda c: _meta(c, "datasets"),
    "language": lambda c: _meta(c, "language"),
    "pipeline_tag": lambda c: _meta(c, "pipeline_tag"),
    "model_description": lambda c: (
        section(c, r"model (description|details)", r"^description") is not None
    ),
    "intended_use": lambda c: section(c, r"intended use", r"^uses$", r"^use cases") is not None,
    "limitations": lambda c: section(c, r"limitation") is not None,
    "bias_risks": lambda c: section(c, r"bias", r"risk") is not None,
    "training_data": lambda c: section(c, r"training data", r"^training") is not None,
    "evaluation": _evaluation,
}


def missing_fields(card: ModelCard, required: tuple[str, ...]) -> list[str]:
    return [name for name in required if not FIELD_FINDERS[name](card)]
