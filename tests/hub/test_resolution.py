"""Resolving pinned hub references with the real huggingface_hub client against a loopback Hub."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pytest_mlsupply.manifest.model import HubRef, ModelDecl, Span
from pytest_mlsupply.sources.hub import (
    HubFileMeta,
    HubResolutionError,
    HubSettings,
    resolve_hub,
)
from pytest_mlsupply.sources.resolve import resolve_model
from tests.hub.conftest import go_offline
from tests.hub.server import FakeHub, git_blob_sha1

WEIGHTS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x00" * 64
FILES = {
    "config.json": b'{"model_type": "bert"}',
    "model.safetensors": WEIGHTS,
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n",
    "README.md": b"---\nlicense: apache-2.0\n---\n# tiny\n",
}


def ref(commit: str, repo_id: str = "acme/tiny-bert", repo_type: str = "model") -> HubRef:
    return HubRef(repo_type, repo_id, commit)  # type: ignore[arg-type]


def decl(commit: str, repo_id: str = "acme/tiny-bert") -> ModelDecl:
    return ModelDecl(
        name="tiny", span=Span(Path("mlsupply.yaml"), 1, 1), source=ref(commit, repo_id)
    )


def test_a_pinned_commit_downloads_into_an_empty_cache_with_the_hubs_file_metadata(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)

    snapshot = resolve_hub(ref(commit))

    assert snapshot.online
    assert snapshot.commit == commit
    assert snapshot.path == hf_cache / "models--acme--tiny-bert" / "snapshots" / commit
    assert {p: (snapshot.path / p).read_bytes() for p in FILES} == FILES
    assert snapshot.files["model.safetensors"] == HubFileMeta(
        path="model.safetensors",
        size=len(WEIGHTS),
        blob_id=snapshot.files["model.safetensors"].blob_id,
        lfs_sha256=hashlib.sha256(WEIGHTS).hexdigest(),
        lfs_size=len(WEIGHTS),
        source="hub",
    )
    config = snapshot.files["config.json"]
    assert (config.blob_id, config.lfs_sha256) == (git_blob_sha1(FILES["config.json"]), None)
    # The LFS file came from the "CDN" origin, the rest from the Hub; listing and info were asked.
    assert [r.path for r in hub_env.requests_to("cdn")] == [
        f"/lfs/{hashlib.sha256(WEIGHTS).hexdigest()}"
    ]
    assert any(
        r.path == f"/api/models/acme/tiny-bert/revision/{commit}" and "blobs=" in r.query
        for r in hub_env.requests
    )


def test_a_downloaded_commit_resolves_again_with_the_network_down_from_the_cache(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    online = resolve_hub(ref(commit))
    hub_env.stop()

    offline = resolve_hub(ref(commit))

    assert not offline.online
    assert offline.path == online.path
    # The tree listing huggingface_hub recorded at download time stands in for the Hub.
    assert offline.files["model.safetensors"].lfs_sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert {m.source for m in offline.files.values()} == {"cache-listing"}
    assert set(offline.files) == set(FILES)


def test_hf_hub_offline_resolves_from_the_cache_without_a_single_request(
    hub_env: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolve_hub(ref(commit))
    before = len(hub_env.requests)
    go_offline(monkeypatch)

    snapshot = resolve_hub(ref(commit))

    assert not snapshot.online
    assert len(hub_env.requests) == before


def test_a_cached_commit_online_is_verified_against_the_hub_but_not_downloaded_again(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolve_hub(ref(commit))
    before = len(hub_env.requests)

    snapshot = resolve_hub(ref(commit))

    assert snapshot.online
    assert [r.path for r in hub_env.requests[before:]] == [
        f"/api/models/acme/tiny-bert/revision/{commit}"
    ]


def test_allow_patterns_download_and_list_only_the_matching_files(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)

    resolved = resolve_model(decl(commit), allow_patterns=["*.json", "tokenizer/"])

    assert resolved.error is None
    assert [f.relpath for f in resolved.files] == ["config.json", "tokenizer/vocab.txt"]
    assert resolved.root is not None
    assert not (resolved.root / "model.safetensors").exists()
    assert hub_env.requests_to("cdn") == []
    # The listing still covers the whole commit (an extra local file is recognised as extra).
    assert resolved.hub_files is not None
    assert set(resolved.hub_files) == set(FILES)


def test_allow_patterns_matching_nothing_is_an_error_naming_the_files(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)

    with pytest.raises(HubResolutionError, match=r"no file at this commit matches.*config\.json"):
        resolve_hub(ref(commit), allow_patterns=["*.onnx"])


def test_a_dataset_reference_resolves_through_the_dataset_api(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/reviews", repo_type="dataset").commit(
        {"data/train.csv": b"text,label\nok,1\n"}
    )

    snapshot = resolve_hub(ref(commit, "acme/reviews", "dataset"))

    assert snapshot.path == hf_cache / "datasets--acme--reviews" / "snapshots" / commit
    assert (snapshot.path / "data/train.csv").read_bytes() == b"text,label\nok,1\n"
    assert any(r.path.startswith("/api/datasets/acme/reviews/revision/") for r in hub_env.requests)


def test_an_unknown_revision_is_an_error_that_says_the_commit_does_not_exist(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    hub_env.add_repo("acme/tiny-bert").commit(FILES)
    missing = "1" * 40

    resolved = resolve_model(decl(missing))

    assert resolved.root is None
    assert resolved.error == (
        f"hf://acme/tiny-bert@{missing}: acme/tiny-bert has no revision {missing} on the Hub "
        "(never pushed, or dropped by a history rewrite); pin a commit listed in the "
        "repository's history"
    )


def test_an_unknown_repository_without_a_token_suggests_setting_hf_token(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    with pytest.raises(HubResolutionError, match="if it is, set HF_TOKEN to a read token"):
        resolve_hub(ref("2" * 40, "acme/nothing-here"))


def test_the_network_down_with_nothing_cached_is_an_error_that_suggests_offline_mode(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    hub_env.stop()

    with pytest.raises(HubResolutionError) as caught:
        resolve_hub(ref(commit))

    message = str(caught.value)
    assert f"the Hub at {hub_env.endpoint} cannot be reached (ConnectError" in message
    assert "the commit is not in the local cache" in message
    assert (
        f"HF_HUB_OFFLINE=1 against a cache populated beforehand with `hf download acme/tiny-bert --revision {commit}`"
        in message
    )


def test_hf_hub_offline_with_nothing_cached_names_the_download_command(
    hub_env: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    go_offline(monkeypatch)

    with pytest.raises(HubResolutionError, match="is not in the local Hugging Face cache"):
        resolve_hub(ref(commit))
    assert hub_env.requests == []


def test_a_partially_cached_commit_offline_is_reported_incomplete_not_passed(
    hub_env: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolve_hub(ref(commit), allow_patterns=["*.json"])
    go_offline(monkeypatch)

    resolved = resolve_model(decl(commit))

    assert resolved.error is not None
    assert "the cached snapshot is incomplete" in resolved.error
    assert "model.safetensors" in resolved.error


def test_a_hub_that_answers_another_commit_for_the_pinned_one_is_refused(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    first = repo.commit(FILES)
    second = repo.commit({**FILES, "config.json": b"{}"})
    repo.branches[first] = second  # a misbehaving mirror: the pinned sha resolves elsewhere
    del repo.commits[first]

    with pytest.raises(HubResolutionError, match=f"answered with commit {second}"):
        resolve_hub(ref(first))


def test_explicit_settings_override_the_environment(fake_hub: FakeHub, hf_cache: Path) -> None:
    commit = fake_hub.add_repo("acme/tiny-bert").commit({"config.json": b"{}"})
    elsewhere = hf_cache.parent / "other-cache"

    snapshot = resolve_hub(
        ref(commit),
        settings=HubSettings(endpoint=fake_hub.endpoint, cache_dir=elsewhere, offline=False),
    )

    assert snapshot.path == elsewhere / "models--acme--tiny-bert" / "snapshots" / commit


def test_a_model_records_the_commit_it_resolved_to_and_the_endpoint_it_came_from(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    repo.commit({"config.json": b"{}"})
    today = repo.commit(FILES)

    resolved = resolve_model(decl("main"))

    assert resolved.error is None
    assert (resolved.commit, resolved.endpoint) == (today, hub_env.endpoint)
    assert resolved.root == hf_cache / "models--acme--tiny-bert" / "snapshots" / today
    assert {f.relpath for f in resolved.files} == set(FILES)


def test_online_a_branch_whose_cached_ref_is_stale_resolves_to_the_hubs_commit(
    hub_env: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    before = repo.commit({"config.json": b'{"v": 1}'})
    assert resolve_hub(ref("main")).commit == before
    today = repo.commit({"config.json": b'{"v": 2}'})

    snapshot = resolve_hub(ref("main"))

    # The files are those of the commit the Hub names now, not of the cache's older main.
    assert snapshot.commit == today
    assert snapshot.path.name == today
    assert (snapshot.path / "config.json").read_bytes() == b'{"v": 2}'
    # And the cache now resolves main to it offline, as after `hf download --revision main`.
    go_offline(monkeypatch)
    assert resolve_hub(ref("main")).path == snapshot.path
