"""Adversarial review of ``mlsupply watch`` (session 28): services that answer badly or slowly,
and a state reached by two paths.

Each service here is a raw socket on 127.0.0.1 that answers what a hostile or broken server
would: a status line that is not HTTP, a body shorter than its Content-Length, headers or a body
sent one byte at a time, each byte inside the client's per-read timeout (so only a deadline on
the whole answer stops it). The promise under test: a fault is a failure of the run (an outage,
an undelivered alert), within a bounded time, never a crash and never a hang.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.monitor.alerts import TrackedDependency, TrackedModel, WatchList
from pytest_mlsupply.monitor.hub_watch import HubSource
from pytest_mlsupply.monitor.index_watch import IndexSource
from pytest_mlsupply.monitor.sinks import SinkError, WebhookSink
from pytest_mlsupply.monitor.state import State, StateBusy
from pytest_mlsupply.redaction import forget_registered_secrets
from pytest_mlsupply.sources.hub import HubSettings
from tests.hub.server import FakeHub
from tests.monitor.hub_helpers import fake_hub, hf_cache, hub_env

__all__ = ["fake_hub", "hf_cache", "hub_env"]  # fixtures, used by name

#: How long any one call below may take before the test calls it a hang (the clients' own
#: timeouts are 0.5 s; a trickling server would hold them for minutes to days).
HANG = 15.0


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    yield
    forget_registered_secrets()


def _status_then_one_byte_a_while() -> Callable[[socket.socket], None]:
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100000):
            conn.sendall(b"x")
            time.sleep(0.2)

    return answer


def _headers_one_byte_a_while(conn: socket.socket) -> None:
    # One header line that never ends, a byte every 0.2 s: within any per-read timeout, and
    # within http.client's 64 KiB line limit for hours.
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
    for _ in range(100000):
        conn.sendall(b"a")
        time.sleep(0.2)


@contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """An HTTP "server" that reads each request and lets ``answer`` write whatever it likes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    done = threading.Event()
    accepted: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if not done.is_set():
                    answer(conn)
            except OSError:
                pass

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        listener.close()
        for conn in accepted:  # a trickle still going ends with its connection
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result, failing the test if it has not returned after ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a hang"
    if "error" in box:
        raise box["error"]
    return box["value"]


RECORD = {"id": "0" * 24, "type": "alert", "title": "t", "raised_at": "2026-01-01T00:00:00"}
SECRET = "/hooks/k3yS3cr3tW3bh00kP4thXYZ"


# -- the webhook ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"garbage\r\n\r\n", id="a status line that is not HTTP"),
        pytest.param(b"\x1b[2J\x1b[31mOK\r\n\r\n", id="a status line that is an escape"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n", id="a header too long"
        ),
    ],
)
def test_a_webhook_that_answers_broken_http_is_an_undelivered_alert_not_a_crash(
    raw: bytes,
) -> None:
    def answer(conn: socket.socket) -> None:
        conn.sendall(raw)

    with raw_server(answer) as base:
        sink = WebhookSink(base + SECRET, retries=1, backoff=0.01, timeout=0.5)
        with pytest.raises(SinkError) as raised:
            sink.deliver(RECORD)
    assert "k3yS3cr3t" not in str(raised.value)
    assert "\x1b" not in str(raised.value)  # the receiver's text reaches stderr escaped
    assert not raised.value.retryable  # the receiver is broken: the rest stay queued


def test_a_webhook_that_trickles_its_answer_is_given_up_on_within_a_bounded_time() -> None:
    with raw_server(_status_then_one_byte_a_while()) as base:
        sink = WebhookSink(base + SECRET, retries=1, backoff=0.01, timeout=0.5)
        with pytest.raises(SinkError, match="not delivered after 2 attempts"):
            within(HANG, lambda: sink.deliver(RECORD))


def test_a_webhook_that_trickles_its_headers_is_given_up_on_within_a_bounded_time() -> None:
    with raw_server(_headers_one_byte_a_while) as base:
        sink = WebhookSink(base + SECRET, retries=0, backoff=0.01, timeout=0.5)
        with pytest.raises(SinkError, match="not delivered"):
            within(HANG, lambda: sink.deliver(RECORD))


# -- the package index ---------------------------------------------------------------------------


def test_an_index_that_trickles_its_headers_is_an_outage_within_a_bounded_time() -> None:
    with raw_server(_headers_one_byte_a_while) as base:
        source = IndexSource(pypi_url=base, timeout=0.5, vulnerabilities={"service": "osv"})
        watch = WatchList(dependencies=(TrackedDependency("torch"),))
        result = within(HANG, lambda: source.poll(watch, {}))
    subjects = {o.subject for o in result.outages}
    assert {"pypi-rss:packages", "pypi:torch"} <= subjects
    assert not result.cursors  # nothing seen: every old cursor is kept


def test_an_advisory_service_that_trickles_its_answer_is_an_outage_within_a_bounded_time() -> None:
    from tests.monitor.index_env import torch_index
    from tests.typosquat.index_server import serve

    with serve(torch_index()) as index, raw_server(_headers_one_byte_a_while) as osv:
        source = IndexSource(
            pypi_url=index.url, timeout=0.5, vulnerabilities={"service": "osv", "url": osv}
        )
        watch = WatchList(dependencies=(TrackedDependency("torch", ("2.5.1",)),))
        result = within(HANG, lambda: source.poll(watch, {}))
    assert "pypi-osv:torch" in {o.subject for o in result.outages}
    assert "pypi-osv:torch" not in result.cursors


# -- the Hub -------------------------------------------------------------------------------------


def test_a_hub_that_trickles_its_headers_is_an_outage_within_a_bounded_time(
    tmp_path: Path,
) -> None:
    with raw_server(_headers_one_byte_a_while) as base:
        settings = HubSettings(endpoint=base, cache_dir=tmp_path, offline=False, timeout=0.5)
        source = HubSource(settings)
        watch = WatchList(models=(TrackedModel("acme/bert", "a" * 40),))
        result = within(HANG, lambda: source.poll(watch, {}))
    assert [o.subject for o in result.outages] == ["hf://acme/bert"]
    assert not result.cursors


# -- the state -----------------------------------------------------------------------------------


def test_a_state_reached_through_a_symlink_is_held_by_one_watch_at_a_time(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real" / "monitor.sqlite"
    real.parent.mkdir()
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "state.sqlite"
    with State.open(real):
        link.symlink_to(real)
        # Two watches on one outbox would each deliver what the other delivers.
        with pytest.raises(StateBusy):
            State.open(link).close()


# -- alerts raised once, and no fewer --------------------------------------------------------


def test_a_repository_deleted_and_published_again_in_a_tracked_org_is_raised_again(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    from pytest_mlsupply.monitor.hub_watch import NEW_REPOSITORY
    from tests.monitor.hub_helpers import poll

    hub_env.add_repo("acme/a").commit({"README.md": b"a"})
    raised: list[str] = []
    with State.open(tmp_path / "state.sqlite") as state:

        def run() -> None:
            result = poll(orgs=["acme"], cursors=state.cursors("hub"))
            assert not result.outages
            new = state.record("hub", result.alerts, result.cursors, ["terminal"])
            raised.extend(a.key for a in new if a.rule == NEW_REPOSITORY)

        run()  # the baseline
        hub_env.add_repo("acme/d").commit({"README.md": b"the first d"})
        run()
        del hub_env.repos[("model", "acme/d")]
        run()
        hub_env.add_repo("acme/d").commit({"README.md": b"someone else's d"})
        run()
    assert len(raised) == 2


def test_a_file_the_hub_names_badly_does_not_hide_the_pickle_listed_after_it(
    hub_env: FakeHub,
) -> None:
    from pytest_mlsupply.monitor.hub_watch import PICKLE_FILE
    from tests.monitor.hub_helpers import PICKLE_PAYLOAD, poll

    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"a"})
    # '../x' sorts first; huggingface_hub refuses to download it (nothing escapes the cache).
    repo.commit(
        {"README.md": b"a", "../escaped.py": b"import os\n", "w.safetensors": PICKLE_PAYLOAD}
    )

    result = poll([TrackedModel("acme/tiny", pinned)])

    [outage] = result.outages  # fail closed: the subject keeps its cursor
    assert "'..' path segment" in outage.reason
    assert "hf://acme/tiny" not in result.cursors
    [pickle] = [a for a in result.alerts if a.rule == PICKLE_FILE]
    assert "w.safetensors" in pickle.title


def test_a_hub_that_trickles_its_listing_is_drift_not_ruled_out_within_a_bounded_time(
    tmp_path: Path,
) -> None:
    from pytest_mlsupply.manifest.model import HubRef
    from pytest_mlsupply.monitor.drift import check_drift

    commit = "a" * 40
    snapshot = tmp_path / "models--acme--bert" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    with raw_server(_headers_one_byte_a_while) as base:
        settings = HubSettings(endpoint=base, cache_dir=tmp_path, offline=False, timeout=0.5)
        ref = HubRef("model", "acme/bert", commit)
        drift = within(HANG, lambda: check_drift(ref, settings))
    assert drift.problems == ()
    assert drift.error is not None
    assert "cannot be ruled out" in drift.error


def test_a_state_whose_directory_cannot_be_made_is_a_state_error_naming_it(
    tmp_path: Path,
) -> None:
    from pytest_mlsupply.monitor.state import StateError

    (tmp_path / "a-file").write_text("")
    with pytest.raises(StateError, match="cannot create the state's directory"):
        State.open(tmp_path / "a-file" / "monitor.sqlite")


def test_files_fetched_for_a_scan_are_held_on_disk_one_at_a_time(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from pytest_mlsupply.engines import scanner
    from tests.monitor.hub_helpers import poll

    size = 1 << 20
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"a"})
    # A commit that adds many large files (here 4 of 1 MiB; on the Hub, hundreds of 250 MB)
    # must not fill the watcher's temporary directory with all of them at once.
    added = {f"shard-{n}.bin": os.urandom(size) for n in range(4)}
    repo.commit({"README.md": b"a", **added})
    held: list[int] = []
    real = scanner.scan_file

    def spy(path: Path, name: str, policy: Any = None) -> Any:
        root = next(p for p in path.parents if p.name.startswith("mlsupply-hub-"))
        files = [f for f in root.rglob("*") if f.is_file() and not f.is_symlink()]
        held.append(sum(f.stat().st_size for f in files))
        return real(path, name, policy)

    monkeypatch.setattr(scanner, "scan_file", spy)
    result = poll([TrackedModel("acme/tiny", pinned)])

    assert not result.outages
    assert len(held) == 4
    assert max(held) < 2 * size


def test_a_commit_title_a_megabyte_long_is_cut_short_in_the_alert(hub_env: FakeHub) -> None:
    from pytest_mlsupply.monitor.hub_watch import NEW_COMMITS
    from tests.monitor.hub_helpers import poll

    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"a"})
    for n in range(3):  # the repository's owner writes the titles
        repo.commit({"README.md": b"a", "notes.txt": bytes([n])}, title="A" * (1 << 20))

    result = poll([TrackedModel("acme/tiny", pinned)])

    [news] = [a for a in result.alerts if a.rule == NEW_COMMITS]
    assert len(news.evidence) < 4096  # stored, written to the JSON lines, posted: bounded


def test_an_advisory_summary_a_megabyte_long_is_cut_short_in_the_alert() -> None:
    import copy

    from pytest_mlsupply.monitor.index_watch import RULE_ADVISORY
    from tests.monitor.index_env import TORCH_WEIGHTS_ONLY, WATCH, index_env

    record = copy.deepcopy(TORCH_WEIGHTS_ONLY)
    record["summary"] = "S" * (1 << 20)
    with index_env(records=[record]) as env:
        alerts = env.alerts(WATCH)
    [advisory] = [a for a in alerts if a.rule == RULE_ADVISORY]
    assert len(advisory.evidence) < 4096


def test_a_pin_spelled_in_another_case_still_pins_the_watched_model(tmp_path: Path) -> None:
    from pytest_mlsupply.manifest.loader import load_manifest
    from pytest_mlsupply.monitor.watcher import watch_list
    from tests.monitor.watch_doubles import write_project

    # The manifest pins hf://acme/bert@aaaa…; the monitor section names it ACME/Bert. Unpinned,
    # the first poll would be a silent baseline at the head, hiding every change since the pin.
    manifest = load_manifest(write_project(tmp_path, "{models: [ACME/Bert]}"))
    assert watch_list(manifest).models == (TrackedModel("ACME/Bert", "a" * 40),)


@pytest.mark.parametrize("option", ["--interval", "--webhook-backoff"])
def test_a_wait_too_long_for_the_platform_is_refused_before_the_first_run(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_mlsupply.cli import main

    # 1e300 s passed as a float, then crashed the loop (OverflowError) after the first run.
    with pytest.raises(SystemExit) as exited:
        main(["watch", option, "1e300", "--config", "mlsupply.yaml"])
    assert exited.value.code == 2
    assert "give at most" in capsys.readouterr().err
