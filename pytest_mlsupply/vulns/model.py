"""The advisory model every vulnerability database answers in, and its JSON form.

A dependency's ``vulnerabilities`` check asks a :class:`Database` for the advisories that
affect one ``name==version``. It reports one finding per :class:`Advisory` and stores them in
its outcome's facts under :data:`FACTS_KEY` (a list of :meth:`Advisory.to_json`), which is how
the BOM and the reports read them back (:meth:`Advisory.from_json`) after crossing xdist's
process boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["FACTS_KEY", "Advisory", "Database", "DatabaseError", "Rating"]

#: Where the vulnerabilities check stores its advisories in :attr:`Outcome.facts`.
FACTS_KEY = "vulnerabilities"


class DatabaseError(Exception):
    """A database that cannot answer (unreachable, failing, malformed): the item errors.

    The message says what failed and how to go on (for a service: how to use an offline
    snapshot instead).
    """


@dataclass(frozen=True)
class Rating:
    """One severity rating of an advisory."""

    severity: str
    """``critical`` / ``high`` / ``medium`` / ``low`` / ``info`` (a :class:`~pytest_mlsupply.results.Severity` label)."""
    method: str | None = None
    """``CVSSv4`` / ``CVSSv31`` / ``CVSSv3`` / ``CVSSv2`` when computed from a vector, else None."""
    vector: str | None = None
    score: str | None = None
    """The base score as decimal text (``"9.8"``): the BOM needs a Decimal, JSON keeps text."""
    source: str | None = None
    """Where the severity came from: ``cvss``, ``database`` or ``default``."""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rating:
        return cls(**data)


@dataclass(frozen=True)
class Advisory:
    """One vulnerability affecting one ``name==version``, its aliases merged into it."""

    id: str
    """The primary id (the OSV record's ``id``, e.g. ``GHSA-53q9-r3pm-6pq6`` or ``PYSEC-...``)."""
    package: str
    """Canonical package name."""
    version: str
    """The affected version that was asked about."""
    aliases: tuple[str, ...] = ()
    """Other ids of the same vulnerability (CVE, GHSA, PYSEC), sorted, without :attr:`id`."""
    summary: str = ""
    details: str = ""
    fixed: tuple[str, ...] = ()
    """Versions that fix it (sorted by PEP 440), from every affected range of the record."""
    rating: Rating = field(default_factory=lambda: Rating(severity="high", source="default"))
    source: str = "osv"
    """Which database answered: ``osv``, ``pypi``, or ``offline:<snapshot>``."""
    url: str | None = None
    """A page describing it, when the record has one."""
    published: str | None = None
    modified: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "package": self.package,
            "version": self.version,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "details": self.details,
            "fixed": list(self.fixed),
            "rating": self.rating.to_json(),
            "source": self.source,
        }
        for key in ("url", "published", "modified"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Advisory:
        return cls(
            id=data["id"],
            package=data["package"],
            version=data["version"],
            aliases=tuple(data.get("aliases", ())),
            summary=data.get("summary", ""),
            details=data.get("details", ""),
            fixed=tuple(data.get("fixed", ())),
            rating=Rating.from_json(data["rating"]),
            source=data.get("source", "osv"),
            url=data.get("url"),
            published=data.get("published"),
            modified=data.get("modified"),
        )


class Database(Protocol):
    """A source of advisories: an offline snapshot, or a service reached through pip-audit."""

    @property
    def state(self) -> str:
        """What the answers depend on, for the cache key: a snapshot's digest, or the service
        and the day (``pypi:2026-12-03``)."""
        ...

    def lookup(self, package: str, version: str) -> list[Advisory]:
        """The advisories affecting ``package==version`` (canonical name), aliases merged,
        withdrawn ones left out. Raises :class:`DatabaseError` when it cannot answer."""
        ...
