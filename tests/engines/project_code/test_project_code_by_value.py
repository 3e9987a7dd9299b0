"""Review s26-R1: a loader handed along uncalled is judged where it is handed.

``DatasetFolder(root, loader=torch.load)``, ``map(pickle.loads, blobs)``, ``self.fn =
torch.load``, a default argument, a dict of loaders, a class attribute, a subclass of
``pickle.Unpickler``: whoever calls it later does so where the check cannot see the arguments,
so before these passed with no finding at all.
"""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines.project_code import analyse_source


def rules_of(source: str) -> list[str]:
    analysis = analyse_source(source, file="src/load.py")
    assert analysis.error is None, analysis.error
    return [f.rule for f in analysis.findings]


PASSED_ALONG = {
    "a keyword argument": (
        "import torch\nfrom torchvision.datasets import DatasetFolder\n"
        "ds = DatasetFolder('d', loader=torch.load, extensions=('.pt',))\n",
        ["MLS-LOAD-001"],
    ),
    "map over blobs": ("import pickle\nobjs = list(map(pickle.loads, blobs))\n", ["MLS-LOAD-002"]),
    "an attribute store": (
        "import torch\nclass C:\n    def __init__(self):\n        self.fn = torch.load\n"
        "    def go(self, p):\n        return self.fn(p)\n",
        ["MLS-LOAD-001"],
    ),
    "a class attribute": (
        "import torch\nclass C:\n    loader = torch.load\n    def go(self, p):\n"
        "        return self.loader(p)\n",
        ["MLS-LOAD-001"],
    ),
    "a default argument": (
        "import torch\ndef f(p, loader=torch.load):\n    return loader(p)\n",
        ["MLS-LOAD-001"],
    ),
    "a dict of loaders": (
        "import torch, pickle\nLOADERS = {'pt': torch.load, 'pkl': pickle.load}\n"
        "LOADERS['pt']('m')\n",
        ["MLS-LOAD-001", "MLS-LOAD-002"],
    ),
    "a name bound to the loader, passed along": (
        "import yaml\nload = yaml.unsafe_load\nresults = [*map(load, docs)]\n",
        ["MLS-LOAD-007"],
    ),
    "an unsafe partial passed along": (
        "import functools, torch\nrun(functools.partial(torch.load, weights_only=False))\n",
        ["MLS-LOAD-001"],
    ),
    "a getattr passed along": (
        "import pickle\nexecutor.map(getattr(pickle, 'loads'), blobs)\n",
        ["MLS-LOAD-002"],
    ),
    "a subclass of Unpickler": (
        "import pickle\nclass U(pickle.Unpickler):\n    pass\nU(f).load()\n",
        ["MLS-LOAD-002"],
    ),
    # Review R3: a list or tuple bound to one name was followed element by element, though no
    # call resolves through ``loaders[0]``: the loader was neither a value nor a call.
    "a list of loaders": (
        "import torch\nloaders = [torch.load]\nloaders[0]('m')\n",
        ["MLS-LOAD-001"],
    ),
    "a tuple holding a loader": (
        "import pickle\npair = (pickle.loads, 1)\npair[0](blob)\n",
        ["MLS-LOAD-002"],
    ),
    "a starred unpacking": (
        "import torch\nf, *rest = torch.load, 1, 2\nf('m')\n",
        ["MLS-LOAD-001"],
    ),
    "a tuple in a conditional": (
        "import torch\nf = (torch.load, 1) if c else x\nf[0]('m')\n",
        ["MLS-LOAD-001"],
    ),
    "an annotated tuple": (
        "import torch\nt: tuple = (torch.load,)\nt[0]('m')\n",
        ["MLS-LOAD-001"],
    ),
}


@pytest.mark.parametrize(("source", "rules"), PASSED_ALONG.values(), ids=PASSED_ALONG.keys())
def test_a_loader_passed_along_uncalled_is_a_finding(source: str, rules: list[str]) -> None:
    assert rules_of(source) == rules


NOT_PASSED_ALONG = {
    "a safe partial passed along": (
        "import functools, torch\nrun(functools.partial(torch.load, weights_only=True))\n"
    ),
    "a safe yaml partial passed along": (
        "import functools, yaml\nrun(functools.partial(yaml.load, Loader=yaml.SafeLoader))\n"
    ),
    "a safe loader passed along": "import json\nobjs = list(map(json.loads, blobs))\n",
    "numpy.load passed along (allow_pickle defaults to False)": (
        "import numpy as np\narrays = list(map(np.load, paths))\n"
    ),
    "an exception class of pickle": (
        "import pickle\ntry:\n    pass\nexcept pickle.UnpicklingError:\n    pass\n"
    ),
    "a tuple unpacked, the loader called safely": (
        "import torch\nf, g = torch.load, print\nf('m', weights_only=True)\n"
    ),
    "a name bound to a safe partial, then called": (
        "import functools, torch\nload = functools.partial(torch.load, weights_only=True)\n"
        "load('m')\n"
    ),
}


@pytest.mark.parametrize("source", NOT_PASSED_ALONG.values(), ids=NOT_PASSED_ALONG.keys())
def test_what_is_not_an_unsafe_loader_passed_along_is_no_finding(source: str) -> None:
    assert rules_of(source) == []


def test_one_finding_for_a_loader_bound_then_called() -> None:
    # ``load = torch.load`` is followed by the name pass: only the call is reported.
    assert rules_of("import torch\nload = torch.load\nload('m')\n") == ["MLS-LOAD-001"]


def test_the_evidence_says_the_loader_is_passed_as_a_value() -> None:
    analysis = analyse_source("import pickle\nobjs = map(pickle.loads, blobs)\n", file="a.py")
    (finding,) = analysis.findings
    assert "passed as a value" in finding.evidence
    assert (finding.location.line, finding.location.column) == (2, 12)


def test_a_suppression_on_the_line_accepts_it() -> None:
    source = (
        "import pickle\nobjs = map(pickle.loads, blobs)  # mlsupply: ignore[MLS-LOAD-002] -- ours\n"
    )
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.accepted is not None
