"""Text files: templates and Python code by name; everything else left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding
from tests.corpus.templates import QWEN25


def scan(tmp_path: Path, name: str, text: str) -> list[Finding]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    report = scan_file(path, name)
    assert report.errors == []
    return report.findings


@pytest.mark.parametrize(
    "name", ["chat_template.jinja", "additional_chat_templates/tool_use.jinja", "t.j2"]
)
def test_template_files_are_analysed(tmp_path: Path, name: str) -> None:
    [finding] = scan(tmp_path, name, QWEN25 + "{{ lipsum.__globals__ }}")
    assert finding.rule == "MLS-TPL-001"
    assert finding.location.file == name
    assert finding.location.line == QWEN25.count("\n") + 1


def test_a_real_template_file_is_clean(tmp_path: Path) -> None:
    assert scan(tmp_path, "chat_template.jinja", QWEN25) == []


def test_python_files_are_analysed(tmp_path: Path) -> None:
    findings = scan(tmp_path, "modeling_x.py", "import subprocess\nsubprocess.run(['id'])\n")
    assert "MLS-CODE-002" in {f.rule for f in findings}


def test_requirements_and_readmes_are_ignored(tmp_path: Path) -> None:
    assert scan(tmp_path, "requirements.txt", "numpy>=1.26\n{{ x.__class__ }}\n") == []
    assert scan(tmp_path, "README.md", "# model\n") == []


def test_a_config_named_file_that_is_not_json_is_a_finding(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "tokenizer_config.json", "chat_template: oops\n")
    assert finding.rule == "MLS-CFG-005"
