"""Adversarial review of card completeness: cards that miss a part, or hold only placeholder,
markup or the heading itself, must not pass; cards written as the Hub renders them still do."""

from __future__ import annotations

import time

import pytest
from huggingface_hub import ModelCard as HubModelCard
from huggingface_hub import ModelCardData

from pytest_mlsupply.engines.model_card import gaps, parse_card
from tests.cards import BERT_ENCODER, LLAMA_CHAT

FRONT = "---\nlicense: mit\n---\n# m\n\n## Model description\n\nA sentiment classifier.\n\n"


def missing(text: str, *required: str) -> list[str]:
    return [gap.field for gap in gaps(parse_card(text), required or ("limitations",))]


def test_a_section_hidden_in_an_html_comment_is_not_a_section() -> None:
    card = FRONT + "<!--\n## Limitations\n\nIt fails on sarcasm and on long reviews.\n-->\n"

    assert missing(card) == ["limitations"]


def test_a_heading_in_a_tilde_fence_closed_by_backticks_is_still_code() -> None:
    # A ``` line inside a ~~~ block is code; the block only ends at ~~~.
    card = FRONT + "~~~\n```\n## Limitations\n\nIt fails on sarcasm and long reviews.\n~~~\n"

    assert missing(card) == ["limitations"]


@pytest.mark.parametrize(
    "heading",
    [
        pytest.param("Changelog\n=========\n", id="setext"),
        pytest.param("<h2>Changelog</h2>\n", id="html"),
    ],
)
def test_an_empty_section_does_not_take_the_text_of_the_heading_after_it(heading: str) -> None:
    card = (
        FRONT + "## Limitations\n\n" + heading + "\nVersion 2 fixes the tokenizer and the docs.\n"
    )

    assert missing(card) == ["limitations"]


@pytest.mark.parametrize(
    "heading",
    [
        pytest.param("Limitations\n-----------\n", id="setext"),
        pytest.param('<h2 id="limits">Limitations</h2>\n', id="html"),
    ],
)
def test_setext_and_html_headings_are_sections(heading: str) -> None:
    card = FRONT + heading + "\nIt fails on sarcasm and long reviews.\n"

    assert missing(card) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[More\u200b Information\u200b Needed]", id="zero-width-spaces"),
        pytest.param("[More\u200bInformation Needed]", id="zero-width-joined"),
        pytest.param("[\uff2dore Information Needed]", id="fullwidth-letter"),
        pytest.param("![limitations](https://example.com/limitations.png)", id="an-image"),
        pytest.param("<https://example.com/docs/limitations-and-bias>", id="a-bare-link"),
        pytest.param("See [here](https://example.com/limitations).", id="a-link-here"),
        pytest.param("Limitations", id="the-heading-repeated"),
        pytest.param("**Limitations:** limitations.", id="the-heading-as-a-label"),
        pytest.param('<img src="limitations.png" alt="x">', id="an-html-image"),
        pytest.param("None.", id="none"),
    ],
)
def test_a_section_that_states_nothing_itself_is_not_content(body: str) -> None:
    assert missing(FRONT + f"## Limitations\n\n{body}\n") == ["limitations"]


@pytest.mark.parametrize(
    ("front", "field"),
    [
        pytest.param("license: false", "license", id="license-false"),
        pytest.param("license: 0", "license", id="license-zero"),
        pytest.param("base_model: true", "base_model", id="base-model-true"),
        pytest.param("language: ['?']", "language", id="language-question-mark"),
        pytest.param("datasets: [{name: wiki}]", "datasets", id="datasets-a-mapping"),
    ],
)
def test_a_front_matter_value_that_is_not_text_states_nothing(front: str, field: str) -> None:
    assert missing(f"---\n{front}\n---\n# m\n", field) == [field]


@pytest.mark.parametrize(
    ("metric", "dataset"),
    [
        pytest.param("{type: accuracy, value: 0.9}", "{name: TBD, type: TBD}", id="tbd-dataset"),
        pytest.param("{type: accuracy, value: TBD}", "{name: GLUE, type: glue}", id="tbd-value"),
        pytest.param(
            "{type: accuracy, value: '[More Information Needed]'}",
            "{name: GLUE, type: glue}",
            id="placeholder-value",
        ),
        pytest.param("{type: accuracy, value: 'n/a'}", "{name: GLUE, type: glue}", id="n-a"),
        pytest.param("{type: accuracy, value: true}", "{name: GLUE, type: glue}", id="true"),
        pytest.param("{type: accuracy, value: .nan}", "{name: GLUE, type: glue}", id="nan"),
        pytest.param(
            "{type: '[More Information Needed]', value: 0.9}",
            "{name: GLUE, type: glue}",
            id="placeholder-metric",
        ),
    ],
)
def test_a_model_index_of_placeholders_is_not_evaluation(metric: str, dataset: str) -> None:
    card = (
        "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
        f"    dataset: {dataset}\n    metrics:\n    - {metric}\n---\n# m\n"
    )

    assert missing(card, "evaluation") == ["evaluation"]


# Guards (these passed before the fix too): what the fixes must not turn into false failures.


def test_a_metric_written_as_text_or_a_percentage_is_evaluation() -> None:
    card = (
        "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
        "    dataset: {name: GLUE, type: glue}\n    metrics:\n    - {type: f1, value: '88.9%'}\n"
        "    - {type: acc, value: '88.9 ± 0.2'}\n"
        "---\n# m\n"
    )

    assert missing(card, "evaluation") == []


def test_real_cards_keep_passing_with_horizontal_rules_lists_and_links() -> None:
    # A rule after a list is not a setext heading; a link with its text is content.
    extra = (
        "\n## Out-of-scope use\n\n- Medical advice\n- Legal advice\n---\n\n"
        "## Limitations\n\nSee the [bias evaluation](https://example.com/bias) on sarcasm.\n"
    )
    assert missing(BERT_ENCODER + extra, "out_of_scope_use", "limitations") == []
    assert parse_card(BERT_ENCODER + extra).sections["Out-of-scope use"].startswith("- Medical")
    assert missing(LLAMA_CHAT, "intended_use", "out_of_scope_use", "limitations") == []


def test_the_text_before_the_first_heading_is_kept() -> None:
    card = parse_card("---\nlicense: mit\n---\nWeights in safetensors only.\n\n## Uses\n\nChat.\n")

    assert card.preamble == "Weights in safetensors only."


@pytest.mark.parametrize(
    "filler",
    [
        pytest.param("[" * 200_000 + "\n", id="brackets"),
        pytest.param("![" * 100_000 + "](" + "x" * 100_000 + "\n", id="an-unclosed-image"),
        pytest.param("<" * 200_000 + "\n", id="angle-brackets"),
        pytest.param("<h2" + " " * 200_000 + "\n", id="an-unclosed-html-heading"),
        pytest.param("a\n" + "=" * 200_000 + "\n", id="a-long-setext-underline"),
        pytest.param("<!--" * 50_000 + "\n" + "-->" * 50_000, id="comments"),
    ],
)
def test_a_pathological_section_is_judged_quickly(filler: str) -> None:
    began = time.monotonic()
    missing(FRONT + "## Limitations\n\n" + filler)

    assert time.monotonic() - began < 5


def test_a_heading_inside_a_pre_block_is_text_not_a_section() -> None:
    card = FRONT + "<pre>\n## Limitations\n\nIt fails on sarcasm and on long reviews.\n</pre>\n"

    assert missing(card) == ["limitations"]


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x1c", "\x85"])
def test_a_heading_after_a_character_markdown_does_not_break_lines_at_is_no_heading(
    separator: str,
) -> None:
    # Rendered, this is one paragraph of the description; str.splitlines() saw a section.
    card = FRONT.rstrip("\n") + f"{separator}## Limitations{separator}It fails on sarcasm.\n"

    assert missing(card) == ["limitations"]


def test_the_hub_template_left_unfilled_states_no_model_description() -> None:
    # ModelCard.from_template writes the licence, language and base model into the description's
    # list itself; with nothing else written, the card describes nothing.
    data = ModelCardData(license="mit", language="en", base_model="acme/base")
    template = str(HubModelCard.from_template(data))

    assert missing(template, "model_description") == ["model_description"]

    filled = str(HubModelCard.from_template(data, model_description="A sentiment classifier."))
    assert missing(filled, "model_description") == []
