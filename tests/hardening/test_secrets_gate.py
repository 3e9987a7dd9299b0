"""No secret in anything ``pytest --mlsupply`` writes or prints.

One gate run in a fresh process, with every report on, plants each kind of secret where a real
run meets it: ``HF_TOKEN`` in the environment (sent by huggingface_hub as a Bearer header to a
loopback "Hub" that rejects it and echoes the header back), a second token in huggingface_hub's
token file, an index URL with ``build:<password>@`` in the requirements file (the index is the
same echoing server), a CI token and a Slack webhook URL in the environment, and a user's test
that prints, logs and fails with all of them. Then every file under the project (reports,
junitxml, log file, CI step summary, the content cache, shared worker records) and the run's
stdout and stderr are searched for each value: none may appear, and the marker must.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from pytest_mlsupply.engines import dsse
from tests.attest_keys import write_keypair
from tests.conftest import Project
from tests.hardening.secrets_fixtures import EchoServer, Planted, leaks, written_files

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"

USER_TEST = """
import logging
import os
import pathlib

def test_a_users_test_that_prints_logs_and_fails_with_secrets():
    token = os.environ["HF_TOKEN"]
    requirements = pathlib.Path("requirements.txt").read_text()
    print("token in use:", token)
    print("webhook:", os.environ["SLACK_WEBHOOK_URL"])
    print("ci:", os.environ["GITHUB_TOKEN"])
    log = logging.getLogger("client")
    log.warning("sent Authorization: Basic dXNlcjpub3QtcmVnaXN0ZXJlZC1hbnl3aGVyZQ==")
    log.warning("token file holds %s", pathlib.Path(os.environ["HF_TOKEN_PATH"]).read_text())
    assert token == "a different token", f"requirements: {requirements}"
"""


@pytest.fixture
def planted(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Planted, list[Path]]:
    """The secrets, planted in the environment and in ``project``; also the input files the
    test wrote itself (which hold the secrets by design and are not searched)."""
    secret = Planted()
    token_file = tmp_path / "hf-token"
    token_file.write_text(secret.token_file + "\n")
    monkeypatch.setenv("HF_TOKEN", secret.hf_token)
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_file))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(project.root / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", secret.ci_token)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", secret.webhook_url)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.root / "out" / "step-summary.md"))
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", str(project.root / "mlsupply-cache"))
    (project.root / "out").mkdir()
    user_test = project.root / "tests" / "test_user_secrets.py"
    user_test.write_text(USER_TEST)
    inputs = [
        token_file,
        user_test,
        project.root / "requirements.txt",
        project.root / "mlsupply.yaml",
    ]
    return secret, inputs


def _gate_project(project: Project, secret: Planted, echo: EchoServer) -> None:
    host = echo.url.removeprefix("http://")
    (project.root / "requirements.txt").write_text(
        f"--index-url http://build:{secret.index_password}@{host}/simple\nnumpy==2.1.0\n"
    )
    pin = (project.model_dir / "model.safetensors").stat().st_size  # any pin: never reached
    project.manifest(
        f"""\
        version: 1
        project: {{name: tiny-service, version: 1.2.3}}
        models:
          - name: tiny
            path: models/tiny
            license: apache-2.0
          - name: remote
            source: hf://acme/echo@{HUB_COMMIT}
            files: {{model.safetensors: "sha256:{"0" * 63}{pin % 10}"}}
        requirements:
          - file: requirements.txt
        vulnerabilities: {{service: osv, url: "http://audit:{secret.osv_password}@{host}"}}
        """
    )


def test_no_planted_secret_reaches_any_file_or_stream_of_a_gate_run(
    pytester: pytest.Pytester,
    project: Project,
    planted: tuple[Planted, list[Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret, inputs = planted
    private, public = write_keypair(project.root / "keys", "gate")
    inputs += [private, public]
    with EchoServer() as echo:
        monkeypatch.setenv("HF_ENDPOINT", echo.url)
        _gate_project(project, secret, echo)
        out = project.root / "out"
        result = pytester.runpytest_subprocess(
            "--mlsupply",
            "-p",
            "no:randomly",
            "-rA",
            "-o",
            "junit_logging=all",
            "--log-cli-level=WARNING",
            "-o",
            "log_file=out/run.log",
            "-o",
            "log_file_level=DEBUG",
            f"--junitxml={out / 'junit.xml'}",
            f"--mlsupply-bom={out / 'bom.cdx.json'}",
            f"--mlsupply-bom-xml={out / 'bom.cdx.xml'}",
            f"--mlsupply-matrix={out / 'matrix'}",
            f"--mlsupply-sarif={out / 'mlsupply.sarif'}",
            f"--mlsupply-html={out / 'mlsupply.html'}",
            f"--mlsupply-attest={private}",
            f"--mlsupply-attest-output={out / 'gate.intoto.json'}",
        )
        sent = list(echo.authorizations)

    # The secrets really were in play: the Hub client sent the token, the OSV client its
    # password (as Basic credentials).
    assert any(secret.hf_token in auth for auth in sent), sent
    basic = base64.b64encode(f"audit:{secret.osv_password}".encode()).decode()
    assert f"Basic {basic}" in sent, sent
    host = echo.url.removeprefix("http://")
    stdout, stderr = "\n".join(result.outlines), "\n".join(result.errlines)
    assert "FAILED tests/test_user_secrets.py::test_a_users_test_that_prints_logs" in stdout
    files = list(written_files([project.root], inputs))
    names = {p.relative_to(project.root).as_posix() for p in files}
    for report in ("junit.xml", "bom.cdx.json", "bom.cdx.xml", "matrix.md", "matrix.json"):
        assert f"out/{report}" in names, sorted(names)
    for report in ("mlsupply.sarif", "mlsupply.html", "run.log", "step-summary.md"):
        assert f"out/{report}" in names, sorted(names)
    texts = {p.relative_to(project.root).as_posix(): p.read_bytes() for p in files}
    texts["<stdout>"], texts["<stderr>"] = stdout.encode(), stderr.encode()
    # The attestation's payload is base64: searched decoded, and it must still verify and
    # digest the BOM as written (redacted before signing and before digesting).
    verified = dsse.verify(
        dsse.read_envelope(texts["out/gate.intoto.json"], source="gate.intoto.json"),
        [dsse.load_public_key(public)],
        1,
    )
    envelope = json.loads(texts["out/gate.intoto.json"])
    texts["<attestation payload>"] = base64.b64decode(envelope["payload"])
    digests = {s.name: s.digests["sha256"] for s in verified.statement.subjects}
    assert digests["out/bom.cdx.json"] == hashlib.sha256(texts["out/bom.cdx.json"]).hexdigest()

    assert leaks(secret, texts) == []
    # Replaced, not dropped: the marker stands where each secret was.
    junit = texts["out/junit.xml"]
    assert b"token in use: ****" in junit  # captured stdout
    assert b"Authorization: Basic ****" in junit  # captured log: by the header's shape
    assert f"build:****@{echo.url.removeprefix('http://')}".encode() in junit  # failure text
    assert b"token in use: ****" in texts["<stdout>"]
    assert b"webhook: https://hooks.slack.com****" in texts["<stdout>"]
    assert b"token file holds ****" in texts["out/run.log"]
    # The Hub's error quotes the header it was sent: every report carries the error, redacted.
    for report in (
        "bom.cdx.json",
        "bom.cdx.xml",
        "matrix.md",
        "matrix.json",
        "mlsupply.sarif",
        "mlsupply.html",
        "step-summary.md",
    ):
        assert b"rejected request with Authorization: Bearer ****" in texts[f"out/{report}"]
    assert b"rejected request with Authorization: Bearer ****" in texts["<attestation payload>"]
    # The vulnerability service's error names its URL: with the credentials masked.
    for report in ("matrix.json", "matrix.md", "mlsupply.sarif", "mlsupply.html"):
        assert f"http://audit:****@{host}".encode() in texts[f"out/{report}"], report


def test_a_gate_under_xdist_keeps_secrets_out_of_junitxml_and_the_terminal(
    pytester: pytest.Pytester,
    project: Project,
    planted: tuple[Planted, list[Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret, inputs = planted
    with EchoServer() as echo:
        monkeypatch.setenv("HF_ENDPOINT", echo.url)
        _gate_project(project, secret, echo)
        out = project.root / "out"
        result = pytester.runpytest_subprocess(
            "--mlsupply",
            "-p",
            "no:randomly",
            "-n",
            "2",
            "-rA",
            "-o",
            "junit_logging=all",
            f"--junitxml={out / 'junit.xml'}",
        )
    texts = {
        p.relative_to(project.root).as_posix(): p.read_bytes()
        for p in written_files([project.root], inputs)
    }
    texts["<stdout>"] = "\n".join(result.outlines).encode()
    texts["<stderr>"] = "\n".join(result.errlines).encode()

    assert (
        "test_a_users_test_that_prints_logs_and_fails_with_secrets"
        in texts["out/junit.xml"].decode()
    )
    assert leaks(secret, texts) == []
    assert b"token in use: ****" in texts["out/junit.xml"]
    assert b"build:****@" in texts["<stdout>"]
