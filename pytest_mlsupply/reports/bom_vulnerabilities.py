"""The ``vulnerabilities`` check's advisories as CycloneDX vulnerabilities for the ML-BOM.

The check stores each advisory it found in its result's facts (:data:`FACTS_KEY`, a list of
:meth:`Advisory.to_json`); this module reads them back and writes them as the BOM's JSON
``vulnerabilities`` entries, in the form cyclonedx-python-lib writes them (the tests hold the two
equal): its sort orders, its score with one decimal, its vectors without their scheme prefix.
One advisory id is one CycloneDX vulnerability, whatever number of
components it affects: the spec's ``affects`` is a list of targets, and CycloneDX tools (and
readers counting "how many vulnerabilities") expect one entry per vulnerability with every
affected component under it, each with the version that was found affected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pytest_mlsupply.reports.bom_forms import InvalidUri, library_order, timestamp, uri
from pytest_mlsupply.results import CheckResult, RowKind
from pytest_mlsupply.vulns.model import FACTS_KEY, Advisory, Rating

__all__ = ["VulnerabilityFactsError", "advisories_by_subject", "vulnerabilities"]

#: The check whose facts hold advisories (the check is named after its facts key).
CHECK_NAME = FACTS_KEY

OSV_URL = "https://osv.dev/vulnerability/"
#: Where an id of each kind is described; aliases become references with these sources.
_ID_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/"),
    ("GHSA-", "GitHub Advisory Database", "https://github.com/advisories/"),
    ("PYSEC-", "PyPA Advisory Database", OSV_URL),
)


class VulnerabilityFactsError(ValueError):
    """The facts a ``vulnerabilities`` result carries cannot be read back as advisories."""


def advisories_by_subject(
    results: Iterable[CheckResult],
) -> dict[str, list[Advisory]]:
    """Every dependency subject's advisories, from the ``vulnerabilities`` results."""
    found: dict[str, list[Advisory]] = {}
    for result in results:
        if result.kind is not RowKind.DEPENDENCY or result.check != CHECK_NAME:
            continue
        raw = result.facts.get(FACTS_KEY)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise VulnerabilityFactsError(
                f"{result.subject}: facts[{FACTS_KEY!r}] is not a list of advisories"
            )
        try:
            found.setdefault(result.subject, []).extend(Advisory.from_json(a) for a in raw)
        except (KeyError, TypeError, AttributeError) as exc:
            # Never drop a known vulnerability from the BOM quietly: the report errors instead.
            raise VulnerabilityFactsError(
                f"{result.subject}: an advisory in facts[{FACTS_KEY!r}] is malformed: {exc!r}"
            ) from exc
    return found


def vulnerabilities(
    advisories: Mapping[str, list[Advisory]], refs: Mapping[str, str], fallback: str
) -> list[dict[str, Any]]:
    """One CycloneDX vulnerability (JSON) per advisory id, affecting every component it was
    found in, sorted by id.

    ``refs`` maps a dependency subject to its library component's bom-ref. An advisory of a
    subject with no component of its own affects ``fallback`` (the project): a known
    vulnerability is never left out of the BOM.
    """
    by_id: dict[str, list[tuple[str, Advisory]]] = {}
    for subject, found in advisories.items():
        ref = refs.get(subject, fallback)
        for advisory in found:
            by_id.setdefault(advisory.id, []).append((ref, advisory))
    return [_vulnerability(vid, by_id[vid]) for vid in sorted(by_id)]


def _vulnerability(vid: str, affected: list[tuple[str, Advisory]]) -> dict[str, Any]:
    first = affected[0][1]
    aliases = sorted({alias for _, a in affected for alias in a.aliases} - {vid})
    rated = library_order((_rating(a.rating, a.source) for _, a in affected), lambda r: r[0])
    ratings = [rating for _, rating in rated]
    targets: dict[str, set[str]] = {}
    for ref, advisory in affected:
        targets.setdefault(ref, set()).add(advisory.version)
    out: dict[str, Any] = {
        "bom-ref": f"vulnerability:{vid}",
        "id": vid,
        "source": _source(vid, first),
    }
    if aliases:
        out["references"] = [{"id": alias, "source": _id_source(alias)} for alias in aliases]
    if ratings:
        out["ratings"] = ratings
    if first.summary:
        out["description"] = first.summary
    if first.details:
        out["detail"] = first.details
    out["recommendation"] = _recommendation(a for _, a in affected)
    for key, text in (("published", first.published), ("updated", first.modified)):
        when = _when(text)
        if when is not None:
            out[key] = timestamp(when)
    out["affects"] = [
        {
            "ref": ref,
            "versions": [{"version": v, "status": "affected"} for v in sorted(versions)],
        }
        for ref, versions in sorted(targets.items())
    ]
    return out


def _source(vid: str, advisory: Advisory) -> dict[str, str]:
    """The database that answered, and where the advisory is described."""
    out = {"name": advisory.source}
    url = advisory.url or _id_url(vid)
    if url:
        out["url"] = _uri(url)
    return out


def _id_source(vid: str) -> dict[str, str]:
    for prefix, name, base in _ID_SOURCES:
        if vid.startswith(prefix):
            return {"name": name, "url": _uri(base + vid)}
    return {"name": "OSV", "url": _uri(OSV_URL + vid)}


def _id_url(vid: str) -> str:
    # OSV describes every id it knows (CVE, GHSA, PYSEC, ...): a link that always resolves.
    return OSV_URL + vid


def _uri(text: str) -> str:
    try:
        return uri(text)
    except InvalidUri as exc:
        raise VulnerabilityFactsError(f"an advisory's link: {exc}") from exc


#: CycloneDX 1.6 score methods; any other is ``other``.
_METHODS = frozenset({"CVSSv2", "CVSSv3", "CVSSv31", "CVSSv4", "OWASP", "SSVC", "other"})
#: CycloneDX severities.
_SEVERITIES = frozenset({"none", "info", "low", "medium", "high", "critical", "unknown"})
#: The scheme prefix a vector loses under its method (the library stores it without).
_VECTOR_PREFIXES = {
    "CVSSv4": re.compile(r"^CVSS:4\.\d/?"),
    "CVSSv31": re.compile(r"^CVSS:3\.\d/?"),
    "CVSSv3": re.compile(r"^CVSS:3\.\d/?"),
    "CVSSv2": re.compile(r"^CVSS:2\.\d/?"),
    "OWASP": re.compile(r"^OWASP/?"),
}


def _rating(rating: Rating, database: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The rating's JSON form, and its key in the library's order (see :func:`_rating_key`)."""
    method = rating.method if rating.method in _METHODS else "other"
    out: dict[str, Any] = {}
    # Where the severity came from: computed from the vector, the database's own label, or
    # our default when the record has neither.
    origin = {"cvss": None, "database": database, "default": "pytest-mlsupply default"}
    name = origin.get(rating.source or "", rating.source)
    if name:
        out["source"] = {"name": name}
    score: Decimal | None = None
    if rating.score is not None:
        try:
            score = Decimal(rating.score)
        except InvalidOperation as exc:
            raise VulnerabilityFactsError(f"score {rating.score!r} is not a number") from exc
        # One decimal, as the schema's examples and the library write it.
        out["score"] = float(f"{score:.1f}")
    if rating.severity not in _SEVERITIES:
        raise VulnerabilityFactsError(f"severity {rating.severity!r} is not a label")
    out["severity"] = rating.severity
    out["method"] = method
    if rating.vector is not None:
        prefix = _VECTOR_PREFIXES.get(method)
        out["vector"] = prefix.sub("", rating.vector) if prefix else rating.vector
    return _rating_key(out, score), out


def _rating_key(rating: dict[str, Any], score: Decimal | None) -> tuple[Any, ...]:
    # VulnerabilityRating's fields in the library's order: severity, score (the exact one, 0
    # when none: two scores written alike may still be two ratings), source, method, vector,
    # justification.
    source = rating.get("source")
    return (
        rating["severity"],
        score or 0,
        None if source is None else (source["name"], None),
        rating["method"],
        rating.get("vector"),
        None,
    )


def _recommendation(advisories: Iterable[Advisory]) -> str:
    fixed: dict[str, set[str]] = {}
    for advisory in advisories:
        fixed.setdefault(advisory.package, set()).update(advisory.fixed)
    parts = []
    for package, versions in sorted(fixed.items()):
        if versions:
            listed = ", ".join(_pep440_sorted(versions))
            parts.append(f"upgrade {package} to a fixed version: {listed}")
        else:
            parts.append(f"no fixed version of {package} is known: remove it or mitigate")
    return "; ".join(parts)


def _pep440_sorted(versions: Iterable[str]) -> list[str]:
    from packaging.version import InvalidVersion, Version

    def key(text: str) -> tuple[int, Any]:
        try:
            return (0, Version(text))
        except InvalidVersion:
            return (1, text)

    return sorted(versions, key=key)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None  # a date we cannot read is left out, not guessed
