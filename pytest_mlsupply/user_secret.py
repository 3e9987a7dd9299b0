"""The user's secret that signs what pytest-mlsupply caches in a project's tree.

Caches live beside the project (``.mlsupply-cache/``, ``.pytest_cache/``), which anyone who can
commit to the project controls. An entry is trusted only when its HMAC-SHA256 under this secret
verifies, so a planted entry cannot say "no advisory" or "no finding". The secret is kept
outside the project, in the user's cache directory (``$XDG_CACHE_HOME/pytest-mlsupply/cache-key``,
else ``~/.cache/pytest-mlsupply/cache-key``; 32 random bytes, made on first use, mode 0600, owned
by the user). When it cannot be read or made, each process uses a random one: cached answers are
then not shared between processes or runs, which costs speed only.

One home for the secret: the vulnerability cache (:mod:`pytest_mlsupply.vulns.cache`) and the
content cache (:mod:`pytest_mlsupply.checks.content_store`) both sign with it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

__all__ = ["KEY_BYTES", "key_path", "user_key"]

#: Where the secret lives, under the user's cache directory.
KEY_FOLDER = "pytest-mlsupply"
KEY_FILE = "cache-key"
KEY_BYTES = 32

_KEY_LOCK = threading.Lock()
_KEYS: dict[Path, bytes] = {}


def key_path() -> Path:
    """The file holding the user's secret that signs cache entries (see the module docstring)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    folder = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return folder / KEY_FOLDER / KEY_FILE


def _read_key(path: Path) -> bytes | None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o077):
            return None  # another user's, or readable by others: not a secret
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    return data if len(data) == KEY_BYTES else None


def _torn(path: Path) -> bool:
    """The user's own private regular file, of the wrong length: a key whose writer died."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    own = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISREG(st.st_mode) and own and not st.st_mode & 0o077 and st.st_size != KEY_BYTES


def _create_key(path: Path) -> bytes | None:
    """Write a new secret whole to a private temporary file, then link it into place: the key
    file appears with all its bytes or not at all (a crash leaves only the temporary file).
    Another process that linked first wins; its key is read."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cache-key-", suffix=".tmp")
    try:
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: created, then written, as before
            with open(tmp, "rb") as made:
                data = made.read()
            try:
                new = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _read_key(path)
            try:
                os.write(new, data)
            finally:
                os.close(new)
        return _read_key(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def user_key() -> bytes:
    """The user's signing secret, made on first use; a random per-process one when it cannot be
    read or made (the cache then helps within one process only)."""
    try:
        path = key_path()
    except RuntimeError:  # no home directory to keep it in
        path = Path("<no home>")
    with _KEY_LOCK:
        known = _KEYS.get(path)
        if known is not None:
            return known
        key: bytes | None = None
        try:
            if not path.is_absolute():
                raise OSError("no home directory")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = _read_key(path) if path.exists() or path.is_symlink() else None
            if key is None and _torn(path):
                # A writer killed between creating the file and writing it (the old way of
                # making it) left it short: every process since used a random secret.
                os.unlink(path)
            if key is None and not (path.exists() or path.is_symlink()):
                key = _create_key(path)
        except OSError:
            key = None
        if key is None:
            key = secrets.token_bytes(KEY_BYTES)
        _KEYS[path] = key
        return key
