"""Review R3: an attestation on disk signs the BOM beside it, or there is none."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_verify import run_gate


def test_a_gate_that_cannot_write_its_whole_set_leaves_no_attestation_of_another_bom(
    tmp_path: Path,
) -> None:
    gate = run_gate(tmp_path / "project", "ec")  # a passing gate, attested
    root = gate.root
    # The next run: the SARIF path is a folder (a misconfigured job): written after the BOM.
    (root / "build" / "sarif-is-a-folder").mkdir()
    (root / "models" / "tiny" / "model.safetensors").write_bytes(b"not the pinned weights")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--mlsupply",
            f"--mlsupply-attest={root / 'keys' / 'gate.key'}",
            "--mlsupply-sarif",
            "build/sarif-is-a-folder",
        ],
        cwd=root,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 6, done.stdout[-3000:]

    if gate.attestation.exists():
        envelope = json.loads(gate.attestation.read_text())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        signed = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
        on_disk = hashlib.sha256(gate.bom.read_bytes()).hexdigest()
        assert on_disk in signed.values(), (
            "the attestation signs a BOM that is not the one on disk (the previous, passing run's)"
        )
