"""A mutable revision is rejected with the commit it points to: on the Hub today, else in the cache.

Online the Hub answers; offline (or with the Hub unreachable) the local cache's ``refs/<revision>``
does, and the message says which of the two it read. Without either, the message stays generic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import load_manifest, parse_manifest
from pytest_mlsupply.manifest.model import RevisionPointer
from pytest_mlsupply.sources.hub import cached_commit, current_commit, revision_pointer
from tests.conftest import Project, build_hub_cache
from tests.hub.conftest import go_offline
from tests.hub.server import FakeHub

CACHED = "c0ffee00" * 5

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


def test_offline_the_loader_names_the_commit_the_local_cache_resolves_main_to(
    hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_hub_cache(hf_cache, "acme/tiny-bert", CACHED, {"config.json": b"{}"})
    go_offline(monkeypatch)
    path = tmp_path / "mlsupply.yaml"
    path.write_text(MANIFEST)

    with pytest.raises(ManifestError) as caught:
        load_manifest(path, resolve_revision=revision_pointer)

    model, data = caught.value.problems
    assert model.fix == (
        f"pin the commit: it points to {CACHED} in the local cache: write "
        f"hf://acme/tiny-bert@{CACHED}, or set policy.require_pins: false to accept mutable "
        "revisions"
    )
    # No ref cached for the dataset: the message stays the generic one.
    assert "hf-datasets://acme/reviews@<commit sha>" in data.fix


def test_with_the_hub_unreachable_the_cached_ref_is_named_as_the_caches(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    build_hub_cache(hf_cache, "acme/tiny-bert", CACHED, {"config.json": b"{}"})
    hub_env.stop()

    assert revision_pointer("model", "acme/tiny-bert", "main") == RevisionPointer(CACHED, "cache")


def test_online_the_hub_answer_wins_over_a_stale_cached_ref(
    hub_env: FakeHub, hf_cache: Path
) -> None:
    build_hub_cache(hf_cache, "acme/tiny-bert", CACHED, {"config.json": b"{}"})
    today = hub_env.add_repo("acme/tiny-bert").commit({"config.json": b'{"v": 2}'})

    assert revision_pointer("model", "acme/tiny-bert", "main") == RevisionPointer(today, "hub")


def test_cached_commit_reads_only_a_40_hex_ref_inside_the_repositorys_cache_folder(
    hf_cache: Path,
) -> None:
    refs = hf_cache / "datasets--acme--reviews" / "refs"
    (refs / "pr").mkdir(parents=True)
    (refs / "pr" / "1").write_text(CACHED.upper() + "\n")
    (refs / "v1.0").write_text("not a commit")
    (hf_cache / "datasets--acme--reviews" / "secret").write_text(CACHED)

    assert cached_commit("dataset", "acme/reviews", "pr/1") == CACHED
    assert cached_commit("dataset", "acme/reviews", "v1.0") is None
    assert cached_commit("dataset", "acme/reviews", "../secret") is None
    assert cached_commit("dataset", "acme/reviews", "main") is None
    assert cached_commit("model", "acme/reviews", "pr/1") is None


def test_offline_a_marker_on_main_names_the_commit_in_the_local_cache(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    build_hub_cache(cache, "acme/tiny-bert", CACHED, {"config.json": b"{}"})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile(
        test_on_main="""
        import pytest

        @pytest.mark.model_artifact("acme/tiny-bert@main")
        def test_cached(model_artifact):
            pass

        @pytest.mark.model_artifact("acme/never-downloaded@main")
        def test_not_cached(model_artifact):
            pass
        """
    )
    result = pytester.runpytest_subprocess("test_on_main.py", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*is mutable*(it points to {CACHED} in the local cache); pin the commit: "
            f"'acme/tiny-bert@{CACHED}'*",
            "*revision 'main' of acme/never-downloaded is mutable (a branch or tag can be moved "
            "to other files); pin the commit: 'acme/never-downloaded@<commit sha>'*",
        ]
    )


def test_offline_the_plugins_manifest_error_names_the_commit_in_the_local_cache(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    build_hub_cache(cache, "acme/tiny-bert", CACHED, {"config.json": b"{}"})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project.manifest(
        """\
        version: 1
        models:
          - name: tiny
            source: hf://acme/tiny-bert@main
        """
    )
    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml:4:13: models?0?.source: revision 'main' is mutable*",
            f"*fix: pin the commit: it points to {CACHED} in the local cache: write "
            f"hf://acme/tiny-bert@{CACHED}, or set policy.require_pins: false*",
        ]
    )
