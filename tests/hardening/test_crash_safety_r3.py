"""Review R3 of issue 15: crash safety holes found by real processes (see test_crash_safety.py
for the harness: the generated project's conftest blocks the gate at a chosen rename)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hardening.test_crash_safety import (
    OF_THEIR_RUN,
    WAIT_SECONDS,
    _await,
    _env,
    _output,
    _run,
    _snapshot,
    assert_each_file_is_previous_or_whole,
    assert_one_set,
    previous_project,  # noqa: F401 - the module fixture project_root builds on
    project_root,  # noqa: F401
    temp_files,
)


def test_a_hangup_while_the_reports_are_written_leaves_one_whole_set_and_no_temp(
    project_root,  # noqa: F811
) -> None:
    # The terminal closed (an ssh session dropped) while the gate wrote its reports: SIGHUP's
    # default ends the process on the spot, between two renames.
    previous = _snapshot(project_root)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    gate = _run(project_root, CRASH_BLOCK_REPLACE=f"{handshake}|mlsupply-matrix.md")
    _await(handshake / "ready", gate)
    gate.send_signal(signal.SIGHUP)
    (handshake / "go").touch()
    status = gate.wait(timeout=WAIT_SECONDS)

    output = _output(project_root)
    assert status == pytest.ExitCode.INTERRUPTED, (status, output[-2000:])
    assert assert_each_file_is_previous_or_whole(project_root, previous) >= OF_THEIR_RUN
    assert_one_set(project_root)
    assert temp_files(project_root) == []


def test_mlsupply_report_refuses_a_matrix_and_a_bom_of_two_different_runs(
    project_root,  # noqa: F811
) -> None:
    # What a killed gate (or a second signal) may leave: this run's BOM beside the previous
    # run's matrix. docs/ci.md says the serial numbers tell; `mlsupply report` does not look.
    bom_path = project_root / "build/ml-bom.cdx.json"
    bom = json.loads(bom_path.read_bytes())
    bom["serialNumber"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    bom_path.write_text(json.dumps(bom))
    out = project_root / "build/mixed.html"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mlsupply.cli",
            "report",
            "--matrix",
            "build/mlsupply-matrix.json",
            "--bom",
            "build/ml-bom.cdx.json",
            "-o",
            str(out),
        ],
        cwd=project_root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode != 0, "an HTML report of two runs presented as one"
    assert not out.exists()
    assert "serial" in done.stderr


@pytest.mark.needs("xdist")
@pytest.mark.parametrize("stop", [("--maxfail=1",), ("-x",)], ids=["maxfail", "x"])
def test_a_killed_worker_that_stops_the_run_leaves_no_item_a_pass_or_gone(
    project_root,  # noqa: F811
    stop: tuple[str, ...],
) -> None:
    before = json.loads((project_root / "build/mlsupply-matrix.json").read_bytes())
    subjects = {row["subject"] for row in before["rows"]}

    status = _run(project_root, "-n", "2", *stop, CRASH_KILL_WORKER="1").wait(timeout=600)

    output = _output(project_root)
    assert status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), output
    matrix = json.loads((project_root / "build/mlsupply-matrix.json").read_bytes())
    cells = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert set(cells) == subjects, output[-3000:]
    assert cells["tiny/config.json"]["format"] != "pass", output[-3000:]
    assert_one_set(project_root)


def test_two_gates_with_their_own_bom_folders_sharing_the_matrix_write_one_whole_matrix_set(
    project_root,  # noqa: F811
) -> None:
    # Two jobs in one workspace, each told its own BOM path but sharing the matrix, SARIF and
    # HTML paths: a lock on the BOM's folder alone would order nothing; every folder of the set
    # is locked.
    handshake, second_wait = project_root.parent / "handshake", project_root.parent / "second"
    handshake.mkdir()
    second_wait.mkdir()
    first = _run(
        project_root,
        "--mlsupply-bom",
        "build/a/ml-bom.cdx.json",
        log="first.log",
        CRASH_BLOCK_REPLACE=f"{handshake}|mlsupply-matrix.json",
    )
    _await(handshake / "ready", first)  # the first has renamed its Markdown matrix
    second = _run(
        project_root,
        "--mlsupply-bom",
        "build/b/ml-bom.cdx.json",
        log="second.log",
        CRASH_NOTE_LOCK_WAIT=str(second_wait),
    )
    # The second waits for the first's lock on the shared folder; without it, it writes its
    # whole set meanwhile and ends.
    _await_either(second_wait / "waiting", second)
    (handshake / "go").touch()
    assert first.wait(timeout=WAIT_SECONDS) == 0, _output(project_root, "first.log")
    assert second.wait(timeout=600) == 0, _output(project_root, "second.log")

    matrix = json.loads((project_root / "build/mlsupply-matrix.json").read_bytes())
    named = matrix["metadata"]["bom_serial_number"]
    assert named in (project_root / "build/mlsupply-matrix.md").read_text(), (
        "the JSON matrix is one gate's, the Markdown matrix the other's"
    )


def _await_either(path: Path, process: subprocess.Popen[bytes]) -> None:
    """Until ``path`` exists or ``process`` has ended, whichever comes first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not path.exists() and process.poll() is None:
        assert time.monotonic() < deadline, f"neither {path.name} nor the end of the gate"
        time.sleep(0.05)


@pytest.mark.needs("xdist")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_the_xdist_controller_interrupted_while_workers_run_writes_nothing(
    project_root,  # noqa: F811
    signum: int,
) -> None:
    from tests.hardening.test_crash_safety import BLOCKING_TEST

    previous = _snapshot(project_root)
    (project_root / "tests" / "test_block.py").write_text(BLOCKING_TEST)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    gate = _run(project_root, "-n", "2", CRASH_BLOCK_TEST=str(handshake))
    _await(handshake / "ready", gate)  # a worker runs the blocking test; the controller waits
    gate.send_signal(signum)
    (handshake / "go").touch()  # the worker may finish; the controller was interrupted first
    status = gate.wait(timeout=WAIT_SECONDS)

    output = _output(project_root)
    assert status == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert _snapshot(project_root) == previous
    assert temp_files(project_root) == []
    assert "no report written" in output


@pytest.mark.needs("xdist")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
def test_a_worker_ended_by_a_signal_fails_the_run_and_the_reports_are_written_whole(
    project_root,  # noqa: F811
    signum: int,
) -> None:
    import os

    from tests.hardening.test_crash_safety import BLOCKING_TEST

    previous = _snapshot(project_root)
    (project_root / "tests" / "test_block.py").write_text(BLOCKING_TEST)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    gate = _run(project_root, "-n", "2", CRASH_BLOCK_TEST=str(handshake))
    _await(handshake / "ready", gate)
    os.kill(int((handshake / "ready").read_text()), signum)  # the worker, not the controller
    status = gate.wait(timeout=600)

    output = _output(project_root)
    assert status == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert assert_each_file_is_previous_or_whole(project_root, previous) >= OF_THEIR_RUN
    assert_one_set(project_root)
    assert temp_files(project_root) == []
