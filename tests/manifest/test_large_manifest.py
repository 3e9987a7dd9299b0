"""A large manifest (thousands of models, tens of thousands of pins) loads with the right content
and exact positions, deep into the file. Correctness only: the time is in
benchmarks/big_manifest.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import parse_manifest

MODELS = 1_200
FILES = 8


def _commit(i: int) -> str:
    return hashlib.sha1(f"commit-{i}".encode()).hexdigest()


def _digest(i: int, j: int) -> str:
    return hashlib.sha256(f"{i}/{j}".encode()).hexdigest()


def _big_manifest() -> str:
    lines = ["version: 1", "models:"]
    for i in range(MODELS):
        lines += [
            f"  - name: model-{i:05d}",
            f"    source: hf://acme/model-{i:05d}@{_commit(i)}",
            "    files:",
        ]
        lines += [f'      shard-{j}.safetensors: "sha256:{_digest(i, j)}"' for j in range(FILES)]
    return "\n".join(lines) + "\n"


#: Lines per model entry, and the line of model i's ``- name:`` (1-based).
PER_MODEL = 3 + FILES


def _model_line(i: int) -> int:
    return 3 + i * PER_MODEL


def test_a_manifest_of_over_a_thousand_models_loads_every_model_and_pin(tmp_path: Path) -> None:
    text = _big_manifest()
    assert len(text) > 1_000_000

    manifest = parse_manifest(text, tmp_path / "mlsupply.yaml")

    assert [m.name for m in manifest.models] == [f"model-{i:05d}" for i in range(MODELS)]
    last = manifest.models[-1]
    assert last.source is not None
    assert last.source.revision == _commit(MODELS - 1)
    assert last.files == {
        f"shard-{j}.safetensors": f"sha256:{_digest(MODELS - 1, j)}" for j in range(FILES)
    }
    assert sum(len(m.files) for m in manifest.models) == MODELS * FILES
    # Spans stay exact deep into the file (the C composer's marks, not only the first lines).
    assert (last.span.line, last.span.column) == (_model_line(MODELS - 1), 5)


def test_a_bad_pin_deep_in_a_large_manifest_is_reported_at_its_line_and_column(
    tmp_path: Path,
) -> None:
    bad = 1_189
    target = f'shard-3.safetensors: "sha256:{_digest(bad, 3)}"'
    text = _big_manifest().replace(target, 'shard-3.safetensors: "md5:abc"')

    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, tmp_path / "mlsupply.yaml")

    [problem] = caught.value.problems
    assert problem.key_path == f"models[{bad}].files.shard-3.safetensors"
    assert (problem.line, problem.column) == (_model_line(bad) + 3 + 3, 28)
