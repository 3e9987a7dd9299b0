"""The manifest's `internal:` list, `policy.require_hashes` and `requirements[].pylock`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.manifest.errors import ManifestError, Problem
from pytest_mlsupply.manifest.loader import parse_manifest
from pytest_mlsupply.manifest.model import InternalDecl

INDEX = "https://pypi.acme.internal/simple"


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, tmp_path / "mlsupply.yaml")
    return info.value.problems


def test_internal_entries_are_read_with_canonical_names_and_globs(tmp_path: Path) -> None:
    manifest = parse_manifest(
        "version: 1\ninternal:\n"
        f"  - {{index: {INDEX}, packages: [Acme_Models, 'acme-*']}}\n"
        "  - {index: 'https://pypi.lab.internal/simple', packages: [lab-tok]}\n",
        tmp_path / "mlsupply.yaml",
    )

    first, second = manifest.internal
    assert (first.index, first.packages) == (INDEX, ("acme-models", "acme-*"))
    assert isinstance(second, InternalDecl)
    assert second.packages == ("lab-tok",)
    assert first.span.line == 3


@pytest.mark.parametrize(
    ("entry", "key_path", "message"),
    [
        ("{packages: [acme]}", "internal[0].index", "missing `index:`"),
        (f"{{index: {INDEX}}}", "internal[0].packages", "missing `packages:`"),
        ("{index: pypi.acme.internal, packages: [acme]}", "internal[0].index", "not an index URL"),
        (
            f"{{index: {INDEX}, packages: ['acme models']}}",
            "internal[0].packages[0]",
            "not a project name",
        ),
        (f"{{index: {INDEX}, pakages: [acme]}}", "internal[0].pakages", "unknown key 'pakages'"),
    ],
)
def test_a_bad_internal_entry_is_named_with_its_key_and_a_fix(
    tmp_path: Path, entry: str, key_path: str, message: str
) -> None:
    found = problems(tmp_path, f"version: 1\ninternal:\n  - {entry}\n")

    (problem,) = [p for p in found if p.key_path == key_path]
    assert message in problem.message
    assert problem.fix
    assert problem.line == 3


def test_a_package_declared_internal_to_two_indexes_is_rejected(tmp_path: Path) -> None:
    (problem,) = problems(
        tmp_path,
        f"version: 1\ninternal:\n  - {{index: {INDEX}, packages: [acme]}}\n"
        "  - {index: 'https://other.internal/simple', packages: [Acme]}\n",
    )

    assert problem.key_path == "internal[1].packages[0]"
    assert f"already declared internal to {INDEX}" in problem.message


def test_require_hashes_defaults_to_false_and_reads_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "mlsupply.yaml"
    assert parse_manifest("version: 1\n", path).policy.require_hashes is False
    on = parse_manifest("version: 1\npolicy: {require_hashes: true}\n", path)
    assert on.policy.require_hashes is True
    (problem,) = problems(tmp_path, "version: 1\npolicy: {require_hashes: sometimes}\n")
    assert problem.key_path == "policy.require_hashes"


def test_a_pylock_requirement_names_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\n')
    manifest = parse_manifest(
        "version: 1\nrequirements: [{pylock: pylock.toml}]\n", tmp_path / "mlsupply.yaml"
    )
    (decl,) = manifest.requirements
    assert (decl.kind, decl.path) == ("pylock", (tmp_path / "pylock.toml").resolve())

    (problem,) = problems(tmp_path, "version: 1\nrequirements: [{pylock: gone.toml}]\n")
    assert problem.key_path == "requirements[0].pylock"
    assert "does not exist" in problem.message
