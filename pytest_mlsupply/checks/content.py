"""One read per file: content facts shared by every check that needs an artifact's bytes.

Checks never open artifact files themselves for whole-file work; they ask the cache, which
memoises per process what was computed: the digest (one streaming pass over the file), the
identified format (a bounded read of the head and, for zips, the central directory) and the
deep scan's report. The in-process key is the file's identity (device, inode, size, mtime and
ctime), so a file replaced mid-session is read again.

Given a :class:`~pytest_mlsupply.checks.content_store.ContentStore`, the cache also keeps these
facts between runs: a file whose identity has not changed since a previous run is served from
its signed entry (a ``stat``, one small JSON read and an HMAC) without being read again. Only
results without errors are stored (see the store's docstring for why an entry cannot turn a
finding into a pass).

Every fact is read through one open handle of the file (never by path twice), and kept only
when that handle's identity is the identity the entry is keyed by: a symlink or rename that swaps
the path between the look and the read makes an error result, never another file's facts.

The digest may have been started ahead of time (:meth:`ContentCache.prefetch`, on the thread
pool of :mod:`pytest_mlsupply.checks.hashing`): the check that needs it then waits for it, and
uses it only if the file's identity when it was read is the identity the check sees now.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import stat
import time
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.checks import hashing
from pytest_mlsupply.checks.content_store import ContentStore, FileIdentity
from pytest_mlsupply.engines.regular_file import NotARegularFile, open_regular

if TYPE_CHECKING:
    from pytest_mlsupply.engines.blob import ScanPolicy, ScanReport
    from pytest_mlsupply.engines.identification import Identification


#: A file smaller than this is not hashed ahead on the pool: its inline digest (tens of
#: microseconds) costs less than the pool's round trip (a future, a queue, a thread waking up
#: and handing the GIL back), which only pays off when there is a read worth overlapping.
#: Measured on 2 cores (CPython 3.11): a 16 KiB file hashes inline in ~50 us and through the
#: pool in ~110 us; from about 64 KiB the overlap with the scan wins.
PREFETCH_MIN_BYTES = 64 << 10


#: What :class:`FileContent` imports on its first identification and first deep scan (every
#: format engine comes with them): :func:`import_engines` imports the same ahead of time.
LAZY_ENGINES = ("pytest_mlsupply.engines.sniff", "pytest_mlsupply.engines.scanner")


def import_engines() -> None:
    """Import :data:`LAZY_ENGINES` now: a warm-up (:func:`hashing.warm_up`) for a session that
    will identify and scan files, done while the main thread waits for a digest anyway."""
    for name in LAZY_ENGINES:
        importlib.import_module(name)


@dataclass(frozen=True)
class HashTiming:
    """How long a file's digest took: the progress line of a large artifact."""

    path: Path
    size: int
    seconds: float


def _scan_key(subject: str, policy: ScanPolicy) -> str:
    """Findings name their subject and depend on the policy: a report is kept per both."""
    material = {"subject": subject, "policy": dataclasses.asdict(policy)}
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FileContent:
    path: Path
    size: int
    _sha256: str | None = field(default=None, repr=False)
    _identification: Identification | None = field(default=None, repr=False)
    _identity: FileIdentity | None = field(default=None, repr=False)
    _store: ContentStore | None = field(default=None, repr=False)
    _stored: dict[str, Any] = field(default_factory=dict, repr=False)
    """What the store holds (or will) for this file, as builtins."""
    _scans: dict[str, ScanReport] = field(default_factory=dict, repr=False)
    _seen_ns: int = field(default_factory=time.time_ns, repr=False)
    """When the file's identity was taken: every read of its bytes comes after."""
    _pending: Future[hashing.Digest] | None = field(default=None, repr=False)
    _timings: list[HashTiming] | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = self._prefetched()
            if digest is None:
                # Inline: raises OSError (vanished, EIO, changed mid-read): an error result.
                digest = hashing.sha256_file(self.path)
                # The digest is of the file the path led to when it was opened: another one
                # than this identity's (a symlink or rename swapped it) is never this file's.
                self._check_read(digest.identity)
            self._sha256 = digest.sha256
            if self._timings is not None:
                self._timings.append(HashTiming(self.path, self.size, digest.seconds))
            self._remember("sha256", self._sha256, digest.identity)
        return self._sha256

    def _prefetched(self) -> hashing.Digest | None:
        """The prefetched digest if it is of this very file, else None (hash inline)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        try:
            # The main thread would only sleep here: it does the session's warm-ups first.
            digest = hashing.result(pending)
        except (OSError, hashing.HashCancelled, CancelledError):
            # Read again inline: the error, if it persists, is reported exactly as without
            # a prefetch; a transient one or a cancelled prefetch costs one more read.
            return None
        if self._identity is None or digest.identity != self._identity.stat_identity:
            return None  # replaced between the prefetch and this check: these are other bytes
        if not self._settled(across_runs=False):
            # Written just before its identity was taken: a same-size write in the same clock
            # tick keeps the identity, so the pool may have read other bytes.
            return None
        return digest

    @property
    def identification(self) -> Identification:
        if self._identification is None:
            from pytest_mlsupply.engines.sniff import identify_open

            handle, before = open_regular(self.path)
            with handle:
                self._check_read(hashing.identity(before))
                self._identification = identify_open(handle, os.fspath(self.path))
                after = hashing.identity(os.fstat(handle.fileno()))
            self._remember("identification", self._identification.to_dict(), after)
        return self._identification

    def scan_report(self, subject: str, policy: ScanPolicy) -> ScanReport:
        """The deep scan of the file under ``policy``, its findings located at ``subject``."""
        key = _scan_key(subject, policy)
        report = self._scans.get(key)
        if report is not None:
            return report
        from pytest_mlsupply.engines.blob import ScanReport

        stored = self._stored.get("scans", {}).get(key)
        if stored is not None:
            try:
                report = ScanReport.from_dict(stored)
            except (ValueError, KeyError, TypeError, AttributeError):
                report = None  # unreadable: scanned again below
        if report is None:
            from pytest_mlsupply.engines.scanner import scan_open

            # One open: the scan reads only this handle (never the path again), and the
            # handle is the file whose identity keys the entry, checked before and after.
            handle, before = open_regular(self.path)
            with handle:
                self._check_read(hashing.identity(before))
                report = scan_open(handle, self.path, subject, policy)
                after = hashing.identity(os.fstat(handle.fileno()))
            if not report.errors and not report.looked_beside:
                # A report with an error is never kept: the next run tries again (fail closed).
                # Nor one whose findings depend on other files beside this one (a config's
                # module, a None.py, an ONNX model's external data): they change without this
                # file's identity changing.
                scans = dict(self._stored.get("scans", {}))
                scans[key] = report.to_dict()
                self._remember("scans", scans, after)
        self._scans[key] = report
        return report

    def _check_read(self, read: hashing.Identity) -> None:
        """Raise unless ``read`` (the ``fstat`` of the handle that was read) is this file's
        identity: the path led elsewhere when it was opened (fail closed: an error result)."""
        if self._identity is not None and read != self._identity.stat_identity:
            raise OSError(
                f"{self.path} was replaced (a symlink or rename) between the look at it and its "
                "read; run again once nothing moves it"
            )

    def _settled(self, *, across_runs: bool = True) -> bool:
        """Whether the file had stood still long enough when its identity was taken, by the
        clock of the file system that stamped it when the store can tell (see
        :meth:`ContentStore.clock_lag_ns`), else by ours."""
        if self._identity is None:
            return False
        lag = 0 if self._store is None else self._store.clock_lag_ns(self._identity.device)
        if lag is None:
            return False  # the file system's clock could not be read: keep nothing
        return self._identity.settled(self._seen_ns - lag, across_runs=across_runs)

    def _remember(self, name: str, value: object, read: hashing.Identity) -> None:
        """Keep a fact for later runs, if ``read`` — the identity of the handle it was computed
        from, after the read — is still this file's identity."""
        self._stored[name] = value
        if self._store is None or self._identity is None:
            return
        # Changed while it was read, read from another file than this identity's, or changed
        # too shortly before its identity was taken for a later write to be sure to move its
        # ctime: not kept.
        if read == self._identity.stat_identity and self._settled():
            self._store.save(self._identity, self._stored)

    def _restore(self, value: dict[str, Any]) -> None:
        """Take the facts of a verified store entry; any that does not parse is recomputed."""
        digest = value.get("sha256")
        if isinstance(digest, str) and len(digest) == 64:
            self._sha256 = digest
            self._stored["sha256"] = digest
        ident = value.get("identification")
        if isinstance(ident, dict):
            from pytest_mlsupply.engines.identification import Identification

            try:
                self._identification = Identification.from_dict(ident)
                self._stored["identification"] = ident
            except (ValueError, KeyError, TypeError):
                pass
        scans = value.get("scans")
        if isinstance(scans, dict):
            self._stored["scans"] = scans


class ContentCache:
    """Per-process content facts, backed by ``store`` between runs when one is given."""

    def __init__(self, store: ContentStore | None = None) -> None:
        self.store = store
        self._entries: dict[FileIdentity, FileContent] = {}
        self.timings: list[HashTiming] = []
        """Digests made since the caller last emptied the list (progress lines)."""

    def get(self, path: Path) -> FileContent:
        """Raises OSError when the file cannot be opened (the caller reports an error)."""
        seen_ns = time.time_ns()  # before the stat: "settled" is judged as of this moment
        st = os.stat(path)  # follows symlinks: the loader reads the target
        if not stat.S_ISREG(st.st_mode):
            # Opening a FIFO or a device blocks or never ends; no loader reads one as a model.
            raise NotARegularFile(
                f"{path} is not a regular file (mode {oct(st.st_mode)})", st.st_mode
            )
        identity = FileIdentity.of(path, st)
        entry = self._entries.get(identity)
        if entry is None:
            entry = FileContent(
                path=path, size=st.st_size, _identity=identity, _store=self.store, _seen_ns=seen_ns
            )
            entry._timings = self.timings
            if self.store is not None:
                stored = self.store.load(identity)
                if stored is not None:
                    entry._restore(stored)
            self._entries[identity] = entry
        return entry

    def prefetch(self, path: Path) -> None:
        """Start hashing ``path`` on the pool, unless its digest is known (this process or
        the store) or already started, or the file is smaller than :data:`PREFETCH_MIN_BYTES`
        (the check then hashes it inline, which is quicker).

        Never raises: a file that cannot be read (or is not a regular file) is left to the
        check that asks for it, which reports the error exactly as without a prefetch.
        """
        try:
            entry = self.get(path)
        except OSError:
            return
        if entry._sha256 is None and entry._pending is None and entry.size >= PREFETCH_MIN_BYTES:
            entry._pending = hashing.submit(path)
