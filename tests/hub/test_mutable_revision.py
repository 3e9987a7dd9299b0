"""A mutable revision is rejected by the loader with the commit it points to on the Hub today."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import load_manifest, parse_manifest
from pytest_mlsupply.sources.hub import current_commit
from tests.hub.conftest import go_offline
from tests.hub.server import FakeHub

MANIFEST = """\
version: 1
models:
  - name: tiny
    source: hf://acme/tiny-bert@main
datasets:
  - name: reviews
    source: hf-datasets://acme/reviews@v1.0
"""


def test_the_loader_names_the_commit_main_points_to_today(hub_env: FakeHub, tmp_path: Path) -> None:
    repo = hub_env.add_repo("acme/tiny-bert")
    repo.commit({"config.json": b"{}"})
    today = repo.commit({"config.json": b'{"v": 2}'})
    dataset = hub_env.add_repo("acme/reviews", repo_type="dataset")
    tagged = dataset.commit({"train.csv": b"a\n"})
    dataset.tags["v1.0"] = tagged
    path = tmp_path / "mlsupply.yaml"
    path.write_text(MANIFEST)

    with pytest.raises(ManifestError) as caught:
        load_manifest(path, resolve_revision=current_commit)

    model, data = caught.value.problems
    assert (model.line, model.key_path) == (4, "models[0].source")
    assert (
        model.message == "revision 'main' is mutable (a branch or tag can be moved to other files)"
    )
    assert model.fix == (
        f"pin the commit: it points to {today} today: write hf://acme/tiny-bert@{today}, or set "
        "policy.require_pins: false to accept mutable revisions"
    )
    assert f"write hf-datasets://acme/reviews@{tagged}" in data.fix


def test_without_a_resolver_the_loader_stays_offline_and_generic() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(MANIFEST, Path("/project/mlsupply.yaml"))

    assert "hf://acme/tiny-bert@<commit sha>" in caught.value.problems[0].fix


def test_a_resolver_that_fails_leaves_the_generic_message(hub_env: FakeHub) -> None:
    def broken(repo_type: str, repo_id: str, revision: str) -> str | None:
        raise RuntimeError("boom")

    with pytest.raises(ManifestError) as caught:
        parse_manifest(MANIFEST, Path("/project/mlsupply.yaml"), resolve_revision=broken)

    assert "hf://acme/tiny-bert@<commit sha>" in caught.value.problems[0].fix


def test_current_commit_is_none_for_an_unknown_branch_offline_or_a_dead_network(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hub_env.add_repo("acme/tiny-bert").commit({"config.json": b"{}"})
    assert current_commit("model", "acme/tiny-bert", "main") == commit
    assert current_commit("model", "acme/tiny-bert", "no-such-branch") is None
    assert current_commit("model", "acme/unknown", "main") is None

    go_offline(monkeypatch)
    requests = len(hub_env.requests)
    assert current_commit("model", "acme/tiny-bert", "main") is None
    assert len(hub_env.requests) == requests

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    hub_env.stop()
    assert current_commit("model", "acme/tiny-bert", "main") is None


def test_the_manifest_layer_does_not_import_huggingface_hub() -> None:
    import ast

    import pytest_mlsupply.manifest.loader as loader

    tree = ast.parse(Path(loader.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {
        name for name in imported if name.startswith(("huggingface_hub", "pytest_mlsupply.sources"))
    }
