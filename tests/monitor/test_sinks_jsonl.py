"""The JSON-lines sink: whole lines, no duplicate after a crash, a torn last line cut off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mlsupply.monitor.alerts import Outage
from pytest_mlsupply.monitor.sinks import JsonlSink
from pytest_mlsupply.redaction import forget_registered_secrets, register_secret
from tests.monitor.watch_doubles import alert


def record(key: str) -> dict[str, object]:
    return {**alert(key).to_json(), "raised_at": "2026-01-01T00:00:00+00:00"}


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_alert_is_one_json_line_typed_alert(tmp_path: Path) -> None:
    path = tmp_path / "out" / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.deliver(record("c1"))
    sink.deliver(record("c2"))
    found = lines(path)
    assert [(e["type"], e["key"]) for e in found] == [("alert", "c1"), ("alert", "c2")]
    assert found[0]["id"] == alert("c1").id
    assert path.read_bytes().endswith(b"\n")


def test_an_alert_written_before_a_crash_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    JsonlSink(path).deliver(record("c1"))  # written; the run dies before marking it delivered
    again = JsonlSink(path)  # the next run offers it again
    again.deliver(record("c1"))
    again.deliver(record("c2"))
    assert [e["key"] for e in lines(path)] == ["c1", "c2"]


def test_a_torn_last_line_is_cut_off_and_its_alert_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    JsonlSink(path).deliver(record("c1"))
    whole = json.dumps({"type": "alert", **record("c2")})
    with path.open("a") as handle:
        handle.write(whole[: len(whole) // 2])  # a crash in the middle of the write
    sink = JsonlSink(path)
    sink.deliver(record("c2"))
    assert [e["key"] for e in lines(path)] == ["c1", "c2"]
    assert sink.notes
    assert "torn last line" in sink.notes[0]


def test_a_torn_line_that_holds_a_whole_id_does_not_count_as_written(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    whole = json.dumps({"type": "alert", **record("c1")})
    path.write_text(whole[:-1])  # everything but the closing brace, and no newline
    JsonlSink(path).deliver(record("c1"))
    assert [e["key"] for e in lines(path)] == ["c1"]


def test_outages_are_written_as_outage_records_each_time(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    outage = Outage("hub", "hf://acme/bert", "HTTP 503")
    sink.outage(outage)
    sink.outage(outage)
    found = lines(path)
    assert [e["type"] for e in found] == ["outage", "outage"]
    assert found[0]["source"] == "hub"
    assert found[0]["reason"] == "HTTP 503"


def test_lines_written_by_someone_else_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text("not json\n[1, 2]\n")
    JsonlSink(path).deliver(record("c1"))
    assert path.read_text().splitlines()[:2] == ["not json", "[1, 2]"]


def test_a_registered_secret_never_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    register_secret("sekrit-token-1234")
    try:
        entry = record("c1") | {"evidence": "answered with sekrit-token-1234"}
        JsonlSink(path).deliver(entry)
    finally:
        forget_registered_secrets()
    assert "sekrit-token-1234" not in path.read_text()
    assert lines(path)[0]["evidence"] == "answered with ****"


def test_a_new_file_has_its_directory_entry_synced_before_its_alert_counts_as_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    sink = JsonlSink(tmp_path / "out" / "alerts.jsonl")
    sink.deliver({"id": "a" * 24, "type": "alert", "title": "t"})
    assert synced == ["file", "dir"]  # created: its name made durable too
    synced.clear()
    sink.deliver({"id": "b" * 24, "type": "alert", "title": "t"})
    assert synced == ["file"]  # appended: the name was there already
