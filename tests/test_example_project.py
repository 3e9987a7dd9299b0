"""The shipped example project passes the gate offline, and one dropped pickle fails it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"


def run_gate(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--mlsupply", "-p", "no:cacheprovider"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        # The example is judged on what it declares: this machine's own pip configuration
        # (an /etc/pip.conf with extra indexes) would add `confusion` warnings of its own.
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PIP_CONFIG_FILE": os.devnull},
    )


@pytest.fixture
def example(tmp_path: Path) -> Path:
    target = tmp_path / "example_project"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("build", "__pycache__"))
    return target


def test_the_example_project_passes_the_gate_offline(example: Path) -> None:
    result = run_gate(example)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 fail, 0 warn, 0 error, 0 not run" in result.stdout
    assert (example / "build" / "ml-bom.cdx.json").is_file()


def test_dropping_a_pickle_into_the_model_fails_the_gate_with_a_clear_finding(
    example: Path,
) -> None:
    (example / "models" / "sentiment" / "extra.bin").write_bytes(
        b"\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
    )
    result = run_gate(example)
    assert result.returncode == 1
    assert "artifact[sentiment/extra.bin::format]" in result.stdout
    assert "MLS-FMT-001 unsafe serialisation format: pickle" in result.stdout
