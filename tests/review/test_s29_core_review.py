"""Adversarial review of the monitor's core (session 29): the state file, the sinks, the watcher
and ``mlsupply watch``.

Each test drives the real code: the webhook against a loopback receiver speaking HTTP, the
JSON-lines sink on real files (a full disk made real with ``RLIMIT_FSIZE`` in a subprocess),
the state on a real SQLite file damaged on disk, and the command in a subprocess with the
scripted source of tests/monitor/watch_driver.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.monitor.alerts import SourceResult, WatchList
from pytest_mlsupply.monitor.sinks import JsonlSink, SinkError, TerminalSink, WebhookSink
from pytest_mlsupply.monitor.state import State, StateBusy, StateError
from pytest_mlsupply.monitor.watcher import run_once
from pytest_mlsupply.redaction import forget_registered_secrets
from tests.monitor.watch_doubles import Answer, ScriptedSource, alert, receiving, write_project


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    yield
    forget_registered_secrets()


def record(key: str = "c1") -> dict[str, Any]:
    return {"id": key * 12, "rule": "MLS-MON-900", "severity": "high", "title": "t"}


# -- the webhook ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["\xb2", "\xb9\xb3", "1\xb2"])
def test_a_retry_after_of_superscript_digits_is_a_retry_not_a_crash(value: str) -> None:
    # str.isdigit() says yes to "²" (a Latin-1 byte a header may carry); float() says no.
    waits: list[float] = []
    with receiving([Answer(503, {"Retry-After": value}), Answer(200)]) as receiver:
        sink = WebhookSink(receiver.url, retries=2, backoff=0.01, sleep=waits.append)
        sink.deliver(record())
    assert len(receiver.received) == 2
    assert len(waits) == 1
    assert 0 <= waits[0] <= 0.01


# -- the JSON-lines file -------------------------------------------------------------------------

#: One process, one sink, two deliveries (a watch loop's two runs): the first hits a file-size
#: limit (a full disk, made real) part way through its line; the second runs with room again.
_FULL_DISK_THEN_ROOM = """
import resource, signal, sys
from pathlib import Path
from pytest_mlsupply.monitor.sinks import JsonlSink, SinkError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a short write, not a killed process
path = Path(sys.argv[1])
sink = JsonlSink(path)
sink.deliver({"id": "a" * 24, "title": "first"})
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 20, hard))
try:
    sink.deliver({"id": "b" * 24, "title": "second " * 10})
except SinkError as exc:
    print("refused:", exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
sink.deliver({"id": "b" * 24, "title": "second " * 10})
"""


def test_a_line_torn_by_a_full_disk_is_not_joined_by_the_next_run_of_the_same_watch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_THEN_ROOM, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "short write" in done.stdout  # the limit was hit part way through the line
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["id"] for line in lines[:-1]] == ["a" * 24, "b" * 24]


def test_a_torn_last_line_cut_off_is_said_on_stderr_once_by_the_run_that_cut_it(
    tmp_path: Path,
) -> None:
    # The docs promise the cut is said on stderr; it was said only when an outage had made the
    # sink read the file before the notes were printed, and then again by every later run.
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"type": "alert", "id": "7a7a')
    sink = JsonlSink(path)
    source = ScriptedSource("scripted", [SourceResult(alerts=[alert("c1")]), SourceResult()])
    said: list[str] = []
    with State.open(tmp_path / "state.sqlite") as state:
        for _ in range(2):
            errors = io.StringIO()
            run_once(WatchList(), state, [source], [sink], errors=errors)
            said.append(errors.getvalue())
    assert "torn last line" in said[0]
    assert "torn last line" not in said[1]
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["c1"]


def test_a_webhook_url_with_a_user_and_password_posts_with_basic_auth() -> None:
    # urllib hands user:password@ to http.client as part of the host: never delivered, and
    # the password (under redaction's 8-character floor) was quoted in "nonnumeric port".
    with receiving() as receiver:
        url = receiver.url.replace("http://", "http://alice:hunter2@", 1)
        WebhookSink(url, retries=0).deliver(record())
    (got,) = receiver.received
    assert got.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:hunter2").decode()
    assert got.headers["Host"].startswith("127.0.0.1:")


def test_a_webhook_url_with_a_short_password_and_no_port_keeps_it_out_of_any_failure() -> None:
    # No port: urllib took "hunter2@127.0.0.1" for one and quoted it. Port 80 on loopback is
    # most likely closed (a refusal, which must not quote the password); if something there
    # takes the POST, there is no failure to quote it.
    sink = WebhookSink("http://alice:hunter2@127.0.0.1/hook", retries=0, timeout=2)
    said = ""
    try:
        sink.deliver(record())
    except SinkError as failure:
        said = str(failure)
    assert "hunter2" not in said


# -- the state -----------------------------------------------------------------------------------

DRIVER = Path(__file__).resolve().parents[1] / "monitor" / "watch_driver.py"


def watch_once(root: Path, alerts: list[dict[str, str]]) -> subprocess.CompletedProcess[str]:
    (root / "source.json").write_text(json.dumps({"alerts": alerts}))
    env = {k: v for k, v in os.environ.items() if k != "MLSUPPLY_WEBHOOK_URL"}
    env["MLSUPPLY_TEST_SOURCE"] = str(root / "source.json")
    config = str(root / "mlsupply.yaml")
    return subprocess.run(
        [sys.executable, str(DRIVER), "watch", "--once", "--config", config],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_state_found_damaged_in_the_middle_of_a_run_is_a_clear_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    # The file's first pages (its schema) are whole, so it opens; the outbox's pages are not,
    # as after a disk fault or a copy taken mid-write: SQLite finds out only when they are read.
    write_project(tmp_path)
    first = watch_once(tmp_path, [{"key": f"{n:04d}" + "k" * 400} for n in range(300)])
    assert first.returncode == 1, first.stderr
    state = tmp_path / ".mlsupply" / "monitor.sqlite"
    data = bytearray(state.read_bytes())
    assert len(data) > 40 * 4096
    data[20 * 4096 :] = b"\xa5" * (len(data) - 20 * 4096)
    state.write_bytes(bytes(data))

    second = watch_once(tmp_path, [{"key": "new"}])
    assert "Traceback" not in second.stderr
    assert second.returncode == 2
    assert f"{state}: the state could not be read or written" in second.stderr
    assert "move it away" in second.stderr


def test_a_jsonl_path_that_is_a_pipe_takes_each_line_instead_of_failing_every_run(
    tmp_path: Path,
) -> None:
    # --jsonl /dev/stderr, or a FIFO a log shipper reads: nothing to read back or cut, only to
    # append to. Read back as a file, each run failed ("not seekable") and exited 3.
    fifo = tmp_path / "alerts.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, as the shipper would be
    try:
        sink = JsonlSink(fifo)
        sink.deliver(record("a"))
        sink.deliver(record("b"))
        got = os.read(reader, 65536).decode()
    finally:
        os.close(reader)
    assert [json.loads(line)["id"] for line in got.splitlines()] == ["a" * 12, "b" * 12]


def test_a_jsonl_fifo_that_nobody_reads_is_a_failure_at_once_not_a_wait(tmp_path: Path) -> None:
    fifo = tmp_path / "alerts.fifo"
    os.mkfifo(fifo)
    sink = JsonlSink(fifo)
    failed: list[BaseException] = []

    def deliver() -> None:
        try:
            sink.deliver(record("a"))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # let the thread go: a reader that opens and leaves
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    assert not thread.is_alive(), "waited for a reader"
    assert len(failed) == 1
    assert isinstance(failed[0], SinkError)


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("\u2028", id="a line separator"),
        pytest.param("\x85", id="a next-line control"),
        pytest.param("\x9b2J", id="a C1 control sequence introducer"),
        pytest.param("\u202egnp.elif", id="a bidi override"),
    ],
)
def test_a_hostile_title_stays_inside_its_json_line_for_every_reader(
    tmp_path: Path, hostile: str
) -> None:
    # A commit title is the pusher's text. json.dumps(ensure_ascii=False) escapes only C0
    # controls: U+2028 and NEL end a line for str.splitlines() (the alert then parses for no
    # one who reads the file that way), and a C1 CSI or a bidi override reaches `tail -f`.
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.deliver({**record("a"), "title": f"update {hostile} weights"})
    text = path.read_text(encoding="utf-8")
    assert hostile[0] not in text  # written as its JSON escape
    (line,) = text.splitlines()
    assert json.loads(line)["title"] == f"update {hostile} weights"


def test_a_title_with_a_lone_surrogate_is_written_to_the_jsonl_not_a_crash_of_every_run(
    tmp_path: Path,
) -> None:
    # JSON may carry "\udcff" (the Hub's API answer for a commit title): a str UTF-8 cannot
    # encode. The line's encode raised UnicodeEncodeError out of the run, and since the alert
    # stays pending, out of every run after it.
    path = tmp_path / "alerts.jsonl"
    source = ScriptedSource("scripted", [SourceResult(alerts=[alert("c1", title="x\udcff")])])
    with State.open(tmp_path / "state.sqlite") as state:
        summary = run_once(WatchList(), state, [source], [JsonlSink(path)], errors=io.StringIO())
    assert not summary.failures
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["title"] == "x\udcff"


def test_an_alert_whose_key_holds_a_lone_surrogate_is_raised_once_not_a_crash(
    tmp_path: Path,
) -> None:
    # A key quotes a name the Hub or the index sent (a file path, a version) as JSON, which may
    # carry "\udcff". Hashing it for the alert's id raised UnicodeEncodeError out of the run,
    # every run, since the source sees the same change again each time.
    source = ScriptedSource(
        "scripted", [SourceResult(alerts=[alert("w\udcff.bin")]) for _ in range(2)]
    )
    out = io.StringIO()
    with State.open(tmp_path / "state.sqlite") as state:
        first = run_once(WatchList(), state, [source], [TerminalSink(out)], errors=io.StringIO())
        second = run_once(WatchList(), state, [source], [TerminalSink(out)], errors=io.StringIO())
    assert len(first.raised) == 1
    assert second.raised == []
    assert out.getvalue().count("MLS-MON-900") == 1


@pytest.mark.parametrize("version", ["\xb2", "\u0663", "1\xb9"])
def test_a_state_whose_schema_version_is_not_ascii_digits_is_a_state_error(
    tmp_path: Path, version: str
) -> None:
    # str.isdigit() takes "²" and "٣" (Arabic-Indic three), which int() refuses or reads as a
    # version: a ValueError out of State.open (a traceback), or a file taken as one it is not.
    path = tmp_path / "state.sqlite"
    State.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    db.close()
    with pytest.raises(StateError, match="state schema"):
        State.open(path)


@pytest.mark.parametrize("status", [507, 522, 524])
def test_every_5xx_the_docs_promise_to_retry_is_retried(status: int) -> None:
    # docs/monitor.md and --help: "429 or 5xx" is retried. Only 500/502/503/504 were: a proxy's
    # 522/524 (the receiver timed out) was a refusal of each alert in turn, none retried.
    waits: list[float] = []
    with receiving([Answer(status), Answer(200)]) as receiver:
        WebhookSink(receiver.url, retries=1, backoff=0.01, sleep=waits.append).deliver(record())
    assert len(receiver.received) == 2
    assert len(waits) == 1


def test_another_programs_sqlite_database_is_refused_not_written_into(tmp_path: Path) -> None:
    # --state naming (or a link leading to) some other tool's database: the watch added its
    # four tables to it and went on, writing into a file it does not own.
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('alice')")
    db.close()
    with pytest.raises(StateError, match="not a monitor state"):
        State.open(path)
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert tables == {"users"}


_OPEN_ON_A_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from pytest_mlsupply.monitor.state import State, StateBusy, StateError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.RLIM_INFINITY))
try:
    State.open(Path(sys.argv[1]))
except StateError as exc:
    print(exc)
"""


def test_a_state_that_cannot_be_written_for_a_full_disk_is_not_called_unreadable(
    tmp_path: Path,
) -> None:
    # "not a monitor state mlsupply can read ... move this one away to start afresh" sends
    # the user to throw away a state (its history of raised alerts) that is only out of room.
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_ON_A_FULL_DISK, str(tmp_path / "monitor.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "could not be read or written" in done.stdout
    assert "disk has room" in done.stdout
    assert "not a monitor state" not in done.stdout


def test_a_state_reached_through_a_hard_link_is_refused_by_each_of_its_names(
    tmp_path: Path,
) -> None:
    # Each name of a hard-linked file has its own lock, and SQLite its own -wal per name: two
    # watches through two names would corrupt the one database. Every name is refused.
    first = tmp_path / "a" / "monitor.sqlite"
    second = tmp_path / "b" / "monitor.sqlite"
    State.open(first).close()
    second.parent.mkdir()
    os.link(first, second)
    for name in (first, second):
        with pytest.raises(StateError, match="has 2 names"):
            State.open(name).close()
    second.unlink()
    State.open(first).close()  # one name again: used as before


def test_a_non_ascii_title_on_an_ascii_terminal_is_escaped_and_the_other_sinks_still_get_it(
    tmp_path: Path,
) -> None:
    # stdout in ASCII or Latin-1 (PYTHONIOENCODING, an ISO-8859-1 locale, a redirected Windows
    # console): a commit title in Japanese raised UnicodeEncodeError out of the terminal sink,
    # the first, so no sink got anything, that run or any after (the alert stays first).
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", write_through=True)
    path = tmp_path / "alerts.jsonl"
    source = ScriptedSource("scripted", [SourceResult(alerts=[alert("c1", title="更新 weights")])])
    with State.open(tmp_path / "state.sqlite") as state:
        summary = run_once(
            WatchList(),
            state,
            [source],
            [TerminalSink(stdout), JsonlSink(path)],
            errors=io.StringIO(),
        )
    assert not summary.failures
    assert "\\u66f4\\u65b0 weights" in raw.getvalue().decode("ascii")
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["title"] == "更新 weights"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://a..b/hooks/k3yS3cr3t", id="an empty label"),
        pytest.param("http://" + "a" * 70 + ".example/hooks/k3yS3cr3t", id="a label too long"),
    ],
)
def test_a_webhook_host_that_is_no_host_name_is_an_undelivered_alert_not_a_crash(
    url: str,
) -> None:
    # The host is encoded with IDNA to be looked up: a UnicodeError (a ValueError), which the
    # sink did not catch, out of every run after the terminal and the JSON lines had their turn.
    with pytest.raises(SinkError, match="not delivered"):
        WebhookSink(url, retries=0).deliver(record())


def test_a_webhook_variable_that_is_no_url_exits_2_with_a_message_not_a_traceback(
    tmp_path: Path,
) -> None:
    write_project(tmp_path)
    (tmp_path / "source.json").write_text(json.dumps({"alerts": []}))
    env = {k: v for k, v in os.environ.items() if k != "MLSUPPLY_WEBHOOK_URL"}
    env["MLSUPPLY_TEST_SOURCE"] = str(tmp_path / "source.json")
    env["MLSUPPLY_WEBHOOK_URL"] = "https://[::1/hooks/k3yS3cr3tW3bh00k"
    config = str(tmp_path / "mlsupply.yaml")
    done = subprocess.run(
        [sys.executable, str(DRIVER), "watch", "--once", "--config", config],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 2
    assert "$MLSUPPLY_WEBHOOK_URL must be an http(s) URL" in done.stderr
    assert "k3yS3cr3tW3bh00k" not in done.stderr


def test_a_webhook_option_that_does_not_parse_is_refused_without_quoting_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # urlsplit refuses "[::1" with ValueError, which argparse turns into "invalid value: '<the
    # URL>'": the secret path on stderr (nothing was registered, the URL never having parsed).
    with pytest.raises(SystemExit) as exit_:
        main(["watch", "--once", "--webhook", "https://[::1/hooks/k3yS3cr3tW3bh00k"])
    assert exit_.value.code == 2
    said = capsys.readouterr().err
    assert "the webhook must be an http:// or https:// URL" in said
    assert "k3yS3cr3tW3bh00k" not in said


def test_a_run_without_the_jsonl_does_not_keep_its_alerts_from_the_jsonl_of_the_next_run(
    tmp_path: Path,
) -> None:
    # The cron job writes --jsonl (and posts to the webhook); someone runs `mlsupply watch
    # --once` by hand on the same state in between. What that run raises is never written to
    # the file, nor posted: raised once, to the terminal of whoever happened to run it.
    path = tmp_path / "alerts.jsonl"
    source = ScriptedSource(
        "scripted",
        [SourceResult(alerts=[alert("a")]), SourceResult(alerts=[alert("b")]), SourceResult()],
    )
    runs = [[JsonlSink(path)], [], [JsonlSink(path)]]
    with State.open(tmp_path / "state.sqlite") as state:
        for extra in runs:
            sinks = [TerminalSink(io.StringIO()), *extra]
            run_once(WatchList(), state, [source], sinks, errors=io.StringIO())
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["a", "b"]


def test_a_state_another_program_holds_locked_is_busy_not_damaged(tmp_path: Path) -> None:
    # A `sqlite3` shell left in a write transaction: past the busy timeout the watch said "not
    # a monitor state mlsupply can read ... move this one away", which loses its history.
    path = tmp_path / "monitor.sqlite"
    State.open(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StateBusy, match="another program has held the state locked"):
            State.open(path)
    finally:
        other.close()


def test_a_watch_with_its_stdout_closed_still_writes_the_jsonl_and_fails_closed(
    tmp_path: Path,
) -> None:
    # A daemon started with fd 1 closed: Python's sys.stdout is None, the terminal sink (the
    # first) raised AttributeError, and the run died before the JSON lines got the alert, in
    # every run, since the alert stays first in the terminal's queue.
    write_project(tmp_path)
    (tmp_path / "source.json").write_text(json.dumps({"alerts": [{"key": "c1"}]}))
    env = {k: v for k, v in os.environ.items() if k != "MLSUPPLY_WEBHOOK_URL"}
    env["MLSUPPLY_TEST_SOURCE"] = str(tmp_path / "source.json")
    out = tmp_path / "alerts.jsonl"
    config = str(tmp_path / "mlsupply.yaml")
    command = [sys.executable, str(DRIVER), "watch", "--once", "--config", config]
    done = subprocess.run(
        [*command, "--jsonl", str(out), "--fail-on", "critical"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),  # the child starts with fd 1 closed
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 3  # the terminal could not take the alert: fail closed
    assert "terminal: cannot take alerts" in done.stderr
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == ["c1"]
