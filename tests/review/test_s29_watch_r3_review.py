"""Third review of ``mlsupply watch``: flood folding, bounded texts, held threads, the state, the
index's advisory cursor and the Hub's paged history."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_mlsupply.monitor.alerts import SourceResult, TrackedDependency, TrackedModel, WatchList
from pytest_mlsupply.monitor.hub_watch import _history
from pytest_mlsupply.monitor.sinks import JsonlSink, TerminalSink
from pytest_mlsupply.monitor.state import State
from pytest_mlsupply.monitor.watcher import MAX_ALERTS_PER_RULE, run_once
from pytest_mlsupply.results import Severity
from pytest_mlsupply.sources.hub import HubSettings
from tests.monitor.index_env import index_env
from tests.monitor.watch_doubles import ScriptedSource, alert
from tests.vulns.records import TORCH_WEIGHTS_ONLY

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


# -- the Hub's paged history -----------------------------------------------------------------

PIN = "a" * 40
HEAD = "b" * 40


@contextmanager
def _serving(next_link: Callable[[str, int], str | None]) -> Iterator[_Pages]:
    """A loopback Hub endpoint answering each page of the commit history with one commit (never
    the pin) and the Link ``next_link(endpoint, page)``; it records each request's path and
    Authorization header."""
    pages = _Pages()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            pages.seen.append((self.path, self.headers.get("Authorization")))
            query = urlsplit(self.path).query
            number = int(query.partition("p=")[2] or "0") if "p=" in query else 0
            body = json.dumps([{"id": f"{number:040x}", "title": f"page {number}"}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            link = next_link(pages.endpoint, number)
            if link is not None:
                self.send_header("Link", f'<{link}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    pages.server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield pages
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class _Pages:
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _read_history(endpoint: str, token: str | None = None, timeout: float = 0.5) -> Any:
    """``_history`` of a pinned model through the real client, in a thread (it may not end):
    what it returned or raised, or ``None`` while it still runs after ten seconds."""
    from huggingface_hub import HfApi

    settings = HubSettings(
        endpoint=endpoint,
        cache_dir=Path("/nonexistent"),
        offline=False,
        token=token,
        timeout=timeout,
    )
    api = HfApi(endpoint=endpoint, token=token)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = _history(api, settings, TrackedModel("acme/tiny", PIN), HEAD, {PIN})
        except Exception as exc:
            box["value"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    return box.get("value")


def test_a_history_page_linking_to_another_host_does_not_hand_that_host_the_hub_token() -> None:
    with _serving(lambda endpoint, number: None) as elsewhere:
        target = f"{elsewhere.endpoint}/api/models/acme/tiny/commits/{HEAD}?p=1"
        with _serving(lambda endpoint, number: target if number == 0 else None) as hub:
            answer = _read_history(hub.endpoint, token="hf_" + "s3cr3t" * 6)
    assert hub.seen[0][1] == "Bearer hf_" + "s3cr3t" * 6  # the endpoint itself has it
    assert [auth for _, auth in elsewhere.seen if auth] == [], "the token went to the other host"
    # The history could not be read to the pin: an outage of the model, not a short history.
    assert isinstance(answer, Exception)


@pytest.mark.parametrize(
    "next_link",
    [
        pytest.param(
            lambda endpoint, number: f"{endpoint}/api/models/acme/tiny/commits/{HEAD}?p=0",
            id="a page that links to itself",
        ),
        pytest.param(
            lambda endpoint, number: (
                f"{endpoint}/api/models/acme/tiny/commits/{HEAD}?p={number + 1}"
            ),
            id="a page that links to ever new pages",
        ),
    ],
)
def test_a_history_whose_pages_never_end_stops_being_read_as_an_outage(
    next_link: Callable[[str, int], str | None],
) -> None:
    # The reading thread is one the watcher's deadline cannot stop: it must end by itself, or
    # it reads (and keeps every commit in memory) for as long as the watch runs.
    with _serving(next_link) as hub:
        answer = _read_history(hub.endpoint, timeout=0.5)
        still_reading = answer is None
    assert not still_reading, f"still reading the history after {len(hub.seen)} pages"
    assert isinstance(answer, Exception)


# -- the index's advisories across the move to a cursor of their own -------------------------


def test_an_older_states_advisory_record_survives_a_first_poll_whose_advisory_service_is_down() -> (
    None
):
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        (first,) = env.alerts()
        # As a state written before the advisories had a cursor of their own holds them.
        env.cursors["pypi:torch"].update(env.cursors.pop("pypi-osv:torch"))
        env.osv.mode = "500"  # the first poll after the upgrade: the advisories are an outage
        down = env.poll()
        assert [o.subject for o in down.outages] == ["pypi-osv:torch"]
        env.osv.mode = "ok"
        # 2.4.0 is pinned too now: the advisory, unchanged, affects it as well. Its alert must
        # be a new one (the first one's id was raised already, and is not raised again).
        both = WatchList(dependencies=(TrackedDependency("torch", ("2.4.0", "2.5.1")),))
        advisories = [a for a in env.poll(both).alerts if a.rule == "MLS-MON-208"]
        assert [a.id for a in advisories if a.id != first.id], (
            "the advisory that affects the newly pinned 2.4.0 was raised under the first "
            "alert's id: the record of what it had been raised for was lost to the outage"
        )
        (alert,) = advisories
        assert alert.key.endswith("@2.4.0")


def test_a_second_flood_whose_folded_keys_join_to_the_firsts_text_still_raises_its_fold(
    tmp_path: Path,
) -> None:
    # A mirror's filenames are its own text, a newline included: the folded keys ["a\nb", "c"]
    # and ["a", "b\nc"] are different facts, though joined by newlines they read the same.
    def flood(tag: str, rest: list[str]) -> SourceResult:
        listed = [alert(f"{tag}{i}", severity=Severity.HIGH) for i in range(MAX_ALERTS_PER_RULE)]
        return SourceResult(alerts=[*listed, *(alert(k, severity=Severity.LOW) for k in rest)])

    source = ScriptedSource("hub", [flood("p", ["a\nb", "c"]), flood("q", ["a", "b\nc"])])
    out, err = io.StringIO(), io.StringIO()
    with State.open(tmp_path / "state.sqlite") as state:
        first = run_once(TORCH, state, [source], [TerminalSink(out)], errors=err)
        second = run_once(TORCH, state, [source], [TerminalSink(out)], errors=err)
    assert [a.title for a in first.raised if a.key.startswith("folded")] == [
        "2 more MLS-MON-900 alerts in one poll, folded into this one"
    ]
    assert [a.title for a in second.raised if a.key.startswith("folded")] == [
        "2 more MLS-MON-900 alerts in one poll, folded into this one"
    ], "the second flood's fold had the first one's id: its two alerts were never shown"


def test_two_alerts_of_one_id_in_a_poll_are_raised_once_at_the_worse_severity(
    tmp_path: Path,
) -> None:
    # One fact met twice in a poll (a source that rates it in two places) is one alert: the
    # last one met must not lower it below what the first one said.
    worse = alert("f@1", severity=Severity.CRITICAL, title="added to the pinned release")
    milder = alert("f@1", severity=Severity.LOW, title="added to another release")
    source = ScriptedSource("index", [SourceResult(alerts=[worse, milder])])
    out, err = io.StringIO(), io.StringIO()
    with State.open(tmp_path / "state.sqlite") as state:
        summary = run_once(TORCH, state, [source], [TerminalSink(out)], errors=err)
    assert [(a.severity, a.title) for a in summary.raised] == [
        (Severity.CRITICAL, "added to the pinned release")
    ]
