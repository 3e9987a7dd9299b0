"""A call bounded in wall-clock time, for the clients whose own timeouts are per read.

``requests``, ``httpx`` and ``urllib`` bound each socket operation, not an answer: a server
that sends its status line, its headers or its body one byte at a time, each byte inside the
timeout, holds the call for as long as it likes (hours for one 64 KiB header line). The monitor
promises that a slow service is an outage, never a hang, so every request it cannot bound
otherwise runs under :func:`bounded`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Unanswered", "bounded"]

T = TypeVar("T")


class Unanswered(TimeoutError):
    """The call did not return within its deadline."""


def bounded(call: Callable[[], T], seconds: float, what: str) -> T:
    """``call()`` within ``seconds``, or :class:`Unanswered` naming ``what``.

    The call runs in a daemon thread; one left behind finishes (or dies with the process) on
    its own, and its result is dropped: give it only calls that read, never ones that write
    the state. What it raises is raised here as it is."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread as it is
            box["error"] = exc

    thread = threading.Thread(target=run, name="mlsupply-bounded", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise Unanswered(f"{what} did not arrive within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
