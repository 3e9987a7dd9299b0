"""A flood of changes in one poll: the first alerts of a rule are listed, the rest folded."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pytest_mlsupply.monitor.alerts import SourceResult, TrackedDependency, WatchList
from pytest_mlsupply.monitor.sinks import JsonlSink, TerminalSink
from pytest_mlsupply.monitor.state import State
from pytest_mlsupply.monitor.watcher import (
    EXIT_ALERTS,
    MAX_ALERTS_PER_RULE,
    exit_status,
    run_once,
)
from pytest_mlsupply.results import Severity
from tests.monitor.index_env import index_env
from tests.monitor.pypi_server import release_file
from tests.monitor.watch_doubles import ScriptedSource, alert

WATCH = WatchList(dependencies=(TrackedDependency("torch", ("2.5.1",)),))


def run(state: State, source: object, jsonl: Path) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    sinks = [TerminalSink(out), JsonlSink(jsonl)]
    summary = run_once(WATCH, state, [source], sinks, errors=err)  # type: ignore[list-item]
    return summary, out.getvalue()


def test_a_flood_of_one_rule_lists_the_first_alerts_and_folds_the_rest_at_their_worst_severity(
    tmp_path: Path,
) -> None:
    flood = [alert(f"c{i}", severity=Severity.LOW) for i in range(MAX_ALERTS_PER_RULE + 250)]
    flood[-1] = alert("c-last", severity=Severity.CRITICAL)
    other = alert("x", rule="MLS-MON-901")
    source = ScriptedSource(
        "hub", [SourceResult(alerts=[*flood, other]), SourceResult(alerts=flood)]
    )
    with State.open(tmp_path / "state.sqlite") as state:
        summary, out = run(state, source, tmp_path / "alerts.jsonl")
        keys = [a.key for a in summary.raised]
        # The critical one is listed (the most severe of a group stand alone), in its place.
        listed = [f"c{i}" for i in range(MAX_ALERTS_PER_RULE - 1)] + ["c-last"]
        assert keys[:MAX_ALERTS_PER_RULE] == listed
        assert "x" in keys
        (fold,) = [a for a in summary.raised if a.key.startswith("folded")]
        assert len(summary.raised) == MAX_ALERTS_PER_RULE + 2
        assert (fold.rule, fold.subject) == ("MLS-MON-900", "hf://acme/bert")
        # The fold carries the worst severity of what it folds; the critical one, listed,
        # decides the exit status.
        assert fold.severity is Severity.LOW
        assert exit_status(summary, Severity.HIGH) == EXIT_ALERTS
        assert "250 more MLS-MON-900 alerts" in fold.title
        assert "new commit c99" in fold.evidence
        lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
        assert len(lines) == MAX_ALERTS_PER_RULE + 2
        rules = [line.split()[1] for line in out.splitlines()]
        assert rules.count("MLS-MON-900") == MAX_ALERTS_PER_RULE + 1
        # The same flood on the next poll: everything in it was raised (listed or folded).
        again, _ = run(state, source, tmp_path / "alerts.jsonl")
        assert again.raised == []


def test_alerts_raised_before_are_not_counted_in_a_fold(tmp_path: Path) -> None:
    first = [alert(f"c{i}") for i in range(60)]
    later = [*first, *(alert(f"d{i}") for i in range(MAX_ALERTS_PER_RULE + 5))]
    source = ScriptedSource("hub", [SourceResult(alerts=first), SourceResult(alerts=later)])
    with State.open(tmp_path / "state.sqlite") as state:
        run(state, source, tmp_path / "a.jsonl")
        summary, _ = run(state, source, tmp_path / "a.jsonl")
        keys = [a.key for a in summary.raised]
        assert keys[:MAX_ALERTS_PER_RULE] == [f"d{i}" for i in range(MAX_ALERTS_PER_RULE)]
        (fold,) = summary.raised[MAX_ALERTS_PER_RULE:]
        assert fold.title.startswith("5 more MLS-MON-900 alerts")


def test_a_group_at_the_limit_is_listed_whole(tmp_path: Path) -> None:
    flood = [alert(f"c{i}") for i in range(MAX_ALERTS_PER_RULE)]
    source = ScriptedSource("hub", [SourceResult(alerts=flood)])
    with State.open(tmp_path / "state.sqlite") as state:
        summary, _ = run(state, source, tmp_path / "a.jsonl")
        assert [a.key for a in summary.raised] == [f"c{i}" for i in range(MAX_ALERTS_PER_RULE)]


def test_a_thousand_new_releases_from_the_index_raise_a_bounded_number_of_alerts(
    tmp_path: Path,
) -> None:
    with index_env() as env, State.open(tmp_path / "state.sqlite") as state:
        baseline, _ = run(state, env.source, tmp_path / "a.jsonl")
        assert baseline.raised == []
        for n in range(1000):
            env.pypi.publish("torch", f"3.0.{n}", release_file(f"torch-3.0.{n}.tar.gz", b"x"))
        summary, _ = run(state, env.source, tmp_path / "a.jsonl")
        assert summary.outages == []
        releases = [a for a in summary.raised if a.rule == "MLS-MON-202"]
        assert len(releases) == MAX_ALERTS_PER_RULE + 1
        assert "900 more MLS-MON-202 alerts" in releases[-1].title
        records = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
        assert sum(r.get("rule") == "MLS-MON-202" for r in records) == MAX_ALERTS_PER_RULE + 1
        # Nothing of the flood comes back: the cursor moved past all of it.
        again, _ = run(state, env.source, tmp_path / "a.jsonl")
        assert again.raised == []


def test_an_alert_with_a_name_of_a_megabyte_is_stored_and_shown_cut_to_a_bound(
    tmp_path: Path,
) -> None:
    huge = "x" * 1_000_000
    long = alert(f"file-{huge}", title=f"new file {huge}")
    source = ScriptedSource("hub", [SourceResult(alerts=[long]), SourceResult(alerts=[long])])
    with State.open(tmp_path / "state.sqlite") as state:
        summary, out = run(state, source, tmp_path / "a.jsonl")
        (raised,) = summary.raised
        assert len(raised.title) <= 500
        assert "more characters)" in raised.title
        assert raised.key.startswith("sha256:")
        assert len(raised.key) < 300
        assert len(out) < 2000
        assert (tmp_path / "a.jsonl").stat().st_size < 10_000
        # The same fact on the next poll is the same alert: raised once.
        again, _ = run(state, source, tmp_path / "a.jsonl")
        assert again.raised == []
