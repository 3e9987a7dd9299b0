"""The Python analyser: calls resolved through aliases and tricks, judged, with line numbers."""

from __future__ import annotations

import textwrap

import pytest

from pytest_mlsupply.engines.python_ast import CodeIssue, analyse_python, code_findings
from pytest_mlsupply.results import Location, Severity


def issues(source: str) -> list[CodeIssue]:
    return analyse_python(textwrap.dedent(source))


def found(source: str) -> dict[str, Severity]:
    """Rule → worst severity."""
    out: dict[str, Severity] = {}
    for issue in issues(source):
        out[issue.rule] = max(out.get(issue.rule, Severity.INFO), issue.severity)
    return out


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.system('id')",
        "import os as o\no.popen('id')",
        "from os import system as run\nrun('id')",
        "import subprocess\nsubprocess.check_output(['id'])",
        "import subprocess as sp\nsp.Popen('id', shell=True)",
        "from subprocess import run\nrun(['id'])",
        "__import__('os').system('id')",
        "import importlib\nimportlib.import_module('subprocess').run(['id'])",
        "import os\ngetattr(os, 'system')('id')",
        "import os\nvars(os)['system']('id')",
        "import pty\npty.spawn('/bin/sh')",
        "import os\nos.execv('/bin/sh', ['sh'])",
    ],
)
def test_running_commands_is_critical_through_any_alias(source: str) -> None:
    assert found(source).get("MLS-CODE-002") == Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))",
        "import zlib, base64\nexec(zlib.decompress(base64.b64decode(blob)))",
        "import codecs\neval(codecs.decode('cevag(1)', 'rot13'))",
        "import base64\ncode = base64.b64decode(blob)\nexec(code)",
        "exec(bytes.fromhex('7072696e74283129'))",
        "import marshal\nexec(marshal.loads(data))",
    ],
)
def test_executing_decoded_data_is_critical(source: str) -> None:
    assert found(source).get("MLS-CODE-001") == Severity.CRITICAL


def test_plain_exec_and_eval_are_high() -> None:
    assert found("exec(source)").get("MLS-CODE-003") == Severity.HIGH
    assert found("builtins = __builtins__\neval('1+1')").get("MLS-CODE-003") == Severity.HIGH
    assert found("__builtins__['exec'](code)").get("MLS-CODE-003") == Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import requests\nrequests.post('https://x.invalid', data=open('f').read())",
        "import urllib.request\nurllib.request.urlopen('http://x.invalid')",
        "from urllib.request import urlopen\nurlopen('http://x.invalid')",
        "import socket\nsocket.create_connection(('x.invalid', 80))",
        "import http.client\nhttp.client.HTTPSConnection('x.invalid')",
    ],
)
def test_network_access_is_high(source: str) -> None:
    assert found(source).get("MLS-CODE-004") == Severity.HIGH


def test_computed_dynamic_imports_are_high_and_literal_ones_are_not() -> None:
    assert found("__import__('o' + 's')").get("MLS-CODE-006") == Severity.HIGH
    assert found("import importlib\nimportlib.import_module(name)").get("MLS-CODE-006")
    assert "MLS-CODE-006" not in found("import importlib\nimportlib.import_module('json')")


def test_loading_a_module_from_a_file_path_is_high() -> None:
    source = "import importlib.util\nimportlib.util.spec_from_file_location('m', path)"
    assert found(source).get("MLS-CODE-006") == Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "open('x', 'w')",
        "open('x', mode='ab')",
        "from pathlib import Path\nPath('x').write_text('y')",
        "import shutil\nshutil.rmtree('cache')",
        "import os\nos.remove('x')",
        "import io\nio.open('x', 'w+')",
    ],
)
def test_file_writes_and_deletions_are_medium(source: str) -> None:
    assert found(source).get("MLS-CODE-005") == Severity.MEDIUM


def test_reading_files_is_not_a_write() -> None:
    assert "MLS-CODE-005" not in found("open('x')\nopen('x', 'rb')\nimport os\nos.path.join('a')")


@pytest.mark.parametrize(
    "source",
    [
        "import pickle\npickle.load(f)",
        "import torch\ntorch.load(path)",
        "import torch\ntorch.load(path, weights_only=False)",
        "import numpy as np\nnp.load(path, allow_pickle=True)",
        "import yaml\nyaml.load(text)",
        "import joblib\njoblib.load(path)",
    ],
)
def test_unsafe_deserialisation_in_model_code_is_high(source: str) -> None:
    assert found(source).get("MLS-CODE-007") == Severity.HIGH


def test_safe_loads_are_not_deserialisation_findings() -> None:
    source = (
        "import torch, yaml, numpy as np\n"
        "torch.load(p, weights_only=True)\nyaml.load(t, Loader=yaml.SafeLoader)\nnp.load(p)"
    )
    assert "MLS-CODE-007" not in found(source)


@pytest.mark.parametrize(
    "source",
    [
        "import builtins\nbuiltins.open = evil",
        "import builtins\nsetattr(builtins, 'print', evil)",
        "import sys\nsys.modules['torch'] = fake",
        "import sys\nsys.meta_path.insert(0, Finder())",
        "__builtins__.open = evil",
    ],
)
def test_tampering_with_builtins_or_imports_is_high(source: str) -> None:
    assert found(source).get("MLS-CODE-008") == Severity.HIGH


def test_long_encoded_blobs_are_medium() -> None:
    blob = "QUJD" * 100
    assert found(f"DATA = {blob!r}").get("MLS-CODE-009") == Severity.MEDIUM


def test_credential_paths_are_high() -> None:
    assert found("open(os.path.expanduser('~/.ssh/id_rsa'))").get("MLS-CODE-014") == Severity.HIGH


def test_imports_alone_are_informational_and_low_beside_other_findings() -> None:
    assert found("import os\nimport subprocess") == {"MLS-CODE-012": Severity.INFO}
    beside = found("import os\nimport subprocess\nopen('out.txt', 'w')")
    assert beside["MLS-CODE-012"] == Severity.LOW


def test_module_level_code_is_marked_as_running_at_import() -> None:
    [top, inside] = [
        i
        for i in issues("import os\nos.system('a')\ndef f():\n    os.system('b')\n")
        if i.rule == "MLS-CODE-002"
    ]
    assert "(runs at import)" in top.evidence
    assert top.line == 2
    assert "(runs at import)" not in inside.evidence
    assert inside.line == 4


def test_a_syntax_error_is_a_medium_finding_not_a_crash() -> None:
    [issue] = analyse_python("def broken(:\n    pass\n")
    assert (issue.rule, issue.severity, issue.line) == ("MLS-CODE-011", Severity.MEDIUM, 1)


def test_ordinary_modelling_code_has_nothing_above_low() -> None:
    from tests.corpus.hf_repo import _BENIGN_MODELING

    assert all(issue.severity <= Severity.LOW for issue in analyse_python(_BENIGN_MODELING))


def test_findings_carry_the_file_and_the_line() -> None:
    [finding] = code_findings("x = 1\nexec(y)\n", Location(file="modeling_x.py"))
    assert (finding.location.file, finding.location.line) == ("modeling_x.py", 2)
    assert finding.cwe == "CWE-95"


def test_compiling_native_extensions_is_high() -> None:
    source = "from torch.utils.cpp_extension import load\nkernel = load('k', ['k.cu'])"
    assert found(source).get("MLS-CODE-013") == Severity.HIGH


def test_fetching_code_from_another_repository_is_high() -> None:
    source = "import torch\ntorch.hub.load('org/repo', 'model')"
    assert found(source).get("MLS-CODE-006") == Severity.HIGH


def test_the_evidence_quotes_the_line_ast_numbers_whatever_a_string_holds() -> None:
    # str.splitlines would break at the form feed and U+2028 and quote the harmless comment.
    source = 'x = "a\x0cb\u2028c"  # harmless\nimport os\nos.system("id")\n'
    [issue] = [i for i in analyse_python(source) if "system" in i.evidence]
    assert issue.line == 3
    assert 'os.system("id")' in issue.evidence
    assert "harmless" not in issue.evidence
