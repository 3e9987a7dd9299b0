"""The parts the crash-safe reports are made of: signals held while the reports are written,
SIGTERM raised as an interruption, the reports' lock, and a killed writer's temp files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mlsupply.plugin.interrupts import (
    Terminated,
    TerminationHandler,
    interruption,
    signals_held,
)
from pytest_mlsupply.reports import atomic
from pytest_mlsupply.reports.atomic import write_atomic
from pytest_mlsupply.reports.lock import OutputsBusy, reports_locked


@pytest.fixture
def default_sigterm() -> Iterator[None]:
    """SIGTERM at Python's default for the test (xdist workers may have their own), then back."""
    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_signal_while_held_is_recorded_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    with signals_held() as held:
        assert not held
        os.kill(os.getpid(), signal.SIGTERM)

    assert held.received == [signal.SIGTERM]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def _signal_twice(first: int, second: int) -> None:
    with signals_held():
        os.kill(os.getpid(), first)
        os.kill(os.getpid(), second)


def test_a_second_signal_while_held_stops_the_block() -> None:
    with pytest.raises(KeyboardInterrupt):
        _signal_twice(signal.SIGINT, signal.SIGINT)
    with pytest.raises(Terminated):
        _signal_twice(signal.SIGINT, signal.SIGTERM)


def test_sigterm_is_raised_as_an_interruption_until_the_handler_is_restored(
    default_sigterm: None,
) -> None:
    handler = TerminationHandler()
    handler.install()

    with pytest.raises(Terminated) as raised:
        os.kill(os.getpid(), signal.SIGTERM)
    assert interruption(raised.value) == "SIGTERM"

    handler.restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_someone_elses_sigterm_handler_is_left_alone(default_sigterm: None) -> None:
    def theirs(signum: int, frame: object) -> None:
        pass

    signal.signal(signal.SIGTERM, theirs)
    handler = TerminationHandler()

    handler.install()
    assert signal.getsignal(signal.SIGTERM) is theirs
    handler.restore()
    assert signal.getsignal(signal.SIGTERM) is theirs


def test_ctrl_c_is_an_interruption_and_pytest_exit_is_not() -> None:
    assert interruption(KeyboardInterrupt()) == "Ctrl-C (SIGINT)"
    assert interruption(pytest.exit.Exception("stop")) is None


def test_the_reports_lock_is_held_on_the_folder_and_leaves_no_file(tmp_path: Path) -> None:
    reports = tmp_path / "build" / "reports"

    with reports_locked(reports, stop=lambda: False) as go:
        assert go
        # A second session (another open file description) cannot have it meanwhile.
        with (
            pytest.raises(OutputsBusy, match=str(reports)),
            reports_locked(reports, stop=lambda: False, wait_seconds=0.05),
        ):
            pass

    assert list(reports.iterdir()) == []
    with reports_locked(reports, stop=lambda: False) as go:
        assert go  # released when the first block ended


def test_an_interrupted_session_stops_waiting_for_the_lock_and_writes_nothing(
    tmp_path: Path,
) -> None:
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 3  # interrupted while waiting

    with reports_locked(tmp_path, stop=lambda: False), reports_locked(tmp_path, stop=stop) as go:
        assert go is False


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def _temp(target: Path, pid: int, age_seconds: float, token: str = "0" * 16) -> Path:
    temp = target.with_name(f".{target.name}.{pid}-{token}.tmp")
    temp.write_text("half a rep")
    then = time.time() - age_seconds
    os.utime(temp, (then, then))
    return temp


def test_a_killed_writers_old_temp_is_removed_by_the_next_write_of_that_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "bom.json"
    dead = _dead_pid()
    old_dead = _temp(target, dead, atomic.STALE_TEMP_SECONDS + 60)
    young_dead = _temp(target, dead, 0, token="1" * 16)
    live = _temp(target, os.getppid(), atomic.STALE_TEMP_SECONDS + 60)
    another_file = _temp(tmp_path / "matrix.md", dead, atomic.STALE_TEMP_SECONDS + 60)

    write_atomic(target, "whole")

    assert target.read_text() == "whole"
    assert not old_dead.exists()
    # A young one may be a live writer in another pid namespace; a live pid's is in flight;
    # another file's is that file's write to clean.
    assert young_dead.exists()
    assert live.exists()
    assert another_file.exists()
