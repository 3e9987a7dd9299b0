"""Where the monitor's alerts go: the terminal, a JSON-lines file, a webhook.

Each sink takes one alert record at a time (:meth:`Sink.deliver`, the alert's JSON with
``raised_at``) and raises :class:`SinkError` when it could not; the watcher then leaves the alert
in the state's outbox for the next run (:mod:`.state`). Delivery is therefore *at least once*
per sink, and each sink makes a repeat harmless:

- the **JSON-lines** file is read for the ids it already holds before anything is appended, so a
  run that died between writing a line and recording it does not write the line twice; each line
  is written in one ``write`` and fsynced, and a torn last line (a crash mid-write) is cut off,
  its alert being still in the outbox;
- the **webhook** sends ``Idempotency-Key: <alert id>``: a receiver that dedupes on it sees each
  alert once even when a run dies after the POST and before recording it.

Everything a sink writes is redacted (:mod:`pytest_mlsupply.redaction`: the webhook URL is
registered before anything is printed), and every name that came from the Hub or the package
index (attacker-chosen) is escaped for the terminal (:mod:`pytest_mlsupply.printable`).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import random
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

from pytest_mlsupply import __version__
from pytest_mlsupply.monitor.alerts import Outage
from pytest_mlsupply.monitor.deadline import bounded
from pytest_mlsupply.printable import one_line
from pytest_mlsupply.redaction import (
    redact_json,
    redact_text,
    register_secret,
    register_webhook,
)

__all__ = ["JsonlSink", "Sink", "SinkError", "TerminalSink", "WebhookSink", "outage_record"]


class SinkError(Exception):
    """A sink could not take an alert; the message is safe to print (redacted).

    ``retryable`` says whether the next alert may fare better in this run: False after the
    retries ran out (the service is down: stop offering it alerts), True for a refusal of this
    one alert (a 4xx)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(redact_text(message))
        self.retryable = retryable


class Sink(Protocol):
    name: str
    """The sink's column in the state's deliveries (``terminal``, ``jsonl``, ``webhook``)."""

    def deliver(self, record: dict[str, Any]) -> None:
        """Take one alert record, or raise :class:`SinkError`."""
        ...

    def outage(self, outage: Outage) -> None:
        """Report an outage (status, not an alert: reported every run it happens)."""
        ...


def outage_record(outage: Outage) -> dict[str, Any]:
    return {
        "type": "outage",
        "source": outage.source,
        "subject": outage.subject,
        "reason": outage.reason,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class TerminalSink:
    """One line per alert: severity, rule, subject and title, every field on one line."""

    name = "terminal"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def deliver(self, record: dict[str, Any]) -> None:
        # The subject and title quote repository, file and project names someone else chose:
        # one_line escapes a newline or an ESC that would forge or erase a line.
        severity, rule = str(record.get("severity", "")), str(record.get("rule", ""))
        subject, title = str(record.get("subject", "")), str(record.get("title", ""))
        line = f"{severity.upper():<8} {one_line(rule)} {one_line(subject)}: {one_line(title)}"
        self._print(line)

    def outage(self, outage: Outage) -> None:
        line = f"OUTAGE   {one_line(outage.source)} {one_line(outage.subject)}: "
        self._print(line + one_line(outage.reason))

    def _print(self, line: str) -> None:
        # A title in Japanese on a stream that is ASCII or Latin-1 (PYTHONIOENCODING, an
        # ISO-8859-1 locale, a redirected Windows console) is written with backslash escapes:
        # raised, the terminal (the first sink) would stop every run at that alert.
        encoding = getattr(self._stream, "encoding", None) or "utf-8"
        text = redact_text(line)
        with contextlib.suppress(LookupError):  # a codec Python does not know: text as it is
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        try:
            print(text, file=self._stream, flush=True)
        except (OSError, UnicodeError) as exc:
            raise SinkError(f"terminal: cannot write: {exc}") from None


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlSink:
    """Appends one JSON object per line to a file (alerts, and ``{"type": "outage"}`` records)."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[str] | None = None
        self.notes: list[str] = []
        """What the sink had to repair (a torn last line), for the watcher to print."""

    def _written_ids(self) -> set[str]:
        """The alert ids the file already holds; a torn last line (no newline: a crash in the
        middle of a write) is cut off first, so the next line starts on a line of its own."""
        if self._ids is not None:
            return self._ids
        ids: set[str] = set()
        try:
            if not stat.S_ISREG(self.path.stat().st_mode):
                # A pipe, a FIFO, /dev/stderr: lines go through it and none can be read back,
                # so there is nothing to dedupe against or cut; reading it would fail (or wait).
                self._ids = ids
                return ids
            with self.path.open("rb+") as handle:
                data = handle.read()
                end = data.rfind(b"\n") + 1
                if end < len(data):
                    # Our own interrupted write: its alert is still undelivered in the outbox
                    # and is written again whole; left in place, the next line would join it.
                    handle.truncate(end)
                    os.fsync(handle.fileno())
                    self.notes.append(
                        f"{self.path}: removed a torn last line ({len(data) - end} bytes, "
                        "from an interrupted run); its alert is written again"
                    )
        except FileNotFoundError:
            self._ids = ids
            return ids
        except OSError as exc:
            raise SinkError(f"jsonl: cannot read {self.path}: {exc}") from None
        for line in data[:end].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line someone else wrote: not ours to judge
            if isinstance(entry, dict) and entry.get("type") == "alert":
                ids.add(str(entry.get("id")))
        self._ids = ids
        return ids

    def _append(self, entry: dict[str, Any]) -> None:
        text = _json_line(redact_json(entry))
        line = (redact_text(text) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NONBLOCK: a FIFO nobody reads is an error now (ENXIO), not a watch that waits
            # for a reader forever; on a regular file it changes nothing.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
            created = not os.path.lexists(self.path)
            fd = os.open(self.path, flags, 0o644)
            try:
                # One write of the whole line: a reader (or a crash) never sees half of it,
                # except a torn write on a full disk, which the next run cuts off.
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                if stat.S_ISREG(os.fstat(fd).st_mode):  # a pipe has nothing to sync (EINVAL)
                    os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                # The file's name is in its directory: synced too, or a power cut could lose the
                # new file whose alerts the state marks delivered once this returns.
                _sync_directory(self.path.parent)
        except OSError as exc:
            # The file may now end in part of this line: forget what was read of it, so the
            # next append (a watch loop's next run, in this process) reads it again and cuts
            # the torn tail off first instead of writing its line onto it.
            self._ids = None
            raise SinkError(f"jsonl: cannot append to {self.path}: {exc}") from None

    def deliver(self, record: dict[str, Any]) -> None:
        ids = self._written_ids()
        alert_id = str(record.get("id"))
        if alert_id in ids:
            return  # written by a run that died before recording it
        self._append({"type": "alert", **record})
        ids.add(alert_id)

    def outage(self, outage: Outage) -> None:
        self._written_ids()  # a torn line is cut off before anything is appended
        self._append(outage_record(outage))


def _json_line(entry: dict[str, Any]) -> str:
    """``entry`` as JSON, readable (non-ASCII kept) except for what is not printable.

    json.dumps escapes only C0 controls; a title the Hub's pusher chose may hold U+2028 or
    NEL (a line end for ``str.splitlines()``: the alert's line breaks in two for such a
    reader), a C1 control or a bidi override (live in ``tail -f``). Outside strings JSON has
    nothing but ASCII, so each such character is inside one, where its ``\\u`` escape means
    the same."""
    text = json.dumps(entry, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


#: Status codes worth another try below 500: the receiver is overloaded or not ready. Every
#: 5xx is retried as well (the docs' promise): a proxy's 520-524 say the receiver behind it
#: timed out or is down, which a retry can outlast.
_RETRY_STATUS = frozenset({408, 425, 429})
#: An attempt (connect, send, the whole answer) may take this many ``timeout``s: urllib's
#: timeout bounds each socket read, so a receiver that trickles its answer a byte at a time
#: would otherwise hold the run for as long as it likes.
_ATTEMPT_DEADLINE_FACTOR = 3
#: Of a receiver's answer, at most this much is read (its body means nothing to the sink).
_MAX_ANSWER_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is refused: following it would send the alert (and, for a
    307, its body) to a host the user never named."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSink:
    """POSTs each alert as JSON, with ``Idempotency-Key: <alert id>``.

    Connection errors, timeouts, 408/425/429 and 5xx are retried ``retries`` times with
    exponential backoff (``backoff`` doubled at each retry, full jitter) or the ``Retry-After`` the server asked
    for (capped at ``max_wait``); any other answer that is not 2xx is a refusal, not retried.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        stopping: threading.Event | None = None,
    ) -> None:
        register_webhook(url)  # before anything can print it (it is also redacted here)
        self._url = url
        self._target, self._authorization = _split_credentials(url)
        self._retries = retries
        self._backoff = backoff
        self._max_wait = max_wait
        self._timeout = timeout
        self._sleep = sleep
        self._stopping = stopping
        """Set when the watch was asked to stop: a retry is not waited for (a Retry-After of a
        minute, times the retries, would outlast a service manager's grace period and end in
        SIGKILL); the alert stays queued for the next run."""
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._retry_after: float | None = None
        """What the last answer's ``Retry-After`` asked for, in seconds."""

    def deliver(self, record: dict[str, Any]) -> None:
        body = json.dumps(redact_json({"type": "alert", **record})).encode("utf-8")
        alert_id = str(record.get("id"))
        problem = ""
        for attempt in range(self._retries + 1):
            if attempt:
                wait = self._wait(attempt)
                if self._stopping is None:
                    self._sleep(wait)
                elif self._stopping.wait(wait):
                    raise SinkError(
                        f"webhook: alert {alert_id} not delivered: the watch is stopping "
                        f"({problem}); it stays queued for the next run"
                    )
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": alert_id,
                "User-Agent": f"mlsupply-watch/{__version__}",
            }
            if self._authorization:
                headers["Authorization"] = self._authorization
            request = urllib.request.Request(
                self._target, data=body, method="POST", headers=headers
            )
            try:
                self._attempt(request)
                return
            except urllib.error.HTTPError as exc:
                status = exc.code
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                exc.close()
                if status not in _RETRY_STATUS and not 500 <= status <= 599:
                    raise SinkError(
                        f"webhook {redact_text(self._url)}: refused alert {alert_id} with HTTP "
                        f"{status}; not retried (fix the receiver or the URL)",
                        retryable=True,
                    ) from None
                problem = f"HTTP {status}"
                self._retry_after = _retry_after_seconds(retry_after)
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                OSError,
                # Not HTTP (a bad status line, a body cut short, a header line too long): a
                # broken receiver, retried like one that is down, never a crash of the run.
                http.client.HTTPException,
                # A host IDNA cannot encode (an empty label, one over 63 characters): a
                # UnicodeError, the URL's fault, failed like an unreachable receiver.
                ValueError,
            ) as exc:
                reason = getattr(exc, "reason", exc)
                # A bad status line is quoted in the exception: the receiver's text, on one
                # line and cut short before it reaches stderr.
                problem = one_line(f"{type(reason).__name__}: {reason}")[:200]
                self._retry_after = None
        raise SinkError(
            f"webhook {redact_text(self._url)}: alert {alert_id} not delivered after "
            f"{self._retries + 1} attempts ({problem}); it stays queued for the next run"
        )

    def _attempt(self, request: urllib.request.Request) -> None:
        """One POST and its answer, within ``timeout`` times :data:`_ATTEMPT_DEADLINE_FACTOR` in
        all (run in a daemon thread: one left behind only holds its own connection)."""

        def post() -> None:
            with self._opener.open(request, timeout=self._timeout) as answer:
                answer.read(_MAX_ANSWER_BYTES)

        # Unanswered is a TimeoutError: a failed attempt like any other, retried.
        bounded(
            post,
            self._timeout * _ATTEMPT_DEADLINE_FACTOR,
            "a complete answer",
            service="the webhook",
        )

    def _wait(self, attempt: int) -> float:
        if self._retry_after is not None:
            return min(self._retry_after, self._max_wait)
        # Full jitter: many watchers retrying one receiver spread out instead of in lockstep.
        ceiling = min(self._backoff * 2 ** (attempt - 1), self._max_wait)
        return random.uniform(ceiling / 2, ceiling)

    def outage(self, outage: Outage) -> None:
        """Outages are not posted: the webhook carries alerts, raised once each; an outage is
        the run's status (its exit status, the terminal and the JSON lines say it)."""


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@`` and the Basic ``Authorization`` that carries it.

    urllib does not read credentials from a URL: it hands ``user:password@host`` to http.client
    as the host, which never connects and quotes the password (``nonnumeric port``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    register_secret(token)  # the header's value is the password too
    return urlunsplit(parts._replace(netloc=hostport)), f"Basic {token}"


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() also takes "²" (a Latin-1 byte of a header), which
    # float() refuses; a crash here would end the run instead of retrying.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
