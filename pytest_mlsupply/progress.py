"""A one-line progress bar for ``mlsupply scan``: files, bytes and rate, on a terminal only.

The bar is written to stderr and only when stderr is a terminal: machine output (``--format
json|sarif``) goes to stdout and is never mixed with it, and a piped or redirected stderr (CI
logs) gets nothing, not a stream of carriage returns. No dependency: a scan shows one line
redrawn in place with ``\\r``, and ends it with a newline so the next output starts clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Redraw at most this often: a scan of thousands of tiny files must not spend its time drawing.
_INTERVAL = 0.1
_WIDTH = 20


def human_bytes(n: float) -> str:
    """``1.5 GiB``: binary units, one decimal from KiB up."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class Progress:
    """Counts files and bytes done against their totals and redraws the line on ``stream``.

    With ``stream=None`` every method is a no-op, so the scan loop calls it unconditionally.
    """

    def __init__(
        self,
        files: int,
        total_bytes: int,
        stream: TextIO | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files, self.total_bytes = files, total_bytes
        self.done_files = self.done_bytes = 0
        self._stream, self._clock = stream, clock
        self._start = clock()
        self._drawn_at: float | None = None
        self._width = 0

    @classmethod
    def on_terminal(cls, files: int, total_bytes: int, *, quiet: bool = False) -> Progress:
        """A bar on stderr when it is a terminal and the user did not ask for quiet, else none."""
        stream = sys.stderr
        shown = not quiet and stream is not None and _isatty(stream)
        return cls(files, total_bytes, stream if shown else None)

    @property
    def shown(self) -> bool:
        return self._stream is not None

    def advance(self, size: int) -> None:
        """One more file finished, of ``size`` bytes."""
        self.done_files += 1
        self.done_bytes += size
        if self._stream is None:
            return
        now = self._clock()
        last = self.done_files >= self.files
        if last or self._drawn_at is None or now - self._drawn_at >= _INTERVAL:
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line; a bar never drawn writes nothing."""
        if self._stream is None:
            return
        self._draw(self._clock())
        self._stream.write("\n")
        self._stream.flush()
        self._stream = None

    def line(self, now: float) -> str:
        """The bar's text at ``now``: ``[#####-----] 3/12 files  1.2/4.0 GiB  350.0 MiB/s``."""
        fraction = self.done_bytes / self.total_bytes if self.total_bytes else 1.0
        if not self.total_bytes and self.files:
            fraction = self.done_files / self.files
        filled = int(_WIDTH * min(fraction, 1.0))
        elapsed = max(now - self._start, 1e-9)
        return (
            f"[{'#' * filled}{'-' * (_WIDTH - filled)}] "
            f"{self.done_files}/{self.files} files  "
            f"{human_bytes(self.done_bytes)}/{human_bytes(self.total_bytes)}  "
            f"{human_bytes(self.done_bytes / elapsed)}/s"
        )

    def _draw(self, now: float) -> None:
        assert self._stream is not None
        text = self.line(now)
        # Pad over the previous, longer line: \r moves back but does not erase.
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)
        self._drawn_at = now


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


__all__ = ["Progress", "human_bytes"]
