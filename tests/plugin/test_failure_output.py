"""A failing item explains its findings like a security report, never with a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import Project, write_pickle_payload


def test_a_failing_item_shows_severity_what_where_why_fix_and_cwe(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "weights.safetensors")
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*artifact check 'format' on tiny/weights.safetensors: FAIL*",
            "*[[]HIGH[]] MLS-FMT-001 unsafe serialisation format*",
            "*where: tiny/weights.safetensors*",
            "*why it matters:*",
            "*fix:*",
            "*CWE-502*",
            "*MLS-FMT-004 file named .safetensors does not parse as that format*",
        ]
    )
    assert "Traceback" not in out
    assert "def runtest" not in out
    assert "items.py" not in out


def test_a_tampered_file_fails_its_pin_with_both_digests(
    pytester: pytest.Pytester, project: Project
) -> None:
    weights = project.model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = pytester.runpytest("--mlsupply", "-k", "sha256")
    result.stdout.fnmatch_lines(
        ["*[[]CRITICAL[]] MLS-PIN-001 file does not match its sha256 pin*", "*expected sha256:*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_an_item_that_cannot_complete_fails_as_an_error_not_a_pass(
    pytester: pytest.Pytester, project: Project
) -> None:
    broken = project.model_dir / "dangling.bin"
    broken.symlink_to(project.root / "does-not-exist")
    result = pytester.runpytest("--mlsupply", "-k", "dangling")
    result.stdout.fnmatch_lines(["*dangling.bin*ERROR*", "*could not complete:*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    matrix = (project.root / "build" / "mlsupply-matrix.json").read_text()
    assert '"error"' in matrix
