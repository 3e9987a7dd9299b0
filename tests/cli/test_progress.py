"""``mlsupply scan``'s progress bar: on a terminal's stderr only, never in the machine output."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from pytest_mlsupply.progress import Progress, human_bytes
from tests.conftest import write_model

ROOT = Path(__file__).resolve().parents[2]


def _scan(args: list[str], *, stderr_tty: bool) -> tuple[int, bytes, bytes]:
    """Run ``mlsupply scan`` in a child whose stderr is a pseudo-terminal or a pipe."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest_mlsupply.cli", "scan", *args]
    if not stderr_tty:
        proc = subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    primary, secondary = pty.openpty()
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=secondary, env=env)
        os.close(secondary)
        terminal = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the child closed its end of the terminal
                break
            if not chunk:
                break
            terminal += chunk
        out, _ = child.communicate(timeout=120)
    finally:
        os.close(primary)
    return child.returncode, out, terminal


@pytest.fixture
def model(tmp_path: Path) -> Path:
    write_model(tmp_path / "m")
    # A few MiB so the byte counts read in MiB; zeros are a valid tensor and cheap to write.
    save_file({"big": np.zeros(3 << 18, dtype=np.float32)}, str(tmp_path / "m" / "big.safetensors"))
    return tmp_path / "m"


def test_a_scan_on_a_terminal_draws_the_bar_on_stderr_and_ends_its_line(model: Path) -> None:
    files = sum(1 for p in model.rglob("*") if p.is_file())
    code, out, terminal = _scan([str(model)], stderr_tty=True)
    assert code == 0, out
    text = terminal.decode()
    assert "\r[####################]" in text  # the full bar, redrawn in place
    assert f"{files}/{files} files" in text
    assert " MiB/3.0 MiB  " in text
    assert "/s" in text
    assert text.endswith("\n")  # the next output starts on a clean line
    assert b"\r" not in out  # stdout carries only the report


def test_a_piped_scan_shows_no_bar_and_its_output_is_the_terminal_runs_output(
    model: Path,
) -> None:
    for fmt in ("text", "json", "sarif"):
        code, piped_out, piped_err = _scan([str(model), "--format", fmt], stderr_tty=False)
        assert code == 0, piped_err
        assert piped_err == b""
        _, tty_out, _ = _scan([str(model), "--format", fmt], stderr_tty=True)
        assert tty_out == piped_out, fmt


def test_quiet_hides_the_bar_even_on_a_terminal(model: Path) -> None:
    code, out, terminal = _scan([str(model), "--quiet"], stderr_tty=True)
    assert code == 0, out
    assert b"files" not in terminal
    assert b"scanned" in out


def test_the_bar_redraws_at_most_ten_times_a_second_but_always_shows_the_end() -> None:
    now = [0.0]
    stream = io.StringIO()
    bar = Progress(1000, 1000 * 1024, stream, clock=lambda: now[0])
    for _ in range(999):
        bar.advance(1024)  # no time passes: only the first file draws
    assert stream.getvalue().count("\r") == 1
    bar.advance(1024)  # the last file always draws
    bar.close()
    lines = stream.getvalue().split("\r")
    assert lines[-1].startswith("[####################] 1000/1000 files")
    assert "1000.0 KiB/1000.0 KiB" in lines[-1]
    assert stream.getvalue().endswith("\n")


def test_a_shorter_redraw_erases_the_longer_line_before_it() -> None:
    now = [0.0]
    stream = io.StringIO()
    bar = Progress(2, 2 << 30, stream, clock=lambda: now[0])
    now[0] = 1e-6  # a huge rate on the first draw: a long line
    bar.advance(1 << 30)
    first = stream.getvalue()
    now[0] = 1000.0
    bar.advance(1 << 30)
    second = stream.getvalue()[len(first) :]
    assert len(second) >= len(first)  # padded over what was there


def test_without_a_stream_the_bar_writes_nothing_and_still_counts() -> None:
    bar = Progress(2, 10, None)
    bar.advance(4)
    bar.close()
    assert not bar.shown
    assert (bar.done_files, bar.done_bytes) == (1, 4)


def test_byte_counts_read_in_binary_units() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 << 30) == "3.0 GiB"
