"""The content cache: one read of a file's bytes per process, and a fresh read after a change."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.checks import hashing
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.engines import sniff

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path the hasher opened while the test runs (each open is one read of its bytes)."""
    paths: list[Path] = []
    real_open = hashing.open_regular

    def counting_open(path: Path) -> Any:
        paths.append(path)
        return real_open(path)

    monkeypatch.setattr(hashing, "open_regular", counting_open)
    return paths


@pytest.fixture
def identified(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path handed to the format sniffer while the test runs."""
    paths: list[Path] = []
    real_identify = sniff.identify_open

    def counting_identify(handle: Any, name: str, **kwargs: Any) -> sniff.Identification:
        paths.append(Path(name))
        return real_identify(handle, name, **kwargs)

    monkeypatch.setattr(sniff, "identify_open", counting_identify)
    return paths


def test_a_files_digest_is_computed_from_one_read(tmp_path: Path, opened: list[Path]) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights" * 1000)
    cache = ContentCache()

    digests = {cache.get(path).sha256 for _ in range(3)}

    assert digests == {hashlib.sha256(b"weights" * 1000).hexdigest()}
    assert opened.count(path) == 1
    assert cache.get(path).size == 7000


def test_the_sha256_and_format_checks_share_one_read_across_repeated_runs(
    pipeline: Pipeline, opened: list[Path], identified: list[Path]
) -> None:
    weights = pipeline.model_dir / "model.safetensors"

    for _ in range(2):
        for check in ("sha256", "format"):
            pipeline.run(f"artifact[tiny/model.safetensors::{check}]")

    assert opened.count(weights) == 1
    assert identified.count(weights) == 1


def test_a_file_that_changes_size_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old")
    cache = ContentCache()
    before = cache.get(path).sha256

    path.write_bytes(b"newer")

    assert before == hashlib.sha256(b"old").hexdigest()
    assert cache.get(path).sha256 == hashlib.sha256(b"newer").hexdigest()
    assert cache.get(path).size == 5


def test_a_file_rewritten_with_the_same_size_is_read_again_when_its_mtime_moves(
    tmp_path: Path, opened: list[Path]
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"aaaa")
    cache = ContentCache()
    before = cache.get(path).sha256
    mtime = path.stat().st_mtime_ns

    path.write_bytes(b"bbbb")
    os.utime(path, ns=(mtime + 1_000_000_000, mtime + 1_000_000_000))

    assert before == hashlib.sha256(b"aaaa").hexdigest()
    assert cache.get(path).sha256 == hashlib.sha256(b"bbbb").hexdigest()
    assert opened.count(path) == 2


def test_a_missing_file_raises_for_the_runner_to_report(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ContentCache().get(tmp_path / "gone.bin")
