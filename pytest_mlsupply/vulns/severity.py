"""How bad an advisory is: its CVSS vector scored by the ``cvss`` library, else what the database says.

One answer for every database: an OSV record (from a snapshot, or as the OSV service returns
it) carries ``severity[]`` entries (``{"type": "CVSS_V3", "score": "<vector>"}``), at the top
or per affected package, and often a ``database_specific.severity`` word (GitHub's advisories
say ``CRITICAL`` / ``HIGH`` / ``MODERATE`` / ``LOW``). The newest CVSS version that scores
wins; a vector the library rejects is passed over (a database bug must not hide the rest);
with neither, the advisory is high: an unrated vulnerability is not a minor one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from pytest_mlsupply.vulns.model import Rating

__all__ = ["DEFAULT_RATING", "rating_from_osv", "score_vector", "worst"]

#: No vector and no database word: high, said to be a default.
DEFAULT_RATING = Rating(severity="high", source="default")

# Newest first: a record rated in several versions is judged by the newest.
_PREFERENCE = ("CVSS_V4", "CVSS_V3", "CVSS_V2")

#: The CVSS 4.0 base metrics (the "CVSS-B" nomenclature): the only ones an advisory's score uses.
_V4_BASE_METRICS = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")

_DATABASE_WORDS = {
    "critical": "critical",
    "high": "high",
    "moderate": "medium",
    "medium": "medium",
    "low": "low",
}


def _band(score: Decimal, *, v2: bool) -> str:
    # CVSS v3 / v4 qualitative bands; v2 has no "critical" (7.0-10.0 is high).
    if score == 0:
        return "info"
    if score < 4:
        return "low"
    if score < 7:
        return "medium"
    if v2 or score < 9:
        return "high"
    return "critical"


def score_vector(kind: str, vector: str) -> Rating | None:
    """The rating of one CVSS vector (``kind`` as OSV spells it), or None when it does not parse."""
    try:
        if kind == "CVSS_V4":
            v4 = CVSS4(vector)
            # The advisory's severity is its base score (CVSS-B), as for v3 and v2: threat
            # (``E``) and environmental (``CR``, ``MVC``, ...) metrics describe one deployment,
            # and the library folds them into ``base_score`` (``MVC:N/MVI:N/MVA:N`` turns a
            # 9.3 into 0.0). The reported vector stays the record's.
            base = CVSS4("CVSS:4.0/" + "/".join(f"{k}:{v4.metrics[k]}" for k in _V4_BASE_METRICS))
            score = Decimal(str(base.base_score))
            return Rating(_band(score, v2=False), "CVSSv4", v4.clean_vector(), str(score), "cvss")
        if kind == "CVSS_V3":
            v3 = CVSS3(vector)
            score = Decimal(str(v3.scores()[0]))
            method = "CVSSv31" if v3.clean_vector().startswith("CVSS:3.1/") else "CVSSv3"
            return Rating(_band(score, v2=False), method, v3.clean_vector(), str(score), "cvss")
        if kind == "CVSS_V2":
            v2 = CVSS2(vector)
            score = Decimal(str(v2.scores()[0]))
            return Rating(_band(score, v2=True), "CVSSv2", v2.clean_vector(), str(score), "cvss")
    except (CVSSError, ValueError, TypeError, KeyError, IndexError):
        return None
    return None


def _vectors(record: Mapping[str, Any], package: str | None) -> Iterable[tuple[str, str]]:
    entries: list[Any] = list(_list(record.get("severity")))
    for affected in _list(record.get("affected")):
        if not isinstance(affected, Mapping):
            continue
        pkg = affected.get("package")
        name = pkg.get("name") if isinstance(pkg, Mapping) else None
        if package is None or (isinstance(name, str) and _canonical(name) == package):
            entries.extend(_list(affected.get("severity")))
    for entry in entries:
        if isinstance(entry, Mapping):
            kind, vector = entry.get("type"), entry.get("score")
            if isinstance(kind, str) and isinstance(vector, str):
                yield kind, vector


def rating_from_osv(record: Mapping[str, Any], package: str | None = None) -> Rating:
    """The rating of an OSV record (its top-level severity and ``package``'s affected entries)."""
    scored = [(kind, score_vector(kind, vector)) for kind, vector in _vectors(record, package)]
    for kind in _PREFERENCE:
        ratings = [r for k, r in scored if k == kind and r is not None]
        if ratings:
            # Two vectors of one version (two affected entries): the worse one counts.
            return max(ratings, key=lambda r: Decimal(r.score or "0"))
    # The database's word: the record's, and the package's own (``affected[]`` entries may
    # carry ``database_specific`` / ``ecosystem_specific`` severities); the worst one counts.
    words = [
        _DATABASE_WORDS[word.strip().lower()]
        for holder in _severity_holders(record, package)
        if isinstance(word := holder.get("severity"), str)
        and word.strip().lower() in _DATABASE_WORDS
    ]
    if words:
        return Rating(severity=max(words, key=_SEVERITY_RANK.__getitem__), source="database")
    return DEFAULT_RATING


def _severity_holders(record: Mapping[str, Any], package: str | None) -> list[Mapping[str, Any]]:
    holders = [record.get("database_specific")]
    for affected in _list(record.get("affected")):
        if not isinstance(affected, Mapping):
            continue
        pkg = affected.get("package")
        name = pkg.get("name") if isinstance(pkg, Mapping) else None
        if package is None or (isinstance(name, str) and _canonical(name) == package):
            holders += [affected.get("database_specific"), affected.get("ecosystem_specific")]
    return [h for h in holders if isinstance(h, Mapping)]


_SOURCE_RANK = {"cvss": 2, "database": 1}
_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def worst(ratings: Iterable[Rating]) -> Rating:
    """One rating for records merged as aliases: a scored vector outranks a database word,
    which outranks the default; among equals, the worse one counts (fail closed)."""

    def rank(r: Rating) -> tuple[int, int, Decimal]:
        return (
            _SOURCE_RANK.get(r.source or "", 0),
            _SEVERITY_RANK.get(r.severity, 3),
            Decimal(r.score or "0"),
        )

    return max(ratings, key=rank, default=DEFAULT_RATING)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))
