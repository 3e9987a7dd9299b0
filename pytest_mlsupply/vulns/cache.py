"""Vulnerability audits cached between runs, keyed by name, version and database state.

What is cached is the whole answer for one ``name==version`` (:class:`Answer`): the advisories
affecting it and the smallest upgrade that clears them, so a warm run reads one small file per
dependency and asks the database nothing.

Where: ``<manifest directory>/.mlsupply-cache/vulnerabilities/``, or the directory in the
``MLSUPPLY_CACHE_DIR`` environment variable (its ``vulnerabilities/`` subfolder); set it to
``off`` to run without a cache. Beside the manifest rather than in pytest's ``.pytest_cache``
because the checks run below the pytest layer, ``mlsupply scan`` shares them, and ``-p
no:cacheprovider`` must not change what is audited.

Layout: ``<state digest>/<name>==<version>.json``, one small JSON file per answer: a new
snapshot or a new service day starts a fresh folder (older ones are pruned after a week), and
a warm run reads one file per dependency without touching the database at all.

Shared by xdist workers: writes go to a temporary file renamed into place (a reader sees the
old answer or the new one, never half of one), and a worker that misses takes a ``filelock``
(one of 16 per state folder, chosen by the answer's hash) while it asks the database, so two
workers do not query a service for the same release twice. An entry that cannot be read, is
not JSON, or whose key does not match the question is ignored and rewritten, never trusted. A
cache that cannot be written (a read-only checkout) only costs speed: the answer is still the
database's.

Trusting only its own answers: the cache directory sits in the project, so it can be committed
with it, and ``MLSUPPLY_CACHE_DIR`` may name a directory other users can write. Every entry
carries an HMAC-SHA256 of its key and answer under a secret kept outside the project, in the
user's cache directory (``$XDG_CACHE_HOME/pytest-mlsupply/cache-key``, else
``~/.cache/pytest-mlsupply/cache-key``; 32 random bytes, made on first use, mode 0600, owned by
the user). An entry whose MAC does not verify (planted, copied from another machine, written
under another key) is ignored and rewritten: a state digest anyone can compute (the hash of a
zip snapshot, a service's day) is not enough to forge "no advisory". When the secret cannot be
read or made, each process uses a random one: answers are then not shared between processes
or runs, which costs speed only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_mlsupply.redaction import redact_json
from pytest_mlsupply.reports.atomic import write_private
from pytest_mlsupply.user_secret import user_key
from pytest_mlsupply.vulns.model import Advisory

__all__ = ["ENV_VAR", "Answer", "ResultCache", "cache_root"]

ENV_VAR = "MLSUPPLY_CACHE_DIR"
FORMAT = 3
#: A state folder untouched for this long belongs to an old snapshot or service day.
PRUNE_AFTER_SECONDS = 7 * 24 * 3600
#: Lock files per state folder (see :meth:`ResultCache._lock_path`).
LOCK_BUCKETS = 16
#: A worker waits this long for another one computing the same answer, then computes it too.
LOCK_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Answer:
    """The audit of one ``name==version``: its advisories and the smallest clearing upgrade."""

    advisories: tuple[Advisory, ...]
    upgrade: str | None = None
    """The smallest version above the asked one that no advisory affects, when one is known."""

    def to_json(self) -> dict[str, Any]:
        return {"advisories": [a.to_json() for a in self.advisories], "upgrade": self.upgrade}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        upgrade = data["upgrade"]
        if upgrade is not None and not isinstance(upgrade, str):
            raise TypeError("upgrade is not text")
        return cls(tuple(Advisory.from_json(a) for a in data["advisories"]), upgrade)


def cache_root(manifest_root: Path) -> Path | None:
    """The cache directory for a project (see the module docstring); None when turned off."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured.lower() == "off":
        return None
    base = Path(configured).expanduser() if configured else manifest_root / ".mlsupply-cache"
    return base


def _mac(secret: bytes, key: dict[str, Any], answer: Any) -> str:
    text = json.dumps({"key": key, "answer": answer}, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


class ResultCache:
    """Cached :class:`Answer` objects under ``<root>/vulnerabilities/``, signed with ``secret``
    (the user's, :func:`user_key`, unless given)."""

    def __init__(self, root: Path, secret: bytes | None = None) -> None:
        self.folder = root / "vulnerabilities"
        self._pruned = False
        self._secret = secret if secret is not None else user_key()

    def get_or_compute(
        self,
        name: str,
        version: str,
        state: str,
        compute: Callable[[], Answer],
    ) -> Answer:
        entry = self._entry(name, version, state)
        cached = self._read(entry, name, version, state)
        if cached is not None:
            return cached
        computing = False
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self._lock_path(entry)), timeout=LOCK_TIMEOUT_SECONDS)
            with lock:
                # Another worker may have answered while this one waited for the lock.
                cached = self._read(entry, name, version, state)
                if cached is not None:
                    return cached
                computing = True
                answer = compute()
                computing = False
                self._write(entry, name, version, state, answer)
                return answer
        except (Timeout, OSError):
            if computing:
                raise  # the database's own failure (a connection refused is an OSError)
            return compute()  # no usable cache: the database answers, only slower
        finally:
            self._prune(entry.parent)

    def _entry(self, name: str, version: str, state: str) -> Path:
        folder = hashlib.sha256(state.encode()).hexdigest()[:24]
        # Names are canonical and versions PEP 440 text (no path separators); the quoting only
        # guards against a local version label or an odd pin reaching the file system.
        safe = "".join(c if c.isalnum() or c in ".-_+!=" else "_" for c in f"{name}=={version}")
        return self.folder / folder / f"{safe}.json"

    @staticmethod
    def _lock_path(entry: Path) -> Path:
        # A few shared lock files rather than one per answer: creating a file costs more than
        # the offline lookup it would guard, and two workers rarely want the same bucket.
        bucket = hashlib.sha256(entry.name.encode()).digest()[0] % LOCK_BUCKETS
        return entry.parent / f".lock-{bucket:02d}"

    def _read(self, entry: Path, name: str, version: str, state: str) -> Answer | None:
        try:
            data = json.loads(entry.read_bytes())
            key = {"format": FORMAT, "name": name, "version": version, "state": state}
            if data.get("key") != key:
                return None
            mac = data.get("mac")
            if not isinstance(mac, str) or not hmac.compare_digest(
                mac, _mac(self._secret, key, data["answer"])
            ):
                return None  # not written under this user's secret: planted or foreign
            return Answer.from_json(data["answer"])
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None  # missing or corrupted: ignored, and rewritten by the caller

    def _write(self, entry: Path, name: str, version: str, state: str, answer: Answer) -> None:
        key = {"format": FORMAT, "name": name, "version": version, "state": state}
        # As a reader will see it: redacted here, before the MAC, as write_private redacts the
        # text it writes (a MAC over the text before redaction never verifies: never a hit).
        body = redact_json(json.loads(json.dumps(answer.to_json())))
        payload = {"key": key, "answer": body, "mac": _mac(self._secret, key, body)}
        text = json.dumps(payload, separators=(",", ":"))
        # A cache that cannot be written costs speed, not correctness.
        with contextlib.suppress(OSError):
            write_private(entry, text, prefix=".tmp-", suffix=".json")

    def _prune(self, current: Path) -> None:
        """Remove state folders not touched for a week (old snapshots, past service days)."""
        if self._pruned:
            return
        self._pruned = True
        cutoff = time.time() - PRUNE_AFTER_SECONDS
        try:
            os.utime(current)  # the folder in use is recent, however long ago it was made
            for folder in self.folder.iterdir():
                if folder != current and folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
