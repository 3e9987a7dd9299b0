"""The online databases, ``service: pypi`` and ``service: osv``, reached through pip-audit.

pip-audit's services (``PyPIService``, ``OsvService``) are private API, so this module is the one
place that touches them. What it adds around them:

- **Where to ask.** ``vulnerabilities.url`` points either service at a mirror: for ``osv`` the
  base of an OSV-compatible API (``/v1/query`` is appended), for ``pypi`` the base of a
  PyPI-compatible JSON API. pip-audit hard-codes ``https://pypi.org/pypi/...``, so requests for
  that prefix are routed to the mirror by a transport adapter on the session; the client code
  that builds and reads the requests stays pip-audit's.
- **Severity.** pip-audit's results carry no rating. The session keeps the JSON of each answer,
  so the record an OSV answer returned is rated like a snapshot's (:mod:`.severity`); PyPI's
  answers carry no vector, so their advisories are rated by the default.
- **Failing closed.** A service that is down, slow, answers an HTTP error or malformed JSON, or
  does not know the package, raises :class:`~.model.DatabaseError` with how to go on offline.
  pip-audit lets ``requests`` errors other than a connect timeout, and malformed bodies,
  escape as whatever they are; all of them end here.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import requests
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pip_audit._service.interface import ConnectionError as ServiceUnreachable
from pip_audit._service.interface import (
    ResolvedDependency,
    ServiceError,
    VulnerabilityResult,
    VulnerabilityService,
)
from pip_audit._service.osv import OsvService
from pip_audit._service.pypi import PyPIService
from requests.adapters import HTTPAdapter

from pytest_mlsupply.vulns.model import Advisory, DatabaseError, Rating
from pytest_mlsupply.vulns.severity import DEFAULT_RATING, rating_from_osv, worst

__all__ = ["DEFAULT_TIMEOUT", "OSV_DEFAULT_URL", "PYPI_DEFAULT_URL", "ServiceDatabase"]

Service = Literal["pypi", "osv"]

#: Seconds to wait for a connection or an answer: a slow service is an error, not a hang.
DEFAULT_TIMEOUT = 30.0
OSV_DEFAULT_URL = "https://api.osv.dev"
PYPI_DEFAULT_URL = "https://pypi.org"
# The prefix pip-audit's PyPIService builds its URLs on.
_PYPI_PREFIX = "https://pypi.org/"

_OFFLINE_HINT = (
    "to audit without a network service, download a snapshot of OSV's PyPI records (the "
    "PyPI/all.zip export of OSV's data) and declare `vulnerabilities: {service: offline, "
    "path: <that zip or a directory of OSV JSON records>}` in mlsupply.yaml"
)


class _Reroute(HTTPAdapter):
    """Send requests for one URL prefix to another base (a mirror of the same API)."""

    def __init__(self, prefix: str, base: str) -> None:
        super().__init__(max_retries=0)
        self._prefix = prefix
        self._base = base.rstrip("/") + "/"

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        if url.startswith(self._prefix):
            request.url = self._base + url[len(self._prefix) :]
        return super().send(request, *args, **kwargs)


class _Recorder:
    """Keeps the decoded JSON of every answer, by the ids of the records in it."""

    def __init__(self) -> None:
        self.records: dict[str, Mapping[str, Any]] = {}
        self.last: list[Mapping[str, Any]] = []
        """The records of the latest answer (reset by the caller before each question)."""
        self.paged = False
        """Whether an answer since the reset said more results follow (``next_page_token``)."""

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not response.ok:
            return
        try:
            body = json.loads(response.content)
        except ValueError:
            return  # the client reads it again and fails; that failure is reported
        if not isinstance(body, Mapping):
            return
        if body.get("next_page_token"):
            self.paged = True
        for key in ("vulns", "vulnerabilities"):
            entries = body.get(key)
            if isinstance(entries, list):
                for entry in entries:
                    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
                        self.records[entry["id"]] = entry
                        self.last.append(entry)


class ServiceDatabase:
    """Advisories from PyPI's JSON API or OSV's API, asked through pip-audit."""

    def __init__(
        self,
        service: Service,
        url: str | None = None,
        cache_dir: Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if service not in ("pypi", "osv"):
            raise ValueError(f"unknown vulnerability service {service!r}; choose pypi or osv")
        self.service: Service = service
        self.base = (url or (PYPI_DEFAULT_URL if service == "pypi" else OSV_DEFAULT_URL)).rstrip(
            "/"
        )
        self._recorder = _Recorder()
        self._unreachable: str | None = None
        """Why the service could not be reached, once it could not: every later lookup of the
        session errors at once rather than waiting out the timeout again per dependency."""
        # Answers are cached by the auditor's own cache (keyed by the database state); an
        # HTTP cache underneath would only add a second, stale-prone layer.
        session = requests.Session()
        session.max_redirects = 5
        session.hooks["response"].append(self._recorder)
        self._client: VulnerabilityService
        if service == "osv":
            endpoint = self.base if self.base.endswith("/v1/query") else self.base + "/v1/query"
            osv = OsvService(cache_dir=_pip_audit_dir(cache_dir), osv_url=endpoint)
            osv.session = session
            osv.timeout = timeout
            self._client = osv
        else:
            if self.base != PYPI_DEFAULT_URL:
                session.mount(_PYPI_PREFIX, _Reroute(_PYPI_PREFIX, self.base))
            pypi = PyPIService(cache_dir=_pip_audit_dir(cache_dir))
            pypi.session = session
            pypi.timeout = timeout
            self._client = pypi

    @property
    def state(self) -> str:
        # A service's answers change as advisories are published: cached for the UTC day.
        return f"{self.service}:{self.base}:{_dt.datetime.now(_dt.UTC).date().isoformat()}"

    def lookup(self, package: str, version: str) -> list[Advisory]:
        name = canonicalize_name(package)
        try:
            parsed = Version(version)
        except InvalidVersion:
            raise DatabaseError(
                f"{name}=={version}: {version!r} is not a PEP 440 version, so the {self.service} "
                "service cannot be asked about it"
            ) from None
        if self._unreachable is not None:
            raise DatabaseError(
                self._failure(name, version, f"{self._unreachable} (earlier in this session)")
            )
        # A local build (``2.5.1+cpu``) is its public release: PyPI does not host local
        # versions, and an advisory naming 2.5.1 (``last_affected``, a versions list) affects
        # the build although PEP 440 sorts it after 2.5.1. OSV is asked about both spellings.
        asked = [parsed]
        if parsed.local is not None:
            public = Version(parsed.public)
            asked = [public] if self.service == "pypi" else [parsed, public]
        results: list[VulnerabilityResult] = []
        for one in asked:
            found = self._query(name, version, one)
            results.extend(r for r in found if r.id not in {k.id for k in results})
        return [self._advisory(name, version, result) for result in _merge_aliases(results)]

    def _query(self, name: str, version: str, parsed: Version) -> list[VulnerabilityResult]:
        spec = ResolvedDependency(name=name, version=parsed)
        self._recorder.last, self._recorder.paged = [], False
        try:
            answered, results = self._client.query(spec)
        except (ServiceError, requests.RequestException) as exc:
            reason = _reason(exc)
            if isinstance(exc, ServiceUnreachable | requests.ConnectionError | requests.Timeout):
                self._unreachable = reason
            raise DatabaseError(self._failure(name, version, reason)) from None
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            # A body that is not JSON, or JSON of another shape than the API's (arrays nested
            # deeper than the stack included: the decoder recurses).
            raise DatabaseError(
                self._failure(
                    name, version, f"its answer is malformed ({type(exc).__name__}: {exc})"
                )
            ) from None
        if answered.is_skipped():
            raise DatabaseError(
                f"{name}=={version} cannot be audited: {self.service} does not know it "
                f"({getattr(answered, 'skip_reason', 'not found')}); a name the index does not "
                "know may be an internal package (audit it against your own advisory data with "
                "`service: offline`) or a typo anyone could register"
            )
        if self.service == "osv":
            self._check_complete(name, version, results)
        return list(results)

    def _check_complete(self, name: str, version: str, results: list[VulnerabilityResult]) -> None:
        """Fail where pip-audit read less of OSV's answer than it holds: it does not follow
        ``next_page_token``, and it drops (with a log line) a live record whose
        ``schema_version`` is not 1.x or that has no ``affected`` list. Either would pass an
        affected release."""
        if self._recorder.paged:
            raise DatabaseError(
                self._failure(
                    name,
                    version,
                    "its answer is paginated (next_page_token) and only the first page is read",
                )
            )
        kept = {i for r in results for i in (r.id, *r.aliases)}
        for record in self._recorder.last:
            if record.get("withdrawn") is None and record["id"] not in kept:
                raise DatabaseError(
                    self._failure(
                        name,
                        version,
                        f"it returned {record['id']}, a record pip-audit cannot "
                        f"read (schema_version {record.get('schema_version', '1.0.0')!r}, "
                        f"affected {'present' if record.get('affected') is not None else 'missing'})",
                    )
                )

    def _failure(self, name: str, version: str, reason: str) -> str:
        return (
            f"{name}=={version} could not be audited: the {self.service} vulnerability service "
            f"at {self.base} failed: {reason}. Nothing was checked, so the dependency does not "
            f"pass; {_OFFLINE_HINT}"
        )

    def _advisory(self, name: str, version: str, result: VulnerabilityResult) -> Advisory:
        ids = sorted({result.id, *result.aliases})
        records = [self._recorder.records[i] for i in ids if i in self._recorder.records]
        rating: Rating = DEFAULT_RATING
        summary, details, url, modified = result.description, "", None, None
        if self.service == "osv":
            rating = worst(rating_from_osv(record, name) for record in records)
        if records:
            # The record whose id the result kept describes it; else any of its aliases.
            record = next((r for r in records if r.get("id") == result.id), records[0])
            summary = str(record.get("summary") or result.description)
            details = str(record.get("details") or "")
            url = _link(record)
            modified = record.get("modified") if isinstance(record.get("modified"), str) else None
        return Advisory(
            id=result.id,
            package=name,
            version=version,
            aliases=tuple(sorted(result.aliases - {result.id})),
            summary=summary,
            details=details,
            fixed=tuple(str(v) for v in sorted(result.fix_versions)),
            rating=rating,
            source=self.service,
            url=url,
            published=result.published.isoformat() if result.published else None,
            modified=modified,
        )


def _merge_aliases(results: list[VulnerabilityResult]) -> list[VulnerabilityResult]:
    """One result per vulnerability: results whose ids meet (pip-audit's own alias test) are
    merged, keeping the first one's id and uniting the ids and fixed versions."""
    merged: list[VulnerabilityResult] = []
    for result in results:
        for i, kept in enumerate(merged):
            if kept.alias_of(result):
                merged[i] = VulnerabilityResult(
                    kept.id,
                    kept.description,
                    sorted(set(kept.fix_versions) | set(result.fix_versions)),
                    (kept.aliases | result.aliases | {result.id}) - {kept.id},
                    kept.published or result.published,
                )
                break
        else:
            merged.append(result)
    return merged


def _link(record: Mapping[str, Any]) -> str | None:
    link = record.get("link")
    if isinstance(link, str):
        return link  # PyPI's JSON API
    refs = record.get("references")
    if isinstance(refs, list):
        for ref in refs:
            if (
                isinstance(ref, Mapping)
                and ref.get("type") == "ADVISORY"
                and isinstance(ref.get("url"), str)
            ):
                return str(ref["url"])
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.JSONDecodeError):
        return f"its answer is malformed (not JSON: {exc})"
    if isinstance(exc, requests.Timeout):
        return "it did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "it cannot be reached"
    cause = exc.__cause__
    if isinstance(cause, requests.HTTPError) and cause.response is not None:
        return f"it answered HTTP {cause.response.status_code}"
    return str(exc) or type(exc).__name__


def _pip_audit_dir(cache_dir: Path | None) -> Path | None:
    # pip-audit makes its HTTP cache directory when a service is built; keep it under ours.
    return cache_dir / "pip-audit" if cache_dir is not None else None
