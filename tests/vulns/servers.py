"""Loopback servers speaking OSV's API and PyPI's JSON API, as pip-audit uses them.

- **OSV** (``https://api.osv.dev``): ``POST /v1/query`` with
  ``{"package": {"name", "ecosystem": "PyPI"}, "version"}`` answers ``{"vulns": [<OSV
  record>, ...]}`` or ``{}`` when nothing matches. (pip-audit's ``OsvService`` asks
  ``/v1/query`` once per package and never ``/v1/querybatch``, so the batch endpoint is not
  served: a fake of an endpoint no client here calls would be untested code.)
- **PyPI JSON API** (``https://pypi.org``): ``GET /pypi/<name>/<version>/json`` answers
  ``{"info": {...}, "urls": [], "vulnerabilities": [{"id", "aliases", "details", "summary",
  "fixed_in", "link", "source", "withdrawn"}]}``, and 404 for a release it does not know.

Records are matched the way the real services match them: by the OSV record's ECOSYSTEM
ranges and explicit versions (a test writes records, the server decides). A server can also
be told to misbehave (``mode``): ``"500"``, ``"malformed"`` (not JSON), ``"wrong-shape"``
(JSON of another shape) or ``"slow"`` (answers after ``delay`` seconds).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    """Whether an OSV record affects ``name==version`` (ECOSYSTEM ranges and versions lists)."""
    v = Version(version)
    for affected in record.get("affected", []):
        pkg = affected.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != name:
            continue
        if version in affected.get("versions", []):
            return True
        for rng in affected.get("ranges", []):
            if rng.get("type") != "ECOSYSTEM":
                continue
            inside = False
            for event in sorted(rng["events"], key=lambda e: Version(next(iter(e.values())))):
                ((kind, at),) = event.items()
                if kind == "introduced" and v >= Version(at):
                    inside = True
                elif (kind == "fixed" and v >= Version(at)) or (
                    kind == "last_affected" and v > Version(at)
                ):
                    inside = False
            if inside:
                return True
    return False


@dataclass
class AdvisoryServer:
    """Both APIs on one loopback port, over the same OSV records."""

    records: list[dict[str, Any]] = field(default_factory=list)
    known: set[tuple[str, str]] = field(default_factory=set)
    """Releases the PyPI API knows (others answer 404)."""
    mode: str = "ok"
    delay: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def matching(self, name: str, version: str) -> list[dict[str, Any]]:
        return [r for r in self.records if affects(r, canonicalize_name(name), version)]

    def pypi_release(self, name: str, version: str) -> dict[str, Any] | None:
        if (canonicalize_name(name), version) not in self.known:
            return None
        vulns = []
        for record in self.matching(name, version):
            fixed = [
                e["fixed"]
                for a in record["affected"]
                for r in a.get("ranges", [])
                for e in r["events"]
                if "fixed" in e
            ]
            vulns.append(
                {
                    "id": record["id"],
                    "aliases": record.get("aliases", []),
                    "details": record.get("details", ""),
                    "summary": record.get("summary"),
                    "fixed_in": fixed,
                    "link": f"https://osv.dev/vulnerability/{record['id']}",
                    "source": "osv",
                    "withdrawn": record.get("withdrawn"),
                }
            )
        return {"info": {"name": name, "version": version}, "urls": [], "vulnerabilities": vulns}


def _handler(server: AdvisoryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            if server.mode == "slow":
                time.sleep(server.delay)
            if server.mode == "500":
                status, data = 500, b"internal error"
            elif server.mode == "malformed":
                data = b"<html>not json</html>"
            elif server.mode == "wrong-shape":
                data = json.dumps({"vulns": "none", "vulnerabilities": 7}).encode()
            elif server.mode == "paged" and isinstance(body, dict) and "vulns" in body:
                data = json.dumps({**body, "next_page_token": "page-2"}).encode()
            else:
                data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)  # unless the client gave up (a timeout test)

        def do_POST(self) -> None:
            server.requests.append(("POST", self.path))
            length = int(self.headers.get("Content-Length", "0"))
            query = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/v1/query":
                pkg = query.get("package", {})
                found = self.__class__.matching(pkg, query.get("version", ""))
                self._answer(200, {"vulns": found} if found else {})
            else:
                self._answer(404, {"code": 5, "message": "Not Found"})

        @staticmethod
        def matching(pkg: dict[str, Any], version: str) -> list[dict[str, Any]]:
            if pkg.get("ecosystem") != "PyPI" or not version:
                return []
            return server.matching(pkg.get("name", ""), version)

        def do_GET(self) -> None:
            server.requests.append(("GET", self.path))
            parts = self.path.strip("/").split("/")
            if len(parts) == 4 and parts[0] == "pypi" and parts[3] == "json":
                release = server.pypi_release(parts[1], parts[2])
                if release is None:
                    self._answer(404, {"message": "Not Found"})
                else:
                    self._answer(200, release)
            else:
                self._answer(404, {"message": "Not Found"})

    return Handler


@contextmanager
def advisory_server(server: AdvisoryServer | None = None) -> Iterator[AdvisoryServer]:
    """Run an :class:`AdvisoryServer` on a free loopback port for the block's duration."""
    server = server or AdvisoryServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    # A short poll interval: shutdown() waits for the loop's next turn (0.5 s by default),
    # which tests that start a server each would pay every time.
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
