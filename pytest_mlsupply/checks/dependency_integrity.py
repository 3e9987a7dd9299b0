"""Dependency check ``integrity``: the installed files of a distribution are the ones it shipped.

Which dependencies it applies to: every ``environment: current`` dependency, and a declared
``name==version`` that is installed, at exactly that version, where this interpreter imports it
from. A declared dependency that is not installed here (or at another version) is out of its
reach: the check does not apply and the cell stays blank, rather than verifying some other
version's files and calling it a pass.

What it verifies, per distribution (``importlib.metadata`` reads the ``*.dist-info``):

- every file RECORD lists with a hash is re-hashed and compared, size first (a changed size
  needs no hashing); a changed or missing file fails the dependency, naming the file;
- an executable file (``.py``, ``.so``, ``.pth``, ...) under one of the distribution's own
  top-level directories that no RECORD of the same ``site-packages`` lists fails it too: code
  dropped beside the shipped code runs on import. ``__pycache__`` is legitimately unlisted
  (the interpreter writes it after install), and so are entries RECORD lists without a hash
  (RECORD itself, the ``.pyc`` files pip compiles at install time);
- a start-up hook at the top of the distribution's ``site-packages`` that no RECORD there lists
  (a ``.pth`` file, ``sitecustomize.py``, ``usercustomize.py``) fails every distribution audited
  in that directory: the interpreter runs it at every start, before any of their code, so it
  belongs to none of them and compromises all of them. virtualenv's own ``_virtualenv.pth``
  (exactly ``import _virtualenv``) is the one hook no RECORD lists by design;
- ``--hash`` pins of a declared dependency against the archive pip installed it from, where pip
  recorded that archive's hash (``direct_url.json``, PEP 610: URL and file installs). An index
  install records no archive hash, so for those the facts say the pins cannot be decided here;
  nothing pretends they were checked.

Cost: every hashed file is read, every run (about 2.5 GB and 30 s for an environment with
torch on a 2-core machine; ``benchmarks/integrity.py`` measures it). A cache keyed on size and
mtime would make warm runs free, but a tamperer who edits a file can restore its mtime, and any
cache file can be edited by whoever can edit site-packages: verification that can be fooled
that way is not worth its speed here. Fail closed wins; xdist spreads the dependencies over
workers.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_mlsupply.checks.base import CheckContext, DependencyCheck, Outcome
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import Dependency

#: Suffixes of files the interpreter (or the dynamic loader) executes from an import path.
EXECUTABLE_SUFFIXES = frozenset(
    {".py", ".pyw", ".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".pth"}
)
#: Files at the top of site-packages that the interpreter's ``site`` module runs at start-up.
STARTUP_MODULES = frozenset({"sitecustomize.py", "usercustomize.py"})
#: Start-up hooks that installers write without a RECORD, by exact content (name -> text).
KNOWN_HOOKS = {"_virtualenv.pth": "import _virtualenv"}
#: Directories the interpreter writes after install; never in RECORD by design.
_UNLISTED_DIRS = frozenset({"__pycache__"})
_CHUNK = 1 << 20
#: How many files a finding's evidence names before it says "and N more".
SHOWN = 10


@dataclass(frozen=True)
class DistributionReport:
    """What verifying one installed distribution found; shared by every dependency naming it."""

    location: str
    """The ``*.dist-info`` directory."""
    verified: int = 0
    """Files whose size and hash matched RECORD."""
    unhashed: int = 0
    """RECORD entries without a hash (RECORD itself, install-time ``.pyc``): not verifiable."""
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unlisted: tuple[str, ...] = ()
    startup_hooks: tuple[str, ...] = ()
    """Unlisted start-up hooks beside it that run code (``.pth`` import lines, sitecustomize)."""
    path_hooks: tuple[str, ...] = ()
    """Unlisted ``.pth`` files beside it that only add import paths (they can shadow modules)."""
    unverifiable: str | None = None
    """Why the distribution cannot be verified at all (no RECORD), when it cannot."""
    bad_entries: tuple[str, ...] = ()
    """RECORD lines whose hash cannot be used (unknown algorithm, malformed digest)."""
    archive_hashes: dict[str, str] = field(default_factory=dict)
    """``algorithm -> hex digest`` of the archive pip installed from (``direct_url.json``)."""
    editable: bool = False


class InstalledDistributions:
    """The distributions an import path holds, by canonical name, first one on the path wins.

    ``path=None`` means ``sys.path`` as it is when asked (what the running interpreter
    imports from); tests and tools pass a directory of their own.
    """

    def __init__(self, path: Sequence[str] | None = None) -> None:
        self.path = tuple(path) if path is not None else None

    def _search_path(self) -> tuple[str, ...]:
        return self.path if self.path is not None else tuple(sys.path)

    def names(self) -> list[str]:
        """The canonical names of every distribution on the path, sorted."""
        return sorted(_index(self._search_path()))

    def find(self, name: str) -> metadata.Distribution | None:
        return _index(self._search_path()).get(canonicalize_name(name))

    def installed_as(self, dep: Dependency) -> metadata.Distribution | None:
        """The distribution this dependency names, if it is installed at its exact version."""
        if dep.link is not None or dep.version is None or dep.skipped is not None:
            return None
        dist = self.find(dep.name)
        if dist is None or not _same_version(dist.version, dep.version):
            return None
        return dist


@functools.lru_cache(maxsize=8)
def _index(search_path: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions(path=list(search_path)):
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if name:
            # The first one on the path is the one `import` finds; later ones are shadowed.
            found.setdefault(canonicalize_name(name), dist)
    return found


def _same_version(installed: str, declared: str) -> bool:
    try:
        return Version(installed) == Version(declared)
    except InvalidVersion:
        return installed == declared  # `===` arbitrary equality: the strings must agree


def verify(dist: metadata.Distribution) -> DistributionReport:
    """Re-hash the distribution's RECORD and look for unlisted executable files.

    Not cached: a verification that remembered an earlier answer would vouch for a file edited
    since (the plan already runs each ``name==version`` once).
    """
    location = _dist_info(dist)
    return _verify(dist, str(location) if location is not None else "(unknown location)")


def _verify(dist: metadata.Distribution, where: str) -> DistributionReport:
    archive, editable = _direct_url(dist)
    if dist.read_text("RECORD") is None:
        return DistributionReport(
            location=where,
            unverifiable="it has no RECORD (installed by a tool that does not write one, such "
            "as `setup.py install` or a hand copy)",
            archive_hashes=archive,
            editable=editable,
        )
    files = dist.files or []
    verified = unhashed = 0
    changed: list[str] = []
    missing: list[str] = []
    bad: list[str] = []
    for entry in files:
        path = Path(str(dist.locate_file(entry)))
        if entry.hash is None:
            unhashed += 1
            continue
        expected = _decode(entry.hash.mode, entry.hash.value)
        if expected is None:
            bad.append(f"{entry} ({entry.hash.mode}={entry.hash.value})")
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            missing.append(str(entry))
            continue
        if not stat.S_ISREG(st.st_mode):
            changed.append(str(entry))  # a FIFO or directory where a file was shipped
            continue
        if entry.size is not None and st.st_size != entry.size:
            changed.append(str(entry))
            continue
        if _digest(path, entry.hash.mode) != expected:
            changed.append(str(entry))
            continue
        verified += 1
    site = Path(str(dist.locate_file("")))
    unlisted = sorted(_unlisted(site, _top_dirs(files)))
    runs, extends = _startup_hooks(site)
    return DistributionReport(
        startup_hooks=runs,
        path_hooks=extends,
        location=where,
        verified=verified,
        unhashed=unhashed,
        changed=tuple(sorted(changed)),
        missing=tuple(sorted(missing)),
        unlisted=tuple(unlisted),
        bad_entries=tuple(bad),
        archive_hashes=archive,
        editable=editable,
    )


def _dist_info(dist: metadata.Distribution) -> Path | None:
    # PathDistribution keeps its directory in a private attribute; the public way to it is the
    # location of one of its own files.
    located = dist.locate_file("")
    for entry in dist.files or []:
        parts = entry.parts
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            return Path(str(located)) / parts[0]
    return None


def _decode(mode: str, value: str) -> bytes | None:
    if mode not in hashlib.algorithms_guaranteed:
        return None
    try:
        # RECORD digests are urlsafe base64 without padding (the wheel spec).
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def _digest(path: Path, mode: str) -> bytes:
    digest = hashlib.new(mode)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _top_dirs(files: Sequence[metadata.PackagePath]) -> set[str]:
    """The distribution's own top-level directories inside site-packages (its packages)."""
    tops: set[str] = set()
    for entry in files:
        parts = entry.parts
        if len(parts) < 2 or parts[0] == "..":
            continue  # a top-level module, or a script installed outside site-packages
        if parts[0].endswith((".dist-info", ".data", ".egg-info")):
            continue
        tops.add(parts[0])
    return tops


def _unlisted(site: Path, tops: set[str]) -> Iterator[str]:
    listed = _listed_in(site)
    for top in sorted(tops):
        root = site / top
        if not root.is_dir() or root.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _UNLISTED_DIRS]
            for filename in filenames:
                if Path(filename).suffix.lower() not in EXECUTABLE_SUFFIXES:
                    continue
                relative = (Path(dirpath) / filename).relative_to(site).as_posix()
                if relative not in listed:
                    yield relative


@functools.lru_cache(maxsize=16)
def _listed_in(site: Path) -> frozenset[str]:
    """Every file any RECORD in this site-packages lists: namespace packages (``google/``,
    ``nvidia/``) are shared by several distributions, and a file another one ships is listed."""
    listed: set[str] = set()
    for dist in metadata.distributions(path=[str(site)]):
        for entry in dist.files or []:
            listed.add(entry.as_posix())
    return frozenset(listed)


def _startup_hooks(site: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Unlisted start-up hooks at the top of ``site``: (those that run code, path-only .pth)."""
    listed = _listed_in(site)
    runs: list[str] = []
    extends: list[str] = []
    try:
        entries = sorted(os.scandir(site), key=lambda e: e.name)
    except OSError:
        return (), ()
    for entry in entries:
        name = entry.name
        if name in listed or not entry.is_file():
            continue
        if name in STARTUP_MODULES:
            runs.append(name)
            continue
        if not name.endswith(".pth"):
            continue
        try:
            text = Path(entry.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            runs.append(name)  # unreadable: assume the worst
            continue
        if KNOWN_HOOKS.get(name) == text.strip():
            continue
        # site.py executes a .pth line that starts with "import" (space or tab); others are
        # directories appended to sys.path.
        if any(line.startswith(("import ", "import\t")) for line in text.splitlines()):
            runs.append(name)
        elif any(line.strip() and not line.startswith("#") for line in text.splitlines()):
            extends.append(name)
    return tuple(runs), tuple(extends)


def archive_hashes(dist: metadata.Distribution) -> dict[str, str]:
    """``algorithm -> hex digest`` of the archive the installer recorded (``direct_url.json``,
    PEP 610); empty for an index install, which records none. The BOM's library hashes."""
    return _direct_url(dist)[0]


def _direct_url(dist: metadata.Distribution) -> tuple[dict[str, str], bool]:
    text = dist.read_text("direct_url.json")
    if not text:
        return {}, False
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        return {}, False
    if not isinstance(data, dict):
        return {}, False
    editable = bool(isinstance(data.get("dir_info"), dict) and data["dir_info"].get("editable"))
    info = data.get("archive_info")
    hashes: dict[str, str] = {}
    if isinstance(info, dict):
        if isinstance(info.get("hashes"), dict):
            hashes.update({str(k): str(v).lower() for k, v in info["hashes"].items()})
        legacy = info.get("hash")  # PEP 610's deprecated "<algorithm>=<hex>" form
        if isinstance(legacy, str) and "=" in legacy:
            algorithm, _, value = legacy.partition("=")
            hashes.setdefault(algorithm, value.lower())
    return hashes, editable


# --- the check -----------------------------------------------------------------------------------


def _where(dep: Dependency, report: DistributionReport) -> Location:
    return Location(file=report.location)


def _listing(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    more = len(paths) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _findings(dep: Dependency, report: DistributionReport) -> list[Finding]:
    where = _where(dep, report)
    reinstall = (
        f"reinstall it from a trusted source (pip install --force-reinstall --no-deps "
        f"{dep.name}=={dep.version}) and find out what changed the environment"
    )
    findings: list[Finding] = []
    if report.unverifiable is not None:
        findings.append(
            Finding(
                rule="MLS-DEP-033",
                severity=Severity.MEDIUM,
                category="integrity",
                title="installed distribution cannot be verified",
                location=where,
                evidence=f"{dep.name}=={dep.version}: {report.unverifiable}",
                why="without RECORD hashes nothing tells the installed files from edited ones",
                remediation=reinstall,
                cwe="CWE-345",
            )
        )
    if report.bad_entries:
        findings.append(
            Finding(
                rule="MLS-DEP-033",
                severity=Severity.MEDIUM,
                category="integrity",
                title="RECORD entries cannot be verified",
                location=where,
                evidence=f"unusable hashes: {_listing(report.bad_entries)}",
                why="a file whose recorded hash cannot be computed is not verified",
                remediation=reinstall,
                cwe="CWE-345",
            )
        )
    if report.changed:
        findings.append(
            Finding(
                rule="MLS-DEP-030",
                severity=Severity.HIGH,
                category="integrity",
                title="installed file differs from the distribution's RECORD",
                location=Location(file=report.location, member=report.changed[0]),
                evidence=f"changed: {_listing(report.changed)}",
                why="a file edited after install runs as the package's own code: a tampered "
                "site-packages is a supply-chain compromise",
                remediation=reinstall,
                cwe="CWE-494",
            )
        )
    if report.missing:
        findings.append(
            Finding(
                rule="MLS-DEP-031",
                severity=Severity.HIGH,
                category="integrity",
                title="file listed in the distribution's RECORD is missing",
                location=Location(file=report.location, member=report.missing[0]),
                evidence=f"missing: {_listing(report.missing)}",
                why="the installed distribution is not the one that was shipped (removed or "
                "replaced files change what imports)",
                remediation=reinstall,
                cwe="CWE-345",
            )
        )
    if report.unlisted:
        findings.append(
            Finding(
                rule="MLS-DEP-032",
                severity=Severity.HIGH,
                category="integrity",
                title="executable file inside the distribution's packages is in no RECORD",
                location=Location(file=report.location, member=report.unlisted[0]),
                evidence=f"unlisted: {_listing(report.unlisted)}",
                why="code dropped beside a package's own files runs on import (a .pth runs at "
                "every interpreter start-up); no installer put it there",
                remediation=f"delete the file, then {reinstall}",
                cwe="CWE-494",
            )
        )
    if report.startup_hooks:
        findings.append(
            Finding(
                rule="MLS-DEP-035",
                severity=Severity.HIGH,
                category="integrity",
                title="start-up hook in site-packages belongs to no distribution",
                location=Location(
                    file=str(Path(report.location).parent), member=report.startup_hooks[0]
                ),
                evidence=f"runs code at every interpreter start: {_listing(report.startup_hooks)}",
                why="the interpreter runs it before any package's code, so every distribution in "
                "this site-packages is compromised by it; no installer put it there",
                remediation="read it, delete it, and find out what wrote it; then rebuild the "
                "environment from hash-pinned requirements",
                cwe="CWE-494",
            )
        )
    if report.path_hooks:
        findings.append(
            Finding(
                rule="MLS-DEP-035",
                severity=Severity.MEDIUM,
                category="integrity",
                title="import-path file in site-packages belongs to no distribution",
                location=Location(
                    file=str(Path(report.location).parent), member=report.path_hooks[0]
                ),
                evidence=f"adds import paths: {_listing(report.path_hooks)}",
                why="a directory added to sys.path can shadow an installed package's modules",
                remediation="delete it unless you put it there (easy-install.pth of a "
                "`setup.py develop` is one); prefer `pip install -e`, whose RECORD lists its .pth",
                cwe="CWE-494",
            )
        )
    return findings


def _hash_pins(
    dep: Dependency, report: DistributionReport
) -> tuple[dict[str, Any], Finding | None]:
    """Compare the requirement's ``--hash`` pins with the archive pip installed from."""
    if not dep.hashes:
        return {}, None
    pins: dict[str, set[str]] = {}
    for pin in dep.hashes:
        algorithm, _, value = pin.partition(":")
        pins.setdefault(algorithm.lower(), set()).add(value.lower())
    common = sorted(set(pins) & set(report.archive_hashes))
    if not common:
        reason = (
            "pip recorded no hash of the archive it installed from (an index install records "
            "none; only URL and file installs do, in direct_url.json)"
            if not report.archive_hashes
            else "pip recorded the archive's hash with another algorithm: "
            + ", ".join(sorted(report.archive_hashes))
        )
        return {"hash_pins": "undecided", "hash_pins_reason": reason}, None
    if any(report.archive_hashes[a] in pins[a] for a in common):
        return {"hash_pins": "match"}, None
    algorithm = common[0]
    finding = Finding(
        rule="MLS-DEP-034",
        severity=Severity.HIGH,
        category="integrity",
        title="installed archive does not match the requirement's --hash pins",
        location=Location(file=report.location, member="direct_url.json"),
        evidence=f"installed from {algorithm}:{report.archive_hashes[algorithm]}; pinned "
        + ", ".join(f"{algorithm}:{v}" for v in sorted(pins[algorithm])),
        why="the environment runs an archive other than the one the requirements vouch for",
        remediation=f"reinstall with pip install --require-hashes -r <requirements> so pip "
        f"refuses any other archive of {dep.name}",
        cwe="CWE-494",
    )
    return {"hash_pins": "mismatch"}, finding


def integrity_check(path: Sequence[str] | None = None) -> DependencyCheck:
    """The ``integrity`` check over the distributions on ``path`` (``sys.path`` when None).

    The registry uses the running interpreter's path; tests and tools bind their own
    directory (a ``pip install --target`` tree) without touching ``sys.path``.
    """
    installed = InstalledDistributions(path)

    def applies(dep: Dependency) -> bool:
        return installed.installed_as(dep) is not None

    def run(dep: Dependency, ctx: CheckContext) -> Outcome:
        dist = installed.installed_as(dep)
        if dist is None:
            # Planned, but gone by the time it ran (the environment changed mid-session).
            return Outcome(error=f"{dep.name}=={dep.version} is no longer installed here")
        report = verify(dist)
        facts: dict[str, Any] = {
            "installed": report.location,
            "files_verified": report.verified,
            "files_unhashed": report.unhashed,
        }
        if report.editable:
            # RECORD of an editable install lists its .pth, not the sources it points to.
            facts["editable"] = "sources outside site-packages are not covered by RECORD"
        pin_facts, pin_finding = _hash_pins(dep, report)
        facts.update(pin_facts)
        findings = _findings(dep, report)
        if pin_finding is not None:
            findings.append(pin_finding)
        return Outcome(findings=findings, facts=facts)

    return DependencyCheck(
        name="integrity",
        kind=RowKind.DEPENDENCY,
        summary="the installed distribution's files match its RECORD; no unlisted code beside them",
        run=run,
        applies=applies,
    )


CHECK = integrity_check()
