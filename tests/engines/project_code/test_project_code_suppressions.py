"""Inline suppressions: a reason accepts the finding where it stands; no reason is MLS-LOAD-013."""

from __future__ import annotations

import ast
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_mlsupply.engines.project_code import analyse_source
from pytest_mlsupply.results import Severity


def test_a_suppression_with_a_reason_accepts_the_finding_and_keeps_it() -> None:
    source = "import torch\ntorch.load('m')  # mlsupply: ignore[MLS-LOAD-001] -- our own file\n"
    (finding,) = analyse_source(source, file="src/a.py").findings
    assert finding.rule == "MLS-LOAD-001"
    assert finding.accepted is not None
    assert finding.accepted.reason == "our own file"
    assert finding.accepted.inline
    assert finding.accepted.source == "src/a.py:2"


def test_adding_a_suppression_keeps_the_finding_fingerprint() -> None:
    plain = "import torch\ntorch.load('m')\n"
    suppressed = "import torch\ntorch.load('m')  # mlsupply: ignore[MLS-LOAD-001] -- ok\n"
    (before,) = analyse_source(plain, file="a.py").findings
    (after,) = analyse_source(suppressed, file="a.py").findings
    assert before.evidence == after.evidence


def test_a_suppression_names_several_rules_separated_by_commas() -> None:
    source = (
        "import torch, pickle\n"
        "torch.load(pickle.loads(b''))  # mlsupply: ignore[MLS-LOAD-001, MLS-LOAD-002] -- fixture\n"
    )
    findings = analyse_source(source, file="a.py").findings
    assert sorted(f.rule for f in findings) == ["MLS-LOAD-001", "MLS-LOAD-002"]
    assert all(f.accepted is not None for f in findings)


def test_a_suppression_on_any_line_of_a_multi_line_call_applies() -> None:
    source = (
        "import torch\n"
        "torch.load(\n"
        "    'm.pt',  # mlsupply: ignore[MLS-LOAD-001] -- the file is ours\n"
        ")\n"
    )
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.accepted is not None
    assert finding.accepted.source == "a.py:3"


def test_a_suppression_of_another_rule_does_not_accept_the_finding() -> None:
    source = "import torch\ntorch.load('m')  # mlsupply: ignore[MLS-LOAD-002] -- wrong rule\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.accepted is None


def test_a_suppression_on_another_line_does_not_apply() -> None:
    source = "import torch\n# mlsupply: ignore[MLS-LOAD-001] -- above\ntorch.load('m')\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.accepted is None


def test_a_hash_inside_a_string_is_no_comment() -> None:
    source = "import torch\ntorch.load('# mlsupply: ignore[MLS-LOAD-001] -- not a comment')\n"
    findings = analyse_source(source, file="a.py").findings
    assert [(f.rule, f.accepted) for f in findings] == [("MLS-LOAD-001", None)]


@pytest.mark.parametrize(
    ("comment", "problem"),
    [
        ("# mlsupply: ignore[MLS-LOAD-001]", "no reason"),
        ("# mlsupply: ignore[MLS-LOAD-001] --   ", "no reason"),
        ("# mlsupply: ignore -- because", "names no rule"),
        ("# mlsupply: ignore[] -- because", "names no rule"),
        ("# mlsupply: ignore[MLS-LOAD-999] -- because", "unknown rule(s) MLS-LOAD-999"),
        ("# mlsupply: ignore[MLS-LOAD-001, NOPE] -- because", "unknown rule(s) NOPE"),
    ],
)
def test_a_malformed_suppression_is_a_finding_and_suppresses_nothing(
    comment: str, problem: str
) -> None:
    source = f"import torch\ntorch.load('m')  {comment}\n"
    findings = analyse_source(source, file="a.py").findings
    by_rule = {f.rule: f for f in findings}
    assert set(by_rule) == {"MLS-LOAD-001", "MLS-LOAD-013"}
    assert by_rule["MLS-LOAD-001"].accepted is None
    bad = by_rule["MLS-LOAD-013"]
    assert bad.severity is Severity.MEDIUM
    assert problem in bad.evidence
    assert bad.location.line == 2
    assert bad.location.column == source.splitlines()[1].index("#") + 1


def test_a_malformed_suppression_alone_is_still_a_finding() -> None:
    findings = analyse_source("x = 1  # mlsupply: ignore\n", file="a.py").findings
    assert [f.rule for f in findings] == ["MLS-LOAD-013"]


def test_a_well_formed_suppression_with_nothing_to_suppress_is_no_finding() -> None:
    source = "x = 1  # mlsupply: ignore[MLS-LOAD-001] -- kept from a refactoring\n"
    assert analyse_source(source, file="a.py").findings == []


def test_one_comment_over_two_calls_of_its_rule_accepts_neither_and_says_so() -> None:
    source = (
        "import torch\nx = torch.load(ours); y = torch.load(user_upload)"
        "  # mlsupply: ignore[MLS-LOAD-001] -- ours is our checkpoint\n"
    )
    findings = analyse_source(source, file="a.py").findings
    assert [(f.rule, f.accepted) for f in findings] == [
        ("MLS-LOAD-001", None),
        ("MLS-LOAD-001", None),
        ("MLS-LOAD-013", None),
    ]
    assert "sits on 2 expressions flagged MLS-LOAD-001" in findings[2].evidence


def test_one_comment_naming_two_rules_of_one_call_accepts_both_findings() -> None:
    source = (
        "from transformers import AutoModel\n"
        "m = AutoModel.from_pretrained('org/m', trust_remote_code=True)"
        "  # mlsupply: ignore[MLS-LOAD-004, MLS-LOAD-005] -- reviewed\n"
    )
    findings = analyse_source(source, file="a.py").findings
    assert [(f.rule, f.accepted is not None) for f in findings] == [
        ("MLS-LOAD-004", True),
        ("MLS-LOAD-005", True),
    ]


@pytest.mark.parametrize(
    "comment",
    [
        "# notmlsupply: ignore[MLS-LOAD-001] -- quoted in a note",
        "# see https://x.invalid/mlsupply: ignore[MLS-LOAD-001] -- a link",
    ],
)
def test_a_marker_inside_prose_is_no_suppression(comment: str) -> None:
    source = f"import torch\ntorch.load(p)  {comment}\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.accepted is None


def test_a_suppression_chained_after_another_tools_comment_applies() -> None:
    source = "import torch\ntorch.load(p)  # noqa: S301  # mlsupply: ignore[MLS-LOAD-001] -- ours\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.accepted is not None
    assert finding.accepted.reason == "ours"


def long_call(pickle_module: str, indent: str = "    ") -> str:
    return (
        "import torch\nstate = torch.load(\n"
        f"{indent}os.path.join(CHECKPOINT_DIRECTORY_OF_THE_TRUSTED_INTERNAL_MODELS, 'team', "
        "'resnet', 'v1', 'weights', 'final', 'epoch_90', 'x'),\n"
        f"{indent}map_location='cpu', pickle_module={pickle_module},\n)\n"
    )


def test_two_long_calls_that_differ_past_the_quote_have_different_evidence() -> None:
    # The baseline accepts a finding by its evidence: a clipped quote alone would let an entry
    # written for pickle_module=pickle accept pickle_module=attacker_module.
    (ours,) = analyse_source(long_call("pickle"), file="a.py").findings
    (theirs,) = analyse_source(long_call("attacker_module"), file="a.py").findings
    (reindented,) = analyse_source(long_call("pickle", indent="\t"), file="a.py").findings
    assert "(sha256 of the whole expression: " in ours.evidence
    assert ours.evidence != theirs.evidence
    assert ours.evidence == reindented.evidence


def test_blank_lines_do_not_hide_the_rest_of_a_call_from_the_evidence() -> None:
    # Review R3: blank lines counted toward the quote's length but added nothing to it, so the
    # quote stopped early without a clip mark and without the digest: two calls that differ
    # after 170 blank lines had the same evidence (a baseline entry accepted both).
    def padded(path: str) -> str:
        return f"import torch\nstate = torch.load(\n{chr(10) * 170}    {path!r},\n)\n"

    (ours,) = analyse_source(padded("ours.pt"), file="a.py").findings
    (theirs,) = analyse_source(padded("theirs.pt"), file="a.py").findings
    assert ours.evidence.startswith(
        "`state = torch.load( \u2026` (sha256 of the whole expression: "
    )
    assert ours.evidence != theirs.evidence


def test_two_long_calls_that_differ_in_a_strings_spacing_have_different_evidence() -> None:
    long = "x" * 200
    (ours,) = analyse_source(f"import torch\ntorch.load('{long}/a b.pt')\n", file="a.py").findings
    (theirs,) = analyse_source(
        f"import torch\ntorch.load('{long}/a  b.pt')\n", file="a.py"
    ).findings
    assert ours.evidence != theirs.evidence


@settings(max_examples=300)
@given(
    lines=st.lists(st.text(alphabet=" \t\fab#(", max_size=8), min_size=1, max_size=12),
)
def test_the_digest_is_the_one_baselines_were_written_with(lines: list[str]) -> None:
    # The digest drops each line's horizontal space at both ends and strips the joined text:
    # the formula of the baselines already written (a regex over the joined lines), which the
    # per-line strip that replaced it for speed must give back for every text under the cap.
    source = "import torch\nx = torch.load(\n" + "\n".join(lines) + "\n'" + "a" * 200 + "')\n"
    try:
        ast.parse(source)
    except SyntaxError:
        return
    [finding] = analyse_source(source, file="a.py").findings
    call_lines = source.split("\n")[1:-1]
    expected = re.sub(r"[ \t\f]*\n[ \t\f]*", "\n", "\n".join(call_lines)).strip()
    digest = hashlib.sha256(expected.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    assert f"(sha256 of the whole expression: {digest})" in finding.evidence
