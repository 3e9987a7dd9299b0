"""The ``vulnerabilities`` check's advisories as CycloneDX vulnerabilities for the ML-BOM.

The check stores each advisory it found in its result's facts (:data:`FACTS_KEY`, a list of
:meth:`Advisory.to_json`); this module reads them back and converts them with
cyclonedx-python-lib. One advisory id is one CycloneDX vulnerability, whatever number of
components it affects: the spec's ``affects`` is a list of targets, and CycloneDX tools (and
readers counting "how many vulnerabilities") expect one entry per vulnerability with every
affected component under it, each with the version that was found affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cyclonedx.model import XsUri
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)

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
) -> list[Vulnerability]:
    """One CycloneDX vulnerability per advisory id, affecting every component it was found in.

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


def _vulnerability(vid: str, affected: list[tuple[str, Advisory]]) -> Vulnerability:
    first = affected[0][1]
    aliases = sorted({alias for _, a in affected for alias in a.aliases} - {vid})
    ratings = {_rating(a.rating, a.source) for _, a in affected}
    targets: dict[str, set[str]] = {}
    for ref, advisory in affected:
        targets.setdefault(ref, set()).add(advisory.version)
    return Vulnerability(
        bom_ref=f"vulnerability:{vid}",
        id=vid,
        source=_source(vid, first),
        references=[
            VulnerabilityReference(id=alias, source=_id_source(alias)) for alias in aliases
        ],
        ratings=sorted(ratings, key=lambda r: (str(r.method), str(r.score), str(r.vector))),
        description=first.summary or None,
        detail=first.details or None,
        recommendation=_recommendation(a for _, a in affected),
        published=_when(first.published),
        updated=_when(first.modified),
        affects=[
            BomTarget(
                ref=ref,
                versions=[
                    BomTargetVersionRange(
                        version=version, status=ImpactAnalysisAffectedStatus.AFFECTED
                    )
                    for version in sorted(versions)
                ],
            )
            for ref, versions in sorted(targets.items())
        ],
    )


def _source(vid: str, advisory: Advisory) -> VulnerabilitySource:
    """The database that answered, and where the advisory is described."""
    url = advisory.url or _id_url(vid)
    return VulnerabilitySource(name=advisory.source, url=XsUri(url) if url else None)


def _id_source(vid: str) -> VulnerabilitySource:
    for prefix, name, base in _ID_SOURCES:
        if vid.startswith(prefix):
            return VulnerabilitySource(name=name, url=XsUri(base + vid))
    return VulnerabilitySource(name="OSV", url=XsUri(OSV_URL + vid))


def _id_url(vid: str) -> str:
    # OSV describes every id it knows (CVE, GHSA, PYSEC, ...): a link that always resolves.
    return OSV_URL + vid


_METHODS = {method.value: method for method in VulnerabilityScoreSource}


def _rating(rating: Rating, database: str) -> VulnerabilityRating:
    method = _METHODS.get(rating.method or "", VulnerabilityScoreSource.OTHER)
    score: Decimal | None = None
    if rating.score is not None:
        try:
            score = Decimal(rating.score)  # a float fails the 1.6 schema's strict validation
        except InvalidOperation as exc:
            raise VulnerabilityFactsError(f"score {rating.score!r} is not a number") from exc
    try:
        severity = VulnerabilitySeverity(rating.severity)
    except ValueError as exc:
        raise VulnerabilityFactsError(f"severity {rating.severity!r} is not a label") from exc
    # Where the severity came from: computed from the vector, the database's own label, or
    # our default when the record has neither.
    origin = {"cvss": None, "database": database, "default": "pytest-mlsupply default"}
    name = origin.get(rating.source or "", rating.source)
    return VulnerabilityRating(
        source=VulnerabilitySource(name=name) if name else None,
        score=score,
        severity=severity,
        method=method,
        vector=rating.vector,
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
