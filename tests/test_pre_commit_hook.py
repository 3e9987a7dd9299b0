"""The pre-commit hook definitions (``.pre-commit-hooks.yaml``): valid, pointing at a command the
package installs, covering the model files the scanner knows (and the Python files and notebooks
the code checks read), and failing a malicious file (or unsafe loading code)."""

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


def the_hook(hook_id: str = "mlsupply-scan") -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    (hook,) = [h for h in hooks if h["id"] == hook_id]
    assert isinstance(hook, dict)
    return hook


def test_the_file_holds_the_scan_and_the_code_hooks_once_each() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["mlsupply-scan", "mlsupply-code"]


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


def run_entry(files: list[Path], hook_id: str = "mlsupply-scan") -> int:
    """The hook as pre-commit runs it: the entry's arguments, then the staged file names."""
    _, *args = shlex.split(the_hook(hook_id)["entry"])
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


def test_the_code_hook_runs_mlsupply_code_on_python_files_and_notebooks() -> None:
    hook = the_hook("mlsupply-code")
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    # pre-commit's identify tags: .py files (and scripts with a python shebang) and .ipynb.
    assert hook["types_or"] == ["python", "jupyter"]
    assert "files" not in hook  # the types choose the files, not an extension list to rot
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    command, subcommand, *_ = shlex.split(hook["entry"])
    assert command in scripts
    assert subcommand == "code"


def test_the_code_hook_fails_unsafe_loading_among_safe_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    safe = tmp_path / "safe.py"
    safe.write_text("import torch\nstate = torch.load('w.pt', weights_only=True)\n")
    unsafe = tmp_path / "src" / "load.py"
    unsafe.parent.mkdir()
    unsafe.write_text("import torch\nstate = torch.load('w.pt')\n")
    assert run_entry([safe], "mlsupply-code") == 0
    capsys.readouterr()
    assert run_entry([safe, unsafe], "mlsupply-code") == 1
    out = capsys.readouterr().out
    assert "src/load.py:2:9: [HIGH] MLS-LOAD-001" in out


def test_the_code_hook_never_passes_a_file_it_cannot_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    assert run_entry([broken], "mlsupply-code") == 2
