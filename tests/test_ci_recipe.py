"""The CI recipe in docs/ci.md works when copied: its workflow's ``run:`` steps, run in order as
a script against a copy of this repository's example project, install the plugin, pass the gate
and leave every file the later steps upload (BOM, matrix, SARIF) and the job summary.

Offline by construction, with one substitution, made here and nowhere else: the install step's
pinned release (``"pytest-mlsupply==X.Y.Z"``) becomes this checkout, installed with
``--no-index --no-deps --no-build-isolation`` into a fresh virtual environment that sees the
test environment's packages (a ``.pth`` file adds its site-packages), so nothing is downloaded
and the code under test is the checkout's. ``uses:`` steps (checkout, setup-python, uploads) are
GitHub's to run: the test stands in for the first two and checks the inputs of the others.
The run is a branch push: the release step's ``if: startsWith(github.ref, 'refs/tags/')`` skips
it, as Actions would; its files are checked all the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_mlsupply import __version__
from tests.reports.sarif_checks import assert_github_accepts

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "ci.md"
_PINNED = re.compile(r'"pytest-mlsupply==([^"]+)"')
_USES = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@(\S+)(?:\s+#\s*(\S+))?\s*$")
_TAG_ONLY = "startsWith(github.ref, 'refs/tags/')"


def recipe_text() -> str:
    """The first ``yaml`` block of the GitHub Actions section: the workflow."""
    section = RECIPE.read_text(encoding="utf-8").split("## GitHub Actions", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/ci.md: no ```yaml block under ## GitHub Actions"
    return match.group(1)


def gate_job() -> dict[str, Any]:
    workflow = yaml.safe_load(recipe_text())
    job: dict[str, Any] = workflow["jobs"]["gate"]
    return job


def test_every_action_is_pinned_by_commit_with_its_version_in_a_comment() -> None:
    pins = [_USES.match(line) for line in recipe_text().splitlines() if "uses:" in line]
    assert len(pins) == 4
    for pin in pins:
        assert pin is not None
        action, ref, version = pin.groups()
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action}@{ref} is not a commit"
        assert version is not None
        assert re.fullmatch(r"v\d+\.\d+\.\d+", version), f"{action}: version comment {version}"
    names = {pin.group(1) for pin in pins if pin is not None}
    assert names == {
        "actions/checkout",
        "actions/setup-python",
        "github/codeql-action/upload-sarif",
        "actions/upload-artifact",
    }


def test_the_recipe_installs_the_current_release_and_may_upload_sarif() -> None:
    assert _PINNED.findall(recipe_text()) == [__version__]
    assert gate_job()["permissions"]["security-events"] == "write"


def make_venv(where: Path) -> Path:
    """A fresh virtual environment whose interpreter also sees this one's packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    purelib = Path(sysconfig.get_paths()["purelib"])
    (site_packages,) = where.glob("lib/python*/site-packages")
    # addsitedir, not a bare path: the shared site's own .pth files (editable installs) count.
    (site_packages / "_shared_site.pth").write_text(
        f"import site; site.addsitedir({str(purelib)!r})\n"
    )
    return where / "bin"


def offline(script: str) -> str:
    """The install step with this checkout for the pinned release (see the module docstring)."""
    replaced, count = _PINNED.subn(f'"{ROOT}"', script)
    assert count == 1
    return replaced.replace(
        "pip install", "pip install --no-index --no-deps --no-build-isolation --quiet", 1
    )


def upload_inputs(steps: list[dict[str, Any]]) -> list[str]:
    """The files the later steps read: the SARIF to upload, the artifact, the release asset."""
    files: list[str] = []
    for step in steps:
        inputs = step.get("with", {})
        if "sarif_file" in inputs:
            files.append(inputs["sarif_file"])
        if "path" in inputs:
            files += [line.strip() for line in inputs["path"].splitlines() if line.strip()]
        if "gh release upload" in step.get("run", ""):
            files += re.findall(r"\bbuild/\S+", step["run"])
    return files


@pytest.mark.skipif(shutil.which("git") is None, reason="the recipe runs in a git checkout")
def test_the_recipes_run_steps_pass_the_gate_and_leave_what_the_later_steps_upload(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT / "example_project",
        repo,
        ignore=shutil.ignore_patterns("build", ".pytest_cache", "__pycache__"),
    )
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
        subprocess.run(
            ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
            cwd=repo,
            check=True,
        )
    bin_dir = make_venv(tmp_path / "venv")
    summary = tmp_path / "step-summary.md"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS")
        and not key.startswith("PYTEST_XDIST")
    }
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(bin_dir.parent),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/sentiment-service",
        "GITHUB_RUN_ID": "42",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    steps: list[dict[str, Any]] = gate_job()["steps"]
    ran = []
    for step in steps:
        if "run" not in step:
            continue
        condition = step.get("if", "")
        if condition == _TAG_ONLY:
            continue  # a branch push
        assert condition in ("", "always()"), f"the test does not know the condition {condition!r}"
        script = offline(step["run"]) if _PINNED.search(step["run"]) else step["run"]
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=repo,
            env=env | step.get("env", {}),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"step {step['name']!r}:\n{done.stdout}\n{done.stderr}"
        ran.append(step["name"])
    assert ran == ["Install", "Supply-chain gate"]
    # The gate ran the checkout's code, installed in the fresh environment, not the test's.
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import pytest_mlsupply; print(pytest_mlsupply.__file__)"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv")
    for name in upload_inputs(steps):
        assert (repo / name).is_file(), f"a later step uploads {name}; the gate did not write it"
    log = json.loads((repo / "build" / "mlsupply.sarif").read_text())
    assert_github_accepts(log)
    assert (
        log["runs"][0]["versionControlProvenance"][0]["revisionId"]
        == subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    assert summary.read_text().startswith("✅ supply-chain gate passed: ")
