"""In-toto statements (SLSA provenance) and DSSE envelopes built in the test, with test keys.

Every statement is cross-checked with the in-toto attestation project's own protobuf bindings
(``Statement.validate()``, and SLSA v1's ``Provenance`` message for the predicate), so the tests
feed the check statements another implementation accepts, not only ones our reader does.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

from pytest_mlsupply.engines import dsse
from tests.signing import write_key

SLSA_V1 = "https://slsa.dev/provenance/v1"
BUILDER = "https://github.com/actions/runner/github-hosted"
BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
REPOSITORY = "https://github.com/acme/tiny-model"
COMMIT = "9e1c0d4b7a2f3e5d6c8b9a0f1e2d3c4b5a697887"


def private_key(kind: str) -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def make_keys(directory: Path, *names: str, kind: str = "ec") -> dict[str, tuple[Path, Path]]:
    """name → (private PEM, public PEM), each a fresh key of ``kind`` (ec, rsa, ed25519)."""
    return {name: write_key(directory, name, private_key(kind)) for name in names}


def file_subjects(model_dir: Path, *, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One sha256 subject per file of the model directory (attestations excluded)."""
    return [
        {"name": path.relative_to(model_dir).as_posix(), "digest": {"sha256": sha256_of(path)}}
        for path in sorted(model_dir.rglob("*"))
        if path.is_file()
        and ".intoto." not in path.name
        and path.relative_to(model_dir).as_posix() not in skip
    ]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def slsa_v1(
    *,
    builder: str | None = BUILDER,
    repository: str | None = REPOSITORY,
    commit: str = COMMIT,
) -> dict[str, Any]:
    """A SLSA v1 provenance predicate as GitHub Actions' build type writes it."""
    external: dict[str, Any] = {}
    dependencies: list[dict[str, Any]] = []
    if repository is not None:
        external["workflow"] = {
            "ref": "refs/heads/main",
            "repository": repository,
            "path": ".github/workflows/train.yml",
        }
        dependencies.append(
            {"uri": f"git+{repository}@refs/heads/main", "digest": {"gitCommit": commit}}
        )
    run_details: dict[str, Any] = {
        "metadata": {"invocationId": "https://github.com/acme/tiny-model/actions/runs/1/attempts/1"}
    }
    if builder is not None:
        run_details["builder"] = {"id": builder}
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {"github": {"event_name": "push"}},
            "resolvedDependencies": dependencies,
        },
        "runDetails": run_details,
    }


def statement(
    subjects: list[dict[str, Any]],
    predicate: dict[str, Any] | None = None,
    predicate_type: str = SLSA_V1,
) -> dict[str, Any]:
    document = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": slsa_v1() if predicate is None else predicate,
    }
    # The in-toto project's own validation: what we sign is a statement, not our idea of one.
    Statement.copy_from_pb(json_format.ParseDict(document, statement_pb2.Statement())).validate()
    if predicate_type == SLSA_V1:
        json_format.ParseDict(document["predicate"], provenance_pb2.Provenance())
    return document


def envelope(document: dict[str, Any], *private_keys: Path) -> bytes:
    """A DSSE envelope (one JSON line) over ``document``, signed by every key."""
    signed = dsse.sign_statement(document, [dsse.load_signer(key) for key in private_keys])
    return json.dumps(json.loads(signed), separators=(",", ":")).encode()
