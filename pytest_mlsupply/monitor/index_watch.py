"""The package index source of the monitor: PyPI's JSON API and RSS feeds, and OSV's advisories.

What it asks, and where the answers' shapes are documented:

- ``GET <index>/rss/packages.xml``, PyPI's "newest packages" feed
  (https://docs.pypi.org/api/feeds/): the projects registered last, each an ``<item>`` titled
  ``<name> added to PyPI`` with the project's ``<link>`` and the ``<pubDate>`` it was created.
  A new name that resembles a tracked dependency (the typosquat engine,
  :class:`~pytest_mlsupply.typosquat.detector.Detector`, over the tracked names) is an alert.
- ``GET <index>/pypi/<project>/json``, the JSON API (https://docs.pypi.org/api/json/):
  ``info``, ``last_serial``, ``releases`` (version → its files, each with ``filename``,
  ``digests.sha256``, ``yanked``, ``yanked_reason``, ``upload_time_iso_8601``) and ``urls``. The
  releases and their digests are the cursor: a new release, a newly yanked one, and a file whose
  digest changed, that appeared in or vanished from a release already seen are alerts. PyPI
  never lets a filename be uploaded twice (https://pypi.org/help/#file-name-reuse), so the same
  filename with another digest means the index, or a mirror of it, serves something else than
  it did.
- the advisories of the pinned versions, asked through the dependency auditor's own client
  (:class:`~pytest_mlsupply.vulns.service.ServiceDatabase` on OSV's ``/v1/query``,
  https://google.github.io/osv.dev/post-v1-query/): an advisory new since the last poll, or whose
  ``modified`` is later than the one recorded, is an alert rated like the auditor rates it.

The per-project RSS feed (``/rss/project/<name>/releases.xml``) is not asked: it carries a subset
of what the JSON API answers (versions and dates, no files, digests or yanks).

Failing closed: a refused connection, a timeout, an HTTP error, an answer over the size bound,
JSON of another shape than the API's, or a feed that is not RSS (or declares XML entities: an
entity bomb is refused by defusedxml before it expands) is an :class:`~.alerts.Outage` for that
subject, whose cursor is then not returned (the watcher keeps the old one, so the next poll sees
the same change again). One subject's failure does not stop the others; a service that cannot be
reached at all is reported for every subject without waiting out the timeout again.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import functools
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml
from packaging.utils import canonicalize_name
from packaging.version import Version
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import ReadTimeoutError

from pytest_mlsupply.monitor.alerts import (
    Alert,
    Outage,
    SourceResult,
    TrackedDependency,
    WatchList,
)
from pytest_mlsupply.monitor.deadline import Held, Unanswered, bounded
from pytest_mlsupply.printable import one_line, printable
from pytest_mlsupply.redaction import redact_text, redact_url
from pytest_mlsupply.results import Severity, shown
from pytest_mlsupply.typosquat.detector import Detector
from pytest_mlsupply.typosquat.popular import from_texts
from pytest_mlsupply.vulns.model import Advisory, Database, DatabaseError

__all__ = [
    "DEFAULT_TIMEOUT",
    "OSV_URL_ENV",
    "PYPI_URL_ENV",
    "RULE_ADVISORY",
    "RULE_FILE_ADDED",
    "RULE_FILE_REMOVED",
    "RULE_FILE_REPLACED",
    "RULE_LOOKALIKE",
    "RULE_NEW_RELEASE",
    "RULE_PROJECT_GONE",
    "RULE_YANKED",
    "IndexSource",
]

PYPI_URL_ENV = "MLSUPPLY_PYPI_URL"
"""The index to watch (a PyPI-compatible host: the JSON API and the RSS feeds under it)."""
OSV_URL_ENV = "MLSUPPLY_OSV_URL"
"""Overrides the OSV API base (as ``vulnerabilities.url`` does for ``service: osv``)."""
DEFAULT_PYPI_URL = "https://pypi.org"

DEFAULT_TIMEOUT = 20.0
"""Seconds for a connection, for each read, and for a whole answer: a slow index is an outage."""
MAX_JSON_BYTES = 64 * 1024 * 1024
"""A project's JSON (every release's files) is a few MB for the largest projects (boto3,
torch); an answer beyond this is refused rather than read into memory."""
MAX_RSS_BYTES = 4 * 1024 * 1024
"""The newest-packages feed is ~40 items, a few kB."""
SEEN_NAMES_KEPT = 2000
"""New project names remembered across polls: far more than the feed shows at once, so a name
still in the feed is never forgotten and reported twice."""
DELETED_RELEASES_KEPT = 500
"""Deleted releases remembered (their files' digests), the most recent deletions first kept."""
_CHUNK = 64 * 1024
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_REQUEST_DEADLINE_FACTOR = 2
"""One request (connection, headers, body) may take this many timeouts in all."""

SUBJECT_NEWEST = "pypi-rss:packages"

RULE_LOOKALIKE = "MLS-MON-201"
RULE_NEW_RELEASE = "MLS-MON-202"
RULE_YANKED = "MLS-MON-203"
RULE_FILE_REPLACED = "MLS-MON-204"
RULE_FILE_ADDED = "MLS-MON-205"
RULE_FILE_REMOVED = "MLS-MON-206"
RULE_PROJECT_GONE = "MLS-MON-207"
RULE_ADVISORY = "MLS-MON-208"


class _Unavailable(Exception):
    """The index could not answer (the message is the reason, redacted)."""


class _Malformed(Exception):
    """The index answered something else than the API's document."""


@dataclass(frozen=True)
class _File:
    sha256: str
    yanked: bool
    yanked_reason: str


@dataclass(frozen=True)
class _Project:
    name: str
    serial: int | None
    releases: dict[str, dict[str, _File]]


@dataclass(frozen=True)
class _NewProject:
    name: str
    published: _dt.datetime | None
    link: str


@dataclass
class _Index:
    """GETs against one index base, with bounded time and size, for the length of one poll."""

    base: str
    timeout: float
    session: requests.Session = field(default_factory=requests.Session)
    unreachable: str | None = None
    """Why the index could not be reached, once it could not: later subjects of the same poll
    are reported at once instead of each waiting out the timeout."""

    def get(self, path: str, limit: int) -> tuple[int, bytes]:
        shown_url = redact_url(self.base + path)
        if self.unreachable is not None:
            raise _Unavailable(f"{shown_url}: {self.unreachable} (earlier in this poll)")
        try:
            # The body's reads meet the deadline below; the status line and the headers are
            # read inside requests, a byte at a time if the server sends them so: bounded here.
            return bounded(
                lambda: self._get(path, limit, shown_url),
                self.timeout * _REQUEST_DEADLINE_FACTOR,
                "the answer",
                service="the package index",
            )
        except Held as exc:
            self.unreachable = str(exc)
            raise _Unavailable(f"{shown_url}: {self.unreachable}") from None
        except Unanswered:
            self.unreachable = f"it did not answer within {self.timeout:g} s"
            raise _Unavailable(f"{shown_url}: {self.unreachable}") from None

    def _get(self, path: str, limit: int, shown_url: str) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.timeout
        try:
            with self.session.get(
                self.base + path, timeout=self.timeout, stream=True, allow_redirects=True
            ) as response:
                if response.status_code != 200:
                    return response.status_code, b""
                body = bytearray()
                # read1 returns what one read brought: a server that trickles bytes meets the
                # deadline between reads instead of holding a fixed-size read open.
                while chunk := response.raw.read1(_CHUNK, decode_content=True):
                    body += chunk
                    if len(body) > limit:
                        raise _Unavailable(f"{shown_url}: its answer exceeds {limit} bytes")
                    if time.monotonic() > deadline:
                        raise requests.Timeout("the answer took longer than the timeout")
                return 200, bytes(body)
        except (requests.ConnectionError, requests.Timeout, TransportError) as exc:
            # A read that times out inside the body comes from urllib3 unwrapped.
            timed_out = isinstance(exc, requests.Timeout | ReadTimeoutError) or (
                "timed out" in str(exc).lower()
            )
            self.unreachable = (
                f"it did not answer within {self.timeout:g} s"
                if timed_out
                else "it cannot be reached"
            )
            raise _Unavailable(f"{shown_url}: {self.unreachable}") from None
        except (requests.RequestException, OSError) as exc:
            raise _Unavailable(f"{shown_url}: {redact_text(type(exc).__name__)}") from None


class IndexSource:
    """Polls the package index (and OSV) for the watch list's dependencies."""

    name = "index"

    def __init__(
        self,
        *,
        pypi_url: str | None = None,
        vulnerabilities: Mapping[str, Any] | None = None,
        root: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """``pypi_url`` defaults to ``$MLSUPPLY_PYPI_URL``, else https://pypi.org.

        ``vulnerabilities`` is the manifest's section of that name (``root`` its directory, for
        an offline snapshot's relative path): the advisories come from the database it names
        (``service: osv`` with its ``url``, or an ``offline`` snapshot); with ``service: pypi``
        or no section, from OSV at ``$MLSUPPLY_OSV_URL`` or https://api.osv.dev, because PyPI's
        advisories carry no ``modified`` date to tell a changed advisory by.
        """
        base = pypi_url or os.environ.get(PYPI_URL_ENV, "").strip() or DEFAULT_PYPI_URL
        self.base = base.rstrip("/")
        redact_url(self.base)  # registers the credentials a mirror's URL may carry
        parts = urlsplit(self.base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{PYPI_URL_ENV}={redact_url(self.base)!r} is not an index URL: give the "
                "http(s) address of a PyPI-compatible index (https://pypi.org, or a mirror "
                "serving /pypi/<project>/json and /rss/packages.xml)"
            )
        self.vulnerabilities = dict(vulnerabilities or {})
        self.root = root
        self.timeout = timeout
        self._advisories_unanswered: str | None = None
        """Why the advisory service did not answer, once it did not in this poll."""

    # -- the poll ---------------------------------------------------------------------------

    def poll(self, watch: WatchList, cursors: Mapping[str, Any]) -> SourceResult:
        result = SourceResult()
        dependencies = _merged(watch.dependencies)
        if not dependencies:
            return result
        index = _Index(self.base, self.timeout)
        self._advisories_unanswered = None
        # pip-audit makes an HTTP cache directory when its service is built; the auditor's
        # client here runs on a session without that cache, so the directory is a throwaway.
        with index.session, tempfile.TemporaryDirectory(prefix="mlsupply-osv-") as scratch:
            database, database_error = self._open_database(Path(scratch))
            self._poll_newest(index, dependencies, cursors.get(SUBJECT_NEWEST), result)
            for dep in dependencies:
                cursor = cursors.get(f"pypi:{dep.name}")
                self._poll_dependency(index, dep, cursor, result)
                advisories = cursors.get(_advisory_subject(dep.name))
                legacy: Mapping[str, Any] | None = (
                    cursor if isinstance(cursor, Mapping) and "advisories" in cursor else None
                )
                from_legacy = advisories is None and legacy is not None
                if from_legacy:
                    # A state written before the advisories had a cursor of their own: they were
                    # kept in the project's.
                    advisories = legacy
                self._poll_advisories(database, database_error, dep, advisories, result)
                subject = f"pypi:{dep.name}"
                if (
                    from_legacy
                    and legacy is not None
                    and _advisory_subject(dep.name) not in result.cursors
                    and isinstance(result.cursors.get(subject), dict)
                ):
                    # The advisories had an outage and their record is still the project's:
                    # carried over to its new cursor, or that record is lost (each advisory
                    # would then be new to the monitor, its pins since unseen).
                    kept = {k: legacy[k] for k in ("advisories", "affected") if k in legacy}
                    result.cursors[subject] = {**result.cursors[subject], **kept}
        return result

    def _open_database(self, scratch: Path) -> tuple[Database | None, str | None]:
        # Built per poll: the client remembers a service it could not reach for the rest of its
        # session, and a watch that runs for days must ask again on the next poll.
        section = self.vulnerabilities
        try:
            if section.get("service") == "offline":
                from pytest_mlsupply.vulns.databases import open_database

                return open_database(dict(section), self.root or Path.cwd()), None
            from pytest_mlsupply.vulns.service import ServiceDatabase

            url = os.environ.get(OSV_URL_ENV, "").strip() or (
                str(section["url"])
                if section.get("service") == "osv" and section.get("url")
                else None
            )
            return ServiceDatabase("osv", url, scratch, timeout=self.timeout), None
        except (DatabaseError, ImportError, OSError, ValueError) as exc:
            return None, redact_text(str(exc))

    # -- new projects that look like a tracked one -----------------------------------------

    def _poll_newest(
        self,
        index: _Index,
        dependencies: list[TrackedDependency],
        cursor: Any,
        result: SourceResult,
    ) -> None:
        try:
            status, body = index.get("/rss/packages.xml", MAX_RSS_BYTES)
            if status != 200:
                raise _Unavailable(
                    f"{redact_url(self.base)}/rss/packages.xml answered HTTP {status}"
                )
            projects = _parse_newest(body)
            if not projects:
                # PyPI's feed always lists the last few dozen registrations: an empty one (a
                # mirror that serves the path but keeps no feed) can show no look-alike, and
                # must not read as "none registered".
                raise _Malformed(
                    f"{redact_url(self.base)}/rss/packages.xml lists no project: this index "
                    "keeps no feed of new projects, so look-alikes cannot be watched on it"
                )
        except (_Unavailable, _Malformed) as exc:
            result.outages.append(Outage(self.name, SUBJECT_NEWEST, str(exc)))
            return
        seen: list[str] = []
        if isinstance(cursor, Mapping) and isinstance(cursor.get("seen"), list):
            seen = [n for n in cursor["seen"] if isinstance(n, str)]
        known = set(seen)
        tracked = sorted({dep.name for dep in dependencies})
        detector = Detector(from_texts("\n".join(tracked)))
        # A name seen while nobody tracked what it imitates is checked again against the
        # dependencies tracked since: their first poll raises the look-alikes the feed shows.
        # (A cursor older than this key: its names were checked against today's list.)
        recorded = _strings(cursor.get("tracked")) if isinstance(cursor, Mapping) else []
        before = set(recorded) if isinstance(cursor, Mapping) and "tracked" in cursor else None
        added = sorted(set(tracked) - before) if before is not None else []
        again = Detector(from_texts("\n".join(added))) if added else None
        gap = _gap(projects, known, _text(cursor, "latest"))
        if gap is not None:
            # Not the feed's own subject: its cursor must move on, or the gap never closes.
            result.outages.append(Outage(self.name, f"{SUBJECT_NEWEST}#gap", gap))
        for project in projects:
            name = canonicalize_name(project.name)
            if name in known:
                if again is None:
                    continue
                resemblance = again.check(name)
            else:
                known.add(name)
                seen.append(name)
                resemblance = detector.check(name)
            if resemblance is None:
                continue
            created = project.published.isoformat() if project.published else "an unknown time"
            result.alerts.append(
                Alert(
                    rule=RULE_LOOKALIKE,
                    severity=Severity.HIGH if resemblance.confident else Severity.MEDIUM,
                    subject=f"pypi:{resemblance.imitates}",
                    key=name,
                    title=(
                        f"new project {shown(project.name)} looks like the tracked dependency "
                        f"{resemblance.imitates}"
                    ),
                    evidence=(
                        f"{shown(project.name)} was registered on the index at {created}; it "
                        f"{one_line(resemblance.how)} ({resemblance.kind})"
                    ),
                    remediation=(
                        "check that no requirements file, lock file or install command names "
                        f"{shown(project.name)}; install {resemblance.imitates} from "
                        "hash-pinned requirements; if the project imitates yours, report it to "
                        "the index (PyPI: 'Report project as malware')"
                    ),
                    url=_public(self.base) + f"/project/{quote(name)}/",
                )
            )
        latest = max((p.published for p in projects if p.published), default=None)
        result.cursors[SUBJECT_NEWEST] = {
            "seen": seen[-SEEN_NAMES_KEPT:],
            "latest": latest.isoformat() if latest else _text(cursor, "latest"),
            "tracked": tracked,
        }

    # -- one tracked dependency -------------------------------------------------------------

    def _poll_dependency(
        self, index: _Index, dep: TrackedDependency, cursor: Any, result: SourceResult
    ) -> None:
        subject = f"pypi:{dep.name}"
        before = cursor if isinstance(cursor, Mapping) else None
        new_cursor: dict[str, Any] | None = None
        try:
            project = self._fetch_project(index, dep.name)
        except (_Unavailable, _Malformed) as exc:
            result.outages.append(Outage(self.name, subject, str(exc)))
        else:
            if project is None:
                result.alerts.append(self._gone(dep, before))
                if before is None:
                    # Never seen: an empty record, so a project registered under the name later
                    # (dependency confusion, for an internal name) is news, not a baseline.
                    new_cursor = {
                        "absent": True,
                        "events": {},
                        "serial": None,
                        "releases": {},
                        "yanked": [],
                        "pinned": sorted(dep.pinned),
                        "deleted": {},
                    }
            else:
                alerts, events = _recurring(self._release_alerts(dep, project, before), before)
                if before is not None and before.get("absent") is True:
                    alerts.insert(0, self._registered(dep, project))
                result.alerts.extend(alerts)
                new_cursor = {
                    "events": events,
                    "serial": project.serial,
                    "releases": {
                        version: {name: f.sha256 for name, f in files.items()}
                        for version, files in project.releases.items()
                    },
                    "yanked": sorted(v for v, files in project.releases.items() if _yanked(files)),
                    "pinned": sorted(dep.pinned),
                    "deleted": _deleted(before, project),
                }
        if new_cursor is not None:  # else an outage: the old cursor is kept, nothing is lost
            result.cursors[subject] = new_cursor

    def _poll_advisories(
        self,
        database: Database | None,
        database_error: str | None,
        dep: TrackedDependency,
        cursor: Any,
        result: SourceResult,
    ) -> None:
        """The advisories of ``dep``'s pins, under a cursor of their own: an advisory service
        that is down keeps only that cursor, never the releases' record the index gave."""
        if not dep.pinned:
            return  # nothing pinned, nothing to ask about or to remember
        before = cursor if isinstance(cursor, Mapping) else None
        advisories = self._advisories(database, database_error, dep, before, result)
        if advisories is not None:
            recorded, affected = advisories
            result.cursors[_advisory_subject(dep.name)] = {
                "advisories": recorded,
                "affected": affected,
            }

    def _fetch_project(self, index: _Index, name: str) -> _Project | None:
        """The project's JSON, or None when the index answers 404 (no such project)."""
        path = f"/pypi/{quote(name, safe='')}/json"
        status, body = index.get(path, MAX_JSON_BYTES)
        if status == 404:
            return None
        if status != 200:
            raise _Unavailable(f"{redact_url(self.base + path)} answered HTTP {status}")
        return _parse_project(body, redact_url(self.base + path))

    def _gone(self, dep: TrackedDependency, before: Mapping[str, Any] | None) -> Alert:
        # Keyed by the serial last seen: a project that comes back and goes again is news.
        serial = before.get("serial") if before else None
        return Alert(
            rule=RULE_PROJECT_GONE,
            severity=Severity.HIGH,
            subject=f"pypi:{dep.name}",
            key=f"absent-after-{serial if serial is not None else 'never-seen'}",
            title=f"tracked dependency {dep.name} is not on the index",
            evidence=(
                f"{redact_url(self.base)}/pypi/{quote(dep.name)}/json answered 404"
                + (
                    f"; it was there at serial {serial}"
                    if serial is not None
                    else "; it has not been seen there by this monitor"
                )
            ),
            remediation=(
                f"find out whether {dep.name} was deleted or renamed; until the name is yours "
                "again, anyone can register it and the next unpinned install takes their "
                "upload: install from hash-pinned requirements or a private index"
            ),
        )

    def _registered(self, dep: TrackedDependency, project: _Project) -> Alert:
        versions = sorted(project.releases, key=_order)
        shown_versions = ", ".join(shown(v) for v in versions[-10:]) or "no release yet"
        return Alert(
            rule=RULE_PROJECT_GONE,
            severity=Severity.CRITICAL,
            subject=f"pypi:{dep.name}",
            key=f"registered-after-absent-{project.serial}",
            title=f"tracked dependency {dep.name}, absent from the index before, was registered "
            f"there ({shown_versions})",
            evidence=(
                f"{redact_url(self.base)}/pypi/{quote(dep.name)}/json answered 404 on an earlier "
                f"poll and now answers {len(versions)} release(s) at serial {project.serial}"
            ),
            remediation=(
                f"if {dep.name} is an internal package, someone else now owns its name on this "
                "index: installs that also ask it (--extra-index-url) may take their upload; "
                "install from hash-pinned requirements or your private index alone, and report "
                "the project if it is not yours"
            ),
            url=_public(self.base) + f"/project/{quote(dep.name)}/",
        )

    def _release_alerts(
        self, dep: TrackedDependency, project: _Project, before: Mapping[str, Any] | None
    ) -> list[Alert]:
        subject = f"pypi:{dep.name}"
        alerts: list[Alert] = []
        old_releases = _recorded_releases(before)
        old_yanked = set(_strings(before.get("yanked"))) if before else set()
        # The pins of the last poll (a cursor older than this key has none: nothing to compare).
        old_pins = _strings(before.get("pinned")) if before and "pinned" in before else None
        deleted = _recorded_releases(before, "deleted") or {}
        for version, files in sorted(project.releases.items(), key=lambda kv: _order(kv[0])):
            pinned = _pinned(version, dep.pinned)
            url = _public(self.base) + f"/project/{quote(dep.name)}/{quote(version)}/"
            label = f"{dep.name} {shown(version)}"
            if (
                _yanked(files)
                and version not in old_yanked
                and (old_releases is not None or pinned)
            ):
                reasons = sorted({f.yanked_reason for f in files.values() if f.yanked_reason})
                alerts.append(
                    Alert(
                        rule=RULE_YANKED,
                        severity=Severity.HIGH if pinned else Severity.MEDIUM,
                        subject=subject,
                        key=f"{version}@yanked",
                        title=f"{label} was yanked" + (" (a pinned version)" if pinned else ""),
                        evidence="yanked_reason: "
                        + (one_line("; ".join(reasons))[:500] if reasons else "none given"),
                        remediation=(
                            "read why the maintainers yanked it and move the pin to a release "
                            "they support"
                            if pinned
                            else "avoid this release in new pins"
                        ),
                        url=url,
                    )
                )
            elif (
                pinned
                and _yanked(files)
                and old_pins is not None
                and not _pinned(version, old_pins)
            ):
                # A pin moved to a version yanked before: the same risk as a pinned version
                # already yanked on the first poll, which is raised, so raised here too.
                reasons = sorted({f.yanked_reason for f in files.values() if f.yanked_reason})
                alerts.append(
                    Alert(
                        rule=RULE_YANKED,
                        severity=Severity.HIGH,
                        subject=subject,
                        key=f"{version}@yanked-pinned",
                        title=f"{label}, yanked, is now pinned",
                        evidence="yanked_reason: "
                        + (one_line("; ".join(reasons))[:500] if reasons else "none given"),
                        remediation="read why the maintainers yanked it and pin a release they "
                        "support instead",
                        url=url,
                    )
                )
            if old_releases is None:
                continue  # the first poll is the baseline: only a pinned yank is news in itself
            if version not in old_releases:
                alerts.append(
                    Alert(
                        rule=RULE_NEW_RELEASE,
                        severity=Severity.INFO,
                        subject=subject,
                        key=version,
                        title=f"new release {label}",
                        evidence=f"{len(files)} file(s): "
                        + ", ".join(shown(n) for n in sorted(files)[:10]),
                        remediation="review the release before moving a pin to it",
                        url=url,
                    )
                )
                # A release deleted before and served again: PyPI refuses a filename it had
                # even after the deletion, so one of those names with other bytes is a swap.
                had = deleted.get(version, {})
                again = {n: f for n, f in files.items() if n in had}
                was = {n: d for n, d in had.items() if n in again}
                alerts.extend(self._file_alerts(subject, label, url, pinned, was, again))
                continue
            alerts.extend(
                self._file_alerts(subject, label, url, pinned, old_releases[version], files)
            )
        if old_releases is not None:
            # A release deleted outright (or a project deleted and registered again by someone
            # else before a poll saw its 404): each of its files is gone, as if removed one by
            # one; iterating the index's answer alone would never mention them.
            for version in sorted(old_releases.keys() - project.releases.keys(), key=_order):
                label = f"{dep.name} {shown(version)}"
                url = _public(self.base) + f"/project/{quote(dep.name)}/{quote(version)}/"
                pinned = _pinned(version, dep.pinned)
                alerts.extend(
                    self._file_alerts(subject, label, url, pinned, old_releases[version], {})
                )
        return alerts

    def _file_alerts(
        self,
        subject: str,
        label: str,
        url: str,
        pinned: bool,
        old: Mapping[str, str],
        files: Mapping[str, _File],
    ) -> list[Alert]:
        alerts: list[Alert] = []
        on_pin = " (a pinned version)" if pinned else ""
        for filename in sorted(old.keys() | files.keys()):
            was, now = old.get(filename), files.get(filename)
            if now is not None and was == now.sha256:
                continue
            name = shown(filename)
            # (rule, severity, key, title, evidence, remediation) of the one change it is.
            if now is not None and was is not None:
                change = (
                    RULE_FILE_REPLACED,
                    Severity.CRITICAL,
                    f"{filename}@{now.sha256}",
                    f"{name} of {label} was replaced",
                    f"sha256 was {was}, is now {now.sha256}; PyPI never lets a filename be "
                    "uploaded twice, so the index (or a mirror in between) serves other bytes "
                    "under a name already published",
                    "do not install this release; compare the file with a copy installed "
                    "before (hash-pinned requirements refuse the new bytes) and report it to "
                    "the index's security contact",
                )
            elif now is not None:
                change = (
                    RULE_FILE_ADDED,
                    Severity.CRITICAL if pinned else Severity.MEDIUM,
                    f"{filename}@{now.sha256}",
                    f"{name} was added to {label}, a release already seen{on_pin}",
                    f"sha256 {now.sha256}; a wheel added to an existing release is what pip "
                    "picks over the files it had, for every install of that version without "
                    "hashes",
                    "check that the maintainers built it (a late platform wheel is common; an "
                    "added pure-Python wheel beside an sdist is suspicious) and install from "
                    "hash-pinned requirements",
                )
            else:
                change = (
                    RULE_FILE_REMOVED,
                    Severity.HIGH if pinned else Severity.MEDIUM,
                    f"{filename}@removed-{was}",
                    f"{name} was removed from {label}{on_pin}",
                    f"it had sha256 {was}",
                    "find out why it was deleted; installs that need it will fail or fall back "
                    "to another file (an sdist built on the spot)",
                )
            rule, severity, key, title, evidence, remediation = change
            alerts.append(
                Alert(rule, severity, subject, key, title, evidence, remediation, url=url)
            )
        return alerts

    # -- advisories --------------------------------------------------------------------------

    def _advisories(
        self,
        database: Database | None,
        database_error: str | None,
        dep: TrackedDependency,
        before: Mapping[str, Any] | None,
        result: SourceResult,
    ) -> tuple[dict[str, str], dict[str, list[str]]] | None:
        """The advisories' ``modified`` and the pinned versions each affects, by id (the
        cursor), or None after an outage (of the advisories' subject)."""
        subject = _advisory_subject(dep.name)
        if database is None:
            reason = f"the advisory database cannot be opened: {database_error}"
            result.outages.append(Outage(self.name, subject, reason))
            return None
        if self._advisories_unanswered is not None:
            reason = f"the advisory service: {self._advisories_unanswered} (earlier in this poll)"
            result.outages.append(Outage(self.name, subject, reason))
            return None
        found: dict[str, list[Advisory]] = {}
        # A pin that cannot be asked is an outage (no cursor: asked again next poll), but the
        # advisories the other pins have are raised now: a pin that always fails (a legacy
        # version PEP 440 cannot read) must not hold them back for good.
        failed = False
        for version in dep.pinned:
            try:
                # The auditor's client bounds each read, not an answer: a service that
                # trickles it would hold the watch (each pin is asked once or twice).
                advisories = bounded(
                    functools.partial(database.lookup, dep.name, version),
                    self.timeout * _REQUEST_DEADLINE_FACTOR * 2,
                    f"the advisories of {dep.name} {shown(version)}",
                    service="the advisory service",
                )
            except DatabaseError as exc:
                result.outages.append(Outage(self.name, subject, redact_text(str(exc))))
                failed = True
                continue
            except Unanswered as exc:
                # Not asked again in this poll: each dependency would wait out the deadline.
                self._advisories_unanswered = str(exc)
                result.outages.append(Outage(self.name, subject, f"the advisory service: {exc}"))
                failed = True
                break
            for advisory in advisories:
                found.setdefault(advisory.id, []).append(advisory)
        recorded = before.get("advisories") if before else None
        old = dict(recorded) if isinstance(recorded, Mapping) else {}
        # The pinned versions each advisory was raised for (a cursor older than this key has
        # none: nothing to compare), so a version pinned since is not hidden by the first pin's
        # alert.
        recorded_affected = before.get("affected") if before else None
        old_affected = (
            {k: set(_strings(v)) for k, v in recorded_affected.items() if isinstance(k, str)}
            if isinstance(recorded_affected, Mapping)
            else {}
        )
        now: dict[str, str] = {}
        affected_now: dict[str, list[str]] = {}
        for advisory_id, affected in sorted(found.items()):
            advisory = affected[0]
            modified = advisory.modified or ""
            now[advisory_id] = modified
            pins = sorted({a.version for a in affected}, key=_order)
            affected_now[advisory_id] = pins
            previous = old.get(advisory_id)
            newly = (
                [v for v in pins if v not in old_affected[advisory_id]]
                if advisory_id in old_affected
                else []
            )
            suffix = ""
            if isinstance(previous, str) and not _later(modified, previous):
                if not newly:
                    continue
                suffix = "@" + "+".join(printable(v) for v in newly)
            alerts_severity = _severity(advisory.rating.severity)
            versions = ", ".join(pins)
            change = (
                "unchanged, raised before for "
                + (", ".join(sorted(old_affected[advisory_id], key=_order)) or "no pin")
                + f"; it affects {', '.join(newly)}, pinned since"
                if suffix
                else f"modified {modified or 'at an unknown time'} (was {previous or 'unknown'})"
                if isinstance(previous, str)
                else "new to this monitor"
            )
            result.alerts.append(
                Alert(
                    rule=RULE_ADVISORY,
                    severity=alerts_severity,
                    # The project's subject, as before the advisories had a cursor of their
                    # own: an alert's id hashes it, and must not move.
                    subject=f"pypi:{dep.name}",
                    # The id and date are the service's text: escaped (printable is the
                    # identity on a plain id, so the keys of real advisories do not move).
                    key=f"{printable(advisory_id)}@{printable(modified) or 'unknown'}{suffix}",
                    title=f"{printable(advisory_id)} affects the pinned {dep.name} {versions}"
                    + (
                        f" (newly pinned: {', '.join(newly)})"
                        if suffix
                        else " (modified)"
                        if isinstance(previous, str)
                        else ""
                    ),
                    evidence=one_line(
                        f"{(advisory.summary or advisory.details)[:300]} — {change}; aliases: "
                        f"{', '.join(advisory.aliases) or 'none'}; rated "
                        f"{advisory.rating.severity} ({advisory.rating.method or advisory.rating.source})"
                    ),
                    remediation=(
                        f"upgrade {dep.name} to {' or '.join(advisory.fixed)}"
                        if advisory.fixed
                        else f"no fixed release is known: assess whether {dep.name} is exposed "
                        "and watch the advisory"
                    ),
                    url=advisory.url,
                )
            )
        return None if failed else (now, affected_now)


# -- parsing ----------------------------------------------------------------------------------


def _parse_newest(body: bytes) -> list[_NewProject]:
    """The items of the newest-packages feed, or :class:`_Malformed`."""
    try:
        # defusedxml refuses entity declarations and external references (an entity bomb, a
        # file read through an entity); a bare DOCTYPE, which PyPI's feeds have carried (RSS
        # 0.91), is allowed.
        root = parse_xml(body)
    except DefusedXmlException as exc:
        raise _Malformed(f"the newest-packages feed is refused: {type(exc).__name__}") from None
    except Exception as exc:  # ElementTree's ParseError and the expat errors under it
        raise _Malformed(f"the newest-packages feed is not XML ({exc})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise _Malformed(f"the newest-packages feed is not RSS (its root is <{root.tag}>)")
    projects: list[_NewProject] = []
    for item in channel.findall("item"):
        title = (item.findtext("title") or "").strip()
        link = (item.findtext("link") or "").strip()
        name = _name_from_link(link) or title.removesuffix(" added to PyPI").strip()
        if not name or " " in name:
            raise _Malformed(f"a feed item names no project (title {shown(title[:100])})")
        projects.append(_NewProject(name, _rfc822(item.findtext("pubDate")), link))
    return projects


def _gap(projects: list[_NewProject], known: set[str], latest: str | None) -> str | None:
    """Why registrations were missed since the last poll, or None: the feed shows only the last
    few dozen, so when none of them was seen before and each is newer than the newest seen, the
    ones in between were never shown (a feed without dates, or a cursor without one, counts as
    that: fail closed)."""
    if not known or not projects:
        return None  # the first poll (nothing to be contiguous with), or an empty feed
    if any(canonicalize_name(p.name) in known for p in projects):
        return None
    dates = [p.published for p in projects]
    try:
        last = _dt.datetime.fromisoformat(latest) if latest else None
    except ValueError:
        last = None
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=_dt.UTC)  # the feed's dates are aware (_rfc822)
    oldest = min(d for d in dates if d is not None) if None not in dates else None
    if last is not None and oldest is not None and oldest <= last:
        return None
    since = f"since {latest}" if latest else "since the last poll"
    return (
        f"none of the {len(projects)} projects the newest-packages feed shows was seen before: "
        f"projects registered {since} and before {oldest.isoformat() if oldest else 'them'} "
        "were missed, and a look-alike among them was not checked; poll more often"
    )


def _name_from_link(link: str) -> str | None:
    parts = [p for p in urlsplit(link).path.split("/") if p]
    if len(parts) >= 2 and parts[-2] == "project":
        return parts[-1]
    return None


def _rfc822(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, OverflowError):  # a year past C's int: OverflowError
        return None
    return when if when.tzinfo else when.replace(tzinfo=_dt.UTC)


def _parse_project(body: bytes, where: str) -> _Project:
    """The releases of a JSON API answer, checked field by field, or :class:`_Malformed`."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise _Malformed(f"{where} answered something that is not JSON ({exc})") from None
    except RecursionError:
        # Arrays nested deeper than the interpreter's stack (a few kB of "[" do it): an
        # answer of no API's shape, which must not take the other dependencies' poll with it.
        raise _Malformed(f"{where} answered JSON nested too deep to read") from None
    if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
        raise _Malformed(f"{where} answered JSON without the API's 'info' object")
    releases = data.get("releases")
    if not isinstance(releases, dict):
        raise _Malformed(f"{where} answered JSON without the API's 'releases' object")
    parsed: dict[str, dict[str, _File]] = {}
    for version, files in releases.items():
        if not isinstance(files, list):
            raise _Malformed(f"{where}: release {shown(version)} is not a list of files")
        entries: dict[str, _File] = {}
        for entry in files:
            filename = entry.get("filename") if isinstance(entry, dict) else None
            digests = entry.get("digests") if isinstance(entry, dict) else None
            sha256 = digests.get("sha256") if isinstance(digests, dict) else None
            if not isinstance(filename, str) or not isinstance(sha256, str):
                raise _Malformed(
                    f"{where}: a file of release {shown(version)} has no filename or sha256"
                )
            if not _SHA256.fullmatch(sha256):
                # Quoted in the alerts and keyed on: free text from a mirror (an escape
                # sequence, a line break) would reach every sink raw.
                raise _Malformed(
                    f"{where}: the sha256 of {shown(filename)} ({shown(sha256[:80])}) is not "
                    "64 hexadecimal digits"
                )
            reason = entry.get("yanked_reason")
            entries[filename] = _File(
                sha256=sha256.lower(),
                yanked=entry.get("yanked") is True,
                yanked_reason=reason if isinstance(reason, str) else "",
            )
        parsed[version] = entries
    serial = data.get("last_serial")
    name = data["info"].get("name")
    return _Project(
        name=name if isinstance(name, str) else "",
        serial=serial if isinstance(serial, int) else None,
        releases=parsed,
    )


# -- helpers ----------------------------------------------------------------------------------


def _advisory_subject(name: str) -> str:
    """The cursor (and outage) subject of a project's advisories."""
    return f"pypi-osv:{name}"


def _merged(dependencies: Iterable[TrackedDependency]) -> list[TrackedDependency]:
    """One entry per canonical name, with every pin the watch list gives it."""
    pins: dict[str, list[str]] = {}
    for dep in dependencies:
        versions = pins.setdefault(canonicalize_name(dep.name), [])
        versions.extend(v for v in dep.pinned if v not in versions)
    return [TrackedDependency(name, tuple(p)) for name, p in sorted(pins.items())]


def _recorded_releases(
    before: Mapping[str, Any] | None, key: str = "releases"
) -> dict[str, dict[str, str]] | None:
    """The releases the last poll recorded (or those deleted, ``key="deleted"``), or None
    before the first (the baseline poll)."""
    releases = before.get(key) if before else None
    if not isinstance(releases, Mapping):
        return None
    return {
        str(version): {str(k): str(v) for k, v in files.items()}
        for version, files in releases.items()
        if isinstance(files, Mapping)
    }


def _deleted(before: Mapping[str, Any] | None, project: _Project) -> dict[str, dict[str, str]]:
    """The releases seen once and absent now, with their files' digests, for the cursor: a
    release served again is compared with what it had, not taken for a new one."""
    gone = _recorded_releases(before, "deleted") or {}
    for version, files in (_recorded_releases(before) or {}).items():
        gone.pop(version, None)  # re-inserted last: the most recent deletions are kept
        gone[version] = files
    kept = [(v, files) for v, files in gone.items() if v not in project.releases]
    # Bounded: projects that prune old releases (nightlies) would grow the cursor for ever.
    return dict(kept[-DELETED_RELEASES_KEPT:])


#: Alerts of a change that can happen again to the same thing (yanked, un-yanked, yanked
#: again; a file swapped A, B, A, B): their key is the fact's, numbered from its second time.
_RECURRING = frozenset({RULE_YANKED, RULE_FILE_REPLACED, RULE_FILE_ADDED, RULE_FILE_REMOVED})


def _recurring(
    alerts: list[Alert], before: Mapping[str, Any] | None
) -> tuple[list[Alert], dict[str, int]]:
    """The alerts with each recurring fact numbered, and the counts for the cursor.

    The count lives in the cursor, stored with the alerts or not at all: a poll that ends in an
    outage numbers the same fact the same way next time, so it is raised once, and a fact that
    happens again after the cursor recorded it gets a new number, so it is raised again.
    """
    recorded = before.get("events") if isinstance(before, Mapping) else None
    counts = {
        k: v
        for k, v in (recorded.items() if isinstance(recorded, Mapping) else ())
        if isinstance(k, str) and isinstance(v, int)
    }
    out = []
    for alert in alerts:
        if alert.rule in _RECURRING:
            counts[alert.key] = counts.get(alert.key, 0) + 1
            if counts[alert.key] > 1:
                alert = replace(alert, key=f"{alert.key}#{counts[alert.key]}")
        out.append(alert)
    return out, counts


def _yanked(files: Mapping[str, _File]) -> bool:
    # PyPI yanks a whole release (every file); any yanked file is enough to say so.
    return any(f.yanked for f in files.values())


def _pinned(version: str, pins: Iterable[str]) -> bool:
    for pin in pins:
        if pin == version:
            return True
        try:
            # A local build (2.5.1+cpu) pins its public release as far as the index goes.
            if Version(Version(pin).public) == Version(version):
                return True
        except ValueError:  # InvalidVersion, or a number past Python's int digit limit
            continue
    return False


def _order(version: str) -> tuple[int, Any]:
    try:
        return (0, Version(version))
    except ValueError:  # InvalidVersion, or a number past Python's int digit limit
        return (1, version)


def _later(modified: str, previous: str) -> bool:
    """Whether ``modified`` is later than ``previous`` (both RFC 3339); a date that does not
    parse counts as a change when the text differs (fail closed)."""
    try:
        return _dt.datetime.fromisoformat(modified) > _dt.datetime.fromisoformat(previous)
    except (ValueError, TypeError):  # TypeError: one with a time zone, one without
        return modified != previous


def _severity(label: str) -> Severity:
    try:
        return Severity.parse(label)
    except ValueError:
        return Severity.HIGH  # an unrated advisory is not a minor one (vulns/severity.py)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _text(cursor: Any, key: str) -> str | None:
    value = cursor.get(key) if isinstance(cursor, Mapping) else None
    return value if isinstance(value, str) else None


def _public(base: str) -> str:
    """The index's base as an alert may link it: credentials masked."""
    return redact_url(base)
