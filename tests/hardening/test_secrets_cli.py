"""No secret in what ``mlsupply scan`` prints or caches.

A model directory whose path holds the value of ``HF_TOKEN`` (as a path made from a CI variable
would), with a pickle that imports ``os.system`` so there are findings naming it: each output
format, stderr and the content cache are searched for the token, and the marker must be there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlsupply.redaction import MARKER
from tests.conftest import write_pickle_payload
from tests.hardening.secrets_fixtures import Planted, leaks, written_files

ROOT = Path(__file__).resolve().parents[2]


def mlsupply(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_mlsupply.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("form", ["text", "json", "sarif"])
def test_mlsupply_scan_never_prints_or_caches_the_token(tmp_path: Path, form: str) -> None:
    secret = Planted()
    models = tmp_path / "models" / f"build-{secret.hf_token}"
    models.mkdir(parents=True)
    write_pickle_payload(models / "payload.pkl")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HF_TOKEN": secret.hf_token,
        "GITHUB_TOKEN": secret.ci_token,
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    cache = tmp_path / "cache"

    # JSON twice: the second run reads what the first cached (one form is enough for that).
    runs = [
        mlsupply(
            "scan", "models", "--format", form, "--cache-dir", str(cache), cwd=tmp_path, env=env
        )
        for _ in range(2 if form == "json" else 1)
    ]

    texts = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in written_files([cache])}
    for n, run in enumerate(runs):
        assert run.returncode == 1, run.stderr  # the pickle fails the scan
        texts[f"<stdout {n}>"], texts[f"<stderr {n}>"] = run.stdout, run.stderr
        assert f"build-{MARKER}".encode() in run.stdout
    assert [name for name in texts if not name.startswith("<")], "nothing was cached"
    assert leaks(secret, texts) == []
    assert runs[0].stdout == runs[-1].stdout


def test_a_crash_of_the_cli_prints_its_traceback_redacted_and_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_mlsupply import cli
    from pytest_mlsupply.redaction import forget_registered_secrets

    secret = Planted()
    monkeypatch.setenv("HF_TOKEN", secret.hf_token)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))

    # A file the scan cannot handle is not enough to crash it (it fails closed): this stands in
    # for a bug, raising where the scan starts with the token in its message.
    def crash(*args: object, **kwargs: object) -> int:
        raise RuntimeError(f"unexpected answer for token {secret.hf_token}")

    monkeypatch.setattr(cli, "run_scan", crash)
    try:
        status = cli.main(["scan", str(tmp_path), "--no-cache"])
    finally:
        forget_registered_secrets()

    err = capsys.readouterr().err
    assert status == cli.EXIT_ERROR
    assert secret.hf_token not in err
    assert f"RuntimeError: unexpected answer for token {MARKER}" in err
