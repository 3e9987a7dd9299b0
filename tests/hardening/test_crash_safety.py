"""Crash-safe reports, by real processes: a gate interrupted (SIGINT, SIGTERM), killed in the
middle of writing (SIGKILL), an xdist worker killed, two gates at once on one project.

Every test starts from a previous complete set of reports and asserts that each file afterwards
is byte-identical to the previous one or a complete, valid document of its own run (the BOM
validates against CycloneDX; the rest equals the previous file but for the run's time and serial
number), never a partial one. The generated project's conftest blocks the gate at a chosen point
(a user test, the ``os.replace`` of one report, a wait for the reports' lock) and says so with a
file: the test signals the process once it knows where it stands, never after a sleep.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mlsupply.reports.bom_schema import validate_json
from tests.conftest import CI_VARIABLES, INDEX_VARIABLES, build_project

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120.0
"""How long a handshake may take on a loaded machine before the test fails (never a sync)."""

OUTPUTS = (
    "build/ml-bom.cdx.json",
    "build/mlsupply-matrix.md",
    "build/mlsupply-matrix.json",
    "build/mlsupply.sarif",
    "build/mlsupply.html",
)
#: The reports that carry their run's time or serial number (the SARIF log of an unchanged
#: project is the same bytes run after run).
OF_THEIR_RUN = set(OUTPUTS) - {"build/mlsupply.sarif"}
GATE = (
    "--mlsupply",
    "--mlsupply-sarif",
    "build/mlsupply.sarif",
    "--mlsupply-html",
    "build/mlsupply.html",
)

#: The generated project's conftest: each behaviour is switched on by an environment variable
#: naming the folder of its handshake files (``ready`` written by the gate, ``go`` by the test).
CONFTEST = textwrap.dedent(
    """
    import fcntl
    import os
    import signal
    import stat
    import time
    from pathlib import Path

    def wait_for_go(folder):
        folder = Path(folder)
        # Whole or absent: the test reads the pid as soon as the name appears (rename, not
        # os.replace, which a blocking mode below wraps).
        (folder / "ready.partial").write_text(str(os.getpid()))
        os.rename(folder / "ready.partial", folder / "ready")
        deadline = time.monotonic() + 120
        while not (folder / "go").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the test never said go")
            time.sleep(0.01)

    block_replace = os.environ.get("CRASH_BLOCK_REPLACE")
    if block_replace:
        folder, _, suffix = block_replace.partition("|")
        real_replace = os.replace

        def replace(src, dst, **kwargs):
            if str(dst).endswith(suffix) and not (Path(folder) / "ready").exists():
                wait_for_go(folder)
            return real_replace(src, dst, **kwargs)

        os.replace = replace

    note_lock_wait = os.environ.get("CRASH_NOTE_LOCK_WAIT")
    if note_lock_wait:
        real_flock = fcntl.flock

        def flock(fd, operation):
            try:
                return real_flock(fd, operation)
            except BlockingIOError:
                # The reports' lock is the one on a directory (the caches lock files).
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    (Path(note_lock_wait) / "waiting").touch()
                raise

        fcntl.flock = flock

    def pytest_runtest_call(item):
        if (
            os.environ.get("CRASH_KILL_WORKER")
            and "config.json::format" in item.nodeid
            and os.environ.get("PYTEST_XDIST_WORKER")
        ):
            os.kill(os.getpid(), signal.SIGKILL)  # an OOM kill, in the middle of the item
    """
)

BLOCKING_TEST = textwrap.dedent(
    """
    import os
    from conftest import wait_for_go

    def test_that_blocks_until_the_test_says_go():
        wait_for_go(os.environ["CRASH_BLOCK_TEST"])
    """
)


@pytest.fixture(scope="module")
def previous_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A passing project with a complete set of reports: one gate run for the whole module."""
    root = tmp_path_factory.mktemp("previous") / "project"
    root.mkdir()
    build_project(root)
    (root / "conftest.py").write_text(CONFTEST)
    finished = _run(root).wait(timeout=600)
    assert finished == 0, _output(root)
    return root


@pytest.fixture
def project_root(previous_project: Path, tmp_path: Path) -> Path:
    """This test's copy of the project and its previous reports (at the same relative paths)."""
    root = tmp_path / "project"
    shutil.copytree(previous_project, root, symlinks=True)
    # The reports name the project by its absolute path: the copy's are compared with it swapped.
    (tmp_path / PREVIOUS_ROOT).write_text(str(previous_project))
    return root


def _env(**extra: str) -> dict[str, str]:
    # As tests/conftest.py's autouse fixtures (function-scoped; the previous run is made once
    # per module): no machine pip configuration, no CI, not the CI job's own step summary.
    unwanted = ("CRASH_", "GITHUB_STEP_SUMMARY", *INDEX_VARIABLES, *CI_VARIABLES)
    env = {key: value for key, value in os.environ.items() if not key.startswith(unwanted)}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


#: Run before the gate, in its own process (then replaced by the gate, same pid): SIGINT,
#: SIGTERM and SIGHUP at their defaults and unblocked, as a terminal's foreground job has them
#: (``nohup`` ignores SIGHUP, a background job SIGINT). An ignored
#: or blocked signal is inherited through fork and exec, and Python keeps an ignored SIGINT
#: ignored: a test run started in the background (``pytest ... &`` from a script, ``nohup``)
#: ignores Ctrl-C, and so would every gate it starts, which the SIGINT sent here would not stop.
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; "
    "[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]; "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}); "
    "os.execv(sys.executable, [sys.executable, '-m', 'pytest', *sys.argv[1:]])"
)

_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def no_gate_left_running() -> Iterator[None]:
    """A gate a failed test leaves behind is killed: it would run on (up to its conftest's
    two minutes) and fail a later test of this worker with a ResourceWarning of its own."""
    yield
    while _STARTED:
        gate = _STARTED.pop()
        if gate.poll() is None:
            gate.kill()
            gate.wait()


def _run(root: Path, *args: str, log: str = "gate.log", **env: str) -> subprocess.Popen[bytes]:
    with open(root.parent / log, "wb") as out:
        gate = subprocess.Popen(
            [sys.executable, "-c", AS_FROM_A_TERMINAL, *GATE, *args],
            cwd=root,
            env=_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _STARTED.append(gate)
    return gate


def _output(root: Path, log: str = "gate.log") -> str:
    return (root.parent / log).read_text(errors="replace")


def _await(path: Path, process: subprocess.Popen[bytes]) -> None:
    """Until ``path`` exists (the gate reached the point), failing if the gate ended first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not path.exists():
        assert process.poll() is None, f"the gate ended (status {process.returncode}) first"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in OUTPUTS}


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}| UTC)?")


PREVIOUS_ROOT = "previous-root.txt"


def _normalised(data: bytes, root: Path) -> bytes:
    """A report without what differs between two runs of one gate: its time and serial number,
    and the project's absolute path (a copy of the project is tested)."""
    return _TIME.sub(b"<time>", _UUID.sub(b"<uuid>", data.replace(bytes(root), b"<root>")))


def _serial(root: Path) -> str:
    serial: str = json.loads((root / OUTPUTS[0]).read_bytes())["serialNumber"]
    return serial


def assert_each_file_is_previous_or_whole(root: Path, previous: dict[str, bytes]) -> set[str]:
    """Each output is the previous file byte for byte, or a complete one of a later run (the
    BOM validates; every file equals the previous but for time and serial). The new ones."""
    new = set()
    for name, before in previous.items():
        now = (root / name).read_bytes()
        if now == before:
            continue
        new.add(name)
        previous_root = Path((root.parent / PREVIOUS_ROOT).read_text())
        assert _normalised(now, root) == _normalised(before, previous_root), (
            f"{name} is not a whole report"
        )
    validate_json(json.loads((root / OUTPUTS[0]).read_bytes()))
    return new


def assert_one_set(root: Path) -> None:
    """The matrix (both forms) names the BOM beside it: the files are one run's set."""
    serial = _serial(root)
    matrix = json.loads((root / "build/mlsupply-matrix.json").read_bytes())
    assert matrix["metadata"]["bom_serial_number"] == serial
    assert serial in (root / "build/mlsupply-matrix.md").read_text()


def temp_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "build").iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("signum", "named"),
    [(signal.SIGINT, "Ctrl-C (SIGINT)"), (signal.SIGTERM, "SIGTERM")],
    ids=["sigint", "sigterm"],
)
def test_a_gate_interrupted_before_its_reports_leaves_the_previous_ones_byte_for_byte(
    project_root: Path, signum: int, named: str
) -> None:
    previous = _snapshot(project_root)
    (project_root / "tests" / "test_block.py").write_text(BLOCKING_TEST)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    summary = project_root.parent / "step-summary.md"
    gate = _run(project_root, CRASH_BLOCK_TEST=str(handshake), GITHUB_STEP_SUMMARY=str(summary))
    _await(handshake / "ready", gate)
    gate.send_signal(signum)
    status = gate.wait(timeout=WAIT_SECONDS)

    output = _output(project_root)
    assert status == pytest.ExitCode.INTERRUPTED, output
    assert _snapshot(project_root) == previous
    assert temp_files(project_root) == []
    assert f"INTERRUPTED by {named}: no report written" in output
    assert "Traceback" not in output
    assert f"gate interrupted by {named}: no report was written" in summary.read_text()


@pytest.fixture
def ctrl_c_ignored() -> Iterator[None]:
    """This process ignores SIGINT, as a test run started in the background does (a shell
    without job control starts ``pytest ... &`` so; ``nohup`` too): its children inherit it."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal dispositions are set from the main thread only")
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _catches(pid: int, signum: int) -> bool | None:
    """Whether the process has a handler for ``signum`` (Linux's /proc); None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)


def test_ctrl_c_stops_a_gate_started_by_a_test_run_that_ignores_it(
    project_root: Path, ctrl_c_ignored: None
) -> None:
    # Each gate is started as from a terminal: the SIGINT a test sends is the user's Ctrl-C,
    # whatever the test run itself inherited (an ignored SIGINT stays ignored through exec).
    (project_root / "tests" / "test_block.py").write_text(BLOCKING_TEST)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    gate = _run(project_root, CRASH_BLOCK_TEST=str(handshake))
    _await(handshake / "ready", gate)
    assert _catches(gate.pid, signal.SIGINT) in (True, None), "the gate ignores Ctrl-C"
    gate.send_signal(signal.SIGINT)
    status = gate.wait(timeout=WAIT_SECONDS)

    output = _output(project_root)
    assert status == pytest.ExitCode.INTERRUPTED, output
    assert "INTERRUPTED by Ctrl-C (SIGINT): no report written" in output


def test_a_signal_while_the_reports_are_written_is_held_until_the_set_is_complete(
    project_root: Path,
) -> None:
    previous = _snapshot(project_root)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    # Held at the first file's rename (the BOM), with the whole set still to write.
    gate = _run(project_root, CRASH_BLOCK_REPLACE=f"{handshake}|ml-bom.cdx.json")
    _await(handshake / "ready", gate)
    gate.send_signal(signal.SIGTERM)
    (handshake / "go").touch()
    status = gate.wait(timeout=WAIT_SECONDS)

    output = _output(project_root)
    assert status == pytest.ExitCode.INTERRUPTED, output
    assert assert_each_file_is_previous_or_whole(project_root, previous) >= OF_THEIR_RUN
    assert_one_set(project_root)
    assert temp_files(project_root) == []
    assert "INTERRUPTED by SIGTERM while writing the reports: the set above was completed" in output


def test_a_second_signal_while_writing_stops_at_once_and_each_file_stays_whole(
    project_root: Path,
) -> None:
    previous = _snapshot(project_root)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    # Held at the second file's rename; two different signals (one of each kind is pending at
    # most, so both are delivered): the first is held, the second stops the writing there.
    gate = _run(project_root, CRASH_BLOCK_REPLACE=f"{handshake}|mlsupply-matrix.md")
    _await(handshake / "ready", gate)
    gate.send_signal(signal.SIGTERM)
    gate.send_signal(signal.SIGINT)
    status = gate.wait(timeout=WAIT_SECONDS)

    output = _output(project_root)
    assert status == pytest.ExitCode.INTERRUPTED, output
    assert assert_each_file_is_previous_or_whole(project_root, previous) == {OUTPUTS[0]}
    assert temp_files(project_root) == []  # the write it stopped removed its temp file
    assert "stopped by a second signal; each file is whole" in output


def test_a_gate_killed_while_writing_leaves_whole_files_and_the_next_gate_cleans_its_temp(
    project_root: Path,
) -> None:
    previous = _snapshot(project_root)
    handshake = project_root.parent / "handshake"
    handshake.mkdir()

    # Killed at the second file's rename: the BOM is new, the rest is the previous run's.
    gate = _run(project_root, CRASH_BLOCK_REPLACE=f"{handshake}|mlsupply-matrix.md")
    _await(handshake / "ready", gate)
    gate.kill()
    gate.wait(timeout=WAIT_SECONDS)

    assert assert_each_file_is_previous_or_whole(project_root, previous) == {OUTPUTS[0]}
    (leftover,) = temp_files(project_root)
    assert leftover.startswith(f".mlsupply-matrix.md.{gate.pid}-")
    # The dead writer's temp, once old enough that no live writer can own it, is removed by
    # the next gate's write of that file, which writes a whole set.
    old = time.time() - 3600
    os.utime(project_root / "build" / leftover, (old, old))
    assert _run(project_root).wait(timeout=600) == 0, _output(project_root)

    assert temp_files(project_root) == []
    assert assert_each_file_is_previous_or_whole(project_root, previous) >= OF_THEIR_RUN
    assert_one_set(project_root)


def test_two_gates_at_once_write_one_whole_set_not_a_mix_of_both(project_root: Path) -> None:
    previous = _snapshot(project_root)
    first_hold, second_wait = project_root.parent / "first", project_root.parent / "second"
    first_hold.mkdir()
    second_wait.mkdir()

    # The first gate stops between its BOM and its matrix; the second one reaches the reports
    # meanwhile. Without the lock it would write its whole set there and the first would then
    # put its matrix beside the second's BOM.
    first = _run(
        project_root, CRASH_BLOCK_REPLACE=f"{first_hold}|mlsupply-matrix.md", log="first.log"
    )
    _await(first_hold / "ready", first)
    second = _run(project_root, CRASH_NOTE_LOCK_WAIT=str(second_wait), log="second.log")
    _await(second_wait / "waiting", second)
    (first_hold / "go").touch()

    assert first.wait(timeout=WAIT_SECONDS) == 0, _output(project_root, "first.log")
    assert second.wait(timeout=600) == 0, _output(project_root, "second.log")
    assert assert_each_file_is_previous_or_whole(project_root, previous) >= OF_THEIR_RUN
    assert_one_set(project_root)
    assert temp_files(project_root) == []


@pytest.mark.needs("xdist")
def test_an_item_whose_xdist_worker_is_killed_is_an_error_in_every_report_never_a_pass(
    project_root: Path,
) -> None:
    gate = _run(project_root, "-n", "2", CRASH_KILL_WORKER="1")
    status = gate.wait(timeout=600)

    output = _output(project_root)
    assert status == pytest.ExitCode.TESTS_FAILED, output
    matrix = json.loads((project_root / "build/mlsupply-matrix.json").read_bytes())
    cells = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert cells["tiny/config.json"]["format"] == "error"
    row = next(
        line
        for line in (project_root / "build/mlsupply-matrix.md").read_text().splitlines()
        if "config.json" in line
    )
    assert "error" in row
    bom = json.loads((project_root / OUTPUTS[0]).read_bytes())
    validate_json(bom)
    properties = [
        prop
        for component in bom["components"]
        for file in component.get("components", [])
        if file["name"] == "config.json"
        for prop in file.get("properties", [])
    ]
    assert {"name": "mlsupply:check:format", "value": "error"} in properties
    assert {"name": "mlsupply:check:format", "value": "pass"} not in properties
    sarif = json.loads((project_root / "build/mlsupply.sarif").read_bytes())
    assert "config.json" in json.dumps(sarif), "the crashed item is missing from the SARIF log"


@pytest.mark.needs("xdist")
def test_a_run_stopped_by_x_under_xdist_is_no_interruption_and_writes_its_reports(
    project_root: Path,
) -> None:
    # xdist stops a -x run with its own KeyboardInterrupt subclass: no signal, so the reports
    # are written (marked partial when items did not run), as for a serial -x run.
    previous_serial = _serial(project_root)
    (project_root / "tests" / "test_failing.py").write_text("def test_fails():\n    assert False\n")

    status = _run(project_root, "-x", "-n", "2").wait(timeout=600)

    output = _output(project_root)
    assert status != pytest.ExitCode.OK, output
    assert "no report written" not in output
    assert _serial(project_root) != previous_serial
    validate_json(json.loads((project_root / OUTPUTS[0]).read_bytes()))
    assert_one_set(project_root)
