"""Review s26-R1: what one suppression comment accepts, and what it must not."""

from __future__ import annotations

import time

import pytest

from pytest_mlsupply.engines.project_code import analyse_source


def verdicts(source: str) -> list[tuple[str, int, bool]]:
    analysis = analyse_source(source, file="src/load.py")
    assert analysis.error is None, analysis.error
    return [(f.rule, f.location.line or 0, f.accepted is not None) for f in analysis.findings]


def test_a_comment_for_an_inner_call_does_not_accept_the_call_around_it() -> None:
    source = (
        "import io, torch\n"
        "state = torch.load(\n"
        "    io.BytesIO(torch.load(cache)),  # mlsupply: ignore[MLS-LOAD-001] -- cache is ours\n"
        ")\n"
    )
    assert verdicts(source) == [("MLS-LOAD-001", 2, False), ("MLS-LOAD-001", 3, True)]


def test_a_comment_on_any_line_of_a_lone_multi_line_call_still_accepts_it() -> None:
    source = (
        "import torch\nm = torch.load(\n    p,\n    map_location='cpu',\n"
        ")  # mlsupply: ignore[MLS-LOAD-001] -- p is our own checkpoint\n"
    )
    assert verdicts(source) == [("MLS-LOAD-001", 2, True)]


def test_a_comment_accepts_only_the_rules_it_names() -> None:
    source = (
        "import pickle, torch\nx = torch.load(a, weights_only=True); y = pickle.loads(b)"
        "  # mlsupply: ignore[MLS-LOAD-001] -- ok\n"
    )
    assert verdicts(source) == [("MLS-LOAD-002", 2, False)]


@pytest.mark.parametrize("reason", ["--", ".", "-", "  ...  "])
def test_a_reason_of_punctuation_only_is_no_reason(reason: str) -> None:
    source = f"import torch\ntorch.load(p)  # mlsupply: ignore[MLS-LOAD-001] -- {reason}\n"
    assert verdicts(source) == [("MLS-LOAD-001", 2, False), ("MLS-LOAD-013", 2, False)]


@pytest.mark.parametrize(
    "comment",
    [
        "# mlsupply: \u0131gnore[MLS-LOAD-001] -- dotless i",
        "# ml\u017fupply: ignore[MLS-LOAD-001] -- long s",
        "# mlsupply: \u0456gnore[MLS-LOAD-001] -- cyrillic i",
    ],
)
def test_a_look_alike_marker_suppresses_nothing(comment: str) -> None:
    source = f"import torch\ntorch.load(p)  {comment}\n"
    assert verdicts(source)[0] == ("MLS-LOAD-001", 2, False)


COMMENT = "  # mlsupply: ignore[MLS-LOAD-001] -- our checkpoint"


@pytest.mark.parametrize(
    "source",
    [
        f"import torch\na = torch.load(ours); b = torch.load({COMMENT}\n    theirs)\n",
        f"import torch\nb = torch.load(\n    theirs); a = torch.load(ours){COMMENT}\n",
    ],
    ids=["a multi-line call begins on the line", "a multi-line call ends on the line"],
)
def test_a_comment_over_a_call_and_part_of_another_accepts_neither(source: str) -> None:
    # Review R3: the narrowest call by lines was taken as the innermost, so the one-line call
    # was accepted in silence though the comment may be written for the multi-line one.
    found = verdicts(source)
    assert [(rule, accepted) for rule, _, accepted in found] == [
        ("MLS-LOAD-001", False),
        ("MLS-LOAD-001", False),
        ("MLS-LOAD-013", False),
    ]


def test_a_comment_on_every_flagged_line_is_settled_in_linear_time() -> None:
    # Review R3: every comment was compared with every finding: 8,000 commented calls took
    # 4 s (a 10 MiB file, about 40 min). It also exhausted the name budget shared by all the
    # file's calls: past ~30,000 calls the file errored as "nested too deeply".
    source = "import torch\n" + f"torch.load(p){COMMENT}\n" * 40_000
    started = time.perf_counter()
    found = verdicts(source)
    assert time.perf_counter() - started < 60
    assert len(found) == 40_000
    assert all(accepted for _, _, accepted in found)
