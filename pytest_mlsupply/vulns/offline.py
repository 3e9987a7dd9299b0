"""``service: offline``: advisories from a local snapshot of OSV records, for air-gapped CI.

The snapshot is a directory of OSV JSON records (searched recursively) or OSV's PyPI export
zip (``all.zip`` of ``<id>.json``, from ``https://osv-vulnerabilities.storage.googleapis.com/
PyPI/all.zip``). It is read and indexed by canonical package name once per session (each
xdist worker has its own), on the first lookup; a warm run answered from the result cache
never reads it (only :attr:`state`).

Matching follows the OSV schema (https://ossf.github.io/osv-schema/):

- only ``affected[]`` entries whose ``package.ecosystem`` is ``PyPI`` and whose name is the
  asked one after PEP 503 normalisation;
- ``ranges`` of type ``ECOSYSTEM``, and ``SEMVER`` (semantic versions of the same package:
  they parse as PEP 440, and a bound that does not widens the range as below; ``GIT`` ranges
  name commits, whose releases the record lists in ``versions``; a type the schema does not
  define is read like ``ECOSYSTEM``): events sorted by PEP 440, ``introduced`` (``"0"`` = every earlier version) opens
  the range, ``fixed`` closes it at that version, ``last_affected`` just after it;
- explicit ``versions`` lists;
- ``withdrawn`` records are left out;
- records that alias each other (a GHSA and a PYSEC record of one CVE, linked through any
  shared id) are one advisory: its id is the PYSEC id when there is one, else the GHSA id,
  else the smallest id (stable whatever the file order), its ``fixed`` the union of theirs.

Failing closed:

- a record that is not valid JSON, or not shaped like an OSV record (no ``id``, ``affected``
  not a list, a range without events, ...), makes the whole database fail with the file's
  name: a snapshot with a broken record is never partly trusted;
- a snapshot with no record at all (a wrong path, a failed download) is an error, not a
  database that knows of no vulnerability;
- a range without an ``introduced`` event (the schema requires one) is read as opened at
  ``"0"``, not as affecting nothing;
- a range bound that is not a PEP 440 version widens the range instead of being skipped (an
  unparseable ``introduced`` counts as ``"0"``, an unparseable ``fixed`` or ``last_affected``
  as no end), so a version is never declared safe on a bound that cannot be compared; the
  advisory's details say so. Unparseable entries of an explicit ``versions`` list compare as
  text (they can only match a pin written the same way);
- an asked version that is not PEP 440 cannot be compared with any range: the lookup errors;
- an asked version with a local label (``2.5.1+cpu``, as PyTorch's wheels are named) is the
  build of its public release: it is affected when either it or the public release is.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_mlsupply.engines.budget import OverBudget
from pytest_mlsupply.engines.ziparchive import (
    ZipFormatError,
    ZipReadError,
    read_zip_directory,
    read_zip_member,
)
from pytest_mlsupply.vulns.model import Advisory, DatabaseError, Rating
from pytest_mlsupply.vulns.severity import rating_from_osv, worst

__all__ = ["OfflineDatabase"]

#: Bumped when the matching rules change, so cached answers of older rules are not reused.
MATCHER_VERSION = "7"

_ZERO = Version("0")

# One OSV record is a few kB (the largest PyPI ones list every release: ~200 kB); a member
# past these bounds is not a record but a decompression bomb.
_RECORD_LIMIT = 16 << 20
_RECORD_RATIO = 1000.0


@functools.lru_cache(maxsize=1 << 16)
def _version(text: str) -> Version:
    """PEP 440 parsing, memoised: OSV records repeat the same versions in every record of a
    package (a PYSEC record lists each affected release), and parsing is the matcher's main
    cost."""
    try:
        return Version(text)
    except InvalidVersion:
        raise
    except ValueError as exc:
        # A release number past Python's 4,300-digit int conversion limit: not a version any
        # index serves, so it compares like any other text that is not PEP 440.
        raise InvalidVersion(f"{text[:40]!r}...: {exc}") from None


@dataclass
class _Record:
    """One OSV record, kept as parsed JSON, with the file it came from."""

    data: dict[str, Any]
    origin: str
    id: str = field(init=False)
    ids: frozenset[str] = field(init=False)
    """The record's id and its aliases."""
    _ratings: dict[str, Rating] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.id = str(self.data["id"])
        self.ids = frozenset({self.id, *(str(a) for a in self.data.get("aliases") or ())})

    def rating(self, package: str) -> Rating:
        """The record's rating for ``package`` (scoring a CVSS vector is not cheap: once)."""
        rating = self._ratings.get(package)
        if rating is None:
            rating = self._ratings[package] = rating_from_osv(self.data, package)
        return rating


@dataclass
class _Range:
    """One ECOSYSTEM range as sorted, parsed events, plus what could not be parsed."""

    events: list[tuple[Version, str]]
    problems: list[str] = field(default_factory=list)

    def contains(self, version: Version) -> bool:
        # The OSV schema's evaluation: walk the events in version order; the last event at or
        # below the version decides.
        affected = False
        for at, kind in self.events:
            if kind == "introduced":
                if version >= at:
                    affected = True
            elif kind == "fixed":
                if version >= at:
                    affected = False
            elif kind == "last_affected" and version > at:
                affected = False
        return affected


@dataclass
class _Affected:
    """What one record says about one package: its ranges, versions and fixes."""

    record: _Record
    ranges: list[_Range]
    versions: set[Version]
    versions_text: set[str]
    fixed: set[Version]

    def contains(self, version: Version, text: str) -> bool:
        if version in self.versions or text in self.versions_text:
            return True
        return any(r.contains(version) for r in self.ranges)

    @property
    def problems(self) -> list[str]:
        return [p for r in self.ranges for p in r.problems]


class OfflineDatabase:
    """The :class:`~pytest_mlsupply.vulns.model.Database` over a local OSV snapshot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: str | None = None
        self._index: dict[str, list[_Record]] | None = None
        self._failure: DatabaseError | None = None
        self._compiled: dict[str, list[_Affected]] = {}
        self._merged: dict[frozenset[int], Advisory] = {}
        self._lock = threading.Lock()

    # -- the Database protocol -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The snapshot's digest, for the result cache's key.

        A zip is hashed whole (SHA-256 of its bytes: tens of milliseconds for OSV's PyPI
        export). A directory is not read: its digest covers every record file's relative path,
        size, inode, modification and change time. Rewriting a record changes its ctime,
        which no tool can set back (``touch -r`` and ``rsync -t`` restore only the mtime), so
        every content change is seen; a metadata-only change (``chmod``, a fresh copy) also
        changes the digest, which costs one cold run and nothing else.
        """
        if self._state is None:
            digest = hashlib.sha256(f"osv-offline-v{MATCHER_VERSION}\0".encode())
            try:
                if self.path.is_file():
                    with self.path.open("rb") as handle:
                        for block in iter(lambda: handle.read(1 << 20), b""):
                            digest.update(block)
                else:
                    lines = [
                        f"{rel}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n"
                        for rel, st in _record_files(self.path)
                        if st is not None
                    ]
                    lines.sort()
                    digest.update("".join(lines).encode())
            except OSError as exc:
                raise DatabaseError(self._unreadable(exc)) from exc
            self._state = f"offline:{digest.hexdigest()[:32]}"
        return self._state

    def lookup(self, package: str, version: str) -> list[Advisory]:
        name = canonicalize_name(package)
        try:
            asked = _version(version)
        except InvalidVersion:
            raise DatabaseError(
                f"{package}=={version}: {version!r} is not a PEP 440 version, so it cannot be "
                f"compared with the version ranges of the advisories in {self.path}; pin a "
                "release by its PEP 440 version to have it audited"
            ) from None
        # A local version label (``2.5.1+cpu``) is a build of its public release: PEP 440
        # sorts it after the release, so on its own it would escape ``last_affected: 2.5.1``
        # and ``versions: [2.5.1]``. It is affected when either spelling is.
        public = _version(asked.public) if asked.local is not None else asked
        matches = [
            a
            for a in self._affected(name)
            if a.contains(asked, version)
            or (public is not asked and a.contains(public, str(public)))
        ]
        return _merge(
            matches, name, version, source=f"offline:{self.path.name}", merged=self._merged
        )

    # -- indexing ------------------------------------------------------------------------------

    def _records(self) -> dict[str, list[_Record]]:
        with self._lock:
            if self._failure is not None:
                # A broken snapshot stays broken for the session: every item reports the same
                # error without reading the records again.
                raise DatabaseError(str(self._failure))
            if self._index is None:
                try:
                    self._index = self._build_index()
                except DatabaseError as exc:
                    self._failure = exc
                    raise
            return self._index

    def _build_index(self) -> dict[str, list[_Record]]:
        index: dict[str, list[_Record]] = {}
        count = 0
        for record in self._read_all():
            count += 1
            if record.data.get("withdrawn"):
                continue
            for name in _pypi_names(record):
                bucket = index.setdefault(name, [])
                if not bucket or bucket[-1] is not record:
                    bucket.append(record)
        if not count:
            # An empty snapshot would clear every dependency: it is a wrong path or a
            # failed download, not a database that knows of no vulnerability.
            raise DatabaseError(
                f"the offline vulnerability snapshot {self.path} holds no OSV records "
                "(*.json); point `vulnerabilities.path` at the unpacked records or at "
                "OSV's PyPI all.zip"
            )
        return index

    def _read_all(self) -> Iterator[_Record]:
        try:
            if self.path.is_file():
                yield from self._read_zip()
            elif self.path.is_dir():
                root = str(self.path)
                for rel in sorted(rel for rel, _ in _record_files(self.path, stat=False)):
                    origin = os.path.join(root, rel)
                    with open(origin, "rb") as handle:
                        yield _parse(handle.read(), origin)
            else:
                raise DatabaseError(
                    f"the offline vulnerability snapshot {self.path} does not exist; point "
                    "`vulnerabilities.path` at a directory of OSV records or OSV's PyPI all.zip"
                )
        except OSError as exc:
            raise DatabaseError(self._unreadable(exc)) from exc

    def _read_zip(self) -> Iterator[_Record]:
        # Read by the project's one zip reader (engines/ziparchive.py), bounded per member.
        with self.path.open("rb") as fh:
            try:
                directory = read_zip_directory(fh, self.path.stat().st_size, local_headers=False)
            except ZipFormatError as exc:
                raise DatabaseError(
                    f"{self.path} is neither a directory nor a readable zip ({exc}); download "
                    "OSV's PyPI export again (https://osv-vulnerabilities.storage.googleapis.com/"
                    "PyPI/all.zip) or unpack the records into a directory"
                ) from exc
            for entry in sorted(directory.entries, key=lambda e: e.name):
                if entry.is_dir or not entry.name.endswith(".json"):
                    continue
                try:
                    data = read_zip_member(
                        fh,
                        entry,
                        limit=_RECORD_LIMIT,
                        max_ratio=_RECORD_RATIO,
                        file_size=directory.file_size,
                    )
                except (ZipReadError, OverBudget, OSError) as exc:
                    raise DatabaseError(
                        f"{self.path}:{entry.name}: cannot be read ({exc}); download the "
                        "snapshot again"
                    ) from exc
                yield _parse(data, f"{self.path}:{entry.name}")

    def _unreadable(self, exc: OSError) -> str:
        where = exc.filename or self.path
        return (
            f"cannot read the offline vulnerability snapshot ({exc.strerror or exc}: {where}); "
            "check `vulnerabilities.path` and the files' permissions"
        )

    def _affected(self, name: str) -> list[_Affected]:
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = [
                _compile(record, entry)
                for record in self._records().get(name, ())
                for entry in _entries_for(record, name)
            ]
            self._compiled[name] = compiled
        return compiled


# -- reading records ---------------------------------------------------------------------------


def _record_files(root: Path, *, stat: bool = True) -> Iterator[tuple[str, os.stat_result | None]]:
    """(relative path, stat) of every ``*.json`` file under ``root``; hidden entries skipped."""
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = prefix + entry.name
                if entry.is_dir():
                    stack.append((Path(entry.path), rel + "/"))
                elif entry.name.endswith(".json") and entry.is_file():
                    yield rel, entry.stat() if stat else None


def _parse(raw: bytes, origin: str) -> _Record:
    def bad(why: str) -> DatabaseError:
        return DatabaseError(
            f"{origin}: not a valid OSV record: {why}; fix or remove the file, or download the "
            "snapshot again (a snapshot with a broken record is not used at all)"
        )

    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad(f"invalid JSON ({exc})") from None
    except RecursionError:
        raise bad("JSON nested too deeply to parse") from None
    if not isinstance(data, dict):
        raise bad(f"the top level is a {type(data).__name__}, not an object")
    if not isinstance(data.get("id"), str) or not data["id"]:
        raise bad("it has no `id`")
    for key in ("aliases", "affected", "severity", "references"):
        if key in data and data[key] is not None and not isinstance(data[key], list):
            raise bad(f"`{key}` is not a list")
    for i, entry in enumerate(data.get("affected") or ()):
        where = f"affected[{i}]"
        if not isinstance(entry, dict):
            raise bad(f"`{where}` is not an object")
        package = entry.get("package")
        if package is not None and not (
            isinstance(package, dict)
            and isinstance(package.get("ecosystem"), str)
            and isinstance(package.get("name"), str)
        ):
            raise bad(f"`{where}.package` needs string `ecosystem` and `name`")
        if not isinstance(entry.get("versions", []), list):
            raise bad(f"`{where}.versions` is not a list")
        ranges = entry.get("ranges", [])
        if not isinstance(ranges, list):
            raise bad(f"`{where}.ranges` is not a list")
        for j, rng in enumerate(ranges):
            events = rng.get("events") if isinstance(rng, dict) else None
            if not isinstance(events, list) or not events:
                raise bad(f"`{where}.ranges[{j}]` has no `events` list")
            for k, event in enumerate(events):
                if not (
                    isinstance(event, dict)
                    and len(event) == 1
                    and all(isinstance(v, str) for v in event.values())
                ):
                    raise bad(
                        f"`{where}.ranges[{j}].events[{k}]` is not one "
                        "{introduced|fixed|last_affected|limit: <version>}"
                    )
    return _Record(data, origin)


def _pypi_entries(record: _Record) -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in record.data.get("affected") or ():
        package = entry.get("package")
        if package and package["ecosystem"] == "PyPI":
            yield canonicalize_name(package["name"]), entry


def _pypi_names(record: _Record) -> Iterable[str]:
    return dict.fromkeys(name for name, _ in _pypi_entries(record))


def _entries_for(record: _Record, name: str) -> Iterator[dict[str, Any]]:
    return (entry for entry_name, entry in _pypi_entries(record) if entry_name == name)


def _compile(record: _Record, entry: dict[str, Any]) -> _Affected:
    ranges: list[_Range] = []
    fixed: set[Version] = set()
    for rng in entry.get("ranges") or ():
        kind_of_range = rng.get("type")
        if kind_of_range == "GIT":
            continue  # GIT ranges name commits; their releases come as `versions`
        compiled = _Range(events=[])
        if kind_of_range not in ("ECOSYSTEM", "SEMVER"):
            # Not a type the schema defines: its bounds are still read as versions, so it
            # cannot hide an affected release.
            compiled.problems.append(
                f"{record.origin}: a range of unknown type {kind_of_range!r} (read as ECOSYSTEM)"
            )
        for event in rng["events"]:
            ((kind, text),) = event.items()
            if kind not in ("introduced", "fixed", "last_affected"):
                continue  # `limit` bounds GIT ranges; it does not apply to ECOSYSTEM ones
            try:
                at = _ZERO if kind == "introduced" and text == "0" else _version(text)
            except InvalidVersion:
                compiled.problems.append(
                    f"{record.origin}: {kind} {text!r} is not a PEP 440 version"
                    + (" (read as 0)" if kind == "introduced" else " (read as no end)")
                )
                if kind == "introduced":
                    compiled.events.append((_ZERO, kind))
                continue
            compiled.events.append((at, kind))
            if kind == "fixed":
                fixed.add(at)
        if not any(kind == "introduced" for _, kind in compiled.events):
            # The schema requires an `introduced` event; a range without one still says the
            # versions below its bound are affected: read as opened at 0, not as empty.
            compiled.problems.append(
                f"{record.origin}: a {kind_of_range} range has no `introduced` event (read as 0)"
            )
            compiled.events.append((_ZERO, "introduced"))
        # Ties: an `introduced` at a version opens the range before a bound at it closes it.
        compiled.events.sort(key=lambda e: (e[0], e[1] != "introduced"))
        ranges.append(compiled)
    versions: set[Version] = set()
    versions_text: set[str] = set()
    for text in entry.get("versions") or ():
        try:
            versions.add(_version(str(text)))
        except InvalidVersion:
            versions_text.add(str(text))
    return _Affected(record, ranges, versions, versions_text, fixed)


# -- merging aliases ---------------------------------------------------------------------------


def _primary(ids: Iterable[str]) -> str:
    """A stable choice among one vulnerability's ids: PYSEC, then GHSA, then the smallest."""

    def rank(identifier: str) -> tuple[int, str]:
        order = {"PYSEC": 0, "GHSA": 1}
        return (order.get(identifier.split("-", 1)[0], 2), identifier)

    return min(ids, key=rank)


def _merge(
    matches: list[_Affected],
    name: str,
    version: str,
    *,
    source: str,
    merged: dict[frozenset[int], Advisory],
) -> list[Advisory]:
    # Group the matching records by shared ids (union-find over id and aliases), so a GHSA
    # record and a PYSEC record of one CVE become one advisory even when only their CVE links
    # them.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for match in matches:
        ids = sorted(match.record.ids)
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    groups: dict[str, list[_Affected]] = {}
    for match in matches:
        groups.setdefault(find(match.record.id), []).append(match)

    advisories = []
    for group in groups.values():
        # The same records merge to the same advisory whatever version matched them (the pin,
        # an upgrade candidate, another pin of the package): built once, then re-addressed.
        key = frozenset(id(m) for m in group)
        known = merged.get(key)
        if known is None:
            known = merged[key] = _advisory(group, name, source)
        advisories.append(dataclasses.replace(known, version=version))
    return sorted(advisories, key=lambda a: a.id)


def _advisory(group: list[_Affected], name: str, source: str) -> Advisory:
    """One advisory from the matching entries of records that alias each other."""
    records = {id(m.record): m.record for m in group}.values()
    all_ids = set().union(*(r.ids for r in records))
    record_ids = {r.id for r in records}
    primary = _primary(record_ids)
    main = next(r for r in records if r.id == primary)
    others = sorted((r for r in records if r is not main), key=lambda r: r.id)
    fixed = sorted(set().union(*(m.fixed for m in group)))
    problems = [p for m in group for p in m.problems]
    details = _text(main, others, "details")
    if problems:
        details = (details + "\n\n" if details else "") + (
            "Treated as affecting because a range cannot be read exactly: " + "; ".join(problems)
        )
    return Advisory(
        id=primary,
        package=name,
        version="",
        aliases=tuple(sorted(all_ids - {primary})),
        summary=_text(main, others, "summary"),
        details=details,
        fixed=tuple(str(v) for v in fixed),
        rating=worst(r.rating(name) for r in records),
        source=source,
        url=_url(main) or next((u for r in others if (u := _url(r))), None),
        published=min(_dates(records, "published"), default=None),
        modified=max(_dates(records, "modified"), default=None),
    )


def _text(main: _Record, others: Iterable[_Record], key: str) -> str:
    for record in (main, *others):
        value = record.data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _url(record: _Record) -> str | None:
    refs = [r for r in record.data.get("references") or () if isinstance(r, dict)]
    for wanted in ("ADVISORY", "WEB", None):
        for ref in refs:
            if (wanted is None or ref.get("type") == wanted) and isinstance(ref.get("url"), str):
                return str(ref["url"])
    return None


def _dates(records: Iterable[_Record], key: str) -> Iterator[str]:
    return (str(r.data[key]) for r in records if isinstance(r.data.get(key), str))
