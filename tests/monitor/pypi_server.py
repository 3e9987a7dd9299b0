"""A loopback server speaking PyPI's JSON API and its newest-packages RSS feed, for the monitor.

- ``GET /pypi/<project>/json`` (https://docs.pypi.org/api/json/): ``{"info": {...},
  "last_serial": N, "releases": {version: [file, ...]}, "urls": [...]}``, each file with
  ``filename``, ``digests`` (``md5``, ``sha256``, ``blake2b_256``), ``yanked``, ``yanked_reason``,
  ``upload_time_iso_8601``, ``packagetype``, ``size`` and ``url``, as PyPI answers; 404 with
  ``{"message": "Not Found"}`` for a project it does not have.
- ``GET /rss/packages.xml`` (https://docs.pypi.org/api/feeds/): the newest projects, newest first,
  as Warehouse's template writes them (``<title><name> added to PyPI</title>``, ``<link>``,
  ``<guid>``, ``<description>``, ``<pubDate>`` in RFC 822).

A test edits :attr:`FakePyPI.projects` and :attr:`FakePyPI.newest` between polls (the index
changes), make one path misbehave through :attr:`FakePyPI.faults` (``("status", 500)``,
``("body", b"...")``: a malformed answer), or every answer slow through ``delay``. It is served
by the typosquat tests' loopback server (:func:`tests.typosquat.index_server.serve`). The
per-project releases feed is not served: no client here asks it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from packaging.utils import canonicalize_name

from tests.typosquat.index_server import FakeIndex

EPOCH = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def release_file(
    filename: str, content: bytes, *, yanked: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """One file entry of a release, its digests computed from ``content``."""
    return {
        "filename": filename,
        "digests": {
            "md5": hashlib.md5(content).hexdigest(),
            "sha256": hashlib.sha256(content).hexdigest(),
            "blake2b_256": hashlib.blake2b(content, digest_size=32).hexdigest(),
        },
        "packagetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "size": len(content),
        "upload_time_iso_8601": EPOCH.isoformat().replace("+00:00", ".000000Z"),
        "url": f"https://files.pythonhosted.org/packages/xx/{filename}",
        "yanked": yanked,
        "yanked_reason": reason,
    }


@dataclass
class FakePyPI(FakeIndex):
    """Served by :func:`tests.typosquat.index_server.serve` (whose ``delay`` holds every answer
    back); ``faults`` make one path misbehave."""

    projects: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """Canonical name → version → files."""
    newest: list[tuple[str, datetime]] = field(
        default_factory=lambda: [("an-unremarkable-project", EPOCH - timedelta(minutes=1))]
    )
    """The newest-packages feed's projects with their creation time, newest first (PyPI's is
    never empty: an empty feed is an outage)."""
    faults: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """Path → ("status", code) | ("body", bytes): that path's answer replaced."""
    serial: int = 1000

    def publish(self, name: str, version: str, *files: dict[str, Any]) -> None:
        self.projects.setdefault(name, {})[version] = list(files)
        self.serial += 1

    def yank(self, name: str, version: str, reason: str) -> None:
        for entry in self.projects[name][version]:
            entry["yanked"], entry["yanked_reason"] = True, reason
        self.serial += 1

    def register(self, name: str, minutes: int = 0) -> None:
        """A new project at the top of the newest-packages feed."""
        self.newest.insert(0, (name, EPOCH + timedelta(minutes=minutes)))

    def project_json(self, name: str) -> dict[str, Any] | None:
        releases = self.projects.get(canonicalize_name(name))
        if releases is None:
            return None
        latest = list(releases)[-1] if releases else None
        return {
            "info": {"name": name, "version": latest, "summary": "a project", "yanked": False},
            "last_serial": self.serial,
            "releases": releases,
            "urls": releases.get(latest, []) if latest else [],
            "vulnerabilities": [],
        }

    def feed(self) -> bytes:
        items = "".join(
            f"""
    <item>
      <title>{escape(name)} added to PyPI</title>
      <link>https://pypi.org/project/{escape(name)}/</link>
      <guid>https://pypi.org/project/{escape(name)}/</guid>
      <description>a new project</description>
      <pubDate>{email.utils.format_datetime(when, usegmt=True)}</pubDate>
    </item>"""
            for name, when in self.newest
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>PyPI newest packages</title>
    <link>https://pypi.org/</link>
    <description>Newest packages registered at the Python Package Index</description>
    <language>en</language>{items}
  </channel>
</rss>
""".encode()

    def answer(self, path: str) -> tuple[int, bytes]:
        self.requests.append(path)
        status, body = 404, b'{"message": "Not Found"}'
        parts = path.strip("/").split("/")
        if path == "/rss/packages.xml":
            status, body = 200, self.feed()
        elif len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            document = self.project_json(parts[1])
            if document is not None:
                status, body = 200, json.dumps(document).encode()
        fault, value = self.faults.get(path, ("", None))
        if fault == "status":
            status, body = value, b"<html>internal error</html>"
        elif fault == "body":
            status, body = 200, value
        return self.status or status, self.body if self.body is not None else body
