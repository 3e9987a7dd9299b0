"""The generic archive engines: zip, tar and 7z members, names, links, limits."""

from __future__ import annotations

import io
import pickle
import re
import stat
import subprocess
import tarfile
from pathlib import Path

import py7zr
import pytest

from pytest_mlsupply.engines.containers import unsafe_member_name
from pytest_mlsupply.engines.scanner import ScanLimits, ScanPolicy, ScanReport, scan_file
from pytest_mlsupply.engines.ziparchive import read_zip_directory, zip_structure_problems
from tests.corpus.archives import RawMember, raw_zip, seven_zip, tar_bytes, touch_pickle


def scan_bytes(tmp_path: Path, name: str, data: bytes, **limits: int | float) -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    policy = ScanPolicy(limits=ScanLimits(**limits))  # type: ignore[arg-type]
    return scan_file(path, name, policy)


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("model/weights.bin", False),
        ("./a/b", False),
        ("a/../b", True),
        ("../evil", True),
        ("a/../../evil", True),
        ("/etc/passwd", True),
        ("C:/Windows/evil.dll", True),
        ("..\\evil", True),
    ],
)
def test_member_names_that_leave_the_extraction_directory_are_recognised(
    name: str, unsafe: bool
) -> None:
    assert (unsafe_member_name(name) is not None) is unsafe


def test_a_pickle_member_of_a_zip_is_scanned_with_its_member_in_the_location(
    tmp_path: Path,
) -> None:
    data = raw_zip([RawMember("notes.txt", b"hello\n"), RawMember("m/x.pkl", touch_pickle("c"))])
    report = scan_bytes(tmp_path, "bundle.zip", data)
    critical = [f for f in report.findings if f.rule == "MLS-PKL-001"]
    assert critical
    assert critical[0].location.member == "m/x.pkl"


def test_a_zip_member_climbing_out_with_dot_dot_is_a_high_finding(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "a.zip", raw_zip([RawMember("x/../../evil.sh", b"echo\n")]))
    finding = next(f for f in report.findings if f.rule == "MLS-ARC-004")
    assert finding.severity.label == "high"
    assert finding.cwe == "CWE-22"


def test_a_zip_member_name_with_a_nul_byte_is_high_as_zipfile_reads_another_name(
    tmp_path: Path,
) -> None:
    report = scan_bytes(tmp_path, "a.zip", raw_zip([RawMember("config.json\x00.txt", b"{}")]))
    finding = next(f for f in report.findings if f.rule == "MLS-ARC-004")
    assert finding.severity.label == "high"
    assert "NUL" in finding.evidence


def test_a_zip_entry_with_symlink_mode_bits_reports_its_target(tmp_path: Path) -> None:
    member = RawMember("link", b"/etc/shadow", unix_mode=stat.S_IFLNK | 0o777)
    report = scan_bytes(tmp_path, "a.zip", raw_zip([member]))
    finding = next(f for f in report.findings if f.rule == "MLS-ARC-005")
    assert "/etc/shadow" in finding.evidence


def test_a_tar_symlink_and_hardlink_are_findings(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, target in [
            ("s", tarfile.SYMTYPE, "../../etc"),
            ("h", tarfile.LNKTYPE, "/etc/passwd"),
        ]:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tar.addfile(info)
    report = scan_bytes(tmp_path, "a.tar", out.getvalue())
    titles = {f.title for f in report.findings if f.rule == "MLS-ARC-005"}
    assert titles == {"archive member is a symbolic link", "archive member is a hard link"}


def test_an_encrypted_zip_member_is_a_finding_not_silence(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "a.zip", raw_zip([RawMember("m.pkl", b"\x01" * 40, flags=1)]))
    assert "MLS-ARC-007" in rules(report)


def test_duplicate_member_names_are_reported_once(tmp_path: Path) -> None:
    data = raw_zip([RawMember("a.txt", b"1\n"), RawMember("a.txt", b"2\n")])
    report = scan_bytes(tmp_path, "a.zip", data)
    assert [f.rule for f in report.findings].count("MLS-ARC-006") == 1


def test_a_highly_compressible_member_beyond_the_ratio_is_a_bomb(tmp_path: Path) -> None:
    data = raw_zip([RawMember("zeros", b"\x00" * (3 << 20), deflate=True)])
    report = scan_bytes(tmp_path, "a.zip", data, max_ratio=100.0)
    bomb = next(f for f in report.findings if f.rule == "MLS-ARC-001")
    assert bomb.cwe == "CWE-409"


def test_a_member_over_the_per_member_limit_is_not_extracted(tmp_path: Path) -> None:
    data = raw_zip([RawMember("big.txt", b"hello world\n" * 500)])
    report = scan_bytes(tmp_path, "a.zip", data, max_member_bytes=1000)
    assert "MLS-ARC-010" in rules(report)
    assert report.formats == {"": "zip"}


def test_nesting_past_the_depth_limit_is_reported_not_followed(tmp_path: Path) -> None:
    data = touch_pickle("c")
    for level in range(4):
        data = raw_zip([RawMember(f"l{level}.bin", data)])
    report = scan_bytes(tmp_path, "a.zip", data, max_depth=2)
    assert "MLS-ARC-002" in rules(report)
    assert "MLS-PKL-001" not in rules(report)


def test_the_extraction_budget_ends_in_the_existing_budget_finding(tmp_path: Path) -> None:
    data = raw_zip([RawMember(f"{i}.txt", b"x" * 400) for i in range(5)])
    report = scan_bytes(tmp_path, "a.zip", data, max_total_bytes=1000)
    assert "MLS-ARC-003" in rules(report)


def test_members_past_the_member_count_limit_are_reported(tmp_path: Path) -> None:
    data = raw_zip([RawMember(f"{i}.txt", b"x\n") for i in range(5)])
    assert "MLS-ARC-009" in rules(scan_bytes(tmp_path, "a.zip", data, max_members=3))


def test_an_executable_inside_an_archive_is_critical(tmp_path: Path) -> None:
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 57
    report = scan_bytes(tmp_path, "a.tar", tar_bytes([("bin/tool", elf)]))
    finding = next(f for f in report.findings if f.rule == "MLS-ARC-008")
    assert finding.severity.label == "critical"
    assert finding.location.member == "bin/tool"


def test_a_pickle_inside_a_zip_inside_a_gzipped_tar_is_found(tmp_path: Path) -> None:
    inner = raw_zip([RawMember("w.pkl", touch_pickle("c"), deflate=True)])
    report = scan_bytes(tmp_path, "m.tar.gz", tar_bytes([("b/m.zip", inner)], mode="w:gz"))
    finding = next(f for f in report.findings if f.rule == "MLS-PKL-001")
    assert finding.location.member == "m.tar/b/m.zip/w.pkl"


def test_a_clean_archive_of_text_files_has_no_findings(tmp_path: Path) -> None:
    data = raw_zip([RawMember("d/", b""), RawMember("d/a.md", b"# hi\n" * 100, deflate=True)])
    report = scan_bytes(tmp_path, "a.zip", data)
    assert report.findings == []
    assert report.errors == []


def test_a_zip_without_a_central_directory_is_an_error(tmp_path: Path) -> None:
    data = raw_zip([RawMember("a.txt", b"x")])
    report = scan_bytes(tmp_path, "a.zip", data[: data.rindex(b"PK\x01\x02")])
    assert report.errors


def test_the_zip_reader_takes_data_offsets_from_local_headers(tmp_path: Path) -> None:
    data = raw_zip([RawMember("a/data.pkl", b"x", local_name="a/longer-local-name.pkl")])
    directory = read_zip_directory(io.BytesIO(data), len(data))
    entry = directory.entries[0]
    assert entry.data_offset == 30 + len("a/longer-local-name.pkl")
    kinds = {kind for kind, _, _ in zip_structure_problems(directory)}
    assert kinds == {"name-mismatch"}


def test_overlapping_members_are_a_structure_problem() -> None:
    data = bytearray(raw_zip([RawMember("a", b"x" * 50), RawMember("b", b"y" * 50)]))
    # Point the second central record at the first member's header.
    second = data.rindex(b"PK\x01\x02")
    data[second + 42 : second + 46] = b"\x00\x00\x00\x00"
    directory = read_zip_directory(io.BytesIO(bytes(data)), len(data))
    assert "overlap" in {kind for kind, _, _ in zip_structure_problems(directory)}


def test_a_pickle_inside_a_7z_archive_is_scanned(tmp_path: Path) -> None:
    import py7zr

    path = tmp_path / "a.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(touch_pickle("c"), "model.pkl")
        archive.writestr(pickle.dumps({"ok": 1}), "ok.pkl")
    report = scan_file(path, "a.7z")
    assert "MLS-PKL-001" in rules(report)


def test_the_decoders_for_common_archives_are_dependencies_not_extras() -> None:
    # A gate that errors on .7z, .zst or .lz4 unless an extra is installed is a trap.
    from importlib.metadata import requires

    declared = {
        re.split(r"[<>=~!\[; ]", line, maxsplit=1)[0].lower()
        for line in requires("pytest-mlsupply") or []
        if "extra ==" not in line
    }
    assert {"py7zr", "zstandard", "lz4"} <= declared


def test_a_7z_member_py7zr_refuses_to_extract_is_reported_and_its_content_still_scanned(
    tmp_path: Path,
) -> None:
    data = seven_zip(
        [("../../escape.pkl", touch_pickle("c")), ("/etc/cron.d/x", b"* * * * * root id\n")]
    )
    report = scan_bytes(tmp_path, "bundle.7z", data)
    traversal = {f.location.key_path for f in report.findings if f.rule == "MLS-ARC-004"}
    assert traversal == {"../../escape.pkl", "/etc/cron.d/x"}
    executed = [f for f in report.findings if f.rule == "MLS-PKL-002"]
    assert [f.location.member for f in executed] == ["../../escape.pkl"]
    assert report.errors == []


def test_every_copy_of_a_duplicated_7z_member_is_scanned(tmp_path: Path) -> None:
    data = seven_zip([("model.pkl", pickle.dumps({"a": 1})), ("model.pkl", touch_pickle("c"))])
    report = scan_bytes(tmp_path, "bundle.7z", data)
    assert "MLS-ARC-006" in rules(report)
    assert "MLS-PKL-002" in rules(report)


def test_a_solid_7z_whose_members_expand_past_the_ratio_is_a_bomb_not_extracted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "solid.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"small", "a.txt")
        for index in range(4):
            archive.writestr(b"\x00" * (4 << 20), f"zeros-{index}.bin")
    report = scan_file(path, "solid.7z", ScanPolicy(limits=ScanLimits(max_ratio=50.0)))
    [bomb] = [f for f in report.findings if f.rule == "MLS-ARC-001"]
    assert "declared sizes" in bomb.evidence
    assert report.formats == {"": "7z"}  # nothing was extracted


def test_a_7z_symbolic_link_is_reported_with_its_target(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    link = tmp_path / "src" / "weights.bin"
    link.symlink_to("/etc/passwd")
    path = tmp_path / "links.7z"
    with py7zr.SevenZipFile(path, "w", dereference=False) as archive:
        archive.write(link, "weights.bin")
    report = scan_file(path, "links.7z")
    [finding] = [f for f in report.findings if f.rule == "MLS-ARC-005"]
    assert "'/etc/passwd'" in finding.evidence
    assert finding.severity.label == "high"


def test_a_sparse_tar_member_of_mostly_holes_is_a_bomb_not_read(tmp_path: Path) -> None:
    hole = tmp_path / "big.bin"
    with hole.open("wb") as handle:
        handle.truncate(256 << 20)
    archive = tmp_path / "sparse.tar"
    subprocess.run(
        ["tar", "--sparse", "-cf", str(archive), "-C", str(tmp_path), "big.bin"], check=True
    )
    assert archive.stat().st_size < 1 << 20
    report = scan_file(archive, "sparse.tar")
    [bomb] = [f for f in report.findings if f.rule == "MLS-ARC-001"]
    assert "sparse member" in bomb.evidence


@pytest.mark.parametrize(("host", "label"), [(3, "unix"), (5, "atari"), (16, "beos")])
def test_a_zip_symlink_is_reported_whatever_host_made_it(
    tmp_path: Path, host: int, label: str
) -> None:
    member = RawMember("weights.bin", b"/etc/passwd", unix_mode=0o120777, host=host)
    report = scan_bytes(tmp_path, f"{label}.zip", raw_zip([member]))
    [finding] = [f for f in report.findings if f.rule == "MLS-ARC-005"]
    assert "'/etc/passwd'" in finding.evidence
