"""What the monitor raises, and the contract between the watcher and its sources.

An :class:`Alert` is one indicator of change (a rule id, a severity, what it is about); its
:attr:`Alert.key` says what makes two polls' alerts the same alert, so the watcher raises each
once. A :class:`Source` polls one service for the :class:`WatchList` and answers a
:class:`SourceResult`: the alerts it found, the cursors it wants kept for its next poll, and the
outages that stopped part of it (a subject whose poll failed keeps its old cursor, so nothing it
would have reported is lost: the next poll sees the same change again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_mlsupply.results import Severity

__all__ = [
    "Alert",
    "Outage",
    "Source",
    "SourceResult",
    "TrackedDependency",
    "TrackedModel",
    "WatchList",
    "WatchOptions",
]


@dataclass(frozen=True)
class Alert:
    """One indicator of change, raised once (the watcher deduplicates by :attr:`id`)."""

    rule: str
    """``MLS-MON-NNN``; each source documents its rules in docs/monitor.md."""
    severity: Severity
    subject: str
    """What the alert is about: ``hf://org/name``, ``hf-org://org``, ``pypi:name``."""
    key: str
    """The fact that makes this alert: the same fact on a later poll is the same alert (for a
    new head commit: the head's sha; for a replaced file: its name and new digest)."""
    title: str
    evidence: str
    remediation: str
    url: str | None = None

    @property
    def id(self) -> str:
        """Stable across polls and processes: the rule, subject and key, hashed."""
        # surrogatepass: a key may quote a service's JSON string holding a lone surrogate
        # ("\udcff"), which plain UTF-8 refuses; every other string hashes as before.
        fact = f"{self.rule}\0{self.subject}\0{self.key}"
        digest = hashlib.sha256(fact.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:24]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity.label,
            "subject": self.subject,
            "key": self.key,
            "title": self.title,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "url": self.url,
        }


@dataclass(frozen=True)
class Outage:
    """Part of a poll that could not be done (a service down, a 500, malformed JSON)."""

    source: str
    subject: str
    reason: str


@dataclass(frozen=True)
class TrackedModel:
    """A Hub model the manifest tracks, with the commit it pins (from ``models:``) if any."""

    repo_id: str
    pinned: str | None = None
    repo_type: str = "model"


@dataclass(frozen=True)
class TrackedDependency:
    """A PyPI project the manifest tracks, with the versions its requirements pin."""

    name: str
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchList:
    """The manifest's ``monitor:`` section, joined with the pins of ``models:`` and the
    requirements files."""

    models: tuple[TrackedModel, ...] = ()
    orgs: tuple[str, ...] = ()
    dependencies: tuple[TrackedDependency, ...] = ()


@dataclass(frozen=True)
class WatchOptions:
    """What the command line sets for the sources (``mlsupply watch --max-scan-mb``)."""

    max_scan_bytes: int = 256 << 20
    """Added or changed Hub files above this size are not downloaded for a scan (an alert
    says so)."""
    scan_seconds: float = 600.0
    """What fetching and scanning one model's changed files may take in one poll: past it, the
    rest are rated by name and each raised as not scanned (a commit of thousands of files
    must not hold the watch, and every other subject, for hours)."""


@dataclass
class SourceResult:
    alerts: list[Alert] = field(default_factory=list)
    cursors: dict[str, Any] = field(default_factory=dict)
    """Subject → JSON-serialisable value, stored only if the poll's alerts are stored with
    it (one transaction): what the source saw, for the next poll to compare against."""
    outages: list[Outage] = field(default_factory=list)


class Source(Protocol):
    """One service the watcher polls."""

    name: str
    """``hub`` or ``index``: the namespace of its cursors in the state."""

    def poll(self, watch: WatchList, cursors: Mapping[str, Any]) -> SourceResult:
        """What changed since ``cursors`` (this source's, from its last successful polls; empty
        on the first). Must not raise for a service fault: report it as an :class:`Outage`."""
        ...
