"""Adversarial tests of the persistent content cache: an attacker controls the project's files
(and its committed ``.pytest_cache``), not the user's secret. None of these may turn a finding
into a pass."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import ContentStore, FileIdentity
from pytest_mlsupply.engines.blob import ScanPolicy
from pytest_mlsupply.results import Severity
from tests.corpus.diffusers_index import STABLE_DIFFUSION
from tests.corpus.onnx_keras import add_graph, onnx_model, onnx_tensor


def settle() -> None:
    time.sleep(0.15)  # past the store's racy window (RACY_NS)


def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="e" * 64)


def scan_twice(tmp_path: Path, target: Path, change: object = None) -> tuple[set[str], set[str]]:
    """Rules of a cold scan (stored), then of a warm one after ``change()`` ran."""
    settle()
    cold = ContentCache(store(tmp_path)).get(target).scan_report(target.name, ScanPolicy())
    if callable(change):
        change()
    warm = ContentCache(store(tmp_path)).get(target).scan_report(target.name, ScanPolicy())
    return {f.rule for f in cold.findings}, {f.rule for f in warm.findings}


def test_a_none_py_added_beside_a_cached_model_index_is_reported(tmp_path: Path) -> None:
    # The index's bytes never change; what diffusers imports beside it does.
    index = tmp_path / "model_index.json"
    index.write_text(json.dumps(STABLE_DIFFUSION))
    cold, warm = scan_twice(
        tmp_path, index, lambda: (tmp_path / "None.py").write_text("import os\n")
    )
    assert "MLS-CFG-008" not in cold
    assert "MLS-CFG-008" in warm


def test_a_remote_code_module_removed_after_a_cached_scan_is_high_again(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auto_map": {"AutoModel": "modeling_x.XModel"}}))
    (tmp_path / "modeling_x.py").write_text("class XModel: ...\n")
    settle()
    policy = ScanPolicy()
    cold = ContentCache(store(tmp_path)).get(config).scan_report("config.json", policy)
    assert {f.severity for f in cold.findings if f.rule == "MLS-CFG-001"} == {Severity.MEDIUM}
    (tmp_path / "modeling_x.py").unlink()  # now fetched from the hub when loaded
    warm = ContentCache(store(tmp_path)).get(config).scan_report("config.json", policy)
    assert {f.severity for f in warm.findings if f.rule == "MLS-CFG-001"} == {Severity.HIGH}


def test_onnx_external_data_swapped_for_an_escaping_symlink_is_reported(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").write_bytes(b"\x00" * 8)
    model = model_dir / "model.onnx"
    model.write_bytes(onnx_model(add_graph([onnx_tensor("w", location="w.bin")])))
    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"\x00" * 8)

    def swap() -> None:
        (model_dir / "w.bin").unlink()
        (model_dir / "w.bin").symlink_to(secret)

    cold, warm = scan_twice(tmp_path, model, swap)
    assert cold == set()
    assert "MLS-ONNX-003" in warm


def _old(path: Path, days: int = 60) -> None:
    stamp = time.time_ns() - days * 24 * 3600 * 10**9
    os.utime(path, ns=(stamp, stamp))


def _weights(tmp_path: Path) -> Path:
    target = tmp_path / "weights.bin"
    target.write_bytes(b"weights")
    settle()
    return target


def test_a_planted_symlink_as_the_cache_folder_deletes_nothing_it_leads_to(
    tmp_path: Path,
) -> None:
    # A committed .pytest_cache/d/mlsupply-content -> ../.. (the project): the pruning of
    # "other scanners' folders" and "unused entries" must not reach the project's files.
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "code.py").write_text("x = 1\n")
    (project / "package.json").write_text("{}")
    _old(project / "src")
    _old(project / "package.json")
    root = project / ".pytest_cache" / "d" / "mlsupply-content"
    root.parent.mkdir(parents=True)
    root.symlink_to(Path("..", ".."))
    target = _weights(tmp_path)
    cache = ContentCache(ContentStore(root, secret=b"k" * 32, fingerprint="f" * 64))
    assert cache.get(target).sha256
    ContentStore(root, secret=b"k" * 32)  # nor is the scanner's fingerprint remembered there
    assert (project / "src" / "code.py").is_file()
    assert (project / "package.json").is_file()
    assert sorted(p.name for p in project.iterdir()) == [".pytest_cache", "package.json", "src"]


def test_a_planted_symlink_as_the_fingerprint_folder_is_not_written_or_pruned(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "settings.json").write_text("{}")
    _old(victim / "settings.json")
    root = tmp_path / "store"
    root.mkdir()
    (root / ("f" * 32)).symlink_to(victim)
    (root / ("0" * 32)).symlink_to(victim)  # "another scanner's folder", old
    _old(victim)
    target = _weights(tmp_path)
    assert (
        ContentCache(ContentStore(root, secret=b"k" * 32, fingerprint="f" * 64)).get(target).sha256
    )
    assert sorted(p.name for p in victim.iterdir()) == ["settings.json"]


def test_a_planted_lock_symlink_is_not_opened(tmp_path: Path) -> None:
    # filelock before 4 opened its lock file with O_TRUNC, following a symlink.
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    store = ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="f" * 64)
    store.folder.mkdir(parents=True)
    for bucket in range(16):
        (store.folder / f".lock-{bucket:02d}").symlink_to(precious)
    target = _weights(tmp_path)
    assert ContentCache(store).get(target).sha256
    assert store.writes == 0
    assert precious.read_text() == "keep me"


def test_a_file_on_a_whole_second_file_system_is_settled_only_after_its_second(
    tmp_path: Path,
) -> None:
    # ext3, HFS+, NFSv3 stamp ctime in whole seconds: a write 0.5 s after the one that set
    # this ctime keeps the identity (size, mtime and ctime alike) with other bytes.
    second = 1_700_000_000 * 10**9
    identity = FileIdentity("/m/w.bin", 1, 2, 3, second, second, None)
    assert not identity.settled(second + 500_000_000)
    assert not identity.settled(second + 1_500_000_000)  # FAT: two-second stamps
    assert identity.settled(second + 3 * 10**9)
    fine = FileIdentity("/m/w.bin", 1, 2, 3, second, second + 123_456_789, None)
    assert fine.settled(second + 123_456_789 + 150_000_000)


def test_another_python_or_an_upgraded_parsing_library_is_another_scanner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An old parser's "no finding" must not be served to a fixed one.
    from pytest_mlsupply.checks import content_store

    def fresh() -> str:
        content_store.scanner_fingerprint.cache_clear()
        return content_store.scanner_fingerprint()

    base = fresh()
    monkeypatch.setattr(content_store.sys, "version", "3.99.0 (another interpreter)")
    assert fresh() != base
    monkeypatch.undo()
    assert fresh() == base
    fake = tmp_path / "yaml" / "__init__.py"
    fake.parent.mkdir()
    fake.write_text("# PyYAML 99\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "yaml", raising=False)  # as in a new process
    assert fresh() != base
    monkeypatch.undo()
    assert fresh() == base


def test_a_planted_entry_nested_too_deep_to_parse_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    target = _weights(tmp_path)
    store = ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="f" * 64)
    identity = FileIdentity.of(target, target.stat())
    entry = store._entry(store._key(identity))
    entry.parent.mkdir(parents=True)
    entry.write_text("[" * 200_000 + "]" * 200_000)
    assert store.load(identity) is None
    assert ContentCache(store).get(target).sha256
    assert store.writes == 1  # and rewritten


@pytest.fixture
def package_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the scanner's package, settled, that the store fingerprints instead."""
    from pytest_mlsupply.checks import content_store

    package = tmp_path / "pytest_mlsupply"
    shutil.copytree(
        content_store.PACKAGE_ROOT, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setattr(content_store, "PACKAGE_ROOT", package)
    monkeypatch.setenv(content_store.SETTLE_ENV, "0")
    settle()
    return package


def _remembered(folder: Path, fingerprint: str) -> None:
    """Plant a memo signed with the user's secret (what an earlier run of this user wrote)."""
    from pytest_mlsupply.checks import content_store

    signer = ContentStore(folder, secret=b"k" * 32, fingerprint="0" * 64)
    key = {"format": content_store.FORMAT, "scanner-stamps": content_store.scanner_stamps()[0]}
    value = {"fingerprint": fingerprint}
    memo = folder / content_store.SCANNER_MEMO
    memo.write_text(json.dumps({"key": key, "value": value, "mac": signer._mac(key, value)}))


def test_a_remembered_scanner_fingerprint_is_used_until_any_scanner_file_changes(
    tmp_path: Path, package_copy: Path
) -> None:
    from pytest_mlsupply.checks.content_store import _hash_scanner

    folder = tmp_path / "store"
    folder.mkdir()
    real = ContentStore(folder, secret=b"k" * 32).fingerprint
    assert real == _hash_scanner()
    assert (folder / "scanner.json").is_file()  # remembered against the files' identities
    # The memo is what answers while nothing changed (a planted value shows it) ...
    _remembered(folder, "f" * 64)
    assert ContentStore(folder, secret=b"k" * 32).fingerprint == "f" * 64
    # ... but not another user's (its MAC does not verify under this secret) ...
    assert ContentStore(folder, secret=b"x" * 32).fingerprint == real
    # ... and not once a data file, a rule or the file list changed: the package is hashed.
    data = package_copy / "data" / "popular_pypi.txt"
    rule = package_copy / "engines" / "pickle" / "allowlist.py"
    for change in (
        lambda: data.write_text(data.read_text() + "torchh\n"),
        lambda: rule.write_bytes(rule.read_bytes()),  # the same bytes, rewritten: a new ctime
        lambda: (package_copy / "engines" / "formats" / "new_format.py").write_text("\n"),
    ):
        _remembered(folder, "f" * 64)
        change()
        settle()
        assert ContentStore(folder, secret=b"k" * 32).fingerprint == _hash_scanner()


def test_a_scanner_file_changed_within_the_racy_window_is_not_remembered(
    tmp_path: Path, package_copy: Path
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    rule = package_copy / "engines" / "pickle" / "allowlist.py"
    rule.write_bytes(rule.read_bytes() + b"\n")
    ContentStore(folder, secret=b"k" * 32)
    # A second write in the same clock tick could keep its identity: nothing is remembered.
    assert not (folder / "scanner.json").exists()
