"""The pre-commit hook definition (``.pre-commit-hooks.yaml``): valid, pointing at a command the
package installs, covering the model files the scanner knows, and failing a malicious file."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_mlsupply.cli import main
from pytest_mlsupply.engines.extensions import _WEIGHTS
from tests.conftest import write_model, write_pickle_payload

ROOT = Path(__file__).resolve().parents[1]


def the_hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    (hook,) = hooks
    assert isinstance(hook, dict)
    return hook


def test_the_hook_has_the_keys_pre_commit_requires_and_passes_file_names() -> None:
    hook = the_hook()
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["id"] == "mlsupply-scan"
    assert hook["language"] == "python"  # pre-commit installs this repository as a package
    assert hook["pass_filenames"] is True


def test_the_entry_is_a_console_script_the_package_installs() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    command, subcommand, *_ = shlex.split(the_hook()["entry"])
    assert command in scripts
    assert subcommand == "scan"


def test_the_file_pattern_covers_every_weights_extension_and_leaves_other_files_alone() -> None:
    pattern = re.compile(the_hook()["files"])
    for extension in sorted(_WEIGHTS):
        assert pattern.search(f"models/sentiment/model{extension}"), extension
    for other in ("README.md", "src/app.py", "models/sentiment/config.json", "data/x.csv"):
        assert not pattern.search(other), other


def run_entry(files: list[Path]) -> int:
    """The hook as pre-commit runs it: the entry's arguments, then the staged file names."""
    _, *args = shlex.split(the_hook()["entry"])
    return main([*args, *map(str, files)])


def test_the_entry_passes_a_clean_model_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = write_model(tmp_path / "models" / "tiny")
    assert run_entry([model / "model.safetensors"]) == 0


def test_the_entry_fails_a_malicious_pickle_among_clean_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    model = write_model(tmp_path / "models" / "tiny")
    evil = write_pickle_payload(tmp_path / "models" / "tiny" / "evil.pkl")
    assert run_entry([model / "model.safetensors", evil]) == 1
    assert "MLS-PKL-001" in capsys.readouterr().out
