"""What the watcher's tests drive it with: a scripted source, a loopback webhook receiver, and a
project on disk.

The scripted source stands in for the Hub and index sources (not on this branch): it answers
what a test wrote for each poll, through the real :class:`~pytest_mlsupply.monitor.alerts.Source`
protocol. The receiver is a real HTTP server on 127.0.0.1 that urllib talks to.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pytest_mlsupply.monitor.alerts import Alert, Outage, SourceResult, WatchList
from pytest_mlsupply.results import Severity

#: The webhook's secret path: a test greps every output for each piece of it.
SECRET_PATH = "/services/T0AB12CD3/B0EF45GH6/k3yk3yS3cr3tW3bh00kP4th"
SECRET_PIECES = ("T0AB12CD3", "B0EF45GH6", "k3yk3yS3cr3tW3bh00kP4th")


def alert(
    key: str,
    *,
    rule: str = "MLS-MON-900",
    severity: Severity = Severity.HIGH,
    subject: str = "hf://acme/bert",
    title: str | None = None,
) -> Alert:
    return Alert(
        rule=rule,
        severity=severity,
        subject=subject,
        key=key,
        title=title or f"new commit {key}",
        evidence=f"head moved to {key}",
        remediation="review the change, then move the pin",
    )


@dataclass
class ScriptedSource:
    """Answers each poll with the next scripted result (an exception is raised); records the
    cursors each poll was given."""

    name: str
    script: list[SourceResult | Exception]
    seen: list[dict[str, Any]] = field(default_factory=list)

    def poll(self, watch: WatchList, cursors: Mapping[str, Any]) -> SourceResult:
        self.seen.append(dict(cursors))
        step = self.script.pop(0) if self.script else SourceResult()
        if isinstance(step, Exception):
            raise step
        return step


class FileSource:
    """A source for ``mlsupply watch`` in a subprocess: each poll reads the JSON file named by
    ``MLSUPPLY_TEST_SOURCE`` (``{"alerts": [...], "cursors": {...}, "outages": [...]}``)."""

    name = "scripted"

    def poll(self, watch: WatchList, cursors: Mapping[str, Any]) -> SourceResult:
        import os

        spec = json.loads(Path(os.environ["MLSUPPLY_TEST_SOURCE"]).read_text())
        return SourceResult(
            alerts=[
                alert(a["key"], severity=Severity.parse(a.get("severity", "high")))
                for a in spec.get("alerts", [])
            ],
            cursors=spec.get("cursors", {}),
            outages=[
                Outage(self.name, o, "HTTP 503 from the service") for o in spec.get("outages", [])
            ],
        )


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class Receiver:
    """A webhook receiver: answers the scripted :class:`Answer` list in order (then 200)."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        """Set when the receiver stops: a held answer (``delay``) ends then."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver.lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers), body, time.monotonic())
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else Answer()
                if receiver.release.wait(answer.delay):
                    return  # stopping: the client has gone or will time out
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"

    def keys(self) -> list[str]:
        return [r.headers["Idempotency-Key"] for r in self.received]


@contextmanager
def receiving(answers: list[Answer] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(answers)
    thread = threading.Thread(
        target=receiver.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        receiver.server.shutdown()
        receiver.server.server_close()


def write_project(
    root: Path, monitor: str = "{models: [acme/bert], dependencies: [torch]}"
) -> Path:
    """A project whose manifest pins acme/bert and tracks what ``monitor`` says."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text("torch==2.3.1\nrequests>=2\n")
    manifest = root / "mlsupply.yaml"
    manifest.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            models:
              - name: bert
                source: hf://acme/bert@{"a" * 40}
            requirements:
              - {{file: requirements.txt}}
            monitor: {monitor}
            """
        )
    )
    return manifest
