"""Model cards: read a Hugging Face card (YAML front matter + Markdown sections) and judge it.

The one card reader of the project: the model-card, lineage and licence claims and the BOM's
``modelCard`` all read cards here. The front matter goes through huggingface_hub's ``ModelCard``
(``ModelCardData``: the same parsing the Hub applies, ``model-index`` included), behind stricter
gates of our own that huggingface_hub does not have:

- a bounded size (:data:`MAX_CARD_BYTES`): a card is read into memory whole;
- the block is the one huggingface_hub finds (its own ``REGEX_YAML_BLOCK``), but one that opens
  and is never closed is an error (huggingface_hub silently reads it as body text, which hides
  the licence and base model from every claim);
- duplicate keys are recorded (:attr:`ModelCard.duplicates`, :attr:`ModelCard.repeated`): YAML
  and the Hub keep the last one silently, so ``license: apache-2.0`` followed by
  ``license: other`` reads as "other" while a reviewer sees the first. The metadata stays what
  the Hub reads; the model-card claim reports each duplicate, other claims distrust the key;
- anchors and aliases are refused (plain card data never needs them, and an alias "bomb" expands
  exponentially when the data is copied into reports);
- the block must be a mapping with text keys.

Only ``yaml.safe_load`` runs on the text (inside huggingface_hub too) and no template is ever
rendered: ``ModelCard(text)`` parses, only ``ModelCard.from_template`` would render Jinja.

Sections are recognised by meaning, not one heading: :data:`FIELDS` holds, per card field, the
headings that mean it (the Hub card template's among them), and placeholder text such as
``[More Information Needed]`` is not content.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_mlsupply.engines.lines import source_lines
from pytest_mlsupply.engines.yaml_loader import LinearSafeLoader

#: Cards are small Markdown files; a bigger one is not read (and is reported as unreadable).
MAX_CARD_BYTES = 1 << 20

# Deliberately simple (the closing "#"s are stripped in Python): nested optional runs of spaces
# here would backtrack polynomially on a long line of spaces.
_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(\S.*)$")
# Hub cards ship with these in every empty section (the card template renders
# `default("[More Information Needed]")`); Jinja placeholders left unrendered count as empty too.
_PLACEHOLDER_RE = re.compile(
    r"\[\s*more\s*information\s*needed\s*\]"
    r"|more\s*information\s*needed(?:\s+for\s+further\s+recommendations)?"
    r"|\{\{[^{}]{0,200}\}\}|\{%[^{}]{0,200}%\}"
    # The template's only pre-written sentences: boilerplate, not the author's statement.
    r"|users \(both direct and downstream\) should be made aware of the risks, biases and"
    r"\s+limitations of the model\.?|use the code below to get started with the model\.?"
    r"|this is the model card of a .{0,40}? model that has been pushed on the hub\.?"
    r"|this model card has been automatically generated\.?"
    r"|\b(?:todo|tbd|tba|coming soon|to be (?:added|announced|determined))\b",
    re.I | re.S,
)
# "- **Developed by:** [More Information Needed]": the label alone is not content. (Bullets and
# table rules hold no letters, so need no pattern; every run here is bounded, so no input makes
# these patterns backtrack for long.)
_LABEL_RE = re.compile(
    r"(?:\*\*|__)[^*_\n]{1,80}?:[ \t]{0,8}(?:\*\*|__)|(?:\*\*|__)[^*_\n]{1,80}?(?:\*\*|__)[ \t]{0,8}:"
)
_WORD_RE = re.compile(r"[^\W\d_]{2,}")
_BOLD_LABEL_RE = re.compile(
    r"^\s{0,3}(?:\*\*|__)(?P<label>[^*_\n]{2,60}?)\s*:?\s*(?:\*\*|__)\s*:?\s*(?P<rest>.*)$"
)


class CardError(ValueError):
    """The card exists but cannot be read (front matter, size)."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line
        """1-based line of the card where the problem is (1 when it is the whole card)."""


@dataclass(frozen=True)
class Section:
    level: int
    title: str
    body: str
    """The section's own text, without its sub-sections."""


@dataclass(frozen=True)
class ModelCard:
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    """Heading text → the section's body (without sub-sections' headings)."""
    outline: tuple[Section, ...] = ()
    """Every section in card order, with its heading level (sub-sections follow their parent)."""
    preamble: str = ""
    """The body's text before its first heading (a card may have no heading at all)."""
    metadata_errors: tuple[str, ...] = ()
    """What huggingface_hub could not read in otherwise valid front matter (a ``model-index``
    it rejects); those keys are left out of :attr:`metadata`."""
    duplicates: tuple[Duplicate, ...] = ()
    """Keys given twice in one mapping of the front matter. :attr:`metadata` holds what YAML and
    the Hub keep (the last value); a reader of the card sees the first. The model-card claim
    reports each; a claim reading such a key must not trust it."""

    @property
    def repeated(self) -> tuple[str, ...]:
        """The top-level keys given more than once (nested ones are in :attr:`duplicates`)."""
        return tuple(dict.fromkeys(d.key for d in self.duplicates if d.path == d.key))

    def to_dict(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "sections": self.sections}


@dataclass(frozen=True)
class Duplicate:
    key: str
    path: str
    """Dotted path of the key (``extra_gated_fields.Country``); the key itself at top level."""
    first_line: int
    line: int


# --- reading -------------------------------------------------------------------------------------

_EMPTY_FRONT_MATTER_RE = re.compile(r"^\s*---[ \t]*(?:\r\n|\r|\n)---[ \t]*(?:\r\n|\r|\n|$)")


def parse_card(text: str) -> ModelCard:
    """Read ``text`` (a whole card); raise :class:`CardError` when its front matter is unusable."""
    if len(text.encode("utf-8", errors="replace")) > MAX_CARD_BYTES:
        raise CardError(
            f"the card is larger than {MAX_CARD_BYTES} bytes; cards are not read past that"
        )
    # A byte order mark (an editor on Windows) would hide the block from the Hub library; reading
    # it compares more, never less.
    text = text.removeprefix("\ufeff")
    empty = _EMPTY_FRONT_MATTER_RE.match(text)
    if empty is not None:
        preamble, outline = _outline(text[empty.end() :])
        return ModelCard(sections=_to_dict(outline), outline=outline, preamble=preamble)
    # huggingface_hub is imported on the first card read, not at import: the manifest loader
    # and the BOM import this module for its field names, and a warm gate reads no card.
    from huggingface_hub import ModelCard as HubModelCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    # Where huggingface_hub (and the Hub) find a card's metadata block: the gates read the very
    # block every Hub tool reads, so no claim compares a base_model or licence nobody else sees.
    match = REGEX_YAML_BLOCK.match(text)
    if match is None:
        first = text.lstrip().split("\n", 1)[0]
        if first.strip() == "---":
            # huggingface_hub would read the whole card, licence and base model included, as
            # body text: every claim would see no front matter at all.
            raise CardError("front matter starts with '---' but is never closed")
        preamble, outline = _outline(text)
        return ModelCard(sections=_to_dict(outline), outline=outline, preamble=preamble)
    # Card line of the block's first line, so YAML marks (0-based in the block) map to the card.
    offset = text.count("\n", 0, match.start(2)) + 1
    duplicates = _check_front_matter(match.group(2), offset)
    errors: tuple[str, ...] = ()
    try:
        hub = HubModelCard(text)
    except ValueError as exc:
        # Only a rejected model-index / eval results get here (the gates above caught the rest):
        # the rest of the front matter is still good, the broken part is recorded, not dropped.
        errors = (_first_line(str(exc)),)
        hub = HubModelCard(text, ignore_metadata_errors=True)
    data: dict[str, Any] = hub.data.to_dict()  # type: ignore[no-untyped-call]
    preamble, outline = _outline(hub.text)
    return ModelCard(
        metadata=_jsonable(data),
        sections=_to_dict(outline),
        outline=outline,
        preamble=preamble,
        metadata_errors=errors,
        duplicates=duplicates,
    )


def read_card(path: Path) -> ModelCard:
    """Read the card at ``path`` (at most :data:`MAX_CARD_BYTES`); raise CardError or OSError."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_CARD_BYTES + 1)
    if len(raw) > MAX_CARD_BYTES:
        raise CardError(
            f"the card is larger than {MAX_CARD_BYTES} bytes; cards are not read past that"
        )
    return parse_card(raw.decode("utf-8", errors="replace"))


def _check_front_matter(front: str, offset: int) -> tuple[Duplicate, ...]:
    """The gates huggingface_hub lacks (``offset``: the card line of the block's first line).
    Raises for what makes the block unusable; returns the duplicate keys, which the claims
    judge (YAML and the Hub silently keep the last one)."""
    try:
        for event in yaml.parse(front, Loader=LinearSafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise CardError(
                    "front matter uses a YAML anchor or alias; write the values out in full",
                    event.start_mark.line + offset if event.start_mark else 1,
                )
        root = yaml.compose(front, Loader=LinearSafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + offset if mark is not None else 1
        raise CardError(f"front matter is not valid YAML: {exc}", line) from None
    if root is None:
        return ()
    if not isinstance(root, yaml.MappingNode):
        raise CardError("front matter must be a YAML mapping (key: value lines)", offset)
    for key, _value in root.value:
        if not (isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:str"):
            raise CardError(
                f"front matter key {key.value!r} is not text; quote it",
                key.start_mark.line + offset,
            )
    found: list[Duplicate] = []
    _find_duplicates(root, "", offset, found)
    return tuple(found)


def _find_duplicates(node: yaml.Node, path: str, offset: int, found: list[Duplicate]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + offset
            where = f"{path}.{name}" if path else name
            if name in seen:
                found.append(Duplicate(name, where, seen[name], line))
            else:
                seen[name] = line
            _find_duplicates(value, where, offset, found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, f"{path}[{index}]", offset, found)


def _first_line(message: str) -> str:
    return message.split(". Pass `ignore_metadata_errors", 1)[0].strip()


_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HTML_HEADING_RE = re.compile(
    r"^ {0,3}<h([1-6])(?:\s[^<>\n]{0,200})?>(.{0,300}?)</h\1\s*>\s*$", re.I
)
_TAG_RE = re.compile(r"<[^<>\n]{0,300}>")
# Raw HTML blocks whose content Markdown never reads (CommonMark's type 1): a "## heading" in a
# <pre> is text, like one in a code fence.
_RAW_OPEN_RE = re.compile(r"^ {0,3}<(pre|script|style|textarea)(?:[\s>]|$)", re.I)
_LIST_ITEM_RE = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])(?:\s|$)")


def _uncommented(line: str, in_comment: bool) -> tuple[str, bool]:
    """``line`` without its HTML comment parts, and whether a comment is still open after it."""
    parts: list[str] = []
    position = 0
    while True:
        if in_comment:
            end = line.find("-->", position)
            if end == -1:
                return "".join(parts), True
            position, in_comment = end + 3, False
        start = line.find("<!--", position)
        if start == -1:
            parts.append(line[position:])
            return "".join(parts), False
        parts.append(line[position:start])
        position, in_comment = start + 4, True


def _outline(body: str) -> tuple[str, tuple[Section, ...]]:
    """The text before the first heading, and every section as it renders: headings in code
    blocks and HTML comments are none, setext (``Title`` over ``====``) and ``<h2>`` headings are."""
    preamble: list[str] = []
    sections: list[tuple[int, str, list[str]]] = []
    fence: str | None = None  # the opening fence while in a fenced code block
    raw_block: str | None = None  # the closing tag while in a <pre>, <script>, ... block
    in_comment = False
    paragraph = 0  # lines of the open paragraph at the end of the current text
    level = 0  # of the last real heading; a bold label is one below it
    # Markdown's line endings only: \x0c or U+2028 render inline, a heading after one is none.
    for raw in source_lines(body):
        lines = sections[-1][2] if sections else preamble
        opening = _FENCE_RE.match(raw)
        if fence is not None:
            # Closed only by a fence of the same character, at least as long, with nothing after.
            closing = opening.group(1) if opening else ""
            if (
                closing[:1] == fence[0]
                and len(closing) >= len(fence)
                and not raw.strip().strip(fence[0])
            ):
                fence = None
            lines.append(raw)
            paragraph = 0
            continue
        if raw_block is not None:
            if raw_block in raw.lower():
                raw_block = None
            lines.append(raw)
            paragraph = 0
            continue
        line, in_comment = _uncommented(raw, in_comment)
        html_block = None if in_comment else _RAW_OPEN_RE.match(line)
        if html_block:
            closing_tag = f"</{html_block.group(1).lower()}>"
            if closing_tag not in line.lower():
                raw_block = closing_tag
            lines.append(line)
            paragraph = 0
            continue
        if opening and not in_comment:
            fence = opening.group(1)
            lines.append(line)
            paragraph = 0
            continue
        match = _HEADING_RE.match(line)
        html = None if match else _HTML_HEADING_RE.match(line)
        setext = None if match or html or not paragraph else _SETEXT_RE.match(line)
        label = None if match or html or setext else _BOLD_LABEL_RE.match(line)
        if setext and setext.group(1)[0] == "-" and _LIST_ITEM_RE.match(lines[-paragraph]):
            setext = None  # a list followed by a thematic break
        if match:
            level = len(match.group(1))
            sections.append((level, match.group(2).rstrip().rstrip("#").strip(), []))
            paragraph = 0
        elif html:
            level = int(html.group(1))
            sections.append((level, _TAG_RE.sub(" ", html.group(2)).strip(), []))
            paragraph = 0
        elif setext:
            title = " ".join(part.strip() for part in lines[-paragraph:])
            del lines[-paragraph:]
            level = 1 if setext.group(1)[0] == "=" else 2
            sections.append((level, title, []))
            paragraph = 0
        elif label and heading_means(label["label"]):
            # "**Out-of-scope** Use in any manner that violates ...": the Llama cards state
            # their parts as bold labels inside one section; by meaning, each is a section.
            sections.append((level + 1, label["label"].strip(), [label["rest"]]))
            paragraph = 1 if label["rest"].strip() else 0
        else:
            lines.append(line)
            paragraph = paragraph + 1 if line.strip() else 0
    return "\n".join(preamble).strip(), tuple(
        Section(level, title, "\n".join(text).strip()) for level, title, text in sections
    )


def _to_dict(outline: tuple[Section, ...]) -> dict[str, str]:
    # The historical shape reports use: a repeated heading's bodies are joined.
    merged: dict[str, list[str]] = {}
    for entry in outline:
        merged.setdefault(entry.title, []).append(entry.body)
    return {title: "\n\n".join(b for b in bodies if b) for title, bodies in merged.items()}


def _jsonable(value: Any) -> Any:
    # Front matter may hold dates and other YAML scalars; reports need plain JSON types.
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --- content ------------------------------------------------------------------------------------


# Not content: images, link targets and bare addresses (a section that is only a link says
# nothing itself), HTML tags. Runs are bounded and exclude their delimiters: no backtracking.
_IMAGE_RE = re.compile(r"!\[[^\[\]\n]{0,300}\]\([^()\s]{0,1000}(?:\s[^()]{0,300})?\)")
_LINK_RE = re.compile(r"\[([^\[\]\n]{0,300})\]\([^()\s]{0,1000}(?:\s[^()]{0,300})?\)")
_URL_RE = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+", re.I)
# Words that, alone (or with the heading's own words), state nothing.
_EMPTY_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "it",
        "its",
        "is",
        "are",
        "be",
        "see",
        "above",
        "below",
        "here",
        "there",
        "link",
        "links",
        "section",
        "sections",
        "details",
        "information",
        "info",
        "none",
        "nil",
        "na",
        "nothing",
        "same",
        "model",
        "models",
        "card",
    ]
)


def meaningful(text: str | None, heading: str = "") -> bool:
    """Whether ``text`` says something: not empty, not only comments, labels, placeholders,
    images, links' targets, markup or the words of its own ``heading``."""
    if not text:
        return False
    # Zero-width and other invisible characters would split a placeholder into "content";
    # compatibility forms (fullwidth letters) read as the letters they show.
    text = "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf"
    )
    stripped = _PLACEHOLDER_RE.sub(" ", _without_comments(text))
    stripped = _LABEL_RE.sub(" ", stripped)
    stripped = _IMAGE_RE.sub(" ", stripped)
    stripped = _LINK_RE.sub(r" \1 ", stripped)
    stripped = _URL_RE.sub(" ", _TAG_RE.sub(" ", stripped))
    own = set(normalise_heading(heading).split()) if heading else set()
    return any(
        word.lower() not in _EMPTY_WORDS and word.lower() not in own
        for word in _WORD_RE.findall(stripped)
    )


def _without_comments(text: str) -> str:
    """``text`` without HTML comments, in one pass (a regex would rescan the rest of the text for
    every unclosed ``<!--``); an unclosed comment hides the rest, as it does when rendered."""
    parts, position = [], 0
    while (start := text.find("<!--", position)) != -1:
        parts.append(text[position:start])
        end = text.find("-->", start + 4)
        if end == -1:
            return " ".join(parts)
        position = end + 3
    parts.append(text[position:])
    return " ".join(parts)


def normalise_heading(title: str) -> str:
    """``"3.1 Bias, Risks, & Limitations [optional]"`` → ``"bias risks and limitations"``."""
    # Headings are short; a longer one is judged by its start (and the patterns stay cheap).
    text = re.sub(r"\[([^\]]{0,200})\]\([^)]{0,500}\)", r"\1", title[:300])  # a link's text
    text = re.sub(r"\[optional\]|\(optional\)", " ", text, flags=re.I)
    text = text.lower().replace("&", " and ")
    text = re.sub(r"^\s*(?:\d+(?:\.\d+)*\.?|[ivx]+\.)\s+", "", text)  # numbering
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class CardField:
    """One field ``card.require`` may ask for: where it is found, and an example of writing it."""

    name: str
    describe: str
    example: str
    keys: tuple[str, ...] = ()
    """Front matter keys that state it."""
    headings: tuple[str, ...] = ()
    """Regular expressions, matched against the whole :func:`normalise_heading` form."""


_INTENDED = (
    r"(?:primary |intended |direct |downstream )*(?:uses?|use cases?|applications?)",
    r"(?:intended |primary intended )?uses?(?: and| or)? limitations",
    r"intended (?:uses?|purposes?)(?: and limitations)?",
    r"how (?:it|the model) (?:should|can) be used",
)
_OUT_OF_SCOPE = (
    r".*\bout of scope\b.*",
    r".*\bmisuses?\b.*",
    r"(?:prohibited|unintended|forbidden) uses?",
)
_LIMITATIONS = (
    r".*\blimitations?\b.*",
    r".*\bbias(?:es)?\b.*",
    r".*\brisks?\b.*",
    r"caveats?(?: and recommendations)?",
    r"known (?:issues|failure modes)",
)
_BIAS = (r".*\bbias(?:es)?\b.*", r".*\brisks?\b.*", r"ethical considerations?.*", r"fairness.*")
_TRAINING = (
    r"(?:pre ?)?training(?: and evaluation)? (?:data(?:sets?)?|details|corpus|corpora)",
    r"training data(?: and (?:procedure|preprocessing))?",
    r"(?:pre ?)?training",
    r"data(?:sets?)? used for training",
)
_DESCRIPTION = (
    r"model (?:description|details|summary|overview|information)",
    r"description",
    r"overview",
    r"about(?: (?:the|this) model)?",
)
_EVALUATION = (
    r"evaluation(?: results?| and results| data| metrics)?",
    r"(?:benchmark |evaluation )?results",
    r"performance",
    r"benchmarks?",
    r"(?:benchmark|evaluation) scores",
    r"testing data factors and metrics",
)
_USERS = (r"(?:primary |intended )*(?:users|audience)", r"who (?:should|can) use.*")
_RECOMMENDATIONS = (r"recommendations?", r"mitigations?")

_MODEL_INDEX_EXAMPLE = (
    "model-index:\n- name: my-model\n  results:\n  - task: {type: text-classification}\n"
    "    dataset: {name: GLUE SST-2, type: glue, config: sst2, split: validation}\n"
    "    metrics:\n    - {type: accuracy, value: 0.93}"
)

#: Every field ``card.require`` may name, in the order findings report them.
FIELDS: dict[str, CardField] = {
    f.name: f
    for f in (
        CardField(
            "license",
            "the licence",
            "license: apache-2.0   (a custom licence: license: other, license_name: ..., "
            "license_link: LICENSE)",
            keys=("license",),
            headings=(r"licen[cs]e.*",),
        ),
        CardField(
            "base_model",
            "the base model",
            "base_model: google-bert/bert-base-uncased",
            keys=("base_model",),
        ),
        CardField(
            "datasets", "the training datasets", "datasets:\n- wikipedia", keys=("datasets",)
        ),
        CardField("language", "the languages", "language:\n- en", keys=("language",)),
        CardField(
            "pipeline_tag", "the task", "pipeline_tag: text-classification", keys=("pipeline_tag",)
        ),
        CardField(
            "model_description",
            "a model description",
            "## Model Description\n<what the model is, who made it, its architecture>",
            headings=_DESCRIPTION,
        ),
        CardField(
            "intended_use",
            "the intended use",
            "## Intended Uses\n<the tasks and users the model is meant for>",
            headings=_INTENDED,
        ),
        CardField(
            "out_of_scope_use",
            "the out-of-scope uses",
            "## Out-of-Scope Use\n<uses the model must not be put to, and why>",
            headings=_OUT_OF_SCOPE,
        ),
        CardField(
            "limitations",
            "the limitations (bias, risks)",
            "## Bias, Risks, and Limitations\n<known failure modes, biases and risks>",
            headings=_LIMITATIONS,
        ),
        CardField(
            "bias_risks",
            "the bias and risks",
            "## Bias, Risks, and Limitations\n<who the model may harm, and how>",
            headings=_BIAS,
        ),
        CardField(
            "training_data",
            "the training data",
            "## Training Data\n<the datasets (with links) and how they were filtered>",
            headings=_TRAINING,
        ),
        CardField(
            "evaluation",
            "evaluation results with the dataset they were measured on",
            _MODEL_INDEX_EXAMPLE,
            keys=("model-index",),
        ),
    )
}

#: Headings the BOM reads beyond the required fields (never required themselves).
EXTRA_HEADINGS: dict[str, tuple[str, ...]] = {
    "users": _USERS,
    "recommendations": _RECOMMENDATIONS,
    "evaluation_section": _EVALUATION,
    # The BOM's technicalLimitations: limitations proper, not every bias or risk section.
    "technical_limitations": (
        r".*\blimitations?\b.*",
        r"caveats?(?: and recommendations)?",
        r"known (?:issues|failure modes)",
    ),
}


def heading_means(title: str) -> frozenset[str]:
    """The fields (and :data:`EXTRA_HEADINGS` names) a section heading stands for."""
    normal = normalise_heading(title)
    tables = {name: f.headings for name, f in FIELDS.items()} | EXTRA_HEADINGS
    return frozenset(
        name for name, patterns in tables.items() if any(re.fullmatch(p, normal) for p in patterns)
    )


def sections_for(card: ModelCard, name: str) -> list[Section]:
    """The sections that mean ``name`` and say something themselves. A grouping heading's
    sub-sections do not count for it (the template's ``## Training Details`` holds
    ``### Training Procedure``, which is not training data); they count for what they mean."""
    return [
        entry
        for entry in card.outline
        if name in heading_means(entry.title)
        and meaningful(_own_text(entry.body, name), entry.title)
    ]


# The Hub card template fills these description lines from the front matter itself
# (`- **License:** {{ license }}`): they are the Hub's words, not a description.
_FILLED_LINE_RE = re.compile(
    r"^[ \t]{0,3}[-*+]?[ \t]{0,3}(?:\*\*|__)(?:license|language\(s\)(?: \(nlp\))?|finetuned from "
    r"model(?: \[optional\])?):?(?:\*\*|__):?[^\n]*$",
    re.I | re.M,
)


def _own_text(body: str, name: str) -> str:
    """``body`` without the lines the Hub template fills in itself, for a model description."""
    return _FILLED_LINE_RE.sub("", body) if name == "model_description" else body


def section(card: ModelCard, *patterns: str) -> str | None:
    """The first section whose heading matches any pattern (case-insensitive) with content."""
    for title, text in card.sections.items():
        if any(re.search(p, title, re.I) for p in patterns) and meaningful(text):
            return text
    return None


# --- completeness -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A required field the card does not state: which, what the card has instead, an example."""

    field: str
    evidence: str
    example: str


def _stated(value: Any) -> bool:
    """Whether a front matter value states something: text with a letter or digit that is not
    a placeholder (or a list holding such text). ``license: false``, ``base_model: 0`` or
    ``datasets: [{}]`` name nothing."""
    if isinstance(value, str):
        text = value.strip()
        return any(c.isalnum() for c in text) and not _PLACEHOLDER_RE.fullmatch(text)
    if isinstance(value, list):
        return any(_stated(v) for v in value)
    return False


_MEASURE_RE = re.compile(r"\s{0,20}[-+]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})(?!\w)")


def _measured(value: Any) -> bool:
    """A metric value: a finite number, or text that starts with one (``"88.9"``, ``"88.9%"``,
    ``"88.9 ± 0.2"``); ``TBD`` or ``[More Information Needed]`` measure nothing."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and _MEASURE_RE.match(value) is not None


def _evaluation_gap(card: ModelCard) -> str | None:
    """Why the ``model-index`` does not give metrics measured on a named dataset, or None."""
    if card.metadata_errors and "model-index" not in card.metadata:
        return f"the card's model-index cannot be read: {card.metadata_errors[0]}"
    index = card.metadata.get("model-index")
    if not index:
        sections = sections_for(card, "evaluation_section")
        if sections:
            return (
                f"section {sections[0].title!r} reports results in prose only; the front "
                "matter has no model-index (metrics and the dataset they were measured on)"
            )
        return "the front matter has no model-index and the card reports no results"
    for entry in index if isinstance(index, list) else []:
        for result in entry.get("results") or [] if isinstance(entry, dict) else []:
            if not isinstance(result, dict):
                continue
            metrics = [
                m
                for m in result.get("metrics") or []
                if isinstance(m, dict) and _stated(m.get("type")) and _measured(m.get("value"))
            ]
            dataset = result.get("dataset")
            named = isinstance(dataset, dict) and (
                _stated(dataset.get("name")) or _stated(dataset.get("type"))
            )
            if metrics and named:
                return None
    return (
        "the model-index has no result with both metrics (a type and a numeric value) and a "
        "named dataset"
    )


def _field_gap(card: ModelCard, spec: CardField) -> str | None:
    """Why ``spec`` is not stated, or None when it is."""
    if spec.name == "evaluation":
        return _evaluation_gap(card)
    if spec.name == "license":
        value = card.metadata.get("license")
        if isinstance(value, str) and value.strip().lower() == "other":
            if _stated(card.metadata.get("license_name")) or _stated(
                card.metadata.get("license_link")
            ):
                return None
            return "license: other names no licence (no license_name or license_link)"
    if any(_stated(card.metadata.get(key)) for key in spec.keys):
        return None
    if spec.headings and sections_for(card, spec.name):
        return None
    placeholders = [
        s.title
        for s in card.outline
        if spec.name in heading_means(s.title)
        and not meaningful(_own_text(s.body, spec.name), s.title)
        and s.body
    ]
    if placeholders:
        return f"section {placeholders[0]!r} holds only placeholder text"
    where = []
    if spec.keys:
        where.append("no front matter key " + " or ".join(repr(k) for k in spec.keys))
    if spec.headings:
        where.append("no section about it")
    return f"the card does not state {spec.describe}: " + ", ".join(where)


def gaps(card: ModelCard, required: tuple[str, ...]) -> list[Gap]:
    """Each required field the card does not state, with the evidence and an example."""
    out = []
    for name in required:
        spec = FIELDS[name]
        why = _field_gap(card, spec)
        if why is not None:
            out.append(Gap(field=name, evidence=why, example=spec.example))
    return out


def _finder(name: str) -> Callable[[ModelCard], bool]:
    return lambda card: _field_gap(card, FIELDS[name]) is None


#: Field name → "does the card state it?". Keys are the manifest's CARD_FIELDS.
FIELD_FINDERS: dict[str, Callable[[ModelCard], bool]] = {name: _finder(name) for name in FIELDS}


def missing_fields(card: ModelCard, required: tuple[str, ...]) -> list[str]:
    return [gap.field for gap in gaps(card, required)]
