"""Open an artifact file once, as the regular file it must be, and read it only through that handle.

Two hazards of opening by path:

* **A FIFO or a device swapped in.** Opening a FIFO for reading blocks until a writer comes, a
  device may never end; a check that looked at the path first (``os.stat``) and then opened it
  can be raced. :func:`open_regular` opens with ``O_NONBLOCK`` (an open that never waits), looks
  at what it got with ``fstat``, and only then clears the flag: not a regular file, never read.
* **Another file swapped in between two opens.** A path that is opened again for every read
  (identification, each engine, a library) can lead to other bytes each time (a symlink or a
  rename), so what was read cannot be tied to the identity a cache entry is keyed by. A
  :class:`HandleReader` reads the one open handle at explicit offsets (``pread``): any number of
  independent streams over the same inode, none of them reopening the path.

Small on purpose: the hashing pool imports it, and a warm run must not load the scanner.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

__all__ = ["HandleReader", "NotARegularFile", "open_regular", "reopenable_path"]

#: Flags of the one open: never wait (a FIFO), never become our controlling terminal (a tty),
#: not inherited by a subprocess.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class NotARegularFile(OSError):
    """A FIFO, socket or device where a model file should be: never read, never a pass."""

    def __init__(self, message: str, mode: int) -> None:
        super().__init__(message)
        self.mode = mode


def open_regular(path: Path) -> tuple[io.FileIO, os.stat_result]:
    """``path`` opened for reading, with its ``fstat``; raises OSError, or
    :class:`NotARegularFile` when the handle is not a regular file (whatever the path named a
    moment before)."""
    # Looked at first, so that a device is not even opened in the common, unraced case (an
    # open of a device runs its driver); the fstat below is what decides.
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotARegularFile(
            f"{path} is not a regular file (mode {oct(mode)}); it was not read", mode
        )
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(
                f"{path} was replaced by something that is not a regular file "
                f"(mode {oct(st.st_mode)}) as it was opened; it was not read",
                st.st_mode,
            )
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return handle, st


class HandleReader(io.RawIOBase):
    """A seekable stream of its own over an open file descriptor, reading with ``pread``.

    Several can read one descriptor at once (a zip engine and the probe of the same file): each
    keeps its own position, and none moves the descriptor's. Closing one leaves the descriptor
    open (its owner closes it).
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if hasattr(os, "preadv"):
            count = os.preadv(self._fd, [buffer], self._position)
        else:  # pragma: no cover - platforms without preadv (older macOS)
            data = os.pread(self._fd, len(buffer), self._position)
            count = len(data)
            memoryview(buffer)[:count] = data
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = os.fstat(self._fd).st_size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise OSError(f"negative seek position {position}")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position


def reopenable_path(fd: int, fallback: Path) -> str:
    """A path that opens the very file behind ``fd``, for a library that only takes a name
    (``/proc/self/fd/N`` on Linux, ``/dev/fd/N`` on the BSDs and macOS); ``fallback`` where
    neither exists."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        candidate = f"{folder}/{fd}"
        if os.path.exists(candidate):
            return candidate
    return os.fspath(fallback)  # pragma: no cover - no fd file system (Windows)
