"""Compiled Python bytecode (``.pyc``) in a model: identified by content, failed as a program.

Python imports a sourceless ``x.pyc`` beside a model's code, and a ``__pycache__`` entry whose
hash it does not check, without reading any source: a review of the ``.py`` files covers none
of it. The bytecode here is compiled by the running interpreter (``py_compile``), in each of its
invalidation modes.
"""

from __future__ import annotations

import json
import py_compile
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_mlsupply.cli import EXIT_FINDINGS, main
from pytest_mlsupply.engines.identification import Family, Format
from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.engines.sniff import identify_bytes
from pytest_mlsupply.results import Severity
from tests.conftest import write_model

MODES = {
    "timestamp": py_compile.PycInvalidationMode.TIMESTAMP,
    "checked-hash": py_compile.PycInvalidationMode.CHECKED_HASH,
    "unchecked-hash": py_compile.PycInvalidationMode.UNCHECKED_HASH,
}


def _compile(source: str, target: Path, mode: str = "unchecked-hash") -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    py = target.with_name("_src_" + target.stem + ".py")
    py.write_text(source)
    py_compile.compile(str(py), cfile=str(target), doraise=True, invalidation_mode=MODES[mode])
    py.unlink()
    return target


def _payload(canary: Path) -> str:
    return f"import pathlib\npathlib.Path({str(canary)!r}).touch()\n"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_bytecode_the_interpreter_writes_is_identified_in_every_invalidation_mode(
    tmp_path: Path, mode: str
) -> None:
    pyc = _compile("x = 1\n", tmp_path / "m.pyc", mode)
    ident = identify_bytes(pyc.read_bytes(), "weights.bin")
    assert ident.format == Format.PYTHON_BYTECODE
    assert ident.family == Family.EXECUTABLE
    assert ident.unsafe


@pytest.mark.parametrize(
    "data",
    [
        b"ab\r\ncd efgh ijkl mnop",  # text with a CRLF at byte 2
        b"\x00\x00\r\n" + b"\x00" * 20,  # magic number 0
        b"\xa7\x0d\r\n\x07\x00\x00\x00" + b"\x00" * 8 + b"\xe3",  # flags 7: no such pyc
        b"\xa7\x0d\r\n" + b"\x00" * 12 + b"Z",  # no code object after the header
    ],
    ids=["text", "magic-zero", "bad-flags", "no-code-object"],
)
def test_bytes_that_merely_resemble_a_bytecode_header_are_not_bytecode(data: bytes) -> None:
    assert identify_bytes(data, "x.bin").format != Format.PYTHON_BYTECODE


def test_a_sourceless_pyc_and_a_pycache_entry_fail_the_model_as_programs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m"
    write_model(model)
    (model / "modeling_x.py").write_text("x = 1\n")
    _compile(_payload(tmp_path / "canary"), model / "helpers.pyc")
    _compile(_payload(tmp_path / "canary"), model / "__pycache__" / "modeling_x.cpython-311.pyc")

    assert main(["scan", str(model), "--format", "json"]) == EXIT_FINDINGS
    report = json.loads(capsys.readouterr().out)
    failed = {
        (finding["location"]["file"], finding["rule"], finding["severity"])
        for row in report["results"]
        for finding in row["findings"]
    }
    assert ("m/helpers.pyc", "MLS-FMT-001", "critical") in failed
    assert ("m/__pycache__/modeling_x.cpython-311.pyc", "MLS-FMT-001", "critical") in failed
    assert not (tmp_path / "canary").exists()


def test_bytecode_inside_an_archive_is_an_executable_in_the_archive(tmp_path: Path) -> None:
    pyc = _compile(_payload(tmp_path / "canary"), tmp_path / "build" / "hook.pyc")
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(pyc, "pkg/hook.pyc")
    findings = scan_file(archive, "model.zip").findings
    assert any(f.rule == "MLS-ARC-008" and f.severity >= Severity.HIGH for f in findings)


def test_the_sample_is_real_python_imports_a_sourceless_pyc_and_runs_it(tmp_path: Path) -> None:
    """The victim proof, in a subprocess: only the bytecode exists, and importing it runs it."""
    model = tmp_path / "m"
    _compile(_payload(tmp_path / "canary"), model / "helpers.pyc")
    assert not (model / "helpers.py").exists()
    code = f"import sys; sys.path.insert(0, {str(model)!r}); import helpers"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert (tmp_path / "canary").exists()
