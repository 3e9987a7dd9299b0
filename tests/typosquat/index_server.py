"""A loopback server speaking the package index's JSON API as the typosquat check asks it.

``GET /pypi/<name>/json`` answers 200 with the project's metadata (``info``, ``releases``,
``urls``, as PyPI's JSON API does) for a published project and 404 with ``{"message": "Not
Found"}`` otherwise. A test can make it misbehave: ``status`` forces another status (500),
``body`` replaces the answer with raw bytes (malformed JSON), ``delay`` holds every answer back.
Every requested path is recorded. The server stops with its fixture.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeIndex:
    published: set[str] = field(default_factory=set)
    status: int | None = None
    body: bytes | None = None
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str) -> tuple[int, bytes]:
        self.requests.append(path)
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "pypi" or parts[2] != "json":
            return 404, b'{"message": "Not Found"}'
        name = parts[1]
        status = 200 if name in self.published else 404
        if status == 200:
            body = json.dumps(
                {
                    "info": {"name": name, "version": "1.0.0", "summary": "a project"},
                    "releases": {"1.0.0": []},
                    "urls": [],
                }
            ).encode()
        else:
            body = b'{"message": "Not Found"}'
        return self.status or status, self.body if self.body is not None else body


@contextmanager
def serve(index: FakeIndex) -> Iterator[FakeIndex]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = index.answer(self.path)
            if index.delay:
                time.sleep(index.delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    index.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval: shutdown() waits for the loop's next turn (0.5 s by default),
    # which tests that start a server each would pay every time.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (bound, then released)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}"
