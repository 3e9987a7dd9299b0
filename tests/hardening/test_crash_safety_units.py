"""The parts the crash-safe reports are made of: signals held while the reports are written,
SIGTERM raised as an interruption, the reports' lock, and a killed writer's temp files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mlsupply.plugin.interrupts import (
    SignalWatch,
    Terminated,
    signals_held,
)
from pytest_mlsupply.reports import atomic
from pytest_mlsupply.reports.atomic import write_atomic
from pytest_mlsupply.reports.lock import OutputsBusy, reports_locked


@pytest.fixture
def python_defaults() -> Iterator[None]:
    """SIGTERM and SIGINT at Python's defaults for the test (xdist workers may have their own)."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


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


def test_a_second_signal_while_held_stops_the_block(python_defaults: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        _signal_twice(signal.SIGINT, signal.SIGINT)
    with pytest.raises(Terminated):
        _signal_twice(signal.SIGINT, signal.SIGTERM)


def test_sigterm_is_raised_as_an_interruption_until_the_handlers_are_restored(
    python_defaults: None,
) -> None:
    watch = SignalWatch()
    watch.install()

    with pytest.raises(Terminated) as raised:
        os.kill(os.getpid(), signal.SIGTERM)
    assert watch.interruption(raised.value) == "SIGTERM"

    watch.restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_is_an_interruption_and_a_keyboard_interrupt_without_a_signal_is_not(
    python_defaults: None,
) -> None:
    watch = SignalWatch()
    watch.install()
    try:
        # pytest's own KeyboardInterrupt subclass, for a run stopped by collection errors (and
        # xdist's, for -x): no signal, the reports are written as always.
        assert watch.interruption(pytest.Session.Interrupted("1 error during collection")) is None
        with pytest.raises(KeyboardInterrupt) as raised:
            os.kill(os.getpid(), signal.SIGINT)
        assert watch.interruption(raised.value) == "Ctrl-C (SIGINT)"
        assert watch.interruption(pytest.exit.Exception("stop")) is None
    finally:
        watch.restore()


def test_someone_elses_handlers_are_left_alone(python_defaults: None) -> None:
    def theirs(signum: int, frame: object) -> None:
        pass

    signal.signal(signal.SIGTERM, theirs)
    signal.signal(signal.SIGINT, theirs)
    watch = SignalWatch()

    watch.install()
    assert signal.getsignal(signal.SIGTERM) is theirs
    assert signal.getsignal(signal.SIGINT) is theirs
    watch.restore()
    assert signal.getsignal(signal.SIGTERM) is theirs


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


def test_the_reports_lock_holds_every_folder_of_the_set(tmp_path: Path) -> None:
    bom, matrix = tmp_path / "bom", tmp_path / "shared"

    with reports_locked(bom, matrix, stop=lambda: False) as go:
        assert go
        # Another gate with its own BOM folder but the same matrix folder waits for it.
        with (
            pytest.raises(OutputsBusy, match=str(matrix)),
            reports_locked(tmp_path / "other-bom", matrix, stop=lambda: False, wait_seconds=0.05),
        ):
            pass


def test_one_folder_named_twice_or_through_a_link_is_locked_once(tmp_path: Path) -> None:
    folder = tmp_path / "build"
    folder.mkdir()
    (tmp_path / "link").symlink_to(folder)

    # Locked twice by one session, it would wait for itself and end in OutputsBusy.
    with reports_locked(
        folder, tmp_path / "link", folder, stop=lambda: False, wait_seconds=0.05
    ) as go:
        assert go


def test_the_folders_are_locked_in_one_order_whatever_order_they_are_named_in(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    held_second: list[bool] = []

    def stop() -> bool:
        # While it waits for the first folder, the second is not taken yet: a gate that named
        # them the other way round and holds the second cannot be waiting for this one.
        with (
            contextlib.suppress(OutputsBusy),
            reports_locked(second, stop=lambda: False, wait_seconds=0) as go,
        ):
            held_second.append(not go)
            return False
        held_second.append(True)
        return False

    with (
        reports_locked(first, stop=lambda: False),
        pytest.raises(OutputsBusy, match=str(first)),
        reports_locked(second, first, stop=stop, wait_seconds=0.05),
    ):
        pass
    assert held_second
    assert not any(held_second)


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
