"""``mlsupply scan hf://org/name@<commit>``: a Hub snapshot, resolved as the plugin resolves it.

Online against the loopback Hub (the real huggingface_hub client), offline from a cache built in
code. The snapshot comes from the cache first, is downloaded at exactly the pinned commit, and
every file goes through the ``hub`` check; a branch or tag is refused unless the policy of the
manifest given with ``--config`` accepts it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, main
from tests.conftest import build_hub_cache, write_model
from tests.hub.conftest import go_offline
from tests.hub.server import FakeHub

CACHED = "c0ffee00" * 5


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    """A small real model (safetensors weights, config, card) as the files of a commit."""
    model = write_model(tmp_path / "model")
    return {p.name: p.read_bytes() for p in sorted(model.iterdir())}


def scan_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    status = main(["scan", "--format", "json", *args])
    return status, json.loads(capsys.readouterr().out)


def verdicts(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["subject"], r["check"]): r["verdict"] for r in report["results"]}


def test_a_pinned_commit_is_downloaded_at_that_commit_and_every_file_is_checked_against_the_hub(
    hub_env: FakeHub, hf_cache: Path, files: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit(files)

    status, report = scan_json([f"hf://acme/tiny-bert@{commit}"], capsys)

    assert status == EXIT_CLEAN
    assert verdicts(report)[("tiny-bert/model.safetensors", "hub")] == "pass"
    assert verdicts(report)[("tiny-bert/config.json", "hub")] == "pass"
    snapshot = hf_cache / "models--acme--tiny-bert" / "snapshots" / commit
    assert report["snapshots"] == {
        f"hf://acme/tiny-bert@{commit}": {"commit": commit, "path": str(snapshot)}
    }
    assert [r.path for r in hub_env.requests_to("cdn")] == [
        f"/lfs/{hashlib.sha256(files['model.safetensors']).hexdigest()}"
    ]


def test_a_file_that_differs_from_the_hubs_listing_fails_the_scan(
    hub_env: FakeHub, hf_cache: Path, files: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    commit = repo.commit(files)
    repo.serve_wrong_metadata(commit, "model.safetensors", sha256="ab" * 32)

    status, report = scan_json([f"hf://acme/tiny-bert@{commit}"], capsys)

    assert status == EXIT_FINDINGS
    (result,) = [r for r in report["results"] if r["check"] == "hub" and r["verdict"] == "fail"]
    assert result["subject"] == "tiny-bert/model.safetensors"
    assert [f["rule"] for f in result["findings"]] == ["MLS-HUB-002"]


def test_offline_a_cached_commit_is_scanned_without_a_request(
    hub_env: FakeHub,
    hf_cache: Path,
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_hub_cache(hf_cache, "acme/tiny-bert", CACHED, files)
    go_offline(monkeypatch)

    status, report = scan_json([f"hf://acme/tiny-bert@{CACHED}"], capsys)

    assert status == EXIT_CLEAN
    assert hub_env.requests == []
    # Offline, the blob names are what the files are verified against.
    assert verdicts(report)[("tiny-bert/model.safetensors", "hub")] == "pass"


def test_offline_a_commit_missing_from_the_cache_is_an_error_naming_the_download_command(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    go_offline(monkeypatch)

    assert main(["scan", f"hf://acme/tiny-bert@{CACHED}"]) == EXIT_ERROR

    out = capsys.readouterr().out
    assert "ERROR tiny-bert [resolve]" in out
    assert f"`hf download acme/tiny-bert --revision {CACHED}`" in out
    assert "0 fail, 0 warn, 1 error" in out


def test_a_branch_is_refused_with_the_commit_it_points_to_today_and_nothing_is_downloaded(
    hub_env: FakeHub, hf_cache: Path, files: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    today = hub_env.add_repo("acme/tiny-bert").commit(files)

    assert main(["scan", "hf://acme/tiny-bert@main"]) == EXIT_ERROR

    out = capsys.readouterr().out
    assert (
        "could not complete: hf://acme/tiny-bert@main: revision 'main' is mutable (a branch or "
        f"tag can be moved to other files); pin the commit: it points to {today} today: scan "
        f"hf://acme/tiny-bert@{today}, or pass --config with a manifest whose policy sets "
        "require_pins: false to accept mutable revisions"
    ) in out
    assert hub_env.requests_to("cdn") == []
    assert not (hf_cache / "models--acme--tiny-bert" / "snapshots").exists()


def test_offline_a_branch_is_refused_with_the_commit_the_local_cache_resolves_it_to(
    hf_cache: Path,
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_hub_cache(hf_cache, "acme/tiny-bert", CACHED, files)
    go_offline(monkeypatch)

    assert main(["scan", "hf://acme/tiny-bert@main"]) == EXIT_ERROR

    assert (
        f"it points to {CACHED} in the local cache: scan hf://acme/tiny-bert@{CACHED}"
        in capsys.readouterr().out
    )


def test_a_branch_accepted_by_the_config_policy_is_scanned_at_the_commit_the_hub_names(
    hub_env: FakeHub,
    hf_cache: Path,
    files: dict[str, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    repo.commit({"config.json": b"{}"})
    today = repo.commit(files)
    config = tmp_path / "mlsupply.yaml"
    config.write_text("version: 1\npolicy: {require_pins: false}\n")

    assert main(["scan", "--config", str(config), "hf://acme/tiny-bert@main"]) == EXIT_CLEAN

    out = capsys.readouterr().out
    snapshot = hf_cache / "models--acme--tiny-bert" / "snapshots" / today
    assert f"hf://acme/tiny-bert@main: commit {today} ({snapshot})" in out
    assert "scanned 3 files: " in out


def test_a_dataset_snapshot_is_scanned_through_the_dataset_api(
    hub_env: FakeHub, hf_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = hub_env.add_repo("acme/reviews", repo_type="dataset").commit(
        {"train.csv": b"text,label\ngreat,1\n"}
    )

    status, report = scan_json([f"hf-datasets://acme/reviews@{commit}"], capsys)

    assert status == EXIT_CLEAN
    assert verdicts(report)[("reviews/train.csv", "hub")] == "pass"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("hf://acme", "'hf://acme' is not a Hub reference; write hf://org/name@<40-hex commit>"),
        ("hf://acme/tiny-bert", "has no revision; pin the commit: hf://acme/tiny-bert@<40-hex"),
    ],
)
def test_a_malformed_hub_reference_is_an_argparse_error(
    target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", target])
    assert exited.value.code == EXIT_ERROR
    assert message in capsys.readouterr().err
