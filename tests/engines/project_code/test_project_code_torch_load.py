"""MLS-LOAD-001 (torch.load without weights_only=True) through every way a name resolves."""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines.project_code import RULES, analyse_source
from pytest_mlsupply.results import Severity


def rules_of(source: str) -> list[str]:
    analysis = analyse_source(source, file="src/load.py")
    assert analysis.error is None
    return [f.rule for f in analysis.findings]


VULNERABLE = {
    "plain call without weights_only": "import torch\ntorch.load('m.pt')\n",
    "weights_only=False": "import torch\ntorch.load('m.pt', weights_only=False)\n",
    "module alias": "import torch as t\nt.load('m.pt')\n",
    "from import with alias": "from torch import load as L\nL('m.pt')\n",
    "star import": "from torch import *\nload('m.pt')\n",
    "serialization module": "import torch.serialization\ntorch.serialization.load('m')\n",
    "import torch.hub binds torch": "import torch.hub\ntorch.load('m')\n",
    "module constant False": "import torch\nW = False\ntorch.load('m', weights_only=W)\n",
    "a parameter is not provably True": (
        "import torch\ndef f(p, w):\n    return torch.load(p, weights_only=w)\n"
    ),
    "partial binding False": (
        "import functools, torch\n"
        "load = functools.partial(torch.load, weights_only=False)\nload('m')\n"
    ),
    "from functools import partial": (
        "from functools import partial\nimport torch\npartial(torch.load, map_location='cpu')('m')\n"
    ),
    "getattr with a literal": "import torch\ngetattr(torch, 'load')('m')\n",
    "getattr with a constant name": "import torch\nNAME = 'load'\ngetattr(torch, NAME)('m')\n",
    "kwargs dict literal": "import torch\ntorch.load('m', **{'weights_only': False})\n",
    "kwargs dict() call": "import torch\nkw = dict(weights_only=False)\ntorch.load('m', **kw)\n",
    "a name bound to the function": "import torch\nloader = torch.load\nloader('m')\n",
    "a constant bound twice to different values": (
        "import torch\nW = True\nW = False\ntorch.load('m', weights_only=W)\n"
    ),
}

SAFE = {
    "weights_only=True": "import torch\ntorch.load('m.pt', weights_only=True)\n",
    "constant True": "import torch\nW = True\ntorch.load('m', weights_only=W)\n",
    "partial binding True": (
        "import functools, torch\nfunctools.partial(torch.load, weights_only=True)('m')\n"
    ),
    "kwargs dict True": "import torch\ntorch.load('m', **{'weights_only': True})\n",
    "a different load": "import json\njson.load(open('x'))\n",
    "a local function named load": "def load(p):\n    return p\nload('m')\n",
    "a method named load": "class A:\n    def load(self):\n        pass\nA().load()\n",
}


@pytest.mark.parametrize("source", VULNERABLE.values(), ids=VULNERABLE.keys())
def test_an_unsafe_torch_load_is_a_finding_however_it_is_named(source: str) -> None:
    assert rules_of(source) == ["MLS-LOAD-001"]


@pytest.mark.parametrize("source", SAFE.values(), ids=SAFE.keys())
def test_a_weights_only_torch_load_or_another_load_is_no_finding(source: str) -> None:
    assert rules_of(source) == []


def test_a_finding_carries_the_rule_catalogue_and_a_location_with_column() -> None:
    source = "import torch as t\n\nstate = t.load('m.pt', weights_only=False)\n"
    (finding,) = analyse_source(source, file="src/load.py").findings
    rule = RULES["MLS-LOAD-001"]
    assert finding.severity is Severity.HIGH
    assert finding.cwe == "CWE-502"
    assert finding.title == rule.title
    assert finding.remediation == rule.fix
    assert finding.category == "unsafe-loading"
    assert (finding.location.file, finding.location.line, finding.location.column) == (
        "src/load.py",
        3,
        9,
    )
    assert finding.location.cell is None
    assert "state = t.load('m.pt', weights_only=False)" in finding.evidence
    assert "torch.load resolved from 't.load'" in finding.evidence
    assert "weights_only=False" in finding.evidence


def test_the_evidence_names_the_constant_that_decided() -> None:
    source = "import torch\nWEIGHTS_ONLY = False\ntorch.load('m', weights_only=WEIGHTS_ONLY)\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert "weights_only=False (from WEIGHTS_ONLY)" in finding.evidence


def test_a_missing_weights_only_says_why_the_default_is_unsafe() -> None:
    (finding,) = analyse_source("import torch\ntorch.load('m')\n", file="a.py").findings
    assert "torch < 2.6" in finding.evidence
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in finding.evidence


def test_the_evidence_keeps_its_text_when_code_above_moves() -> None:
    source = "import torch\ntorch.load('m', weights_only=False)\n"
    moved = "import torch\n\n\n\n# a comment\ntorch.load('m', weights_only=False)\n"
    (before,) = analyse_source(source, file="a.py").findings
    (after,) = analyse_source(moved, file="a.py").findings
    assert before.location.line != after.location.line
    assert (before.title, before.evidence) == (after.title, after.evidence)
    assert "line" not in before.evidence


def test_a_column_counts_characters_not_utf8_bytes() -> None:
    source = "import torch\nnom = 'é€'; torch.load('m')\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.location.column == source.splitlines()[1].index("torch.load") + 1


def test_a_multi_line_call_is_quoted_on_one_line() -> None:
    source = "import torch\nstate = torch.load(\n    'm.pt',\n    weights_only=False,\n)\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert "state = torch.load( 'm.pt', weights_only=False, )" in finding.evidence


def test_a_long_line_is_quoted_with_an_ellipsis_and_control_characters_escaped() -> None:
    source = "import torch\ntorch.load('m' + '" + "x" * 300 + "\\x1b')\n"
    (finding,) = analyse_source(source, file="a.py").findings
    quote = finding.evidence.split("`")[1]
    assert quote.endswith("\u2026")
    assert len(quote) <= 160


def test_star_args_from_a_literal_count_as_positionals() -> None:
    unsafe = "import numpy as np\nnp.load('a.npy', *(None, True))\n"
    safe = "import numpy as np\nARGS = [None, False]\nnp.load('a.npy', *ARGS)\n"
    assert rules_of(unsafe) == ["MLS-LOAD-003"]
    assert rules_of(safe) == []


def test_a_star_import_brings_in_only_the_names_the_rules_know() -> None:
    assert rules_of("from torch import *\nfrom json import *\nload(f)\n") == ["MLS-LOAD-001"]
    assert rules_of("from json import *\nload(f)\n") == []


def test_a_partials_positionals_come_before_the_calls() -> None:
    source = "import functools, numpy\nf = functools.partial(numpy.load, 'a.npy', None)\nf(True)\n"
    assert rules_of(source) == ["MLS-LOAD-003"]


def merged_kwargs(first: str, copies: int, levels: int) -> str:
    """``k1 = {**k0, **k0, ...}``, ``k2 = {**k1, ...}``: each level merges the last ``copies``
    times, so a pass that expands every merge again does ``copies ** levels`` work."""
    lines = ["import torch", f"k0 = {first}"]
    for level in range(1, levels + 1):
        lines.append(f"k{level} = {{" + ", ".join([f"**k{level - 1}"] * copies) + "}")
    lines.append(f"torch.load('m.pt', **k{levels})")
    return "\n".join(lines) + "\n"


def test_kwargs_merged_from_each_other_many_times_are_judged_without_blowing_up() -> None:
    # 10 ** 11 expansions before the merges were memoised: the gate never finished.
    assert rules_of(merged_kwargs("{'weights_only': False}", 10, 11)) == ["MLS-LOAD-001"]
    assert rules_of(merged_kwargs("{'weights_only': True}", 10, 5)) == []


@pytest.mark.parametrize("separator", ["\x0c", "\u2028", "\x1c", "\x85"])
def test_the_quote_is_the_flagged_line_after_a_character_python_does_not_break_at(
    separator: str,
) -> None:
    # A ^L page break (or U+2028 in a comment) is no line break to Python: quoting from
    # str.splitlines showed `x = 1`, and the baseline's fingerprint bound that text instead.
    source = f"import torch\n# page{separator}break\nx = 1\nm = torch.load('evil.pt')\n"
    (finding,) = analyse_source(source, file="src/load.py").findings
    assert finding.location.line == 4
    assert finding.location.column == 5
    assert finding.evidence.startswith("`m = torch.load('evil.pt')`")


def test_nested_calls_spanning_a_long_file_quote_their_first_160_characters() -> None:
    # Each of the 50 calls spans the 20,000 lines below it: the quote reads only the lines it
    # keeps (joining every spanned line made such a file quadratic), and a suppression is
    # looked up among the lines that hold one.
    source = "import torch\n" + "torch.load(\n" * 50 + "'\x1b',\n" * 20_000 + ")\n" * 50
    analysis = analyse_source(source, file="a.py")
    assert analysis.error is None
    assert len(analysis.findings) == 50
    outer, inner = analysis.findings[0], analysis.findings[-1]
    assert outer.evidence.startswith("`" + "torch.load( " * 13 + "tor\u2026`")
    assert inner.evidence.startswith("`torch.load( '\\x1b', '\\x1b',")
    assert len(inner.evidence.split("`")[1]) == 160


def test_nested_calls_around_many_blank_lines_are_each_reported_with_a_digest() -> None:
    # Review R3: the digest of a clipped quote walked every spanned line in Python, and a blank
    # line counted nothing toward its bound: 150 nested calls around 1M blank lines (1 MB)
    # took 70 s. Now about a second: `python benchmarks/code_checks.py --pathological 3` times
    # it against ast.parse of the same source (speed is the benchmark's to measure).
    source = "import torch\nx = " + "torch.load(" * 150 + "'a'\n" + "\n" * 1_000_000 + ")" * 150
    analysis = analyse_source(source + "\n", file="a.py")
    assert analysis.error is None
    assert len(analysis.findings) == 150
    assert "(sha256 of the whole expression: " in analysis.findings[0].evidence
