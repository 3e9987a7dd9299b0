"""Atomic report writes: the target is the old file or the new one, and no temp file survives."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.reports import atomic
from pytest_mlsupply.reports.atomic import write_atomic

if TYPE_CHECKING:
    from pathlib import Path

# A lone surrogate cannot be encoded as UTF-8: the write fails after the temp file exists.
UNENCODABLE = "half a report \ud800"


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_it_writes_text_as_utf8_and_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "build" / "reports" / "bom.json"

    write_atomic(target, "naïve\n")

    assert target.read_bytes() == "naïve\n".encode()
    assert _listing(target.parent) == ["bom.json"]


def test_it_writes_bytes_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"

    write_atomic(target, b"\x00\r\n\xff")

    assert target.read_bytes() == b"\x00\r\n\xff"


def test_it_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "matrix.md"
    target.write_text("old")

    write_atomic(target, "new")

    assert target.read_text() == "new"
    assert _listing(tmp_path) == ["matrix.md"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "bom.json"
    target.write_text("old bom")

    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, UNENCODABLE)

    assert target.read_text() == "old bom"
    assert _listing(tmp_path) == ["bom.json"]


def test_a_failed_first_write_creates_no_target(tmp_path: Path) -> None:
    target = tmp_path / "bom.json"

    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, UNENCODABLE)

    assert _listing(tmp_path) == []


def test_a_failing_fsync_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "bom.json"
    target.write_text("old bom")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)

    with pytest.raises(OSError, match="Input/output error"):
        write_atomic(target, "new bom")

    assert target.read_text() == "old bom"
    assert _listing(tmp_path) == ["bom.json"]


def test_a_failing_rename_removes_the_temp_file(tmp_path: Path) -> None:
    # A directory where the report should go: os.replace refuses to put a file over it.
    target = tmp_path / "bom.json"
    target.mkdir()
    (target / "keep").write_text("untouched")

    # IsADirectoryError on Linux, PermissionError on Windows.
    with pytest.raises((IsADirectoryError, PermissionError)):
        write_atomic(target, "new bom")

    assert _listing(tmp_path) == ["bom.json"]
    assert (target / "keep").read_text() == "untouched"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="needs POSIX permissions that apply (root ignores them)",
)
def test_a_read_only_directory_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "out" / "bom.json"
    target.parent.mkdir()
    target.write_text("old bom")
    target.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(PermissionError):
            write_atomic(target, "new bom")
        assert target.read_text() == "old bom"
        assert _listing(target.parent) == ["bom.json"]
    finally:
        target.parent.chmod(stat.S_IRWXU)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_new_report_gets_ordinary_permissions_not_temp_file_ones(tmp_path: Path) -> None:
    target = tmp_path / "bom.json"
    umask = os.umask(0o022)
    try:
        write_atomic(target, "{}")
    finally:
        os.umask(umask)

    assert stat.S_IMODE(target.stat().st_mode) == 0o644
