"""The one card reader: huggingface_hub's ModelCard behind stricter gates of our own."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from huggingface_hub import ModelCard as HubModelCard

from pytest_mlsupply.engines.model_card import (
    MAX_CARD_BYTES,
    CardError,
    heading_means,
    meaningful,
    normalise_heading,
    parse_card,
    read_card,
)
from tests.cards import LLAMA_CHAT

if TYPE_CHECKING:
    from pathlib import Path


def test_front_matter_is_what_huggingface_hub_reads() -> None:
    card = parse_card(LLAMA_CHAT)

    assert card.metadata == HubModelCard(LLAMA_CHAT).data.to_dict()
    assert card.metadata["model-index"][0]["results"][0]["dataset"]["type"] == "cais/mmlu"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        pytest.param(
            "---\nlicense: mit\n   ---\n# body\n", "never closed", 1, id="closed-by-indent"
        ),
        pytest.param(
            "---\ntags: &t [a]\nother: *t\n---\n", "anchor or alias", 2, id="anchor-and-alias"
        ),
        pytest.param("---\n- license: mit\n---\n", "must be a YAML mapping", 2, id="a-list"),
        pytest.param("---\n2024: mit\n---\n", "key '2024' is not text", 2, id="non-text-key"),
        pytest.param("---\nlicense: mit\n# body\n", "never closed", 1, id="unclosed"),
    ],
)
def test_front_matter_huggingface_hub_would_accept_is_refused_with_its_line(
    text: str, message: str, line: int
) -> None:
    with pytest.raises(CardError, match=re.escape(message)) as caught:
        parse_card(text)

    assert caught.value.line == line


def test_duplicate_keys_are_recorded_with_their_lines_and_the_hubs_value_kept() -> None:
    text = (
        "---\nlicense: apache-2.0\nextra_gated_fields:\n  Country: country\n  Country: text\n"
        "license: other\n---\n"
    )
    card = parse_card(text)

    # A reviewer reads the first licence, every tool the last: the claims are told.
    assert card.metadata["license"] == HubModelCard(text).data.license == "other"
    assert [(d.path, d.first_line, d.line) for d in card.duplicates] == [
        ("extra_gated_fields.Country", 4, 5),
        ("license", 2, 6),
    ]
    assert card.repeated == ("license",)


def test_the_front_matter_is_the_block_huggingface_hub_finds() -> None:
    # Blank lines before it, and a byte order mark, which alone would hide it from the Hub.
    card = parse_card("\ufeff\n\n---\nbase_model: acme/base\n---\n## Uses\n\nChat.\n")

    assert card.metadata == {"base_model": "acme/base"}
    assert card.sections == {"Uses": "Chat."}


def test_a_card_over_the_size_bound_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("---\nlicense: mit\n---\n" + "x" * MAX_CARD_BYTES)

    with pytest.raises(CardError, match="larger than"):
        read_card(path)


def test_a_jinja_placeholder_is_left_as_text_and_is_not_content() -> None:
    card = parse_card("# m\n\n## Uses\n\n{{ direct_use | default('[More Information Needed]') }}\n")

    assert card.sections["Uses"].startswith("{{ direct_use")
    assert not meaningful(card.sections["Uses"])


def test_headings_inside_code_blocks_are_not_sections() -> None:
    card = parse_card("# m\n\n## How to use\n\n```\n## Limitations\n```\n")

    assert list(card.sections) == ["m", "How to use"]


@pytest.mark.parametrize(
    ("title", "normal"),
    [
        ("3.1 Bias, Risks, & Limitations [optional]", "bias risks and limitations"),
        ("Out-of-Scope Use", "out of scope use"),
        ("[Training Data](#data)", "training data"),
    ],
)
def test_headings_are_normalised_before_matching(title: str, normal: str) -> None:
    assert normalise_heading(title) == normal


def test_one_heading_may_mean_several_parts() -> None:
    assert {"intended_use", "limitations"} <= heading_means("Intended uses & limitations")
    assert heading_means("How to Get Started with the Model") == frozenset()


@pytest.mark.parametrize(
    "filler",
    [
        pytest.param("## " + " " * 200_000 + "x\n", id="a-heading-of-spaces"),
        pytest.param("<!--{{{%" * 50_000, id="unclosed-comments-and-templates"),
        pytest.param(" " * 200_000 + "x\n" + "\n" * 200_000, id="a-line-of-spaces"),
        pytest.param("**" + "a" * 200_000 + "\n", id="an-unclosed-bold-label"),
        pytest.param("## " + "[" * 200_000 + "\n", id="a-heading-of-brackets"),
    ],
)
def test_a_pathological_card_within_the_size_bound_is_read(filler: str) -> None:
    # Quadratic regexes would not return on these; the reader scans each line once.
    card = parse_card("---\nlicense: mit\n---\n# m\n\n## Uses\n\n" + filler)

    assert card.metadata == {"license": "mit"}
    assert "Uses" in card.sections
    assert {heading_means(title) for title in card.sections} >= {frozenset({"intended_use"})}
