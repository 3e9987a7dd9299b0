"""Resolving a pinned hub model from a real (hand-built) Hugging Face cache, offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import huggingface_hub.constants
import pytest

from pytest_mlsupply.manifest.model import HubRef, ModelDecl, Span
from pytest_mlsupply.sources.hub import HubResolutionError, resolve_snapshot
from pytest_mlsupply.sources.resolve import resolve_model
from tests.conftest import build_hub_cache

COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
OTHER_COMMIT = "0" * 40
SNAPSHOT_FILES = {
    "config.json": b'{"model_type": "bert"}',
    "model.safetensors": b"not really weights",
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n",
}


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both variables once, when its constants module is imported.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def hub_model(revision: str = COMMIT, files: dict[str, str] | None = None) -> ModelDecl:
    return ModelDecl(
        name="sentiment",
        span=Span(Path("mlsupply.yaml"), 3, 5),
        source=HubRef("model", "acme/sentiment-bert", revision),
        files=files or {},
    )


def test_a_cached_commit_resolves_to_its_snapshot_directory(hub_cache: Path) -> None:
    snapshot = build_hub_cache(hub_cache, "acme/sentiment-bert", COMMIT, SNAPSHOT_FILES)

    assert resolve_snapshot(HubRef("model", "acme/sentiment-bert", COMMIT)) == snapshot


def test_a_hub_model_lists_the_files_of_its_snapshot(hub_cache: Path) -> None:
    snapshot = build_hub_cache(hub_cache, "acme/sentiment-bert", COMMIT, SNAPSHOT_FILES)
    pin = "sha256:" + hashlib.sha256(SNAPSHOT_FILES["config.json"]).hexdigest()

    resolved = resolve_model(hub_model(files={"config.json": pin}))

    assert resolved.error is None
    assert resolved.root == snapshot
    assert resolved.card_path == snapshot / "README.md"
    assert [f.relpath for f in resolved.files] == [
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.txt",
    ]
    config, weights, vocab = resolved.files
    assert config.pinned_sha256 == pin.removeprefix("sha256:")
    assert weights.size == len(SNAPSHOT_FILES["model.safetensors"])
    assert vocab.path.read_bytes() == SNAPSHOT_FILES["tokenizer/vocab.txt"]
    assert vocab.subject == "sentiment/tokenizer/vocab.txt"


def test_a_commit_missing_from_the_cache_is_an_error_that_says_how_to_fetch_it(
    hub_cache: Path,
) -> None:
    build_hub_cache(hub_cache, "acme/sentiment-bert", COMMIT, SNAPSHOT_FILES)

    resolved = resolve_model(hub_model(OTHER_COMMIT))

    assert resolved.root is None
    assert resolved.files == ()
    assert resolved.card_path is None
    assert resolved.error is not None
    assert "not in the local Hugging Face cache" in resolved.error
    assert f"hf download acme/sentiment-bert --revision {OTHER_COMMIT}" in resolved.error


def test_a_repository_missing_from_the_cache_is_an_error(hub_cache: Path) -> None:
    with pytest.raises(HubResolutionError, match="hf download acme/sentiment-bert"):
        resolve_snapshot(HubRef("model", "acme/sentiment-bert", COMMIT))


def test_a_missing_dataset_snapshot_suggests_the_dataset_repo_type(hub_cache: Path) -> None:
    with pytest.raises(HubResolutionError, match="--repo-type dataset"):
        resolve_snapshot(HubRef("dataset", "acme/reviews", COMMIT))
