"""Listing a model directory: every file a loader could read, in a stable order, with its pin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_mlsupply.sources.local import list_model_files


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def relpaths(root: Path, pins: dict[str, str] | None = None) -> list[str]:
    return [f.relpath for f in list_model_files("m", root, pins or {})]


def test_files_are_listed_sorted_by_their_relative_path(tmp_path: Path) -> None:
    for name in ("z.bin", "a.json", "M.txt", "b/x.bin", "a/y.bin"):
        touch(tmp_path / name)

    assert relpaths(tmp_path) == ["M.txt", "a.json", "a/y.bin", "b/x.bin", "z.bin"]


def test_hidden_files_are_listed(tmp_path: Path) -> None:
    touch(tmp_path / "model.safetensors")
    touch(tmp_path / ".payload.pkl")
    touch(tmp_path / ".hidden" / "inner.bin")

    assert relpaths(tmp_path) == [".hidden/inner.bin", ".payload.pkl", "model.safetensors"]


@pytest.mark.parametrize("skipped", [".git", ".cache", ".hg", ".svn"])
def test_bookkeeping_directories_are_skipped(tmp_path: Path, skipped: str) -> None:
    touch(tmp_path / "model.safetensors")
    touch(tmp_path / skipped / "objects" / "blob")

    assert relpaths(tmp_path) == ["model.safetensors"]


def test_compiled_python_in_pycache_is_listed_because_python_imports_it(tmp_path: Path) -> None:
    touch(tmp_path / "modeling_x.py")
    touch(tmp_path / "__pycache__" / "modeling_x.cpython-311.pyc")

    assert relpaths(tmp_path) == ["__pycache__/modeling_x.cpython-311.pyc", "modeling_x.py"]


def test_a_bookkeeping_name_is_skipped_only_as_a_directory(tmp_path: Path) -> None:
    touch(tmp_path / ".cache")

    assert relpaths(tmp_path) == [".cache"]


def test_nested_files_use_posix_relative_paths(tmp_path: Path) -> None:
    touch(tmp_path / "tokenizer" / "nested" / "vocab.txt")

    (file,) = list_model_files("m", tmp_path, {})

    assert file.relpath == "tokenizer/nested/vocab.txt"
    assert file.path == tmp_path / "tokenizer" / "nested" / "vocab.txt"
    assert file.subject == "m/tokenizer/nested/vocab.txt"


def test_a_file_carries_its_size_and_the_hex_digest_of_its_pin(tmp_path: Path) -> None:
    touch(tmp_path / "a.bin", b"12345")
    touch(tmp_path / "b.bin", b"1")

    a, b = list_model_files("m", tmp_path, {"a.bin": "sha256:" + "ab" * 32})

    assert (a.model, a.size, a.pinned_sha256) == ("m", 5, "ab" * 32)
    assert (b.size, b.pinned_sha256) == (1, None)


def test_a_pin_for_an_absent_file_lists_nothing_extra(tmp_path: Path) -> None:
    touch(tmp_path / "a.bin")

    assert relpaths(tmp_path, {"gone.bin": "sha256:" + "ab" * 32}) == ["a.bin"]


def test_a_symlink_is_listed_under_its_own_name_with_its_targets_size(tmp_path: Path) -> None:
    touch(tmp_path / "blobs" / "abc", b"123")
    (tmp_path / "model.bin").symlink_to("blobs/abc")

    files = {f.relpath: f for f in list_model_files("m", tmp_path, {})}

    assert sorted(files) == ["blobs/abc", "model.bin"]
    assert files["model.bin"].path == tmp_path / "model.bin"
    assert files["model.bin"].size == 3


def test_a_dangling_symlink_is_listed_with_size_zero(tmp_path: Path) -> None:
    (tmp_path / "model.bin").symlink_to(tmp_path / "nowhere")

    (file,) = list_model_files("m", tmp_path, {})

    assert (file.relpath, file.size) == ("model.bin", 0)


def test_a_symlinked_directory_is_walked_into(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside / "payload.pkl")
    root = tmp_path / "model"
    touch(root / "a.bin")
    os.symlink(outside, root / "linked", target_is_directory=True)

    # A loader reads through the link, so the files behind it are checked too.
    assert relpaths(root) == ["a.bin", "linked/payload.pkl"]


def test_a_symlink_cycle_is_walked_once(tmp_path: Path) -> None:
    touch(tmp_path / "a.bin")
    os.symlink(tmp_path, tmp_path / "loop", target_is_directory=True)

    assert relpaths(tmp_path) == ["a.bin"]


def test_a_real_directory_is_listed_even_when_a_symlink_to_it_sorts_first(
    tmp_path: Path,
) -> None:
    touch(tmp_path / "weights" / "model.bin")
    os.symlink(tmp_path / "weights", tmp_path / "alias", target_is_directory=True)

    assert "weights/model.bin" in relpaths(tmp_path)


def test_an_empty_directory_lists_no_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert list_model_files("m", tmp_path / "empty", {}) == ()


def test_a_directory_with_more_files_than_the_cap_is_refused_not_half_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply.sources import local

    monkeypatch.setattr(local, "MAX_FILES", 3)
    for i in range(5):
        (tmp_path / f"f{i}.bin").write_bytes(b"x")
    with pytest.raises(local.TooManyFiles, match="more than 3 files"):
        local.list_model_files("m", tmp_path, {})
