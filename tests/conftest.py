"""Shared fixtures: small, real projects built in code (safetensors weights, a card, pins)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings
from safetensors.numpy import save_file

# Every property test of the suite draws the same cases on every run (and keeps no example
# database): CI must not fail on a case it happened to draw this time. New cases are explored
# by `python benchmarks/fuzz.py`; what it finds becomes a regression test.
hypothesis_settings.register_profile("mlsupply-suite", derandomize=True, database=None)
hypothesis_settings.load_profile("mlsupply-suite")

# The suite writes its files a moment before it runs the gate over them twice: it trusts a
# file's identity once the clock-tick window has passed, not the kernel's dirty-page lifetime
# (80 s; see checks/content_store.py). tests/test_content_cache_mapped.py unsets it to test
# the real window. Set here, at import, so pytester's subprocesses inherit it.
os.environ.setdefault("MLSUPPLY_CACHE_SETTLE_SECONDS", "0.1")


CARD = """\
---
license: apache-2.0
base_model: google-bert/bert-base-uncased
datasets: [acme/reviews]
pipeline_tag: text-classification
model-index:
- name: tiny
  results:
  - task: {type: text-classification}
    dataset: {name: reviews, type: acme/reviews}
    metrics:
    - {type: accuracy, value: 0.91}
---
# tiny

## Intended use
Classifying the sentiment of short English product reviews.

## Limitations
English only; short texts.
"""


#: Settings that put package indexes in play for pip or uv (read by the ``confusion`` check).
INDEX_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "UV_FIND_LINKS",
    "UV_INDEX_STRATEGY",
)


@pytest.fixture(autouse=True)
def no_machine_pip_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees this machine's pip configuration (a PIP_FIND_LINKS in CI, a pip.conf with an
    extra index): the ``confusion`` check would report it on every dependency. Tests that are
    about pip configuration set their own."""
    for variable in INDEX_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


#: What marks a run as CI, to pytest (``CI``, ``BUILD_NUMBER``: its short summary then prints
#: whole multi-line messages instead of their first line) and to the build context (the CI run
#: URL and commit in the BOM, the step summary). Tests that are about CI set their own.
CI_VARIABLES = (
    "CI",
    "BUILD_NUMBER",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_SERVER_URL",
    "GITLAB_CI",
    "CI_PROJECT_URL",
    "CI_COMMIT_SHA",
    "CI_JOB_URL",
)


@pytest.fixture(autouse=True)
def not_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the same pytest and build context on a laptop and in CI: a test that
    counts how often a finding is printed must not see CI's untruncated short summary."""
    for variable in CI_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


_connect = socket.socket.connect


def _loopback_only(sock: socket.socket, address: Any) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")):
        raise ConnectionRefusedError(f"tests do not touch the internet (connect to {address!r})")
    _connect(sock, address)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches past loopback: a manifest without `vulnerabilities:` audits against the
    PyPI service by default, and a test that declares requirements for another purpose must
    see that service fail (an error cell), not ask pypi.org. Loopback servers still work."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model(directory: Path, *, seed: int = 0) -> Path:
    """A tiny but real model directory: safetensors weights, config.json and a model card."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    save_file(
        {
            "embeddings.weight": rng.standard_normal((16, 4)).astype(np.float32),
            "classifier.weight": rng.standard_normal((2, 4)).astype(np.float32),
            "classifier.bias": np.zeros(2, dtype=np.float32),
        },
        str(directory / "model.safetensors"),
        metadata={"format": "pt"},
    )
    (directory / "config.json").write_text(
        json.dumps({"architectures": ["TinyClassifier"], "model_type": "bert", "hidden_size": 4})
    )
    (directory / "README.md").write_text(CARD)
    return directory


@dataclass
class Project:
    """A user's project on disk: a model, requirements, a manifest and a passing user test."""

    root: Path

    @property
    def model_dir(self) -> Path:
        return self.root / "models" / "tiny"

    def manifest(self, text: str) -> Path:
        path = self.root / "mlsupply.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def default_manifest(self, extra_model_keys: str = "", top: str = "") -> Path:
        pin = sha256_of(self.model_dir / "model.safetensors")
        return self.manifest(
            f"""\
            version: 1
            project: {{name: tiny-service, version: 1.2.3}}
            models:
              - name: tiny
                path: models/tiny
                license: apache-2.0
                files:
                  model.safetensors: "sha256:{pin}"
                card:
                  require: [license, base_model, intended_use, limitations, evaluation]
            {extra_model_keys}
            requirements:
              - file: requirements.txt
            vulnerabilities: {{service: offline, path: osv}}
            {top}
            """
        )


def write_osv_snapshot(directory: Path) -> Path:
    """An offline vulnerability snapshot that affects none of the project's pins (a real torch
    advisory), so projects audit offline: no test asks PyPI or OSV."""
    from tests.vulns.records import TORCH_WEIGHTS_ONLY

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "GHSA-53q9-r3pm-6pq6.json").write_text(json.dumps(TORCH_WEIGHTS_ONLY))
    return directory


def build_project(root: Path) -> Project:
    project = Project(root)
    write_model(project.model_dir)
    (root / "requirements.txt").write_text("numpy==2.1.0\nsafetensors==0.4.5\n")
    write_osv_snapshot(root / "osv")
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_user.py").write_text("def test_users_own_test():\n    assert True\n")
    project.default_manifest()
    return project


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A passing project inside pytester's temporary directory."""
    return build_project(pytester.path)


def comparable_matrix(path: Path) -> dict[str, Any]:
    """A matrix JSON without what differs between two runs of the same gate: the time it was
    made and the serial number of the BOM beside it."""
    matrix: dict[str, Any] = json.loads(path.read_text())
    matrix["metadata"].pop("timestamp")
    matrix["metadata"].pop("bom_serial_number")
    return matrix


def write_pickle_payload(path: Path) -> Path:
    """A pickle that would import os.system when loaded. Built by hand; never loaded here."""
    # PROTO 2, GLOBAL 'os system', SHORT_BINUNICODE 'true', TUPLE1, REDUCE, STOP
    path.write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.")
    return path


def build_hub_cache(
    cache: Path, repo_id: str, commit: str, files: dict[str, bytes], *, repo_type: str = "model"
) -> Path:
    """The layout huggingface_hub writes: content-addressed blobs, refs, snapshot symlinks."""
    org, name = repo_id.split("/")
    repo = cache / f"{repo_type}s--{org}--{name}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for rel, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / digest).write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        up = "/".join([".."] * (len(Path(rel).parts) + 1))
        link.symlink_to(f"{up}/blobs/{digest}")
    return snapshot


def write_data_pickle(path: Path) -> Path:
    """A pickle of plain data: nothing to import or call, yet still a pickle-based format."""
    path.write_bytes(b"\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.")
    return path


#: Set by CI (.ci/run): a cross-check that cannot run for want of its library fails the run.
REQUIRE_OPTIONAL = "MLSUPPLY_REQUIRE_OPTIONAL"


def require(module: str) -> None:
    """Skip the running test when ``module`` is missing, or fail it where CI requires it."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package ("google" of google.protobuf)
        found = False
    if found:
        return
    unavailable(
        f"{module} is not installed, so this cross-check against the real library cannot run"
    )


def unavailable(message: str) -> NoReturn:
    """Skip the running test for want of an optional tool, or fail it where CI requires it."""
    if os.environ.get(REQUIRE_OPTIONAL):
        pytest.fail(f"{message}; {REQUIRE_OPTIONAL} is set (CI installs it: see .ci/run)")
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        for module in marker.args:
            require(module)
