"""The ``hub`` check: bytes on disk against the Hub's metadata and the cache's content addresses."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pytest_mlsupply.checks.artifact_hub import CHECK as HUB_CHECK
from pytest_mlsupply.checks.base import Outcome
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.registry import ARTIFACT_CHECKS
from pytest_mlsupply.manifest.model import HubRef, ModelDecl, Span
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.results import Severity
from pytest_mlsupply.sources.inventory import ArtifactFile, ResolvedModel
from pytest_mlsupply.sources.resolve import resolve_model
from tests.conftest import build_hub_cache
from tests.hub.conftest import context_for, go_offline
from tests.hub.server import FakeHub

WEIGHTS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x00" * 64
FILES = {"config.json": b'{"model_type": "bert"}', "model.safetensors": WEIGHTS}


def model(commit: str, repo_id: str = "acme/tiny-bert") -> ModelDecl:
    return ModelDecl(
        name="tiny",
        span=Span(Path("mlsupply.yaml"), 1, 1),
        source=HubRef("model", repo_id, commit),
    )


def run_hub_check(resolved: ResolvedModel) -> dict[str, Outcome]:
    assert resolved.error is None, resolved.error
    ctx = context_for(resolved, ContentCache())
    return {f.relpath: HUB_CHECK.run(f, ctx) for f in resolved.files if HUB_CHECK.applies(f)}


def rules(outcome: Outcome) -> list[tuple[str, Severity]]:
    return [(f.rule, f.severity) for f in outcome.findings]


def overwrite_blob(snapshot_file: Path, data: bytes) -> None:
    blob = Path(os.path.realpath(snapshot_file))
    blob.chmod(0o644)
    blob.write_bytes(data)


def test_an_untouched_download_passes_online_and_offline(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)

    online = run_hub_check(resolve_model(model(commit)))
    hub_env.stop()
    offline = run_hub_check(resolve_model(model(commit)))
    go_offline(monkeypatch)
    forced_offline = run_hub_check(resolve_model(model(commit)))

    for outcomes in (online, offline, forced_offline):
        assert {rel: rules(o) for rel, o in outcomes.items()} == {
            "config.json": [],
            "model.safetensors": [],
        }
    weights = online["model.safetensors"].facts
    assert weights["cache_blob"] == f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()}"
    assert weights["hub"]["lfs"] == {
        "sha256": hashlib.sha256(WEIGHTS).hexdigest(),
        "size": len(WEIGHTS),
    }
    assert offline["model.safetensors"].facts["hub"]["source"] == "cache-listing"


def test_a_tampered_lfs_blob_in_the_cache_is_critical_even_with_the_network_down(
    hub_env: FakeHub,
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolved = resolve_model(model(commit))
    assert resolved.root is not None
    overwrite_blob(resolved.root / "model.safetensors", b"\x80\x04evil pickle" + b"\x00" * 84)
    hub_env.stop()

    outcomes = run_hub_check(resolve_model(model(commit)))

    weights = outcomes["model.safetensors"]
    assert rules(weights) == [
        ("MLS-HUB-001", Severity.CRITICAL),
        ("MLS-HUB-002", Severity.CRITICAL),
    ]
    assert weights.findings[0].evidence.startswith(
        f"the cache names the blob sha256:{hashlib.sha256(WEIGHTS).hexdigest()}; its bytes hash to"
    )
    assert rules(outcomes["config.json"]) == []


def test_a_tampered_regular_file_blob_is_caught_by_its_git_blob_id(hub_env: FakeHub) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolved = resolve_model(model(commit))
    assert resolved.root is not None
    overwrite_blob(resolved.root / "config.json", b'{"auto_map": {"AutoModel": "evil.Model"}}')

    outcomes = run_hub_check(resolve_model(model(commit)))

    assert [r for r, _ in rules(outcomes["config.json"])] == ["MLS-HUB-001", "MLS-HUB-002"]
    assert "git-sha1" in outcomes["config.json"].findings[0].evidence


def test_a_tampered_blob_in_a_hand_built_offline_cache_is_critical(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
    snapshot = build_hub_cache(hf_cache, "acme/tiny-bert", commit, FILES)
    overwrite_blob(snapshot / "model.safetensors", b"swapped")
    go_offline(monkeypatch)

    resolved = resolve_model(model(commit))
    outcomes = run_hub_check(resolved)

    assert resolved.hub_files is not None
    assert {m.source for m in resolved.hub_files.values()} == {"cache-blob"}
    assert rules(outcomes["model.safetensors"]) == [("MLS-HUB-001", Severity.CRITICAL)]
    # build_hub_cache names every blob by its sha256: an honest regular file passes too.
    assert rules(outcomes["config.json"]) == []


def test_a_file_that_differs_from_the_hubs_lfs_metadata_is_critical(hub_env: FakeHub) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    commit = repo.commit(FILES)
    published = "ab" * 32
    repo.serve_wrong_metadata(commit, "model.safetensors", sha256=published)

    outcomes = run_hub_check(resolve_model(model(commit)))

    weights = outcomes["model.safetensors"]
    assert rules(weights) == [("MLS-HUB-002", Severity.CRITICAL)]  # the blob matches its name
    assert weights.findings[0].evidence == (
        f"the Hub lists LFS sha256:{published}, {len(WEIGHTS)} bytes; the file on disk is "
        f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()}, {len(WEIGHTS)} bytes"
    )


def test_a_file_whose_size_differs_from_the_hubs_metadata_is_critical(hub_env: FakeHub) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    commit = repo.commit(FILES)
    repo.serve_wrong_metadata(commit, "config.json", size=5)

    outcomes = run_hub_check(resolve_model(model(commit)))

    assert rules(outcomes["config.json"]) == [("MLS-HUB-002", Severity.CRITICAL)]


def test_a_file_dropped_into_the_snapshot_is_not_on_the_hub(hub_env: FakeHub) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolved = resolve_model(model(commit))
    assert resolved.root is not None
    (resolved.root / "extra.pkl").write_bytes(b"\x80\x04N.")

    outcomes = run_hub_check(resolve_model(model(commit)))

    assert rules(outcomes["extra.pkl"]) == [("MLS-HUB-003", Severity.MEDIUM)]
    assert outcomes["extra.pkl"].findings[0].title == "file is not part of the pinned commit"


def test_a_blob_deleted_from_the_cache_is_downloaded_again_online(hub_env: FakeHub) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(FILES)
    resolved = resolve_model(model(commit))
    assert resolved.root is not None
    Path(os.path.realpath(resolved.root / "model.safetensors")).unlink()

    outcomes = run_hub_check(resolve_model(model(commit)))

    assert rules(outcomes["model.safetensors"]) == []
    assert (resolved.root / "model.safetensors").read_bytes() == WEIGHTS


def test_a_snapshot_link_to_a_deleted_blob_offline_is_missing(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
    snapshot = build_hub_cache(hf_cache, "acme/tiny-bert", commit, FILES)
    Path(os.path.realpath(snapshot / "model.safetensors")).unlink()
    go_offline(monkeypatch)

    outcomes = run_hub_check(resolve_model(model(commit)))

    assert rules(outcomes["model.safetensors"]) == [("MLS-HUB-003", Severity.MEDIUM)]
    assert "missing locally" in outcomes["model.safetensors"].findings[0].title


def test_a_copied_snapshot_with_no_listing_offline_is_unverifiable_info(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
    snapshot = hf_cache / "models--acme--copy" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_bytes(b"{}")
    go_offline(monkeypatch)

    outcomes = run_hub_check(resolve_model(model(commit, "acme/copy")))

    assert rules(outcomes["config.json"]) == [("MLS-HUB-004", Severity.INFO)]


def test_the_hub_check_is_registered_and_planned_only_for_hub_snapshot_files(
    hf_cache: Path, tmp_path: Path
) -> None:
    commit = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
    snapshot = build_hub_cache(hf_cache, "acme/tiny-bert", commit, FILES)
    local = tmp_path / "local-model"
    local.mkdir()
    (local / "config.json").write_bytes(b"{}")

    assert HUB_CHECK in [line.load() for line in ARTIFACT_CHECKS]
    assert HUB_CHECK.applies(ArtifactFile("m", "config.json", snapshot / "config.json", 2))
    assert HUB_CHECK.applies(ArtifactFile("m", "tok/vocab.txt", snapshot / "tok" / "vocab.txt", 2))
    assert not HUB_CHECK.applies(ArtifactFile("m", "config.json", local / "config.json", 2))
    hub_model = ResolvedModel(
        decl=model(commit),
        root=snapshot,
        files=(ArtifactFile("tiny", "config.json", snapshot / "config.json", 22),),
    )
    plan = build_plan(context_for(hub_model).inventory)
    assert "artifact[tiny/config.json::hub]" in [item.name for item in plan]
