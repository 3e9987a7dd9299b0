"""Review s26-R1: false negatives found and NOT fixed (strict xfail: each flips when fixed)."""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines.project_code import analyse_source


def rules_of(source: str) -> list[str]:
    analysis = analyse_source(source, file="src/load.py")
    assert analysis.error is None, analysis.error
    return [f.rule for f in analysis.findings]


GAPS = {
    "operator.attrgetter": (
        "import operator, torch\noperator.attrgetter('load')(torch)('m')\n",
        "MLS-LOAD-001",
    ),
    "vars(module)[name]": ("import torch\nvars(torch)['load']('m')\n", "MLS-LOAD-001"),
    "partial(...).func": (
        "import functools, torch\np = functools.partial(torch.load, weights_only=True)\n"
        "p.func('m')\n",
        "MLS-LOAD-001",
    ),
    "a safe loader class monkeypatched to the unsafe one": (
        "import yaml\nyaml.SafeLoader = yaml.UnsafeLoader\nyaml.load(s, Loader=yaml.SafeLoader)\n",
        "MLS-LOAD-007",
    ),
    "keras safe_mode from a parameter": (
        "import keras\ndef f(s):\n    return keras.models.load_model('m', safe_mode=s)\n",
        "MLS-LOAD-006",
    ),
    "keras safe_mode from opaque kwargs": (
        "import keras\ndef f(**o):\n    return keras.models.load_model('m', **o)\n",
        "MLS-LOAD-006",
    ),
    "trust_remote_code positional in pipeline (15th parameter)": (
        "from transformers import pipeline\npipeline('t', 'org/m', None, None, None, None, None,"
        " None, '0123456789abcdef0123456789abcdef01234567', True, None, None, None, None, True)\n",
        "MLS-LOAD-005",
    ),
    "load_dataset of a packaged builder reading hf:// files": (
        "from datasets import load_dataset\n"
        "load_dataset('json', data_files='hf://datasets/org/x/a.json')\n",
        "MLS-LOAD-004",
    ),
    "verify=0 (falsy, requests turns verification off)": (
        "import requests\nrequests.get(u, verify=0)\n",
        "MLS-LOAD-010",
    ),
}


@pytest.mark.xfail(strict=True, reason="known gap, review s26-R1")
@pytest.mark.parametrize(("source", "rule"), GAPS.values(), ids=GAPS.keys())
def test_known_gap(source: str, rule: str) -> None:
    assert rule in rules_of(source)
