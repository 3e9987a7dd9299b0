"""The deep scan as pytest items: findings name the archive member, and the policy is honoured."""

from __future__ import annotations

import zipfile

import pytest

from tests.conftest import Project

# PROTO 2, GLOBAL 'mypkg.models Net', EMPTY_TUPLE, NEWOBJ, STOP: an unknown class, nothing else.
UNKNOWN_CLASS_PICKLE = b"\x80\x02cmypkg.models\nNet\n)\x81."
# PROTO 2, GLOBAL 'os system', SHORT_BINUNICODE 'true', TUPLE1, REDUCE, STOP.
OS_SYSTEM_PICKLE = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."


def test_a_payload_inside_a_torch_checkpoint_fails_with_its_member_and_offset(
    pytester: pytest.Pytester, project: Project
) -> None:
    with zipfile.ZipFile(project.model_dir / "pytorch_model.bin", "w") as archive:
        archive.writestr("archive/data.pkl", OS_SYSTEM_PICKLE)
        archive.writestr("archive/version", "3\n")
    result = pytester.runpytest("--mlsupply", "-k", "pytorch_model and scan")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*[[]CRITICAL[]] MLS-PKL-001*os.system*",
            "*where: tiny/pytorch_model.bin, member archive/data.pkl, byte 2*",
        ]
    )


def test_an_unknown_global_fails_under_default_deny_and_passes_once_allowed(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "model.pkl").write_bytes(UNKNOWN_CLASS_PICKLE)
    project.default_manifest(top="policy: {pickle_formats: scan}")
    denied = pytester.runpytest("--mlsupply", "-k", "model.pkl")
    assert denied.ret == pytest.ExitCode.TESTS_FAILED
    denied.stdout.fnmatch_lines(["*MLS-PKL-003*mypkg.models.Net*"])

    project.default_manifest(
        top="policy: {pickle_formats: scan, allow_globals: [mypkg.models.Net]}"
    )
    allowed = pytester.runpytest("--mlsupply", "-k", "model.pkl")
    assert allowed.ret == 0, allowed.stdout.str()
