"""One watch run in process: polls, one transaction each, delivery, outages and the exit status."""

from __future__ import annotations

import io
import json
import signal
import threading
from pathlib import Path

import pytest

from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.monitor.alerts import (
    Outage,
    SourceResult,
    TrackedDependency,
    TrackedModel,
    WatchList,
)
from pytest_mlsupply.monitor.sinks import JsonlSink, SinkError, TerminalSink
from pytest_mlsupply.monitor.state import State
from pytest_mlsupply.monitor.watcher import (
    EXIT_ALERTS,
    EXIT_CLEAN,
    EXIT_INCOMPLETE,
    WatchError,
    exit_status,
    run_once,
    watch_list,
    watch_loop,
)
from pytest_mlsupply.results import Severity
from tests.monitor.watch_doubles import ScriptedSource, alert, write_project

WATCH = WatchList(models=(TrackedModel("acme/bert", "a" * 40),))


class BrokenSink:
    """A sink that refuses everything (a disk that is full)."""

    name = "jsonl"

    def deliver(self, record: dict[str, object]) -> None:
        raise SinkError("jsonl: cannot append: No space left on device")

    def outage(self, outage: Outage) -> None:
        pass


def run(state: State, *sources: ScriptedSource, sinks: list[object] | None = None) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    chosen = sinks if sinks is not None else [TerminalSink(out)]
    summary = run_once(WATCH, state, list(sources), chosen, errors=err)  # type: ignore[arg-type]
    return summary, out.getvalue(), err.getvalue()


def test_new_alerts_are_printed_once_and_raised_once_across_runs(tmp_path: Path) -> None:
    source = ScriptedSource(
        "hub", [SourceResult(alerts=[alert("c1")]), SourceResult(alerts=[alert("c1")])]
    )
    with State.open(tmp_path / "s.sqlite") as state:
        first, out1, _ = run(state, source)
        second, out2, _ = run(state, source)
    assert [a.key for a in first.raised] == ["c1"]
    assert second.raised == []
    assert out1.count("MLS-MON-900") == 1
    assert "MLS-MON-900" not in out2
    assert out1.startswith("HIGH     MLS-MON-900 hf://acme/bert: new commit c1")


def test_a_source_is_given_the_cursors_it_stored_on_its_last_poll(tmp_path: Path) -> None:
    source = ScriptedSource("hub", [SourceResult(cursors={"hf://acme/bert": "c1"}), SourceResult()])
    with State.open(tmp_path / "s.sqlite") as state:
        run(state, source)
        run(state, source)
    assert source.seen == [{}, {"hf://acme/bert": "c1"}]


def test_a_source_that_raises_is_an_outage_and_the_others_alerts_still_arrive(
    tmp_path: Path,
) -> None:
    broken = ScriptedSource("hub", [RuntimeError("boom")])
    working = ScriptedSource("index", [SourceResult(alerts=[alert("r1", subject="pypi:torch")])])
    with State.open(tmp_path / "s.sqlite") as state:
        summary, out, _ = run(state, broken, working)
    assert summary.outages == [Outage("hub", "*", "RuntimeError: boom")]
    assert [a.key for a in summary.raised] == ["r1"]
    assert "OUTAGE   hub *: RuntimeError: boom" in out
    assert "pypi:torch" in out


def test_a_subject_with_an_outage_keeps_its_old_cursor(tmp_path: Path) -> None:
    # A source that forgets the contract and sends a cursor for the failed subject anyway.
    source = ScriptedSource(
        "hub",
        [
            SourceResult(cursors={"hf://acme/bert": "c1", "hf://acme/gpt": "g1"}),
            SourceResult(
                cursors={"hf://acme/bert": "c9", "hf://acme/gpt": "g2"},
                outages=[Outage("hub", "hf://acme/bert", "HTTP 500")],
            ),
            SourceResult(),
        ],
    )
    with State.open(tmp_path / "s.sqlite") as state:
        run(state, source)
        run(state, source)
        run(state, source)
    assert source.seen[2] == {"hf://acme/bert": "c1", "hf://acme/gpt": "g2"}


def test_a_cursor_that_is_not_json_is_an_outage_that_stores_nothing(tmp_path: Path) -> None:
    source = ScriptedSource("hub", [SourceResult(alerts=[alert("c1")], cursors={"x": {1, 2}})])
    with State.open(tmp_path / "s.sqlite") as state:
        summary, _, _ = run(state, source)
        assert state.alert_ids() == []
        assert summary.raised == []
    assert summary.outages
    assert summary.outages[0].subject == "*"


def test_untrusted_names_cannot_forge_a_terminal_line(tmp_path: Path) -> None:
    hostile = alert("c1", subject="hf://acme/x\nHIGH MLS-MON-001 forged", title="\x1b[2Jgone")
    with State.open(tmp_path / "s.sqlite") as state:
        _, out, _ = run(state, ScriptedSource("hub", [SourceResult(alerts=[hostile])]))
    assert out.count("\n") == 1
    assert "\x1b" not in out
    assert "\\x1b[2Jgone" in out
    assert "\\nHIGH MLS-MON-001" in out


def test_an_undelivered_alert_stays_queued_and_is_delivered_next_run(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    source = ScriptedSource("hub", [SourceResult(alerts=[alert("c1")]), SourceResult()])
    with State.open(tmp_path / "s.sqlite") as state:
        out = io.StringIO()
        summary, _, err = run(state, source, sinks=[TerminalSink(out), BrokenSink()])
        assert summary.undelivered == {"jsonl": 1}
        assert "No space left" in err
        assert exit_status(summary, Severity.CRITICAL) == EXIT_INCOMPLETE
        summary, _, _ = run(state, source, sinks=[TerminalSink(io.StringIO()), JsonlSink(path)])
        assert summary.undelivered == {}
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["c1"]


def test_an_alert_an_interrupted_run_never_showed_counts_in_the_next_run(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.sqlite") as state:
        # The commit of a run that died before delivering anything.
        state.record("hub", [alert("c1", severity=Severity.CRITICAL)], {}, ["terminal"])
        summary, out, _ = run(state, ScriptedSource("hub", []))
    assert summary.raised == []
    assert [r["key"] for r in summary.late] == ["c1"]
    assert "new commit c1" in out
    assert exit_status(summary, Severity.HIGH) == EXIT_ALERTS


def test_alerts_for_a_sink_this_run_lacks_wait_without_failing_it(tmp_path: Path) -> None:
    with State.open(tmp_path / "s.sqlite") as state:
        state.record("hub", [alert("c1", severity=Severity.LOW)], {}, ["terminal", "webhook"])
        summary, _, _ = run(state, ScriptedSource("hub", []))
    assert summary.waiting == {"webhook": 1}
    assert exit_status(summary, Severity.HIGH) == EXIT_CLEAN


@pytest.mark.parametrize(
    ("severity", "outage", "fail_on", "status"),
    [
        (Severity.HIGH, False, Severity.HIGH, EXIT_ALERTS),
        (Severity.MEDIUM, False, Severity.HIGH, EXIT_CLEAN),
        (Severity.MEDIUM, False, Severity.MEDIUM, EXIT_ALERTS),
        (Severity.LOW, True, Severity.HIGH, EXIT_INCOMPLETE),
        (Severity.CRITICAL, True, Severity.HIGH, EXIT_ALERTS),
    ],
)
def test_the_exit_status_says_what_the_run_raised_and_missed(
    tmp_path: Path, severity: Severity, outage: bool, fail_on: Severity, status: int
) -> None:
    outages = [Outage("hub", "hf://acme/bert", "timed out")] if outage else []
    source = ScriptedSource(
        "hub", [SourceResult(alerts=[alert("c1", severity=severity)], outages=outages)]
    )
    with State.open(tmp_path / "s.sqlite") as state:
        summary, _, _ = run(state, source)
    assert exit_status(summary, fail_on) == status


def test_the_watch_list_joins_monitor_with_the_pins(tmp_path: Path) -> None:
    manifest = load_manifest(
        write_project(
            tmp_path,
            "{models: [acme/bert, acme/new], orgs: [acme], dependencies: [Torch, requests]}",
        )
    )
    assert watch_list(manifest) == WatchList(
        models=(TrackedModel("acme/bert", "a" * 40), TrackedModel("acme/new", None)),
        orgs=("acme",),
        dependencies=(TrackedDependency("torch", ("2.3.1",)), TrackedDependency("requests", ())),
    )


def test_an_empty_monitor_section_is_nothing_to_watch(tmp_path: Path) -> None:
    manifest = load_manifest(write_project(tmp_path, "{models: []}"))
    with pytest.raises(WatchError, match=r"mlsupply\.yaml: nothing to watch: add monitor\.models"):
        watch_list(manifest)


def test_a_hub_url_in_monitor_models_is_refused_with_the_fix(tmp_path: Path) -> None:
    manifest = load_manifest(write_project(tmp_path, "{models: ['hf://acme/bert@main']}"))
    with pytest.raises(WatchError, match=r"monitor\.models\[0\].*write it as org/name"):
        watch_list(manifest)


def test_the_loop_stops_between_runs_on_sigterm() -> None:
    runs: list[int] = []

    def one() -> int:
        runs.append(1)
        if len(runs) == 2:
            signal.raise_signal(signal.SIGTERM)
        return EXIT_INCOMPLETE if len(runs) == 1 else EXIT_CLEAN

    stop = threading.Event()
    assert watch_loop(one, 0.01, stop=stop) == EXIT_INCOMPLETE
    assert len(runs) == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
