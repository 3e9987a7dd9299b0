"""Calls bounded in wall-clock time, and the threads a service that never answers leaves."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import pytest

from pytest_mlsupply.monitor.alerts import TrackedDependency, WatchList
from pytest_mlsupply.monitor.deadline import MAX_HELD, Unanswered, bounded, held
from pytest_mlsupply.monitor.index_watch import IndexSource


@dataclass
class Holder:
    """A server that accepts every connection and answers one header byte at a time, each
    within any per-read timeout, for as long as the test lets it."""

    url: str
    accepted: list[socket.socket] = field(default_factory=list)

    def release(self) -> None:
        for conn in self.accepted:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


@contextmanager
def holding_server() -> Iterator[Holder]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    holder = Holder(f"http://127.0.0.1:{listener.getsockname()[1]}")

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            holder.accepted.append(conn)
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    def trickle(conn: socket.socket) -> None:
        with suppress(OSError):
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            while True:
                conn.sendall(b"a")
                time.sleep(0.01)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield holder
    finally:
        listener.close()
        holder.release()


def wait_released(service: str) -> None:
    deadline = time.monotonic() + 10
    while held(service) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert held(service) == 0


def get(url: str) -> bytes:
    # The server's trickle stays within any per-read timeout: only bounded() gives up.
    with urllib.request.urlopen(url, timeout=5) as answer:
        data: bytes = answer.read()
        return data


def test_a_service_that_never_answers_holds_at_most_max_held_calls_then_is_not_asked() -> None:
    service = "a test service that never answers"
    with holding_server() as server:
        for _ in range(MAX_HELD):
            with pytest.raises(Unanswered, match="did not arrive within"):
                bounded(lambda: get(server.url), 0.05, "the answer", service=service)
        assert held(service) == MAX_HELD
        started = time.monotonic()
        with pytest.raises(Unanswered, match=f"{MAX_HELD} earlier requests to {service}"):
            bounded(lambda: get(server.url), 30, "the answer", service=service)
        assert time.monotonic() - started < 5  # refused at once, not after the deadline
        time.sleep(0.2)
        assert len(server.accepted) == MAX_HELD  # and no connection was made for it
        # Another service is asked as before.
        assert bounded(lambda: 42, 5, "a number", service="another service") == 42
        server.release()
        wait_released(service)
        # Once the service let go, it is asked again.
        assert bounded(lambda: "back", 5, "the answer", service=service) == "back"


def test_polls_of_an_index_that_never_answers_leave_a_bounded_number_of_threads() -> None:
    watch = WatchList(dependencies=(TrackedDependency("torch"), TrackedDependency("numpy")))
    with holding_server() as server:
        source = IndexSource(pypi_url=server.url, timeout=0.05, vulnerabilities={"service": "osv"})
        for _ in range(2 * MAX_HELD):
            result = source.poll(watch, {})
            assert result.outages  # every poll fails closed
            assert not result.cursors
        assert held("the package index") <= MAX_HELD
        assert len(server.accepted) <= MAX_HELD  # the rest were never asked
        stuck = [t for t in threading.enumerate() if t.name == "mlsupply-bounded"]
        assert len(stuck) <= MAX_HELD + held("the advisory service") + held("the Hub")
        reasons = {o.reason for o in result.outages}
        assert any("still held open" in reason for reason in reasons)
    wait_released("the package index")
