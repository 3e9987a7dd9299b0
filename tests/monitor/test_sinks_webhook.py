"""The webhook sink against a loopback receiver: retries, Retry-After, refusals, and a URL that
is never written anywhere."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from pytest_mlsupply.monitor.sinks import SinkError, WebhookSink
from pytest_mlsupply.redaction import forget_registered_secrets
from tests.monitor.watch_doubles import SECRET_PIECES, Answer, alert, receiving


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    yield
    forget_registered_secrets()


def record(key: str = "c1") -> dict[str, object]:
    return {**alert(key).to_json(), "raised_at": "2026-01-01T00:00:00+00:00"}


def test_an_alert_is_posted_as_json_with_its_id_as_idempotency_key() -> None:
    with receiving() as receiver:
        WebhookSink(receiver.url).deliver(record())
    (got,) = receiver.received
    assert got.body["type"] == "alert"
    assert got.body["key"] == "c1"
    assert got.headers["Idempotency-Key"] == alert("c1").id
    assert got.headers["Content-Type"] == "application/json"


def test_500_and_503_are_retried_until_the_receiver_takes_the_alert() -> None:
    answers = [Answer(500), Answer(503), Answer(200)]
    with receiving(answers) as receiver:
        WebhookSink(receiver.url, backoff=0.001).deliver(record())
    assert len(receiver.received) == 3
    assert len(set(receiver.keys())) == 1  # the same key each time: the receiver can dedupe


def test_retry_after_is_waited_for_instead_of_the_backoff() -> None:
    answers = [Answer(429, {"Retry-After": "1"}), Answer(200)]
    with receiving(answers) as receiver:
        WebhookSink(receiver.url, backoff=0.001).deliver(record())
    first, second = receiver.received
    assert second.at - first.at >= 0.95


def test_a_400_is_not_retried_and_says_so() -> None:
    refused = pytest.raises(SinkError, match="HTTP 400; not retried")
    with receiving([Answer(400), Answer(200)]) as receiver, refused as raised:
        WebhookSink(receiver.url, backoff=0.001).deliver(record())
    assert len(receiver.received) == 1
    assert raised.value.retryable  # the next alert may still be taken


def test_a_redirect_is_refused_rather_than_followed() -> None:
    redirect = Answer(302, {"Location": "http://127.0.0.1:9/elsewhere"})
    with receiving([redirect]) as receiver, pytest.raises(SinkError, match="HTTP 302"):
        WebhookSink(receiver.url).deliver(record())
    assert len(receiver.received) == 1


def test_after_the_retries_the_failure_is_reported_without_the_secret_path() -> None:
    with receiving([Answer(503)] * 3) as receiver, pytest.raises(SinkError) as raised:
        WebhookSink(receiver.url, retries=2, backoff=0.001).deliver(record())
    assert len(receiver.received) == 3
    message = str(raised.value)
    assert "after 3 attempts" in message
    assert "stays queued" in message
    assert not raised.value.retryable
    for piece in SECRET_PIECES:
        assert piece not in message


def test_a_receiver_that_is_down_is_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T0AB12CD3/B0EF45GH6/k3yk3yS3cr3tW3bh00kP4th"
    sleeps: list[float] = []
    with pytest.raises(SinkError, match="not delivered after 3 attempts") as raised:
        WebhookSink(url, retries=2, backoff=0.5, sleep=sleeps.append).deliver(record())
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0
    assert "k3yk3yS3cr3tW3bh00kP4th" not in str(raised.value)


def test_a_slow_receiver_is_a_timeout_that_is_retried() -> None:
    with receiving([Answer(200, delay=0.5), Answer(200)]) as receiver:
        WebhookSink(receiver.url, timeout=0.1, backoff=0.001).deliver(record())
    assert len(receiver.received) == 2


def test_the_body_carries_the_alert_and_nothing_of_the_url() -> None:
    with receiving() as receiver:
        WebhookSink(receiver.url).deliver(record())
    text = json.dumps(receiver.received[0].body)
    for piece in SECRET_PIECES:
        assert piece not in text


def test_a_watch_asked_to_stop_does_not_wait_out_the_retries_and_keeps_the_alert_queued() -> None:
    import threading
    import time

    stopping = threading.Event()
    with receiving([Answer(503, {"Retry-After": "60"})] * 10) as receiver:
        sink = WebhookSink(receiver.url, retries=4, stopping=stopping)
        threading.Timer(0.3, stopping.set).start()  # SIGTERM arrives during the first wait
        started = time.monotonic()
        with pytest.raises(SinkError, match="the watch is stopping") as refused:
            sink.deliver(record())
        assert time.monotonic() - started < 10  # not 60 s a retry
        assert not refused.value.retryable  # the rest stay queued, in order
        assert len(receiver.received) == 1
