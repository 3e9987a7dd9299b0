"""R2 review: ``mlsupply verify ATTESTATION DIR`` prints the name of each file it found under DIR
(a model folder someone else filled). A name holding an ESC sequence and a line break cleared the
screen and forged an ``OK`` line; its end could conceal the ``NOT verified`` that follows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.attest_keys import write_keypair
from tests.conftest import Project

WORKTREE = Path(__file__).resolve().parents[2]
HOSTILE = "x\x1b[2J\x1b[H\nOK models\u2215tiny\u2215model.safetensors = sha256 ok\u202e\x1b[8m.bin"


def test_verify_prints_a_hostile_file_name_on_its_one_line_escaped(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.default_manifest()
    private, public = write_keypair(project.root / "keys", "gate")
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", str(project.root / "mlsupply-cache"))
    pytester.runpytest_subprocess(
        "--mlsupply",
        "-p",
        "no:randomly",
        f"--mlsupply-attest={private}",
        "--mlsupply-attest-output=build/gate.intoto.json",
    )
    hostile = project.root / "hostile"
    hostile.mkdir()
    (hostile / HOSTILE).write_bytes(b"abc")
    env = dict(os.environ, PYTHONPATH=str(WORKTREE))
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest_mlsupply.cli", "verify", "build/gate.intoto.json"),
            *("--key", str(public), "hostile"),
        ],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = run.stdout
    assert run.returncode != 0
    assert "signature: verified" in out, out + run.stderr
    for raw in ("\x1b", "\u202e"):
        assert raw not in out, repr(out)
    assert not [line for line in out.splitlines() if line.startswith("OK ")], out
    assert out.splitlines()[-1].startswith("NOT verified"), out
