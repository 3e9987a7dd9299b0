"""Writes through a shared writable memory mapping do not move a file's identity while the page
is dirty: the content cache must not keep facts of a file changed within the kernel's
dirty-page lifetime, nor any of a file system that never writes pages back.

These tests run with ``$MLSUPPLY_CACHE_SETTLE_SECONDS`` unset (the suite sets it in
tests/conftest.py so that its other cache tests need not wait 80 s)."""

from __future__ import annotations

import hashlib
import mmap
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mlsupply.checks import content_store
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import (
    SETTLE_ENV,
    ContentStore,
    FileIdentity,
    mapped_write_window_ns,
)
from pytest_mlsupply.engines.blob import ScanPolicy
from tests.conftest import Project

EVIL = b"cos\nsystem\n(S'echo pwned'\ntR."
CLEAN = b"S'" + b"a" * (len(EVIL) - 5) + b"'\n."  # a pickle of a string, as long as EVIL


@pytest.fixture(autouse=True)
def kernel_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTLE_ENV, raising=False)


def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="e" * 64)


def rules(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.rule for f in report.findings}


class Mapping:
    """A file written only through a shared writable mapping of it."""

    def __init__(self, path: Path, size: int) -> None:
        path.write_bytes(b"\0" * size)
        self.fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def write(self, data: bytes) -> None:
        self.map[:] = data

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


@pytest.fixture
def mapped(tmp_path: Path) -> Iterator[tuple[Path, Mapping]]:
    target = tmp_path / "model.pkl"
    mapping = Mapping(target, len(EVIL))
    yield target, mapping
    mapping.close()


def test_a_clean_scan_of_a_file_just_written_through_a_mapping_is_not_kept_for_its_payload(
    tmp_path: Path, mapped: tuple[Path, Mapping]
) -> None:
    target, mapping = mapped
    mapping.write(CLEAN)
    time.sleep(0.15)  # past the clock-tick window: the old rule kept the clean report here
    first = store(tmp_path)
    assert rules(ContentCache(first).get(target).scan_report("m", ScanPolicy())) == set()
    before = os.stat(target)
    mapping.write(EVIL)  # the page is dirty already: no fault, no new ctime
    after = os.stat(target)
    assert (before.st_ctime_ns, before.st_size) == (after.st_ctime_ns, after.st_size)

    warm = store(tmp_path)
    report = ContentCache(warm).get(target).scan_report("m", ScanPolicy())

    assert first.writes == 0  # nothing was kept for the clean bytes
    assert warm.hits == 0
    assert "MLS-PKL-001" in rules(report)


def test_a_digest_of_a_file_just_written_through_a_mapping_is_not_served_to_the_next_run(
    tmp_path: Path, mapped: tuple[Path, Mapping]
) -> None:
    target, mapping = mapped
    mapping.write(CLEAN)
    time.sleep(0.15)
    assert ContentCache(store(tmp_path)).get(target).sha256 == hashlib.sha256(CLEAN).hexdigest()
    mapping.write(EVIL)

    served = ContentCache(store(tmp_path)).get(target).sha256

    assert served == hashlib.sha256(EVIL).hexdigest()


def test_the_gate_fails_a_payload_written_through_a_mapping_after_a_passing_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    payload = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
    target = project.model_dir / "model.pkl"
    project.default_manifest(top="policy: {pickle_formats: scan}")
    mapping = Mapping(target, len(payload))
    try:
        mapping.write(b"S'" + b"a" * (len(payload) - 5) + b"'\n.")
        time.sleep(0.15)
        first = pytester.runpytest_subprocess("--mlsupply", "-k", "model.pkl")
        assert first.ret == 0, first.stdout.str()
        mapping.write(payload)  # os.system('true'); ctime, mtime and size unchanged
    finally:
        mapping.close()

    second = pytester.runpytest_subprocess("--mlsupply", "-k", "model.pkl")

    assert second.ret == pytest.ExitCode.TESTS_FAILED
    second.stdout.fnmatch_lines(["*MLS-PKL-001*"])


def test_a_file_older_than_the_kernels_dirty_page_lifetime_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    target.write_bytes(CLEAN)
    identity = FileIdentity.of(target, os.stat(target))
    window = mapped_write_window_ns(identity.device)
    assert window is not None

    assert not identity.settled(identity.ctime_ns + window - 1)
    assert identity.settled(identity.ctime_ns + window)


def test_the_window_is_twice_the_kernels_dirty_page_lifetime_plus_ten_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(content_store, "_dirty_centisecs", lambda: (3000, 500))
    monkeypatch.setattr(content_store, "_filesystem_type", lambda device: "ext4")

    assert mapped_write_window_ns(1) == 80 * 1_000_000_000


@pytest.mark.parametrize("fs", ["tmpfs", "ramfs"])
def test_nothing_is_ever_kept_on_a_file_system_that_never_writes_pages_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fs: str
) -> None:
    monkeypatch.setattr(content_store, "_filesystem_type", lambda device: fs)
    target = tmp_path / "model.pkl"
    target.write_bytes(CLEAN)
    identity = FileIdentity.of(target, os.stat(target))

    assert mapped_write_window_ns(identity.device) is None
    assert not identity.settled(identity.ctime_ns + 10**15)  # decades later


def test_nothing_is_kept_when_write_back_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_store, "_dirty_centisecs", lambda: (3000, 0))
    monkeypatch.setattr(content_store, "_filesystem_type", lambda device: "ext4")

    assert mapped_write_window_ns(1) is None


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_the_file_system_type_is_read_from_the_mount_table() -> None:
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        device = os.stat(shm).st_dev
        if content_store._filesystem_type(device) != "tmpfs":
            pytest.skip("/dev/shm is not tmpfs here")
        target = Path(shm, "model.pkl")
        target.write_bytes(CLEAN)
        identity = FileIdentity.of(target, os.stat(target))
        assert not identity.settled(identity.ctime_ns + 10**15)


def test_the_override_replaces_the_window_on_any_file_system(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(content_store, "_filesystem_type", lambda device: "tmpfs")
    monkeypatch.setenv(SETTLE_ENV, "2.5")

    assert mapped_write_window_ns(1) == 2_500_000_000


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_an_override_that_is_not_a_number_of_seconds_is_a_usage_error(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(SETTLE_ENV, value)

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert SETTLE_ENV in result.stderr.str()


def test_a_store_whose_clock_probe_cannot_run_keeps_nothing(tmp_path: Path) -> None:
    # A repository that commits <fingerprint>/.lock-00 as a link stops the clock probe: it must
    # not stop it and still let the store keep entries in the other 15 lock buckets.
    target = tmp_path / "model.pkl"
    target.write_bytes(CLEAN)
    os.utime(target, ns=(0, 0))  # mtime long ago; ctime is now, so wait past the tick window
    time.sleep(0.15)
    planted = store(tmp_path)
    planted.folder.mkdir(parents=True)
    (planted.folder / ".lock-00").symlink_to(tmp_path / "nowhere")
    os.environ[SETTLE_ENV] = "0.1"
    try:
        ContentCache(planted).get(target).sha256  # noqa: B018 (computes and offers it)
    finally:
        del os.environ[SETTLE_ENV]

    assert planted.clock_lag_ns(os.stat(target).st_dev) is None
    assert planted.writes == 0
