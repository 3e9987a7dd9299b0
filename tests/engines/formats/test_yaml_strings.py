"""YAML configs' string values go through the shared string analyser, as JSON documents do."""

from __future__ import annotations

import base64
from pathlib import Path

from pytest_mlsupply.engines.scanner import scan_file
from tests.corpus import system_call

ESCAPE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


def _scan(tmp_path: Path, name: str, text: str) -> list[tuple[str, str]]:
    path = tmp_path / name
    path.write_text(text)
    report = scan_file(path, name)
    assert not report.errors
    return [(f.rule, f.location.describe()) for f in report.findings]


def test_a_base64_pickle_in_a_yaml_value_is_scanned_with_its_key_path(tmp_path: Path) -> None:
    encoded = base64.b64encode(system_call(tmp_path / "canary")).decode()
    found = _scan(tmp_path, "hparams.yaml", f"model:\n  extras:\n    - blob: {encoded}\n")
    assert any(rule == "MLS-ENC-001" and "model.extras[0].blob" in where for rule, where in found)
    assert any(rule.startswith("MLS-PKL") for rule, _ in found)


def test_a_template_under_a_template_key_in_a_yaml_config_is_analysed(tmp_path: Path) -> None:
    text = f'prompts:\n  custom_chat_template: "{ESCAPE}"\n  named_templates:\n    - x\n'
    found = _scan(tmp_path, "config.yaml", text)
    assert any(r.startswith("MLS-TPL") and "custom_chat_template" in w for r, w in found)


def test_a_template_in_a_list_under_a_templates_key_is_analysed(tmp_path: Path) -> None:
    text = f'chat_templates:\n  - name: rag\n    template: "{ESCAPE}"\n'
    found = _scan(tmp_path, "config.yml", text)
    assert any(r.startswith("MLS-TPL") and "chat_templates[0].template" in w for r, w in found)


def test_plain_yaml_strings_produce_no_string_findings(tmp_path: Path) -> None:
    text = "optimizer:\n  name: adamw\n  lr: 0.001\nprompt_template: 'Answer: {{ question }}'\n"
    assert _scan(tmp_path, "config.yaml", text) == []
