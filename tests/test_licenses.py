"""The vendored licence table: sourced, restricted from the known set, keyed by real SPDX ids."""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from license_expression import get_spdx_licensing

from pytest_mlsupply.licenses import (
    RESTRICTIONS,
    LicenceError,
    evaluate,
    identify,
    licence,
    parse,
    table,
)
from pytest_mlsupply.manifest.model import LicensePolicy

ENTRIES: list[dict[str, Any]] = json.loads(
    resources.files("pytest_mlsupply").joinpath("data", "licenses.json").read_text("utf-8")
)["entries"]


def test_every_entry_cites_the_licence_text_it_was_read_from() -> None:
    assert [e["key"] for e in ENTRIES if not e["source"].startswith(("https://", "http://"))] == []


def test_every_entry_uses_only_the_known_restrictions() -> None:
    assert {r for e in ENTRIES for r in e["restrictions"]} <= set(RESTRICTIONS)


def test_every_spdx_keyed_entry_is_a_valid_spdx_id_in_its_canonical_spelling() -> None:
    spdx = get_spdx_licensing()
    for entry in (e for e in ENTRIES if e["spdx"]):
        assert spdx.validate(entry["key"]).errors == [], entry["key"]
        assert str(spdx.parse(entry["key"])) == entry["key"]


def test_every_hub_keyed_entry_is_not_an_spdx_id() -> None:
    spdx = get_spdx_licensing()
    assert [e["key"] for e in ENTRIES if not e["spdx"] and not spdx.validate(e["key"]).errors] == []


def test_keys_and_aliases_are_unique_in_any_case() -> None:
    names = [n.lower() for e in ENTRIES for n in (e["key"], *e.get("aliases", ()))]
    assert len(names) == len(set(names))
    assert len({id(v) for v in table().values()}) == len(ENTRIES)


def test_the_licence_page_lists_every_entry_with_its_source() -> None:
    page = (Path(__file__).parents[1] / "docs" / "licenses.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]

    for entry in ENTRIES:
        (row,) = [r for r in rows if r.startswith(f"| `{entry['key']}` |")]
        assert f"<{entry['source']}>" in row


@pytest.mark.parametrize(
    ("hub_id", "key"),
    [
        ("odbl", "ODbL-1.0"),
        ("odc-by", "ODC-By-1.0"),
        ("pddl", "PDDL-1.0"),
        ("gpl-3.0", "GPL-3.0-only"),
        ("agpl-3.0", "AGPL-3.0-only"),
        ("gpl", "GPL-1.0-or-later"),
        ("qwen", "tongyi-qianwen"),
        ("tongyi-qianwen-license-agreement", "tongyi-qianwen"),
        ("OpenRAIL++", "openrail++"),
        ("Llama3.1", "llama3.1"),
    ],
)
def test_the_hubs_licence_ids_parse_to_their_table_entry(hub_id: str, key: str) -> None:
    parsed = parse(hub_id)
    entry = licence(str(parsed))

    assert entry is not None
    assert entry.key == key


def test_the_community_licences_carry_their_distinctive_clauses() -> None:
    def restrictions(key: str) -> frozenset[str]:
        entry = licence(key)
        assert entry is not None
        return entry.restrictions

    assert {"user-threshold", "no-use-of-outputs-for-training"} <= restrictions("llama2")
    assert "no-use-of-outputs-for-training" in restrictions("llama3")
    assert "no-use-of-outputs-for-training" not in restrictions("llama3.1")
    assert "territorial-restriction" in restrictions("llama4")
    assert {"non-commercial", "research-only"} <= restrictions("mrl")
    assert restrictions("cc0-1.0") == frozenset()


def test_an_and_of_an_allowed_and_a_forbidden_licence_is_forbidden() -> None:
    verdict = evaluate("mit AND cc-by-nd-4.0", LicensePolicy(deny_restrictions=("no-derivatives",)))

    assert [p.describe() for p in verdict.problems] == [
        "CC-BY-ND-4.0 carries the denied restriction 'no-derivatives'"
    ]


def test_the_llama3_licence_forbids_using_its_outputs_to_improve_another_llm() -> None:
    # Meta Llama 3 Community License 1.b.v (dropped only from Llama 3.1 on).
    verdict = evaluate(
        "llama3", LicensePolicy(deny_restrictions=("no-use-of-outputs-for-training",))
    )

    assert [p.describe() for p in verdict.problems] == [
        "llama3 carries the denied restriction 'no-use-of-outputs-for-training'"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "Apache-2.0 WITH LicenseRef-scancode-commons-clause",
        "MIT WITH LicenseRef-scancode-accountability-commercial-1.1",
        "Apache-2.0 WITH LicenseRef-scancode-generic-exception",
    ],
)
def test_a_with_exception_outside_the_spdx_list_is_an_unknown_licence(expression: str) -> None:
    # ScanCode's exception-like entries are not SPDX's additional permissions: the Commons
    # Clause forbids selling, and the gate cannot know what a generic one adds.
    verdict = evaluate(expression, LicensePolicy(allow=("apache-2.0", "mit")))

    assert [p.kind for p in verdict.problems] == ["unknown"]
    assert verdict.problems[0].licence == str(parse(expression))


def test_an_spdx_exception_still_counts_as_its_licence() -> None:
    verdict = evaluate("Apache-2.0 WITH LLVM-exception", LicensePolicy(allow=("apache-2.0",)))

    assert verdict.ok


def test_an_unknown_licence_is_not_in_an_allow_list_even_when_unknown_is_allowed() -> None:
    verdict = evaluate("my-corp-eula", LicensePolicy(allow=("mit",), unknown="allow"))

    assert [p.describe() for p in verdict.problems] == [
        "my-corp-eula is not in policy.licenses.allow"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "\u0421\u0421-BY-NC-4.0",  # Cyrillic ES twice: looks like CC-BY-NC-4.0
        "\uff4d\uff49\uff54",  # fullwidth "mit"
        "mit AND c\u0441-by-nc-4.0",
    ],
)
def test_a_licence_id_with_a_non_ascii_look_alike_letter_does_not_parse(expression: str) -> None:
    with pytest.raises(LicenceError, match="ASCII"):
        parse(expression)


def test_unicode_whitespace_still_separates_the_parts_of_an_expression() -> None:
    assert str(parse("mit\u00a0AND\u00a0cc-by-nc-4.0")) == "MIT AND CC-BY-NC-4.0"


@pytest.mark.parametrize(
    ("written", "resembles"),
    [("CC BY-NC 4.0", "CC-BY-NC-4.0"), ("cc_by_nc_4.0", "CC-BY-NC-4.0"), ("Llama-3", "llama3")],
)
def test_unknown_allow_does_not_accept_a_misspelling_of_a_known_licence(
    written: str, resembles: str
) -> None:
    # `unknown: allow` accepts licences the table does not know; a respelled table licence is
    # one it knows, and accepting it "without restrictions" would drop its restrictions.
    verdict = evaluate(
        written, LicensePolicy(deny_restrictions=("non-commercial",), unknown="allow")
    )

    assert [p.kind for p in verdict.problems] == ["unknown"]
    assert f"resembles {resembles}" in verdict.problems[0].describe()


def test_each_fingerprint_identifies_its_own_licence_and_no_other() -> None:
    # Upper case and re-wrapped, as licence files print them: neither hides a phrase.
    for entry in (e for e in ENTRIES if e.get("fingerprints")):
        for group in entry["fingerprints"]:
            text = "\n...\n".join(
                textwrap.fill(phrase.upper(), 24, break_on_hyphens=False, break_long_words=False)
                for phrase in group
            )
            assert [item.key for item in identify(text).licences] == [entry["key"]], group


def test_fingerprints_are_non_empty_groups_of_non_empty_phrases() -> None:
    for entry in (e for e in ENTRIES if "fingerprints" in e):
        assert entry["fingerprints"], entry["key"]
        for group in entry["fingerprints"]:
            assert group, entry["key"]
            assert all(isinstance(p, str) and p.strip() for p in group), entry["key"]


def test_an_or_prefers_a_known_alternative_to_an_accepted_unknown_one() -> None:
    # Under `unknown: allow` an unknown licence has no restrictions the gate can see; that makes
    # it look the most permissive, not be it.
    verdict = evaluate("LicenseRef-acme-eula OR mit", LicensePolicy(unknown="allow"))

    assert verdict.licences == ("MIT",)
    assert verdict.unknown == ()
