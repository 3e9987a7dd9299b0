"""Adversarial review of the monitor's core (session 29): the state file, the sinks, the watcher
and ``mlsupply watch``.

Each test drives the real code: the webhook against a loopback receiver speaking HTTP, the
JSON-lines sink on real files (a full disk made real with ``RLIMIT_FSIZE`` in a subprocess),
the state on a real SQLite file damaged on disk, and the command in a subprocess with the
scripted source of tests/monitor/watch_driver.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_mlsupply.monitor.sinks import WebhookSink
from pytest_mlsupply.redaction import forget_registered_secrets
from tests.monitor.watch_doubles import Answer, receiving


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    yield
    forget_registered_secrets()


def record(key: str = "c1") -> dict[str, Any]:
    return {"id": key * 12, "rule": "MLS-MON-900", "severity": "high", "title": "t"}


# -- the webhook ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["\xb2", "\xb9\xb3", "1\xb2"])
def test_a_retry_after_of_superscript_digits_is_a_retry_not_a_crash(value: str) -> None:
    # str.isdigit() says yes to "²" (a Latin-1 byte a header may carry); float() says no.
    waits: list[float] = []
    with receiving([Answer(503, {"Retry-After": value}), Answer(200)]) as receiver:
        sink = WebhookSink(receiver.url, retries=2, backoff=0.01, sleep=waits.append)
        sink.deliver(record())
    assert len(receiver.received) == 2
    assert len(waits) == 1
    assert 0 <= waits[0] <= 0.01
