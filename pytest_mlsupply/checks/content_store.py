"""The content cache: what was learnt from a file's bytes, kept between runs.

A re-run with nothing changed should cost a ``stat`` per file, not a read of every byte. This
store keeps, per file, what :class:`~pytest_mlsupply.checks.content.FileContent` computed from
its bytes: the SHA-256, the identification, and the deep scan's report (findings, errors and
formats, one per scan policy and subject). Never a verdict: the policy of the run that reads
an entry decides what its findings mean.

Keyed by the identity of the file actually read (``os.stat`` follows symlinks, as loaders do):
its path, device, inode, size, ``mtime_ns`` and ``ctime_ns``, and for a Hugging Face cache
blob (``.../blobs/<64 hex>``) the Hub's SHA-256 (the blob's name). Invalidated by the scanner
itself: entries live under a fingerprint of the package's version and of every source and data
file of the package, of the Python version and of the installed libraries the engines parse with
(:func:`scanner_fingerprint`), so a changed rule, allowlist, engine or parser starts a fresh
folder (the fingerprint is remembered in the folder against the package files' identities, as
an entry is against its file's: :meth:`ContentStore._fingerprint`). A scan report is further keyed by the scan policy (pickle mode, allowed
globals, limits) and the subject it names, because its findings depend on both.

Where: a folder the caller gives, in practice pytest's cache directory
(``.pytest_cache/d/mlsupply-content/``) so that ``--cache-clear`` empties it and ``-p
no:cacheprovider`` runs cold; ``mlsupply scan`` uses the same folder
(:func:`cli_store_folder`). Layout: ``<fingerprint>/<key digest>.json``, one small JSON file
per file identity.

Trusting only its own entries: the folder sits in the project tree, which whoever can commit to
the project controls. Every entry carries an HMAC-SHA256 of its key and value under the user's
secret (:func:`pytest_mlsupply.user_secret.user_key`); one whose MAC does not verify, whose key
is not the key asked for, or that does not parse is ignored (and rewritten by the next
computation). What a cached entry cannot do is turn a finding into a pass:

* results with an error (a file that could not be read or parsed, a budget exceeded) are not
  stored: they are recomputed on every run (fail closed);
* an entry is stored only when the identity of the open handle its facts were read from
  (``fstat``, before and after the read) is the entry's identity: every read of a file goes
  through one handle (:mod:`pytest_mlsupply.engines.regular_file`), so a path swapped while the
  checks ran cannot key one file's facts by another's identity; a file changed while it was
  read is not cached either; and only when its ``ctime`` was older than
  :data:`RACY_NS` (:data:`COARSE_RACY_NS` when it is in whole seconds) when that identity was taken, before any read (a write within the file
  system's timestamp granularity of an earlier one could otherwise leave the same identity on
  different bytes: the "racy git" problem);
* a ``write`` to the file changes its ``ctime``, which no user can set back (``os.utime``
  restores ``mtime`` and itself moves ``ctime``). A write through a shared writable memory
  mapping moves it only when it makes a clean page dirty: further writes to a page already
  dirty leave the identity as it was until the kernel writes the page back (then the page is
  write-protected again and the next write stamps the file). So a file is trusted only once its
  last change is older than the kernel's whole dirty-page lifetime
  (:func:`mapped_write_window_ns`: ``vm.dirty_expire_centisecs`` plus
  ``vm.dirty_writeback_centisecs``, doubled, plus 10 s: 80 s by default), and never on a file
  system that never writes pages back (tmpfs, ramfs) or when write-back is off.
  ``MLSUPPLY_CACHE_SETTLE_SECONDS`` replaces that window (the test suite sets it; lowering it
  re-opens the mapped-write hole for files changed within it).

Shared by xdist workers: an entry is written to a temporary file and renamed into place, so a
reader sees an old entry or a new one, never half of one. A write merges its facts into the
entry under a lock (one of 16 per folder), since one worker may have hashed a file that another
scanned. A folder that cannot be written (a read-only checkout) only costs speed. Bounded: once per process, on the first write, entries not used for
:data:`PRUNE_AFTER_SECONDS` are removed, and so are fingerprint folders (older versions of the
scanner) not written to for :data:`STALE_FINGERPRINT_SECONDS`; a hit refreshes its entry's
``mtime`` at most once a day.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlsupply import __version__
from pytest_mlsupply.redaction import redact_json
from pytest_mlsupply.reports.atomic import write_private
from pytest_mlsupply.user_secret import user_key

__all__ = [
    "FOLDER_NAME",
    "ContentStore",
    "FileIdentity",
    "cli_store_folder",
    "scanner_fingerprint",
]

#: The folder's name under pytest's cache directory (``config.cache.mkdir``).
FOLDER_NAME = "mlsupply-content"
#: The entry layout; bumped when what an entry holds changes shape.
FORMAT = 1
#: An entry not read or written for this long is removed.
PRUNE_AFTER_SECONDS = 30 * 24 * 3600
#: A folder of another scanner fingerprint not written to for this long is removed.
STALE_FINGERPRINT_SECONDS = 7 * 24 * 3600
#: A hit refreshes its entry's mtime (its "last used") when it is older than this.
TOUCH_AFTER_SECONDS = 24 * 3600
#: A file changed less than this long before it was read is not cached: file systems stamp
#: ``ctime`` from a coarse clock (a kernel tick), so a second write within the same tick as
#: the read could keep the identity and change the bytes.
RACY_NS = 100_000_000
#: The same, for a ``ctime`` in whole seconds: a file system that stamps whole seconds (ext3,
#: HFS+, NFSv3) or two (FAT) keeps a file's identity through every write of that second.
COARSE_RACY_NS = 2_100_000_000

#: Overrides :func:`mapped_write_window_ns` with a number of seconds (see the module docstring).
SETTLE_ENV = "MLSUPPLY_CACHE_SETTLE_SECONDS"
#: File systems whose pages are never written back: a write through a mapping of a page once
#: dirty never stamps the file again, however old it is.
NO_WRITEBACK_FS = frozenset({"tmpfs", "ramfs", "hugetlbfs", "devtmpfs"})
#: The kernel's defaults (30 s expiry, 5 s flusher period) when /proc/sys/vm cannot be read.
_DEFAULT_DIRTY_CENTISECS = (3000, 500)

#: Lock files per fingerprint folder (see :meth:`ContentStore._lock_path`).
LOCK_BUCKETS = 16
#: A writer waits this long for another one merging into an entry, then skips its write.
LOCK_TIMEOUT_SECONDS = 10.0

#: Libraries whose parsing decides scan findings (archives, compressors, YAML, templates,
#: safetensors headers): an upgrade of one starts a fresh folder, as a change of ours does.
SCAN_LIBRARIES = ("jinja2", "lz4", "py7zr", "safetensors", "yaml", "zstandard")

_HUB_BLOB = re.compile(r"[0-9a-f]{64}")
#: What the store itself makes in its folders: only these are ever pruned.
_FINGERPRINT_FOLDER = re.compile(r"[0-9a-f]{32}")
_ENTRY_FILE = re.compile(r"(?:[0-9a-f]{40}|\.tmp-[A-Za-z0-9_]+)\.json")


#: The package whose source and data files are the scanner (a module attribute: the tests
#: point it at a copy they change).
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: The remembered fingerprint, in the store's folder (see :meth:`ContentStore._fingerprint`).
SCANNER_MEMO = "scanner.json"


def _environment() -> hashlib._Hash:
    """The package's version, the interpreter and the parsing libraries, digested."""
    digest = hashlib.sha256(__version__.encode())
    # The interpreter (its pickletools, tarfile, zipfile, ast) and the installed libraries the
    # engines parse with: which files they are, not imported (a find_spec and a stat each).
    digest.update(f"{sys.version}\0{sys.platform}\0".encode())
    for name in SCAN_LIBRARIES:
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            st = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            origin, st = None, None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) if st else None
        digest.update(f"{name}\0{origin}\0{stamp}\0".encode())
    return digest


@functools.cache
def scanner_fingerprint() -> str:
    """The package's version and a digest of all its source and data files, once per process.

    Any change to a rule, an allowlist, a format engine or a data file moves every entry to a
    new folder: an old scanner's "no finding" is never served to a new one. Hashing the
    package (about 2 MiB) costs a few milliseconds per process; a store remembers it against
    the files' identities (:meth:`ContentStore._fingerprint`).
    """
    return _hash_scanner()


def _hash_scanner() -> str:
    digest = _environment()
    for relative_name, full in _scanner_files():
        encoded = relative_name.encode()
        with open(full, "rb") as handle:
            data = handle.read()
        digest.update(b"%d:%s%d:" % (len(encoded), encoded, len(data)))
        digest.update(data)
    return digest.hexdigest()


def scanner_stamps() -> tuple[str, bool]:
    """A digest of what :func:`scanner_fingerprint` hashes, by identity instead of content:
    the environment and every package file's path, device, inode, size, ``mtime_ns`` and
    ``ctime_ns``; and whether every file is settled (:meth:`FileIdentity.settled`), so that a
    write after this moment must move its identity. A ``stat`` per file, no read."""
    digest = _environment()
    settled = True
    now = time.time_ns()
    for relative_name, full in _scanner_files():
        st = os.stat(full)
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        # Plain tuples and strings: a FileIdentity per file (its path resolved, a Hub blob
        # looked for) would cost more than the hash this replaces.
        settled = settled and FileIdentity(full, *stamp, hub_sha256=None).settled(now)
        digest.update(f"{relative_name}\0{full}\0{stamp}\0".encode())
    return digest.hexdigest(), settled


def _scanner_files() -> list[tuple[str, str]]:
    """(name relative to the package, full path) of every source and data file, sorted."""
    # os.walk and plain strings, not Path.rglob: this runs in every gate session, and pathlib's
    # per-file objects cost more than reading the files.
    root = PACKAGE_ROOT
    files: list[tuple[str, str]] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        relative_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in names:
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(folder, name)
            if not os.path.isfile(full):
                continue
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            files.append((relative, full))
    return sorted(files)


@dataclass(frozen=True)
class FileIdentity:
    """Which bytes a result was computed from, as far as the file system can tell."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    hub_sha256: str | None
    """The Hub's SHA-256 when the file read is a Hugging Face cache blob (its name)."""

    @classmethod
    def of(cls, path: Path, st: os.stat_result) -> FileIdentity:
        """The identity of ``path`` given its ``os.stat`` (symlinks followed)."""
        absolute = os.path.abspath(path)
        hub: str | None = None
        if os.path.islink(absolute) or "blobs" in absolute:
            # The Hub's cache links snapshots/<commit>/<name> to blobs/<sha256 of an LFS file>.
            real = os.path.realpath(absolute)
            parent, name = os.path.split(real)
            if os.path.basename(parent) == "blobs" and _HUB_BLOB.fullmatch(name):
                hub = name
        return cls(
            path=absolute,
            device=st.st_dev,
            inode=st.st_ino,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
            hub_sha256=hub,
        )

    @property
    def stat_identity(self) -> tuple[int, int, int, int, int]:
        """(device, inode, size, mtime_ns, ctime_ns): what :mod:`~pytest_mlsupply.checks.hashing`
        records around each read, to tell whether a digest is of these very bytes."""
        return (self.device, self.inode, self.size, self.mtime_ns, self.ctime_ns)

    def to_key(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "device": self.device,
            "inode": self.inode,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "ctime_ns": self.ctime_ns,
            "hub_sha256": self.hub_sha256,
        }

    def settled(self, now_ns: int | None = None, *, across_runs: bool = True) -> bool:
        """Whether the file was last changed long enough before ``now_ns`` (when its identity
        was taken, before any read) that a write after that moment must move its ctime.

        ``across_runs=False`` asks only about writes within the file system's clock tick, for
        facts used within this session (a prefetched digest): a process writing through a
        mapping can make any two reads of one session differ anyway, the scan's and the
        digest's included; what must not happen is that such bytes are served to a later run.
        """
        mapped = mapped_write_window_ns(self.device) if across_runs else 0
        if mapped is None:
            return False  # pages never written back: a mapped write may never stamp the file
        now = time.time_ns() if now_ns is None else now_ns
        # A ctime in whole seconds: the file system's stamps are that coarse (no user can set
        # ctime; on a fine one this is one file in a billion, which only costs a re-read).
        window = RACY_NS if self.ctime_ns % 1_000_000_000 else COARSE_RACY_NS
        return now - max(self.ctime_ns, self.mtime_ns) >= max(window, mapped)


def mapped_write_window_ns(device: int) -> int | None:
    """How long after its last change a file on ``device`` can still be written through a
    memory mapping without its identity moving; None when that may last for ever.

    ``$MLSUPPLY_CACHE_SETTLE_SECONDS`` when set (any file system). Else None on a file system
    that never writes pages back (:data:`NO_WRITEBACK_FS`) or with write-back off
    (``vm.dirty_writeback_centisecs = 0``), and otherwise twice the kernel's dirty-page lifetime
    (expiry plus the flusher's period) plus 10 s: by then every page dirtied at the last stamp
    has been written back and write-protected, so the next write through any mapping faults and
    stamps the file.
    """
    override = settle_override_ns()
    if override is not None:
        return override
    if _filesystem_type(device) in NO_WRITEBACK_FS:
        return None
    expire, period = _dirty_centisecs()
    if period <= 0:
        return None
    return (2 * (expire + period) * 10 + 10_000) * 1_000_000


def settle_override_ns() -> int | None:
    """``$MLSUPPLY_CACHE_SETTLE_SECONDS`` in nanoseconds, None when unset; ValueError when it
    is not a number of seconds (the plugin and the CLI check it before anything runs)."""
    override = os.environ.get(SETTLE_ENV, "").strip()
    if not override:
        return None
    try:
        seconds = float(override)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 10**9:  # also NaN and inf
        raise ValueError(
            f"${SETTLE_ENV} = {override!r} is not a number of seconds; write e.g. "
            f"{SETTLE_ENV}=80, or unset it"
        )
    return int(seconds * 1_000_000_000)


@functools.cache
def _dirty_centisecs() -> tuple[int, int]:
    values = []
    for name, default in zip(
        ("dirty_expire_centisecs", "dirty_writeback_centisecs"),
        _DEFAULT_DIRTY_CENTISECS,
        strict=True,
    ):
        try:
            values.append(int(Path("/proc/sys/vm", name).read_text().strip()))
        except (OSError, ValueError):
            values.append(default)
    return (values[0], values[1])


@functools.cache
def _filesystem_type(device: int) -> str | None:
    """The type of the file system mounted from ``device`` (``/proc/self/mountinfo``), if known."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[2] == wanted and " - " in line:
            return line.split(" - ", 1)[1].split()[0]
    return None


def cli_store_folder(start: Path, cache_dir: Path | None = None) -> Path:
    """The content cache folder for ``mlsupply scan`` run from ``start``.

    ``cache_dir`` (``mlsupply scan --cache-dir``) when given. Else the folder the pytest plugin
    uses: when a pytest configuration file is found from ``start`` the way pytest finds it
    (``pytest.ini``, ``.pytest.ini``, ``pyproject.toml``'s ``[tool.pytest.ini_options]``,
    ``tox.ini``'s ``[pytest]``, ``setup.cfg``'s ``[tool:pytest]``), its ``cache_dir`` resolved as
    pytest resolves it (``~`` and ``$VARS`` expanded, relative to the rootdir), or pytest's
    default ``.pytest_cache`` in that rootdir; with no configuration file, the nearest ancestor
    of ``start`` that holds a ``.pytest_cache`` directory (else ``start`` itself).
    """
    if cache_dir is not None:
        return cache_dir.absolute() / "d" / FOLDER_NAME
    start = start.resolve()
    configured = _pytest_cache_dir(start)
    if configured is not None:
        return configured / "d" / FOLDER_NAME
    for folder in (start, *start.parents):
        if (folder / ".pytest_cache").is_dir():
            return folder / ".pytest_cache" / "d" / FOLDER_NAME
    return start / ".pytest_cache" / "d" / FOLDER_NAME


def _pytest_cache_dir(start: Path) -> Path | None:
    """pytest's cache directory for a run from ``start`` when a configuration file decides it.

    The one adapter over pytest's private ``determine_setup`` (the function pytest itself calls
    to find its rootdir and configuration), so the CLI cannot disagree with pytest about which
    file wins; None when no file is found, or pytest's internals are not as expected.
    """
    import inspect

    try:
        from _pytest.config.findpaths import determine_setup
        from _pytest.pathlib import resolve_from_str

        offered: dict[str, Any] = {
            "inifile": None,
            "override_ini": None,
            "args": [],
            "rootdir_cmd_arg": None,
            "invocation_dir": start,
        }
        accepted = inspect.signature(determine_setup).parameters
        rootdir, inipath, inicfg, *_ = determine_setup(
            **{k: v for k, v in offered.items() if k in accepted}
        )
        if inipath is None:
            return None
        raw = inicfg.get("cache_dir")
        value = getattr(raw, "value", raw)  # pytest 9 wraps values in ConfigValue
        if not isinstance(value, str):
            # pytest's default (its cacheprovider's ``addini``), inside tox's env dir under tox.
            value = os.path.join(os.environ.get("TOX_ENV_DIR", ""), ".pytest_cache")
        return Path(resolve_from_str(value, Path(rootdir)))
    except Exception:  # a pytest that moved its internals, a broken config: the fallback
        return None


def _ensure_pytest_cache(folder: Path) -> None:
    """Create the cache directory the way pytest does: ignored by git, tagged as a cache."""
    cache_dir = folder.parent.parent
    if cache_dir.exists():
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / ".gitignore").write_text("# Created by pytest-mlsupply automatically.\n*\n")
    (cache_dir / "CACHEDIR.TAG").write_bytes(
        b"Signature: 8a477f597d28d172789f06886806bc55\n"
        b"# This file is a cache directory tag created by pytest-mlsupply.\n"
    )


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Both entries' facts (about the same bytes); scan reports are merged per policy."""
    merged = {**old, **new}
    old_scans, new_scans = old.get("scans"), new.get("scans")
    if isinstance(old_scans, dict) and isinstance(new_scans, dict):
        merged["scans"] = {**old_scans, **new_scans}
    return merged


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class ContentStore:
    """Signed per-file entries under ``folder`` (see the module docstring).

    ``hits``, ``misses`` and ``writes`` count this process's lookups and stores: the summary
    and the tests read them.
    """

    def __init__(
        self,
        folder: Path,
        *,
        secret: bytes | None = None,
        fingerprint: str | None = None,
        create_pytest_cache: bool = False,
    ) -> None:
        self.root = folder
        self._secret = secret if secret is not None else user_key()
        self.fingerprint = fingerprint if fingerprint is not None else self._fingerprint()
        self.folder = folder / self.fingerprint[:32]
        self._create_pytest_cache = create_pytest_cache
        self._pruned = False
        self._clock: tuple[int, int] | None = None
        """(device, lag in ns) of the store's own file system, once probed."""
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def _fingerprint(self) -> str:
        """:func:`scanner_fingerprint`, remembered in the store against the package files'
        identities (:func:`scanner_stamps`): a run whose package has not changed pays a ``stat``
        per file instead of reading and hashing the package.

        The memo is trusted as an entry is: its key is the stamps, its MAC is under the user's
        secret, and it is written only when every file is settled, so an edit, a reinstall or a
        checkout (each moves a file's ``ctime``, or adds or removes one) misses it. A memo that
        cannot be read or written only costs the hash.
        """
        stamps, settled = scanner_stamps()
        key = {"format": FORMAT, "scanner-stamps": stamps}
        memo = self.root / SCANNER_MEMO
        found = self._verified(memo, key)
        if found is not None and isinstance(found[0].get("fingerprint"), str):
            fingerprint: str = found[0]["fingerprint"]
            return fingerprint
        # Read now, after the stat, not this process's earlier hash: a file edited since then
        # would otherwise pair its new identity with the old scanner's fingerprint.
        fingerprint = _hash_scanner()
        # Only into a store folder that exists and is no planted link: the memo never creates
        # pytest's cache directory, and is never written through a symlink.
        if settled and self.root.is_dir() and not os.path.islink(self.root):
            value = {"fingerprint": fingerprint}
            text = json.dumps({"key": key, "value": value, "mac": self._mac(key, value)})
            with contextlib.suppress(OSError):
                write_private(memo, text, prefix=".tmp-", suffix=".json")
        return fingerprint

    def _key(self, identity: FileIdentity) -> dict[str, Any]:
        return {"format": FORMAT, "scanner": self.fingerprint, "file": identity.to_key()}

    def _entry(self, key: dict[str, Any]) -> Path:
        return self.folder / f"{hashlib.sha256(_canonical(key)).hexdigest()[:40]}.json"

    def _mac(self, key: dict[str, Any], value: dict[str, Any]) -> str:
        return hmac.new(
            self._secret, _canonical({"key": key, "value": value}), hashlib.sha256
        ).hexdigest()

    def _verified(self, entry: Path, key: dict[str, Any]) -> tuple[dict[str, Any], float] | None:
        """The entry's value and mtime when it parses, is for ``key`` and its MAC verifies."""
        try:
            with open(entry, "rb") as handle:
                data = json.loads(handle.read())
                mtime = os.fstat(handle.fileno()).st_mtime
            value, mac = data["value"], data["mac"]
            if (
                data["key"] != key
                or not isinstance(value, dict)
                or not isinstance(mac, str)
                or not hmac.compare_digest(mac, self._mac(key, value))
            ):
                return None  # planted, copied from elsewhere, or for another file
        except (OSError, ValueError, TypeError, KeyError, RecursionError):
            return None  # missing or unreadable (or nested too deep): computed again, rewritten
        return value, mtime

    def load(self, identity: FileIdentity) -> dict[str, Any] | None:
        """The verified value stored for ``identity``, or None (missing, foreign, corrupt)."""
        key = self._key(identity)
        entry = self._entry(key)
        found = self._verified(entry, key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        value, mtime = found
        if time.time() - mtime > TOUCH_AFTER_SECONDS:
            with contextlib.suppress(OSError):
                os.utime(entry)  # used: kept by the pruning
        return value

    def save(self, identity: FileIdentity, value: dict[str, Any]) -> None:
        """Add ``value``'s facts to the entry for ``identity``.

        Merged with what the entry already holds, under a lock: two xdist workers that ran
        different checks of the same file (one hashed it, the other scanned it) each add their
        facts instead of the last one erasing the other's. A folder that cannot be written, or
        a lock not had in time, only costs speed.
        """
        # Imported here: only a run that computed something writes (a warm run never does).
        from filelock import FileLock, Timeout

        key = self._key(identity)
        entry = self._entry(key)
        try:
            if self._create_pytest_cache:
                _ensure_pytest_cache(self.root)
            lock = self._lock_path(entry)
            if self._planted_link(lock):
                return  # a symlink in the project's tree: never written through (nor pruned)
            self.folder.mkdir(parents=True, exist_ok=True)
            with FileLock(str(lock), timeout=LOCK_TIMEOUT_SECONDS):
                found = self._verified(entry, key)
                body = _merge(found[0] if found is not None else {}, json.loads(json.dumps(value)))
                # Redacted before the MAC, as write_private redacts the text it writes (a MAC
                # over the text before redaction never verifies: the entry is never a hit).
                body = redact_json(body)
                text = json.dumps({"key": key, "value": body, "mac": self._mac(key, body)})
                write_private(entry, text, prefix=".tmp-", suffix=".json")
        except (OSError, Timeout):
            return
        self.writes += 1
        self._prune()

    def clock_lag_ns(self, device: int) -> int | None:
        """How far behind our clock the clock that stamps files on ``device`` runs (0 if not).

        An NFS or SMB server stamps ``ctime`` with its own clock: behind ours, a file written
        just now looks settled to us, and a second write in the same tick of the server's clock
        could keep its identity (see :meth:`FileIdentity.settled`). Once per process, the store
        creates an empty file in its folder and reads the ``ctime`` the file system gave it:
        that is the file system's "now". It tells only about the device the store is on (an
        artifact on another mount is judged by our clock). None when the probe could not run
        (a folder that cannot be written, a planted link): then nothing is kept at all, so
        breaking the probe cannot open the window it closes. A clock ahead of ours needs
        nothing: a ``ctime`` in the future is never settled.
        """
        if self._clock is None:
            self._clock = self._probe_clock()
        probed, lag = self._clock
        if probed == -1:
            return None
        return lag if probed == device else 0

    def _probe_clock(self) -> tuple[int, int]:
        try:
            if self._planted_link(self.folder / ".lock-00"):
                return (-1, 0)
            if self._create_pytest_cache:
                _ensure_pytest_cache(self.root)
            self.folder.mkdir(parents=True, exist_ok=True)
            # Named like the store's own temporary files: a leftover is pruned with them.
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            try:
                st = os.fstat(fd)
                now = time.time_ns()  # after the stamp: the lag is, if anything, overestimated
            finally:
                os.close(fd)
                Path(probe).unlink(missing_ok=True)
        except OSError:
            return (-1, 0)
        return (st.st_dev, max(0, now - st.st_ctime_ns))

    def _planted_link(self, lock: Path) -> bool:
        """Whether the store's folder, its fingerprint folder or ``lock`` is a symlink.

        The folder sits in the project's tree: a committed ``mlsupply-content -> ../..`` would
        otherwise have the pruning delete the project's old folders, a fingerprint folder
        linked elsewhere would have it delete old ``*.json`` files there, and a lock file
        linked to a user's file is truncated by older filelock versions.
        """
        return any(os.path.islink(path) for path in (self.root, self.folder, lock))

    def _lock_path(self, entry: Path) -> Path:
        # A few shared lock files rather than one per entry: two workers rarely want the same.
        bucket = int(entry.stem[:4], 16) % LOCK_BUCKETS
        return self.folder / f".lock-{bucket:02d}"

    def _prune(self) -> None:
        """Once per process: drop entries unused for a month and other scanners' folders."""
        if self._pruned:
            return
        self._pruned = True
        now = time.time()
        if os.path.islink(self.root) or os.path.islink(self.folder):
            return
        try:
            # Only what the store makes (names it gives, never a symlink, which leads anywhere).
            with os.scandir(self.root) as folders:
                for found in folders:
                    if (
                        found.name == self.folder.name
                        or not _FINGERPRINT_FOLDER.fullmatch(found.name)
                        or not found.is_dir(follow_symlinks=False)
                    ):
                        continue
                    if now - found.stat(follow_symlinks=False).st_mtime > STALE_FINGERPRINT_SECONDS:
                        shutil.rmtree(found.path, ignore_errors=True)
            with os.scandir(self.folder) as entries:
                for found in entries:
                    if (
                        _ENTRY_FILE.fullmatch(found.name)
                        and found.is_file(follow_symlinks=False)
                        and now - found.stat(follow_symlinks=False).st_mtime > PRUNE_AFTER_SECONDS
                    ):
                        Path(found.path).unlink(missing_ok=True)
        except OSError:
            pass
