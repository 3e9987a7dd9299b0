"""The gate's SARIF log (``--mlsupply-sarif``, ini ``mlsupply_sarif``, ``output.sarif``) and
``mlsupply scan --format sarif`` from a subdirectory: every result kind, placed in the repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main
from tests.conftest import build_project, write_pickle_payload
from tests.reports.sarif_checks import assert_github_accepts


def git_repository(root: Path) -> str:
    """``root`` as a git repository with one commit and a remote holding a token; its commit."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    git("remote", "add", "origin", "https://x-access-token:s3cret@github.com/acme/service.git")
    git("add", "-A")
    git("commit", "-q", "-m", "init")
    return git("rev-parse", "HEAD")


def artifact_uris(log: dict[str, Any]) -> set[str]:
    return {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in log["runs"][0]["results"]
        for loc in result["locations"]
        if "physicalLocation" in loc
    }


def test_the_gate_writes_sarif_for_every_result_kind_placed_from_the_repository_root(
    pytester: pytest.Pytester,
) -> None:
    service = pytester.path / "service"
    build_project(service)
    write_pickle_payload(service / "models" / "tiny" / "evil.pkl")
    (service / "requirements.txt").write_text("numpy==2.1.0\nsafetensors==0.4.5\nrequests>=2\n")
    commit = git_repository(pytester.path)
    result = pytester.runpytest(
        "--mlsupply",
        "--mlsupply-config",
        "service/mlsupply.yaml",
        "--mlsupply-sarif",
        "out/gate.sarif",
        "service/tests",
    )
    assert result.ret == 1  # the pickle fails the gate; the log is written anyway
    result.stdout.fnmatch_lines(["*wrote out/gate.sarif*"])
    log = json.loads((pytester.path / "out" / "gate.sarif").read_text())
    assert_github_accepts(log)
    run = log["runs"][0]
    checks = {r["properties"]["check"] for r in run["results"]}
    assert {"scan", "pinned"} <= checks  # an artifact's and a dependency's results
    uris = artifact_uris(log)
    assert "service/models/tiny/evil.pkl" in uris
    assert "service/requirements.txt" in uris
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": pytester.path.as_uri() + "/"}}
    # The token in the remote's URL never reaches a log uploaded to code scanning.
    assert run["versionControlProvenance"][0]["repositoryUri"] == (
        "https://github.com/acme/service.git"
    )
    assert run["versionControlProvenance"][0]["revisionId"] == commit
    assert "s3cret" not in (pytester.path / "out" / "gate.sarif").read_text()


def test_the_manifests_output_sarif_and_the_ini_option_choose_where_the_log_goes(
    pytester: pytest.Pytester,
) -> None:
    project = build_project(pytester.path)
    project.default_manifest(top="output: {sarif: release/gate.sarif}")
    assert pytester.runpytest("--mlsupply").ret == 0
    log = json.loads((pytester.path / "release" / "gate.sarif").read_text())
    assert_github_accepts(log)
    # A clean gate: no results, a successful invocation.
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True
    pytester.makeini("[pytest]\nmlsupply_sarif = ci/from-ini.sarif\n")
    assert pytester.runpytest("--mlsupply").ret == 0
    assert (pytester.path / "ci" / "from-ini.sarif").is_file()


def test_without_a_sarif_option_the_gate_writes_no_log(pytester: pytest.Pytester) -> None:
    build_project(pytester.path)
    result = pytester.runpytest("--mlsupply")
    assert result.ret == 0
    assert not list(pytester.path.rglob("*.sarif"))
    result.stdout.no_fnmatch_line("wrote *.sarif")


def test_a_scan_from_a_subdirectory_names_files_from_the_repository_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "project" / "models"
    models.mkdir(parents=True)
    write_pickle_payload(models / "x.pkl")
    commit = git_repository(tmp_path)
    monkeypatch.chdir(tmp_path / "project")
    assert main(["scan", "--format", "sarif", "models"]) == 1
    log = json.loads(capsys.readouterr().out)
    assert_github_accepts(log)
    assert artifact_uris(log) == {"project/models/x.pkl"}
    assert log["runs"][0]["versionControlProvenance"][0]["revisionId"] == commit
