"""Dependency check ``confusion``: pip may take the package from more than one place.

pip does not prefer one index over another: with an ``--extra-index-url`` (or a
``--find-links`` location) in play it takes the highest version found anywhere, so anyone who
uploads a package of the same name to the other place, with a higher version, wins. That is
dependency confusion (CWE-427). The locations in play are combined as pip combines them: its
configuration files and ``PIP_*`` variables first (:mod:`pytest_mlsupply.sources.pipconfig`),
then the requirements file's own options (an ``--index-url`` there replaces the configured
index and extra indexes; ``--find-links`` add up).

Packages the manifest declares ``internal:`` must come from their private index alone and be
hash-pinned: a hash is the one thing a public upload of the same name cannot match.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from urllib.parse import urlsplit, urlunsplit

from pytest_mlsupply.checks.base import CheckContext, DependencyCheck, Outcome
from pytest_mlsupply.manifest.model import InternalDecl
from pytest_mlsupply.results import Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency
from pytest_mlsupply.sources.pipconfig import (
    DEFAULT_INDEX,
    PipConfigError,
    PipSources,
    pip_sources,
)
from pytest_mlsupply.sources.pipconfig import Location as Place

#: A ``pylock.toml`` package's origin (``pylock.toml:packages[3]``): its files are named by URL
#: and hash in the lock, so no index search happens and configured extra indexes do not apply.
_LOCKED = re.compile(r":packages\[\d+\]$")


def normalise_index(url: str) -> str:
    """An index URL for comparison: scheme and host lower case, no credentials (pip sends them
    to the same index), no trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    return urlunsplit((parts.scheme.lower(), host, parts.path.rstrip("/"), parts.query, ""))


def internal_decl(name: str, internal: tuple[InternalDecl, ...]) -> InternalDecl | None:
    """The ``internal:`` entry a canonical project name belongs to, if any."""
    for decl in internal:
        if any(fnmatchcase(name, pattern) for pattern in decl.packages):
            return decl
    return None


def in_play(dep: Dependency, config: PipSources) -> tuple[Place | None, list[Place]]:
    """The index pip installs ``dep`` from (None: it cannot be told) and the other places."""
    if _LOCKED.search(dep.origin):
        return (Place(dep.index, f"{dep.origin} index") if dep.index else None), []
    others: list[Place] = []
    if dep.index is not None:
        primary: Place | None = Place(dep.index, f"{dep.origin} --index-url")
    elif config.no_index:
        primary = None
    else:
        primary = config.index or Place(DEFAULT_INDEX, "pip's default index")
        others += config.extra_indexes
    if dep.origin != "environment":
        others += [Place(url, f"{_file(dep.origin)} option") for url in dep.extra_indexes]
    others += config.find_links
    others += config.other_installers
    if primary is None and others:
        primary, others = others[0], others[1:]
    seen = {normalise_index(primary.url)} if primary else set()
    unique = []
    for place in others:
        key = normalise_index(place.url)
        if key not in seen:
            seen.add(key)
            unique.append(place)
    return primary, unique


def _host(url: str) -> str:
    """Scheme and host of a URL, without credentials ("" for a local path)."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.rsplit('@', 1)[-1].lower()}"


def _file(origin: str) -> str:
    return origin.rsplit(":", 1)[0]


def _describe(places: list[Place]) -> str:
    return "; ".join(f"{p.url} (from {p.where})" for p in places)


def run(dep: Dependency, ctx: CheckContext) -> Outcome:
    try:
        config = pip_sources()
    except PipConfigError as exc:
        return Outcome(error=str(exc))
    primary, others = in_play(dep, config)
    decl = internal_decl(dep.name, ctx.inventory.manifest.internal)
    facts: dict[str, object] = {
        "index": primary.url if primary else None,
        "other_locations": [p.url for p in others],
        "pip_config_files": [str(p) for p in config.files],
    }
    if decl is not None:
        facts["internal_index"] = decl.index
    findings: list[Finding] = []
    if others:
        severity = Severity.HIGH if decl is not None else Severity.MEDIUM
        findings.append(
            Finding(
                rule="MLS-DEP-010",
                severity=severity,
                category="dependency-confusion",
                title="more than one package index is in play",
                location=dep.location,
                evidence=f"{dep.name} installs from "
                f"{primary.url if primary else 'no index'} (from "
                f"{primary.where if primary else '--no-index'}) and may also come from: "
                f"{_describe(others)}",
                why="pip takes the highest version found in any index or find-links location, so a "
                "package of the same name uploaded to the other location wins (dependency "
                "confusion)"
                + (f"; {dep.name} is declared internal to {decl.index}" if decl else ""),
                remediation="serve every package from one index (a proxy that mirrors the public "
                "packages next to your own), drop --extra-index-url / --find-links from the "
                "requirements and from pip configuration (pip config debug lists them), and "
                "pin hashes",
                cwe="CWE-427",
            )
        )
    if decl is not None:
        foreign = [f for f in dep.files if _host(f) != _host(decl.index)]
        if _LOCKED.search(dep.origin) and foreign:
            findings.append(
                Finding(
                    rule="MLS-DEP-011",
                    severity=Severity.HIGH,
                    category="dependency-confusion",
                    title="internal package is locked to files outside its private index",
                    location=dep.location,
                    evidence=f"{dep.name} is declared internal to {decl.index} but its lock "
                    f"entry installs {'; '.join(foreign[:3])}",
                    why="an installer takes a locked package's files from the URLs the lock "
                    "records, whatever its index says: these are not on the private index",
                    remediation=f"lock it again against {decl.index} (its wheels and sdist "
                    "URLs then point there)",
                    cwe="CWE-427",
                )
            )
        elif primary is None or normalise_index(primary.url) != normalise_index(decl.index):
            source = (
                "the running environment (an installed distribution does not record its index)"
                if dep.origin == "environment"
                else f"{primary.url} (from {primary.where})"
                if primary
                else "no index"
            )
            findings.append(
                Finding(
                    rule="MLS-DEP-011",
                    severity=Severity.HIGH,
                    category="dependency-confusion",
                    title="internal package is not bound to its private index",
                    location=dep.location,
                    evidence=f"{dep.name} is declared internal to {decl.index} but installs "
                    f"from {source}",
                    why="a package that exists only on a private index can be registered by "
                    "anyone on the public one; installed from there, the attacker's code runs "
                    "in your build",
                    remediation=f"install it from its index: put `--index-url {decl.index}` in "
                    "the requirements file (or the `index` of its pylock.toml entry) and "
                    "declare it from that source",
                    cwe="CWE-427",
                )
            )
        if not dep.hashes:
            findings.append(
                Finding(
                    rule="MLS-DEP-012",
                    severity=Severity.HIGH,
                    category="dependency-confusion",
                    title="internal package is not hash-pinned",
                    location=dep.location,
                    evidence=f"{dep.requirement} has no --hash",
                    why="only a hash pin rejects a same-named package from another index: a "
                    "version number can be uploaded by anyone",
                    remediation=f"pin {dep.name}==<version> --hash=sha256:<digest> "
                    "(pip-compile --generate-hashes writes them), or lock it in pylock.toml",
                    cwe="CWE-494",
                )
            )
    return Outcome(findings=findings, facts=facts)


CHECK = DependencyCheck(
    name="confusion",
    kind=RowKind.DEPENDENCY,
    summary="the package can come from one index only, and internal packages from theirs",
    run=run,
    # A path or URL requirement bypasses every index (the pinned check reports it).
    applies=lambda dep: dep.link is None,
)
