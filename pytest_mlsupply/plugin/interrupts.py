"""Interrupted gates: SIGTERM ends a session as Ctrl-C does, and the reports are whole or absent.

The rule (docs/ci.md, "Interrupted, killed and concurrent gates"): a gate interrupted (Ctrl-C / SIGINT, SIGTERM) before
it starts writing its reports writes none, so the previous run's files stay byte for byte; a
signal that arrives while the reports are written is held until the whole set is written, and
the session then ends as interrupted (exit status 2). A second signal while they are written
is not held (someone insists): every file is still whole, the old one or the new one
(:func:`~pytest_mlsupply.reports.atomic.write_atomic`), but the set may mix both.

Python's default SIGTERM kills the process with no cleanup at all: no ``finally`` runs, a
temporary file being written stays, and pytest prints nothing. During a ``--mlsupply`` session
(the process that writes the reports) SIGTERM is raised as :class:`Terminated`, a
``KeyboardInterrupt``, so pytest unwinds and reports it exactly as Ctrl-C; the previous handler
is restored at unconfigure (:class:`SignalWatch`). A handler someone else installed (a CI wrapper, the user's
conftest) is left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: The signals that interrupt a session (SIGINT is Ctrl-C; SIGTERM is what CI runners and
#: ``timeout`` send before SIGKILL).
INTERRUPTING: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)

#: Signals whose default ends the process on the spot as SIGTERM's does: SIGHUP (the terminal
#: closed, an ssh session dropped) mid-write would leave a mixed set and a temp file. Treated
#: as SIGTERM while their handler is the default (``nohup`` ignores SIGHUP: left alone).
TERMINATING: tuple[int, ...] = (signal.SIGTERM,) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)


class Terminated(KeyboardInterrupt):
    """SIGTERM during a gate's session, raised where Ctrl-C raises ``KeyboardInterrupt``."""


def describe(signum: int) -> str:
    """``SIGTERM``, ``Ctrl-C (SIGINT)``: how the terminal summary names an interruption."""
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name


def _in_main_thread() -> bool:
    # signal.signal may only be called from the main thread (pytest runs there; an embedding
    # that runs pytest on another thread keeps Python's defaults).
    return threading.current_thread() is threading.main_thread()


class SignalWatch:
    """Between :meth:`install` and :meth:`restore`: SIGTERM raised as :class:`Terminated`, and
    both signals remembered, so that the session can tell an interruption by a signal from
    pytest's and xdist's own ``KeyboardInterrupt`` subclasses (``Session.Interrupted`` for
    collection errors, xdist's ``Interrupted`` for ``-x``), whose reports are written as always.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        """The first SIGINT or SIGTERM received while installed."""
        self._installed: dict[int, Any] = {}

    def install(self) -> None:
        if self._installed or not _in_main_thread():
            return
        # Only over Python's own handlers: one someone else installed (a CI wrapper, the
        # user's conftest) is theirs to decide.
        for signum in TERMINATING:
            if signal.getsignal(signum) is signal.SIG_DFL:
                self._installed[signum] = signal.SIG_DFL
                signal.signal(signum, self._on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._installed[signal.SIGINT] = signal.default_int_handler
            signal.signal(signal.SIGINT, self._on_sigint)

    def restore(self) -> None:
        for signum, previous in self._installed.items():
            if signal.getsignal(signum) in (self._on_sigterm, self._on_sigint):
                signal.signal(signum, previous)
        self._installed = {}

    def interruption(self, exception: BaseException) -> str | None:
        """How the session was interrupted when ``exception`` ended it (``"SIGTERM"``,
        ``"Ctrl-C (SIGINT)"``); None when no signal did (``pytest.exit``, a collection error)."""
        if self.received is None or not isinstance(exception, KeyboardInterrupt):
            return None
        return describe(self.received)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        raise Terminated(f"terminated by {describe(signum)}")

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as Python does


@dataclass
class Held:
    """The signals received while they were held, in order."""

    received: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.received)


@contextmanager
def signals_held() -> Iterator[Held]:
    """SIGINT and SIGTERM recorded rather than raised inside the block; a second one raises
    (``KeyboardInterrupt``, or :class:`Terminated`), so a stuck write can still be stopped.

    The previous handlers are back when the block ends; the caller decides what a held signal
    means (:class:`Held` is truthy once one arrived). Outside the main thread it holds nothing.
    """
    held = Held()
    if not _in_main_thread():
        yield held
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        if held.received:
            if signum != signal.SIGINT:
                raise Terminated(f"terminated by {describe(signum)}")
            raise KeyboardInterrupt
        held.received.append(signum)

    previous: dict[int, Any] = {}
    try:
        for signum in (*INTERRUPTING, *TERMINATING):
            handler = signal.getsignal(signum)
            if signum in previous or handler is signal.SIG_IGN:
                continue  # ignored (nohup): stays ignored
            previous[signum] = handler
            signal.signal(signum, hold)
        yield held
    finally:
        for signum, handler in previous.items():
            # None: a handler not installed from Python; the default is the closest.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
