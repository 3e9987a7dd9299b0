"""The fuzz harness itself: its properties catch what they claim to, its seeds are real, and the
long-run command counts cases and failures."""

from __future__ import annotations

import importlib.util
import io
import time
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_mlsupply.engines.scanner import scan_file
from tests.fuzz import targets as targets_module
from tests.fuzz.mutate import _inner
from tests.fuzz.seeds import CANARY, seeds_by_format
from tests.fuzz.targets import TARGETS, CaseTimedOut, Target, run_case

_ROOT = Path(__file__).resolve().parents[2]


def _long_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_long_run", _ROOT / "benchmarks" / "fuzz.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _target(run: object) -> Target:
    return Target("probe", "a test double", lambda: [("x.bin", b"x")], ("x.bin",), run)  # type: ignore[arg-type]


def test_a_case_that_creates_the_canary_fails_and_names_what_appeared() -> None:
    def payload_runs(case: tuple[str, bytes], workdir: Path) -> None:
        CANARY.write_bytes(b"")

    try:
        with pytest.raises(AssertionError, match="a payload ran during the scan: \\['CANARY'\\]"):
            run_case(_target(payload_runs), ("x.bin", b"x"))
    finally:
        CANARY.unlink(missing_ok=True)


def test_a_case_that_hangs_is_stopped_as_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets_module, "CASE_SECONDS", 0.2)

    def hangs(case: tuple[str, bytes], workdir: Path) -> None:
        time.sleep(30)

    with pytest.raises(CaseTimedOut, match=r"longer than 0\.2 s"):
        run_case(_target(hangs), ("x.bin", b"x"))


@pytest.mark.parametrize("name", ["open-p2.pkl", "subprocess.pt", "open.joblib", "subprocess.npy"])
def test_the_canary_payload_seeds_are_real_and_the_scanner_flags_them(
    name: str, tmp_path: Path
) -> None:
    seeds = dict(case for group in seeds_by_format().values() for case in group)
    path = tmp_path / name
    path.write_bytes(seeds[name])

    report = scan_file(path, name)

    assert {"MLS-PKL-001", "MLS-PKL-002"} & {f.rule for f in report.findings}, report
    assert str(CANARY).encode() in seeds[name]
    assert not CANARY.exists()


def test_every_parser_of_the_issue_has_a_target() -> None:
    assert set(TARGETS) >= {
        "pickle",
        "torch",
        "zip",
        "tar",
        "7z",
        "compressed",
        "safetensors",
        "gguf",
        "onnx",
        "keras",
        "numpy",
        "templates",
        "hf-json",
        "manifest",
        "requirements",
        "osv",
    }


def test_the_long_run_prints_cases_and_rate_per_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _long_run().main(
        ["--cases", "5", "--chunk", "3", "--target", "osv", "--failures", str(tmp_path)]
    )

    out = capsys.readouterr().out
    assert status == 0, out
    assert "[osv] 3/5 cases" in out
    assert "| osv | 5 |" in out
    assert not list(tmp_path.iterdir())


def test_the_long_run_keeps_going_past_a_failure_and_keeps_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashes(case: tuple[str, bytes], workdir: Path) -> None:
        raise ValueError("the parser broke")

    monkeypatch.setitem(TARGETS, "probe", _target(crashes))
    long_run = _long_run()

    status = long_run.main(["--cases", "4", "--target", "probe", "--failures", str(tmp_path)])

    out = capsys.readouterr().out
    assert status == 1
    assert "| probe | 4 |" in out
    assert "4 x ValueError" in out
    assert len(list(tmp_path.glob("probe-*.bin"))) == 4
    assert "the parser broke" in (tmp_path / "probe-1.txt").read_text()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_inner_edit_repacks_the_zip_with_valid_checksums(data: st.DataObject) -> None:
    seeds = [case for case in seeds_by_format()["pytorch-zip"] if case[0] == "subprocess.pt"]
    original = seeds[0][1]

    repacked = bytes(_inner(data.draw, original, seeds))

    with zipfile.ZipFile(io.BytesIO(repacked)) as archive:
        assert archive.testzip() is None  # every member's CRC holds
        assert archive.namelist() == zipfile.ZipFile(io.BytesIO(original)).namelist()
