"""Dependency check ``vulnerabilities``: known advisories affecting the pinned or installed version.

The database is the manifest's ``vulnerabilities:`` section (:mod:`pytest_mlsupply.vulns.
databases`), opened once per session and shared by its items (each xdist worker opens its own);
answers are cached between runs and across xdist workers (:mod:`pytest_mlsupply.vulns.cache`). One finding per advisory
(aliases merged by the database), and the advisories go into the outcome's facts under
:data:`~pytest_mlsupply.vulns.model.FACTS_KEY` for the BOM.

A requirement without one exact version (a range, a URL or path) is not guessed to a version:
it gets an ``info`` finding saying it was not audited, so the cell shows why it is empty of
advisories without failing the dependency a second time (the ``pinned`` column fails it).
A database that cannot answer makes the item an error, never a pass.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from pytest_mlsupply.checks.base import CheckContext, DependencyCheck, Outcome
from pytest_mlsupply.results import Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency, Inventory

# The vulnerability databases (vulns.*) are imported by the run that uses them, not at import:
# a check is imported once planned, and a warm gate runs few of them.
if TYPE_CHECKING:
    from pytest_mlsupply.vulns.cache import Answer
    from pytest_mlsupply.vulns.model import Advisory, Database, DatabaseError

#: How many candidate upgrades are asked about at most (each is one lookup; the answer that
#: names the upgrade is what the cache keeps).
MAX_UPGRADE_PROBES = 32

#: A rating's label → its severity; a label this version does not know counts as high.
_SEVERITIES = {severity.label: severity for severity in Severity}

_SESSIONS: dict[int, tuple[weakref.ref[Inventory], _Ask]] = {}
_SESSIONS_LOCK = threading.Lock()


def run(dep: Dependency, ctx: CheckContext) -> Outcome:
    from pytest_mlsupply.vulns.model import FACTS_KEY, DatabaseError

    if dep.version is None or dep.link is not None:
        return Outcome(
            findings=[
                Finding(
                    rule="MLS-VULN-002",
                    severity=Severity.INFO,
                    category="vulnerability",
                    title="not audited for known vulnerabilities: no exact version",
                    location=dep.location,
                    evidence=dep.requirement,
                    why="advisories name versions; a range or a URL could install an affected "
                    "release, and guessing which one would make the audit say nothing reliable",
                    remediation=f"pin it: {dep.name}==<the version you tested> (pip freeze prints "
                    "it); then it is audited",
                )
            ],
        )
    section = ctx.inventory.manifest.vulnerabilities
    ask = _session_asker(ctx.inventory)
    try:
        answer = ask(dep.name, dep.version)
    except DatabaseError as exc:
        return Outcome(error=_error_message(section, exc))
    facts = {FACTS_KEY: [a.to_json() for a in answer.advisories]}
    return Outcome(
        facts=facts,
        findings=[_finding(dep, advisory, answer.upgrade) for advisory in answer.advisories],
    )


def _session_asker(inventory: Inventory) -> _Ask:
    """The session's one database and cache (a session has one inventory): every item of the
    session shares them, so a snapshot is indexed once; each xdist worker has its own, and a
    later session in the same process (``mlsupply scan`` twice, pytester) opens a fresh one and
    sees a changed snapshot."""
    from pytest_mlsupply.vulns.cache import cache_root

    key = id(inventory)
    with _SESSIONS_LOCK:
        known = _SESSIONS.get(key)
        if known is not None and known[0]() is inventory:
            return known[1]
        manifest = inventory.manifest
        ask = _Ask(manifest.vulnerabilities, manifest.root, cache_root(manifest.root))
        _SESSIONS[key] = (weakref.ref(inventory, lambda _: _SESSIONS.pop(key, None)), ask)
        return ask


class _Ask:
    """The audit of one release through the result cache: a hit needs only the database's
    state (for a snapshot, a stat of its files); a miss indexes the snapshot or asks the
    service, for the release and for each upgrade candidate."""

    def __init__(self, section: dict[str, object], manifest_root: Path, root: Path | None) -> None:
        from pytest_mlsupply.vulns.cache import ResultCache

        self.section = section
        self.manifest_root = manifest_root
        self.root = root
        self.cache = ResultCache(root) if root is not None else None
        self._database: Database | None = None
        self._lock = threading.Lock()

    def database(self) -> Database:
        from pytest_mlsupply.vulns.databases import open_database

        with self._lock:
            if self._database is None:
                self._database = open_database(dict(self.section), self.manifest_root, self.root)
            return self._database

    def __call__(self, name: str, version: str) -> Answer:
        from pytest_mlsupply.vulns.cache import Answer

        database = self.database()

        def audit() -> Answer:
            advisories = database.lookup(name, version)
            upgrade = _smallest_upgrade(database, name, version, advisories) if advisories else None
            return Answer(tuple(advisories), upgrade)

        if self.cache is None:
            return audit()
        return self.cache.get_or_compute(name, version, database.state, audit)


def _smallest_upgrade(
    database: Database, name: str, version: str, advisories: list[Advisory]
) -> str | None:
    """The smallest version above ``version`` that the database knows no advisory for.

    Candidates are the fixed versions of the advisories; a candidate that is itself affected
    (an advisory introduced later) adds that advisory's fixes, so the walk ends on a release
    that clears every known advisory, or on None when no such release is known.
    """
    from pytest_mlsupply.vulns.model import DatabaseError

    current = Version(version)
    candidates = _versions_above(current, advisories)
    tried: set[Version] = set()
    while candidates and len(tried) < MAX_UPGRADE_PROBES:
        candidate = min(candidates)
        candidates.discard(candidate)
        tried.add(candidate)
        try:
            found = database.lookup(name, str(candidate))
        except DatabaseError:
            # The upgrade is advice: a candidate the database cannot answer for (a fixed
            # version the index never published) is passed over, and the advisories already
            # found still fail the item (findings outrank errors).
            continue
        if not found:
            return str(candidate)
        candidates |= _versions_above(candidate, found) - tried
    return None


def _versions_above(floor: Version, advisories: list[Advisory]) -> set[Version]:
    out: set[Version] = set()
    for advisory in advisories:
        for text in advisory.fixed:
            try:
                fixed = Version(text)
            except InvalidVersion:
                continue
            if fixed > floor:
                out.add(fixed)
    return out


def _finding(dep: Dependency, advisory: Advisory, upgrade: str | None) -> Finding:
    aliases = f" (aliases: {', '.join(advisory.aliases)})" if advisory.aliases else ""
    rating = advisory.rating
    scored = (
        f"; {rating.method} {rating.score} {rating.vector}"
        if rating.method and rating.score and rating.vector
        else ""
    )
    fixed = (
        f"{advisory.id} is fixed in {', '.join(advisory.fixed)}"
        if advisory.fixed
        else f"no fixed version of {dep.name} is published for {advisory.id}"
    )
    if upgrade is not None:
        move = (
            f"upgrade to {dep.name}=={upgrade}, the smallest version above {dep.version} that "
            "no advisory in the database affects"
        )
    else:
        move = (
            f"no version above {dep.version} is known to clear every advisory of {dep.name}: "
            "replace it, or remove the affected code path and record the exception"
        )
    summary = advisory.summary or advisory.details.split("\n", 1)[0].strip()
    severity = _SEVERITIES.get(rating.severity, Severity.HIGH)
    return Finding(
        rule="MLS-VULN-001",
        severity=severity,
        category="vulnerability",
        title=f"{advisory.id}: known vulnerability in {dep.name} {dep.version}",
        location=dep.location,
        evidence=f"{dep.name}=={dep.version} is affected by {advisory.id}{aliases}{scored}"
        + (f"; {advisory.url}" if advisory.url else ""),
        why=summary or f"{advisory.id} affects {dep.name} {dep.version}",
        remediation=f"{fixed}; {move}",
        cwe="CWE-1395",
    )


def _error_message(section: dict[str, object], exc: DatabaseError) -> str:
    message = str(exc)
    if section.get("service", "pypi") == "offline" or "offline" in message:
        return f"cannot audit for vulnerabilities: {message}"
    return (
        f"cannot audit for vulnerabilities: {message}. To audit without the network, use an "
        "offline snapshot of OSV's PyPI advisories: download "
        "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip and declare "
        "`vulnerabilities: {service: offline, path: all.zip}` in mlsupply.yaml"
    )


CHECK = DependencyCheck(
    name="vulnerabilities",
    kind=RowKind.DEPENDENCY,
    summary="no known advisory (OSV, PyPI) affects the pinned or installed version",
    run=run,
    # Every dependency: an unpinned one gets its "not audited" note, and one whose marker is
    # false for this interpreter is skipped by the plan (its cells read "skipped").
)
