"""A budget exceeded inside an archive member names that member, not only the archive."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, scan_file

#: PROTO 4, then NONE MEMOIZE POP: a memo of a million entries (past 16 MiB at 128 B each).
MILLION_MEMO_ENTRIES = b"\x80\x04" + b"N\x940" * 1_000_000 + b"N."


def stored_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_the_memory_budget_finding_names_the_nested_checkpoint_that_went_past_it(
    tmp_path: Path,
) -> None:
    # x.zip has the torch zip layout (one pickle in a folder): its pickle is read in place.
    inner = stored_zip({"deep/memo.pkl": MILLION_MEMO_ENTRIES})
    path = tmp_path / "bundle.zip"
    path.write_bytes(stored_zip({"readme.txt": b"hello", "x.zip": inner}))
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_memory_mb=16)))
    [finding] = [f for f in report.findings if f.rule == "MLS-LIM-002"]
    assert finding.location.file == "bundle.zip"
    assert finding.location.member == "x.zip"  # was None: only the outer archive was named


def test_a_budget_exceeded_by_the_file_itself_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "memo.pkl"
    path.write_bytes(MILLION_MEMO_ENTRIES)
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_memory_mb=16)))
    [finding] = [f for f in report.findings if f.rule == "MLS-LIM-002"]
    assert (finding.location.file, finding.location.member) == ("memo.pkl", None)
