"""Torch checkpoints: zip read as torch reads it, legacy streams and tars, TorchScript code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import ScanLimits, ScanPolicy, ScanReport, scan_file
from tests.corpus.archives import RawMember, raw_zip, touch_pickle
from tests.corpus.torch import (
    LEGACY_MAGIC,
    legacy_storages,
    legacy_stream,
    legacy_tar,
    state_dict_pickle,
    torch_zip,
)

TENSORS = {"w": (2, 2)}


def scan_bytes(tmp_path: Path, name: str, data: bytes, **limits: int) -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path, name, ScanPolicy(limits=ScanLimits(**limits)))  # type: ignore[arg-type]


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


def blocking(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings if f.severity.label in ("high", "critical")}


def test_a_hand_built_state_dict_checkpoint_is_clean(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "model.pt", torch_zip(state_dict_pickle(TENSORS)))
    assert report.findings == []
    assert report.errors == []
    assert report.formats["archive/data.pkl"] == "pickle"


def test_tensor_storages_are_not_scanned_as_pickles(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "model.pt", torch_zip(state_dict_pickle(TENSORS)))
    assert not any("/data/" in member for member in report.formats)


def test_a_storage_that_is_really_a_pickle_is_scanned(tmp_path: Path) -> None:
    data = torch_zip(
        state_dict_pickle(TENSORS), extra=[RawMember("archive/data/7", touch_pickle("c"))]
    )
    finding = next(f for f in scan_bytes(tmp_path, "m.pt", data).findings)
    assert finding.location.member == "archive/data/7"


def test_a_storage_whose_first_bytes_pickle_load_would_run_is_reported(tmp_path: Path) -> None:
    # Not a pickle by identification (it breaks off after the call), so not unpickled whole;
    # the probe of its head still sees what a loader handed this member would run.
    hidden = b"I0x1\n0cposix\nsystem\n(S'true'\ntR0" + bytes(range(256)) * 16
    data = torch_zip(state_dict_pickle(TENSORS), extra=[RawMember("archive/data/9", hidden)])
    report = scan_bytes(tmp_path, "m.pt", data)
    executed = [f for f in report.findings if f.rule == "MLS-PKL-002"]
    assert [f.location.member for f in executed] == ["archive/data/9"]


def test_a_malicious_data_pkl_is_critical_with_its_member(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "model.pt", torch_zip(touch_pickle("c")))
    finding = next(f for f in report.findings if f.rule == "MLS-PKL-001")
    assert finding.location.member == "archive/data.pkl"
    assert finding.location.file == "model.pt"


def test_a_pickle_in_a_member_with_a_tensor_like_name_is_scanned(tmp_path: Path) -> None:
    extra = [RawMember("archive/weights.bin", touch_pickle("c"), deflate=True)]
    report = scan_bytes(tmp_path, "m.pt", torch_zip(state_dict_pickle(TENSORS), extra=extra))
    assert "MLS-PKL-001" in rules(report)


@pytest.mark.parametrize(
    ("member", "rule"),
    [
        (RawMember("archive/data.pkl", b"", crc=0x1234), "MLS-TORCH-003"),
        (RawMember("archive/data.pkl", b"", local_name="archive/other.pk"), "MLS-TORCH-001"),
        (RawMember("archive/data.pkl", b"", flags=0x1), "MLS-TORCH-004"),
    ],
    ids=["bad-crc", "name-mismatch", "encrypted-flag"],
)
def test_zip_inconsistencies_torch_accepts_are_findings_and_do_not_stop_the_scan(
    member: RawMember, rule: str, tmp_path: Path
) -> None:
    member = RawMember(
        member.name,
        touch_pickle("c"),
        local_name=member.local_name,
        crc=member.crc,
        flags=member.flags,
    )
    report = scan_bytes(tmp_path, "m.pt", torch_zip(b"", data_pkl_member=member))
    assert {rule, "MLS-PKL-001"} <= blocking(report)
    assert report.errors == []


def test_a_second_data_pkl_is_a_duplicate_finding_and_both_are_scanned(tmp_path: Path) -> None:
    extra = [RawMember("archive/data.pkl", touch_pickle("c"))]
    report = scan_bytes(tmp_path, "m.pt", torch_zip(state_dict_pickle(TENSORS), extra=extra))
    assert {"MLS-TORCH-002", "MLS-PKL-001"} <= blocking(report)


def test_content_before_the_archive_is_a_polyglot_finding(tmp_path: Path) -> None:
    data = raw_zip([RawMember("archive/data.pkl", pickle.dumps(1))], prefix=b"JUNK" * 30)
    assert "MLS-TORCH-007" in blocking(scan_bytes(tmp_path, "m.pt", data))


def test_an_archive_comment_is_a_medium_finding(tmp_path: Path) -> None:
    data = torch_zip(state_dict_pickle(TENSORS), comment=b"hello")
    finding = next(f for f in scan_bytes(tmp_path, "m.pt", data).findings)
    assert (finding.rule, finding.severity.label) == ("MLS-TORCH-008", "medium")


def test_members_outside_the_archive_folder_are_a_layout_finding(tmp_path: Path) -> None:
    extra = [RawMember("elsewhere/notes.txt", b"hi\n")]
    data = torch_zip(state_dict_pickle(TENSORS), extra=extra)
    finding = next(f for f in scan_bytes(tmp_path, "m.pt", data).findings)
    assert finding.rule == "MLS-TORCH-009"
    assert "elsewhere/notes.txt" in finding.evidence


def test_a_legacy_stream_with_the_payload_in_its_second_pickle_is_found(tmp_path: Path) -> None:
    data = legacy_stream(
        [pickle.dumps(LEGACY_MAGIC, protocol=2), touch_pickle("c"), pickle.dumps({})]
    )
    report = scan_bytes(tmp_path, "m.pt", data)
    assert report.formats[""] == "pytorch-legacy"
    assert "MLS-PKL-001" in rules(report)


def test_a_benign_legacy_stream_is_not_blocking(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "m.pt", legacy_stream())
    assert blocking(report) == set()
    assert report.errors == []


def test_a_legacy_tar_is_clean_and_its_storages_layout_is_followed(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "m.tar", legacy_tar())
    assert report.formats[""] == "pytorch-tar"
    assert report.findings == []
    assert report.errors == []


def test_a_payload_in_a_later_storage_header_of_a_legacy_tar_is_found(tmp_path: Path) -> None:
    from tests.corpus.torch import _storage_args

    storages = legacy_storages([_storage_args("0"), touch_pickle("c")])
    report = scan_bytes(tmp_path, "m.tar", legacy_tar(storages=storages))
    finding = next(f for f in report.findings if f.rule == "MLS-PKL-001")
    assert finding.location.member == "storages"


def test_an_unfollowable_legacy_storages_member_is_an_error(tmp_path: Path) -> None:
    storages = pickle.dumps(2, protocol=2) + pickle.dumps(("0", "cpu", "no-type")) + b"\x00" * 8
    report = scan_bytes(tmp_path, "m.tar", legacy_tar(storages=storages))
    assert any("storages layout" in e for e in report.errors)


def _torchscript(code: bytes) -> bytes:
    from tests.corpus.torch import _torchscript_like

    return _torchscript_like(code)


def test_torchscript_classes_are_trusted_in_a_torchscript_archive(tmp_path: Path) -> None:
    code = b"class Model(Module):\n  def forward(self, x: Tensor) -> Tensor:\n    return x\n"
    report = scan_bytes(tmp_path, "ts.pt", _torchscript(code))
    assert report.formats[""] == "torchscript"
    assert report.findings == []


def test_torchscript_code_importing_os_is_a_high_finding_with_its_line(tmp_path: Path) -> None:
    code = b"class M(Module):\n  def forward(self, x: Tensor) -> Tensor:\n    os.system('x')\n"
    finding = next(f for f in scan_bytes(tmp_path, "ts.pt", _torchscript(code)).findings)
    assert (finding.rule, finding.severity.label) == ("MLS-TORCH-010", "high")
    assert finding.location.line == 3
    assert "os.system" in finding.evidence


def test_a_custom_operator_namespace_is_a_medium_finding(tmp_path: Path) -> None:
    code = b"def f(x: Tensor) -> Tensor:\n  return torch.ops.evil_ns.run(x)\n"
    finding = next(f for f in scan_bytes(tmp_path, "ts.pt", _torchscript(code)).findings)
    assert (finding.rule, finding.severity.label) == ("MLS-TORCH-010", "medium")


def test_a_member_above_the_limit_is_reported_not_read(tmp_path: Path) -> None:
    extra = [RawMember("archive/big.txt", b"word " * 1000)]
    data = torch_zip(state_dict_pickle(TENSORS), extra=extra)
    assert "MLS-ARC-010" in rules(scan_bytes(tmp_path, "m.pt", data, max_member_bytes=2000))


@pytest.mark.needs("torch")
def test_a_real_torch_save_checkpoint_is_clean(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "real.pt"
    torch.save({"model": torch.nn.Linear(3, 2).state_dict(), "epoch": 1}, path)
    report = scan_file(path, "real.pt")
    assert report.findings == []
    assert report.errors == []


def test_a_payload_in_data_pkl_says_torch_loads_default_stops_it_first(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "m.pt", torch_zip(touch_pickle("c")))
    payload = [f for f in report.findings if f.rule in ("MLS-PKL-001", "MLS-PKL-002")]
    assert payload
    for finding in payload:
        assert "torch.load's default (weights_only=True" in finding.evidence
        assert "not on its allowlist" in finding.evidence
        assert "runs with weights_only=False" in finding.evidence


def test_a_global_torch_loads_default_accepts_is_said_to_run_under_the_default(
    tmp_path: Path,
) -> None:
    # torch.bits8 is on torch's weights-only allowlist, not on ours (default-deny: high).
    data = b"\x80\x02ctorch\nbits8\nq\x00."
    report = scan_bytes(tmp_path, "m.pt", torch_zip(data))
    [finding] = [f for f in report.findings if f.rule == "MLS-PKL-003"]
    assert "torch.load(weights_only=True) does not stop this" in finding.evidence


def test_a_plain_pickle_named_like_a_checkpoint_is_judged_for_torch_load_too(
    tmp_path: Path,
) -> None:
    text_pickle = b"I0x1\n0cposix\nsystem\n(S'true'\ntR."
    for name, noted in (("weights.pt", True), ("weights.bin", True), ("weights.pkl", False)):
        findings = scan_bytes(tmp_path, name, text_pickle).findings
        evidence = next(f.evidence for f in findings if f.rule == "MLS-PKL-002")
        assert ("does not implement the INT opcode" in evidence) is noted, name


@pytest.mark.needs("torch")
def test_the_vendored_weights_only_allowlist_is_the_installed_torchs() -> None:
    import torch._weights_only_unpickler as restricted

    from pytest_mlsupply.engines.formats.torch_weights_only import (
        ALLOWED_GLOBALS,
        BLOCKED_MODULES,
    )

    assert set(restricted._get_allowed_globals()) == ALLOWED_GLOBALS
    assert set(restricted._blocklisted_modules) == BLOCKED_MODULES
