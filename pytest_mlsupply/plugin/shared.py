"""Verify each marked model once per session: memoised per process, shared across xdist workers.

Under xdist the controller creates a private directory and hands it to every worker. For each
verification key a worker takes an exclusive ``fcntl.flock`` on ``<key>.lock``; the first to get
it verifies and writes ``<key>.json`` atomically (write, fsync, rename), the others read that
file. Without the directory (a serial run) or without ``fcntl`` (Windows) each process verifies
on its own, once.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process sharing
    fcntl = None  # type: ignore[assignment]

#: The ``workerinput`` key that carries the shared directory to xdist workers.
WORKERINPUT_KEY = "mlsupply_verified_dir"


class VerificationStore:
    """Verification records by key: computed at most once per process, and once per session
    across the processes that share ``directory``."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory if fcntl is not None else None
        self._memo: dict[str, dict[str, Any]] = {}

    def get_or_compute(
        self, key: str, compute: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """The record for ``key`` and whether this call computed it (False: reused)."""
        if key in self._memo:
            return self._memo[key], False
        if self.directory is None:
            record, fresh = compute(), True
        else:
            record, fresh = self._shared(key, compute)
        self._memo[key] = record
        return record, fresh

    def _shared(
        self, key: str, compute: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        assert self.directory is not None
        target = self.directory / f"{key}.json"
        with _locked(self.directory / f"{key}.lock"):
            existing = _read(target)
            if existing is not None:
                return existing, False
            record = compute()
            _write_atomic(target, record)
            return record, True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    assert fcntl is not None
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent (or unreadable): verify again rather than trust it
    return data if isinstance(data, dict) else None


def _write_atomic(path: Path, record: dict[str, Any]) -> None:
    # Imported here: this module is on the inert path (the marker), which loads no reports code.
    from pytest_mlsupply.reports.atomic import write_private

    text = json.dumps(record, sort_keys=True)
    write_private(path, text, prefix=f".{path.stem}.", suffix=".tmp", durable=True)


def make_shared_directory() -> Path:
    """A fresh private directory (mode 0700) for one session's verification records."""
    return Path(tempfile.mkdtemp(prefix="pytest-mlsupply-verified-"))
