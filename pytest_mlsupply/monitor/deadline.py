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

__all__ = ["MAX_HELD", "Held", "Unanswered", "bounded", "held"]

T = TypeVar("T")

#: Calls one service may hold past their deadline at once. A call given up on keeps its thread
#: (a thread cannot be stopped from outside) until the service lets the connection go; a service
#: that never does would gather one thread per request per poll for as long as a watch runs.
#: Past this many, a new call to that service is refused at once, as an outage.
MAX_HELD = 8

_held: dict[str, list[threading.Thread]] = {}
_held_lock = threading.Lock()


def held(service: str) -> int:
    """How many calls to ``service`` are still running past their deadline."""
    with _held_lock:
        alive = [thread for thread in _held.get(service, ()) if thread.is_alive()]
        _held[service] = alive
        return len(alive)


class Unanswered(TimeoutError):
    """The call did not return within its deadline."""


class Held(Unanswered):
    """The call was not made: the service still holds :data:`MAX_HELD` earlier ones."""


def bounded(call: Callable[[], T], seconds: float, what: str, *, service: str) -> T:
    """``call()`` within ``seconds``, or :class:`Unanswered` naming ``what``.

    The call runs in a daemon thread; one left behind finishes (or dies with the process) on
    its own, and its result is dropped: give it only calls that read, never ones that write
    the state. What it raises is raised here as it is. While :data:`MAX_HELD` calls to
    ``service`` (its name in messages: ``the Hub``) are left behind and still running, a new
    one is not made: :class:`Unanswered` at once."""
    still = held(service)
    if still >= MAX_HELD:
        raise Held(
            f"{what} was not asked for: {still} earlier requests to {service} are still held "
            "open by it, past their deadline"
        )
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
        with _held_lock:
            _held.setdefault(service, []).append(thread)
        raise Unanswered(f"{what} did not arrive within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
