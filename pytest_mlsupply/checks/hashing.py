"""Parallel SHA-256 of artifact files: one process-wide thread pool, large chunks, futures.

hashlib releases the GIL while it digests a buffer larger than 2 KiB, and ``readinto`` releases
it while the kernel copies, so a few threads hash a few files at once at close to the disk's or
the cores' speed while the main thread goes on scanning. The pool is created on first use (a
session that never prefetches never starts a thread) and shut down by :func:`shutdown` at the
end of the session; a shutdown also stops a hash in progress at its next chunk, so no thread
outlives the session and Ctrl-C is never held up by a multi-gigabyte file.

Every digest carries the identity of the file it was computed from (device, inode, size,
mtime_ns, ctime_ns), taken with ``fstat`` on the open handle before and after the read: a file
rewritten while it was being read has two different identities and its digest is never used.

While the main thread waits for a digest (:func:`result`) it first does the session's queued
warm-up work (:func:`warm_up`): imports and one-time builds the run will need later anyway
(the format engines, the report writers and the BOM's schema validator). On two cores the hash
threads leave the main thread nothing else to do, and whatever it does after the last digest is
the only part of the run that nothing overlaps.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pytest_mlsupply.engines.regular_file import open_regular

#: Bytes read per ``readinto``: large enough that the per-call overhead (a syscall, a digest
#: update, a GIL round trip) vanishes next to the copy, small enough to stay in L2/L3 cache.
#: Measured on 2 cores, two threads over two 1 GiB files in the page cache: 1 to 4 MiB cost
#: the same, 8 MiB 3% more CPU and 5% more wall time (the two buffers no longer fit the cache).
CHUNK = 4 << 20
#: At most this many threads, whatever the CPU count: more files in flight than this thrash
#: the disk (the reads interleave) and hold more chunk buffers for no gain.
MAX_THREADS = 4
#: The name prefix of the pool's threads (tests look for survivors by it).
THREAD_NAME_PREFIX = "mlsupply-hash"

Identity = tuple[int, int, int, int, int]
"""(device, inode, size, mtime_ns, ctime_ns): a file is the same file while this is equal."""


def identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HashCancelled(Exception):
    """The pool was shut down while this file was being hashed (the session ended)."""


@dataclass(frozen=True)
class Digest:
    sha256: str
    identity: Identity
    """The file's identity before the read; equal to the one after it, or no digest is made."""
    seconds: float
    """Wall time of the read and digest (for the progress line of a large file)."""


def sha256_file(path: Path, stop: threading.Event | None = None) -> Digest:
    """Hash one regular file in :data:`CHUNK` pieces into one reused buffer.

    Raises OSError when the file cannot be opened or read, or is not a regular file
    (:class:`~pytest_mlsupply.engines.regular_file.NotARegularFile`), or changed while it was
    read (the caller then reports an error or reads it again). The digest's identity is the
    handle's, not the path's: compare it with the identity the caller expects.
    """
    started = time.perf_counter()
    # Opening a FIFO for reading blocks until a writer comes: opened without waiting, and
    # refused unless the handle is a regular file (a swap after any earlier look included).
    handle, before = open_regular(path)
    with handle:
        digest = hashlib.sha256()
        buffer = bytearray(min(CHUNK, max(before.st_size, 1)))
        view = memoryview(buffer)
        while True:
            if stop is not None and stop.is_set():
                raise HashCancelled(f"hashing {path} was stopped: the session ended")
            count = handle.readinto(view)
            if not count:
                break
            digest.update(view[:count])
        after = os.fstat(handle.fileno())
    if identity(before) != identity(after):
        raise OSError(f"{path} changed while it was being read; run again once it is written")
    return Digest(digest.hexdigest(), identity(before), time.perf_counter() - started)


class _Pool:
    """The process-wide pool, created on first submit and replaced after a shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._stop = threading.Event()

    def submit(self, path: Path) -> Future[Digest]:
        with self._lock:
            if self._executor is None:
                self._stop = threading.Event()
                self._executor = ThreadPoolExecutor(
                    max_workers=thread_count(),
                    thread_name_prefix=THREAD_NAME_PREFIX,
                )
            return self._executor.submit(sha256_file, path, self._stop)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            self._stop.set()
        if executor is not None:
            # Queued files are cancelled; a running hash stops at its next chunk, so the wait
            # is at most one chunk's read.
            executor.shutdown(wait=True, cancel_futures=True)


_POOL = _Pool()
_PROCESSES = [1]
"""How many processes of this session hash at once (``-n N``: the N workers share the cores)."""


def thread_count() -> int:
    """Threads of the next pool: the cores (at most :data:`MAX_THREADS`) shared by the processes."""
    cores = min(os.cpu_count() or 1, MAX_THREADS)
    return max(1, cores // _PROCESSES[0])


def share_cores(processes: int) -> None:
    """Say how many processes of the session hash at once (an xdist worker calls it with the
    worker count): more threads than cores only make every hash wait for a core."""
    _PROCESSES[0] = max(1, processes)


def submit(path: Path) -> Future[Digest]:
    """Start hashing ``path`` on the pool; the future raises what :func:`sha256_file` raises."""
    return _POOL.submit(path)


_WARM_UPS: deque[Callable[[], object]] = deque()
"""Work queued by :func:`warm_up`, done (and dropped) one task at a time by :func:`result`."""


def warm_up(task: Callable[[], object]) -> None:
    """Queue ``task`` for the next time a digest is waited for while it is not ready yet.

    For work the session does later whatever happens (imports, a cached one-time build), never
    for work that reads an artifact or decides a result: a task runs at most once, and only
    while a hash thread is still busy, so a run that waits for no digest never runs it. Its
    exceptions are swallowed: the real use raises the same error where it is reported today.
    """
    _WARM_UPS.append(task)


def result(pending: Future[Digest]) -> Digest:
    """The digest ``pending`` will hold; until it is ready, the queued warm-ups run first.

    Raises what the future raises (:func:`sha256_file`'s errors, :class:`HashCancelled`,
    ``CancelledError``); never a warm-up's error.
    """
    while not pending.done():
        try:
            task = _WARM_UPS.popleft()
        except IndexError:
            break
        # A warm-up only does early what the session does later: its error is raised again
        # there, where it is reported (an item's error, a report error), never here.
        with contextlib.suppress(Exception):
            task()
    return pending.result()


def shutdown() -> None:
    """Stop the pool and join its threads, and drop the warm-ups nothing waited long enough to
    run (idempotent; the next submit starts a new pool)."""
    _WARM_UPS.clear()
    _POOL.shutdown()
