"""The monitor's SQLite state: WAL, each alert raised once, cursors kept for what failed, the
schema version, and one watch at a time."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_mlsupply.monitor.state import SCHEMA_VERSION, State, StateBusy, StateError
from tests.monitor.watch_doubles import alert


def test_the_state_is_created_in_wal_mode_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / ".mlsupply" / "monitor.sqlite"
    with State.open(path) as state:
        assert state.journal_mode() == "wal"
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_alert_is_raised_once_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State.open(path) as state:
        first = state.record("hub", [alert("c1"), alert("c2")], {}, ["terminal"])
    with State.open(path) as state:
        second = state.record("hub", [alert("c2"), alert("c3")], {}, ["terminal"])
        assert [a.key for a in first] == ["c1", "c2"]
        assert [a.key for a in second] == ["c3"]
        assert state.alert_ids() == [alert(k).id for k in ("c1", "c2", "c3")]


def test_the_same_alert_twice_in_one_poll_is_raised_once(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.sqlite") as state:
        assert len(state.record("hub", [alert("c1"), alert("c1")], {}, ["terminal"])) == 1


def test_cursors_are_stored_with_the_alerts_and_read_back_per_source(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State.open(path) as state:
        state.record("hub", [alert("c1")], {"hf://acme/bert": {"head": "c1"}}, ["terminal"])
        state.record("index", [], {"pypi:torch": ["2.3.1"]}, ["terminal"])
    with State.open(path) as state:
        assert state.cursors("hub") == {"hf://acme/bert": {"head": "c1"}}
        assert state.cursors("index") == {"pypi:torch": ["2.3.1"]}


def test_a_cursor_that_cannot_be_stored_stores_nothing_of_the_poll(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.sqlite") as state:
        with pytest.raises(TypeError):
            state.record("hub", [alert("c1")], {"x": object()}, ["terminal"])
        assert state.alert_ids() == []


def test_each_sink_gets_each_alert_until_it_is_marked_delivered(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.sqlite") as state:
        state.record("hub", [alert("c1"), alert("c2")], {}, ["terminal", "jsonl"])
        state.mark_delivered(alert("c1").id, "jsonl")
        assert [p.id for p in state.pending("terminal")] == [alert("c1").id, alert("c2").id]
        assert [p.id for p in state.pending("jsonl")] == [alert("c2").id]
        assert state.pending("jsonl")[0].record["raised_at"]
        assert state.pending_sinks() == {"terminal": 2, "jsonl": 1}


def test_a_state_from_a_newer_mlsupply_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    State.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(StateError, match=r"newer mlsupply.*--state PATH"):
        State.open(path)
    version = sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()[0]
    assert int(version) == SCHEMA_VERSION + 1


def test_a_file_that_is_not_sqlite_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"not a database at all, but long enough to have a header" * 20)
    with pytest.raises(StateError, match=r"s\.sqlite: not a monitor state"):
        State.open(path)


def test_a_second_watch_on_the_same_state_is_told_another_is_running(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State.open(path), pytest.raises(StateBusy, match="another `mlsupply watch` is running"):
        State.open(path)
    State.open(path).close()  # released with the first


def test_the_lock_of_a_killed_watch_is_released_by_the_system(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from pytest_mlsupply.monitor.state import State;"
            f"s = State.open(Path({str(path)!r})); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(StateBusy):
                State.open(path)
        finally:
            holder.kill()  # SIGKILL: no chance to release anything itself
    deadline = time.monotonic() + 5
    while True:
        try:
            State.open(path).close()
            break
        except StateBusy:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_registered_secret_in_an_alert_is_not_stored(tmp_path: Path) -> None:
    from dataclasses import replace

    from pytest_mlsupply.redaction import forget_registered_secrets, register_secret

    register_secret("hf_sekritsekritsekritsekritsekrit12")
    try:
        leaky = replace(alert("c1"), evidence="401 for hf_sekritsekritsekritsekritsekrit12")
        with State.open(tmp_path / "s.sqlite") as state:
            state.record("hub", [leaky], {}, ["terminal"])
            assert state.pending("terminal")[0].record["evidence"] == "401 for ****"
            assert state.pending("terminal")[0].id == leaky.id
    finally:
        forget_registered_secrets()
    for file in tmp_path.iterdir():
        assert b"sekrit" not in file.read_bytes()
