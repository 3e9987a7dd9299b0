"""What a Hugging Face cache proves on its own: content addresses, recorded listings, settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import huggingface_hub.constants
import pytest

from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.sources.hub import (
    HubFileMeta,
    HubSettings,
    blob_address,
    git_blob_sha1,
    matches_patterns,
    resolve_hub,
)
from tests.conftest import build_hub_cache

COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.mark.parametrize(
    ("data", "oid"),
    [
        (b"", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"),  # `git hash-object /dev/null`
        (
            b"hello\n",
            "ce013625030ba8dba906f756967f9e9ca394464a",
        ),  # `echo hello | git hash-object --stdin`
    ],
)
def test_git_blob_sha1_is_the_object_id_git_gives_the_content(
    tmp_path: Path, data: bytes, oid: str
) -> None:
    path = tmp_path / "file"
    path.write_bytes(data)

    assert git_blob_sha1(path) == oid


def test_a_link_into_blobs_names_its_content_address(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    lfs = blobs / ("ab" * 32)
    regular = blobs / ("cd" * 20)
    lfs.write_bytes(b"x")
    regular.write_bytes(b"y")
    (tmp_path / "weights").symlink_to(lfs)
    (tmp_path / "config").symlink_to(regular)
    (tmp_path / "copy").write_bytes(b"x")

    weights, config = blob_address(tmp_path / "weights"), blob_address(tmp_path / "config")
    assert weights is not None
    assert (weights.algorithm, weights.digest, weights.blob) == ("sha256", "ab" * 32, lfs)
    assert config is not None
    assert (config.algorithm, config.digest) == ("git-sha1", "cd" * 20)
    assert blob_address(tmp_path / "copy") is None


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("config.json", None, True),
        ("config.json", ["*.json"], True),
        ("tokenizer/vocab.json", ["*.json"], True),  # `*` crosses `/`, as in huggingface_hub
        ("tokenizer/vocab.txt", ["tokenizer/"], True),  # a trailing `/` means the whole folder
        ("model.safetensors", ["*.json", "tokenizer/"], False),
        ("Config.JSON", ["*.json"], False),  # case-sensitive on every platform
        ("config.json", [], False),
    ],
)
def test_allow_patterns_follow_huggingface_hubs_rules(
    path: str, patterns: list[str] | None, expected: bool
) -> None:
    assert matches_patterns(path, patterns) is expected


def test_offline_a_hand_built_cache_yields_what_its_blob_names_claim(offline_cache: Path) -> None:
    files = {"config.json": b"{}", "sub/model.safetensors": b"weights"}
    build_hub_cache(offline_cache, "acme/tiny-bert", COMMIT, files)

    snapshot = resolve_hub(HubRef("model", "acme/tiny-bert", COMMIT))

    assert not snapshot.online
    digest = hashlib.sha256(b"weights").hexdigest()
    assert snapshot.files["sub/model.safetensors"] == HubFileMeta(
        "sub/model.safetensors", 7, lfs_sha256=digest, lfs_size=7, source="cache-blob"
    )


def test_offline_the_listing_recorded_by_huggingface_hub_is_preferred(offline_cache: Path) -> None:
    build_hub_cache(offline_cache, "acme/tiny-bert", COMMIT, {"config.json": b"{}"})
    trees = offline_cache / "models--acme--tiny-bert" / "trees"
    trees.mkdir()
    listing = {
        "format_version": 1,
        "files": {
            "config.json": {"size": 2, "blob_id": "9e26dfeeb6e641a33dae4961196235bdb965b21b"},
            "model.safetensors": {
                "size": 134,
                "blob_id": "b" * 40,
                "lfs_sha256": "C" * 64,
                "lfs_size": 9,
            },
        },
    }
    (trees / f"{COMMIT}.json").write_text(json.dumps(listing))

    snapshot = resolve_hub(HubRef("model", "acme/tiny-bert", COMMIT), allow_patterns=["*.json"])

    assert snapshot.files == {
        "config.json": HubFileMeta(
            "config.json",
            2,
            blob_id="9e26dfeeb6e641a33dae4961196235bdb965b21b",
            source="cache-listing",
        ),
        "model.safetensors": HubFileMeta(
            "model.safetensors", 134, "b" * 40, "c" * 64, 9, source="cache-listing"
        ),
    }


def test_a_listing_in_an_unknown_format_is_ignored(offline_cache: Path) -> None:
    build_hub_cache(offline_cache, "acme/tiny-bert", COMMIT, {"config.json": b"{}"})
    trees = offline_cache / "models--acme--tiny-bert" / "trees"
    trees.mkdir()
    (trees / f"{COMMIT}.json").write_text(json.dumps({"format_version": 99, "files": {}}))

    snapshot = resolve_hub(HubRef("model", "acme/tiny-bert", COMMIT))

    assert {m.source for m in snapshot.files.values()} == {"cache-blob"}


def test_settings_read_the_environment_when_a_resolution_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "3")

    settings = HubSettings.from_environment()

    assert settings == HubSettings(
        endpoint="http://127.0.0.1:9", cache_dir=tmp_path, offline=True, timeout=3.0
    )
