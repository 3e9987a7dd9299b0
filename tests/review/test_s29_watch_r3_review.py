"""Third review of ``mlsupply watch``: flood folding, bounded texts, held threads, the state, the
index's advisory cursor and the Hub's paged history."""

from __future__ import annotations

import io
from pathlib import Path

from pytest_mlsupply.monitor.alerts import SourceResult, TrackedDependency, WatchList
from pytest_mlsupply.monitor.sinks import JsonlSink, TerminalSink
from pytest_mlsupply.monitor.state import State
from pytest_mlsupply.monitor.watcher import MAX_ALERTS_PER_RULE, run_once
from pytest_mlsupply.results import Severity
from tests.monitor.watch_doubles import ScriptedSource, alert

# -- flood folding ---------------------------------------------------------------------------

TORCH = WatchList(dependencies=(TrackedDependency("torch", ("2.5.1",)),))


def test_a_critical_alert_after_a_flood_of_medium_ones_of_its_rule_is_listed_alone_not_folded(
    tmp_path: Path,
) -> None:
    # A mirror adds a wheel to 150 old releases (MLS-MON-205, medium each) and one to the pinned
    # release (the same rule, critical), listed last.
    added = [
        alert(
            f"torch-1.{i}-py3-none-any.whl",
            rule="MLS-MON-205",
            severity=Severity.MEDIUM,
            subject="pypi:torch",
        )
        for i in range(MAX_ALERTS_PER_RULE + 50)
    ]
    pinned = alert(
        "torch-2.5.1-cp312-linux.whl",
        rule="MLS-MON-205",
        severity=Severity.CRITICAL,
        subject="pypi:torch",
        title="a file added to the pinned release 2.5.1",
    )
    source = ScriptedSource("index", [SourceResult(alerts=[*added, pinned])])
    out, err = io.StringIO(), io.StringIO()
    with State.open(tmp_path / "state.sqlite") as state:
        summary = run_once(
            TORCH, state, [source], [TerminalSink(out), JsonlSink(tmp_path / "a.jsonl")], errors=err
        )
    listed = {a.key: a for a in summary.raised}
    assert pinned.key in listed, "the critical alert was folded into a count of medium ones"
    assert "a file added to the pinned release 2.5.1" in out.getvalue()
    (fold,) = [a for a in summary.raised if a.key.startswith("folded")]
    assert fold.severity is Severity.MEDIUM
    assert "51 more MLS-MON-205 alerts" in fold.title
