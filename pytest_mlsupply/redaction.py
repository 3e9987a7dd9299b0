"""The one place that keeps secrets out of everything the plugin writes, prints or raises.

A gate runs in CI with credentials around it: ``HF_TOKEN`` (or ``HUGGING_FACE_HUB_TOKEN``, or
huggingface_hub's token file), index URLs with a token in them
(``https://build:${TOKEN}@pypi.acme.internal/simple`` in a requirements file, pip's configuration
or ``PIP_INDEX_URL``), ``Authorization`` headers that a server may echo into an error, and the
webhook URLs a monitor posts to (``https://hooks.slack.com/services/T…/B…/secret``: whoever
knows the path can post). Any of them may reach a finding, an error message or a captured log,
and from there a BOM that is published with the release.

Two mechanisms, both applied by :func:`redact_text`:

- **known values**, registered at run time (:func:`register_secret`, :func:`register_url`,
  :func:`register_webhook`, :func:`register_environment`), are replaced wherever they appear,
  whatever text surrounds them (also in their JSON- and HTML-escaped spellings);
- **patterns** for secrets no one registered: a URL's userinfo (masked as pip masks it,
  ``https://user:****@host``), ``Authorization: <scheme> <value>``, ``Bearer <value>``, Hugging
  Face tokens (``hf_…``) and credential-like query values (``?token=…``, ``&sig=…``).

Redaction happens at the sinks rather than at each message: the atomic writer that writes every
report and cache entry, a pytest plugin that cleans test reports before junitxml and the terminal
see them, a logging filter and the CLI's output streams. Every replacement is :data:`MARKER`, so a
reader sees that something was there.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

#: What a secret is replaced with (pip's own mask, so a URL reads as ``pip`` would print it).
MARKER = "****"

#: Values shorter than this are not registered: replacing every ``pass`` or ``1234`` in a report
#: would mangle it, and a credential that short is caught by the URL pattern where it matters.
MIN_SECRET_LENGTH = 8

#: Environment variables that hold a Hugging Face token (huggingface_hub reads both).
HF_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
#: Environment variables that hold index URLs (pip's and uv's), whose credentials are secret.
INDEX_URL_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
)
#: Any other variable whose name says it holds a secret (``GITHUB_TOKEN``, ``TWINE_PASSWORD``,
#: ``SLACK_WEBHOOK_URL``, ``OPENAI_API_KEY``, ``AWS_SECRET_ACCESS_KEY``): CI puts them in the
#: environment of every step.
_SECRET_NAME = re.compile(
    r"(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|SECRET_ACCESS_KEY|WEBHOOK(?:_URL)?)$", re.I
)

# Anchored on the literal "://" rather than on the scheme: the regex engine then skips from one
# "://" to the next instead of trying every word (13 ms instead of 346 ms on a 4.3 MiB BOM,
# benchmarks/redaction_cost.py).
# The userinfo runs to the authority's last "@" (as urlsplit reads it): a password with a raw
# "@" in it (https://user:p@ss@host, which pip and requests accept) is masked whole.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>://)(?P<userinfo>[^/\s\"'<>]+)@")
# "Authorization: Bearer x", "'Authorization': 'Basic x'", "authorization=token x": the header's
# name, its separator and quotes kept, its scheme kept (it says what kind of secret it was).
_AUTHORIZATION = re.compile(
    r"(?P<head>\b(?:Proxy-)?Authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>Bearer|Basic|Token|Digest|Negotiate|Bot)\s+)?"
    r"(?P<value>(?:[^\s\"',;}\]\\<>]|\\[^\s\"\\<>])+)",
    re.I,
)
_BEARER = re.compile(r"\b(?P<head>Bearer\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.I)
# A whole token, or the head of one that a repr cut short ("hf_9c683794b...": pytest's assertion
# messages shorten long strings so).
# Starts with its literal (no \b) for the same reason; _mask_hf_token checks the word boundary.
_HF_TOKEN = re.compile(r"hf\\?_(?:[A-Za-z0-9]{30,}|[A-Za-z0-9]{6,}(?=\.\.\.))")
# A value stops at an escaped quote or backslash (JSON's \" and \\) and an angle bracket as well
# as at a quote: redaction runs on serialized reports, where a JSON escape (a name like
# 'authorization=x".pkl') or an XML closing tag follows a value, and eating it would leave a
# BOM that no longer parses; a Markdown escape inside a value (hf\_…) is part of it. A
# parameter after the first is found in its HTML (&amp;) and JSON-island (\u0026) spellings too.
_QUERY_SECRET = re.compile(
    r"(?P<head>(?:[?&]|&amp;|\\u0026)"
    r"(?:access_token|token|sig|signature|api_?key|apikey|key|password|secret|code|auth|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature)=)"
    r"(?P<value>(?:[^&#\s\"'<>\\]|\\[^\s\"\\u<>&#])+)",
    re.I,
)


_MATRIX_MARKUP = re.compile(r"[\\<>\[\]!`*_~&|]")
_SARIF_MARKUP = re.compile(r"[\\`*_{}\[\]()<>#+!|~]")


class _Registry:
    """The secret values known to this process, and one compiled pattern that finds them all."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.heads: set[str] = set()
        self.tails: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH or MARKER in value:
            return
        # The spellings a report may give it: JSON escapes quotes and backslashes, HTML and XML
        # escape ampersands and angle brackets.
        spellings = {value, json.dumps(value)[1:-1], html.escape(value, quote=True)}
        # The Markdown reports' spellings: the matrix escapes these with a backslash in inline
        # text (reports/matrix.py), SARIF's markdown these (reports/sarif.py).
        spellings |= {_MATRIX_MARKUP.sub(r"\\\g<0>", value), _SARIF_MARKUP.sub(r"\\\g<0>", value)}
        # The pieces a shortened repr shows (pytest's assertion message writes a long string as
        # 'head...tail'): a head that starts the value, a tail that ends it.
        cut = value[:_PIECE_MAX]
        heads = {cut[:n] for n in range(_PIECE_MIN, len(cut))}
        cut = value[-_PIECE_MAX:]
        tails = {cut[-n:] for n in range(_PIECE_MIN, len(cut))}
        with self._lock:
            self.heads |= heads
            self.tails |= tails
            if spellings <= self._values:
                return
            self._values |= spellings
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first: a token that contains another is replaced whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern

    def clear(self) -> None:
        with self._lock:
            self.heads.clear()
            self.tails.clear()
            self._values.clear()
            self._pattern = None


#: The shortest and longest piece of a registered value masked where a repr was shortened.
_PIECE_MIN, _PIECE_MAX = 6, 64
_PIECE = r"[A-Za-z0-9_\-]"
#: A whole run of token characters just before (or just after) an ellipsis.
_HEAD_CUT = re.compile(rf"(?<!{_PIECE})(?P<piece>{_PIECE}{{6,64}})(?=\.\.\.)")
_TAIL_CUT = re.compile(rf"(?<=\.\.\.)(?P<piece>{_PIECE}{{6,64}})(?!{_PIECE})")

_REGISTRY = _Registry()


def _mask_cut_pieces(text: str) -> str:
    """A registered value's head before an ellipsis, or its tail after one, masked: each
    occurrence is one set lookup, whatever the text holds."""
    heads, tails = _REGISTRY.heads, _REGISTRY.tails
    if not heads:
        return text
    text = _HEAD_CUT.sub(lambda m: MARKER if m["piece"] in heads else m[0], text)
    return _TAIL_CUT.sub(lambda m: MARKER if m["piece"] in tails else m[0], text)


def register_secret(value: str | None) -> None:
    """Replace ``value`` wherever it appears from now on (values under 8 characters are ignored)."""
    if value:
        _REGISTRY.add(value)


def register_url(url: str) -> None:
    """Register the credentials a URL carries (``user:password@`` or a token alone)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    if "@" not in parts.netloc:
        return
    userinfo = parts.netloc.rsplit("@", 1)[0]
    user, sep, password = userinfo.partition(":")
    # A token alone is its user part (https://${TOKEN}@host); with a password, the user stays.
    _register_userinfo_part(password if sep else user)


def _register_userinfo_part(value: str) -> None:
    # As written, and as a client sends it once decoded (p%40ss is the password p@ss).
    register_secret(value)
    register_secret(unquote(value))


def register_credentials_in(text: str) -> None:
    """Register the credentials of every URL written in ``text`` (a manifest, a config file)."""
    if "@" not in text:
        return
    for match in _URL_CREDENTIALS.finditer(text):
        user, sep, password = match["userinfo"].partition(":")
        _register_userinfo_part(password if sep else user)


def register_webhook(url: str) -> None:
    """Register a webhook URL: its path and query are the secret (whoever knows them can post).

    ``https://hooks.slack.com/services/T0/B0/xyz`` is then written ``https://hooks.slack.com****``.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    register_url(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    register_secret(secret)
    # Each part alone only when it looks like a key: "services" or "IncomingWebhook" are the
    # service's public words, and registered they would be masked in every report.
    for part in [*parts.path.split("/"), *(value for _, value in parse_qsl(parts.query))]:
        if _looks_like_a_key(part):
            register_secret(part)


def _looks_like_a_key(text: str) -> bool:
    """Letters and digits mixed (``T0AB12CD3``, ``k3yk3y...``), or long enough (24+) that no
    word is."""
    has_digit = any(c.isdigit() for c in text)
    has_letter = any(c.isalpha() for c in text)
    return (has_digit and has_letter) or len(text) >= 24


def hf_token_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where huggingface_hub keeps the token ``huggingface-cli login`` stored (its own rules:
    ``HF_TOKEN_PATH``, else ``$HF_HOME/token``, ``HF_HOME`` defaulting to
    ``$XDG_CACHE_HOME/huggingface``, ``XDG_CACHE_HOME`` to ``~/.cache``)."""
    env = os.environ if environ is None else environ
    if env.get("HF_TOKEN_PATH"):
        return Path(env["HF_TOKEN_PATH"]).expanduser()
    cache = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    home = env.get("HF_HOME") or os.path.join(cache, "huggingface")
    return Path(home).expanduser() / "token"


def register_environment(environ: Mapping[str, str] | None = None) -> None:
    """Register the secrets the environment holds: the Hugging Face token (variables and token
    file), the credentials of pip's and uv's index variables, and every variable named like a
    secret (``*_TOKEN``, ``*_PASSWORD``, ``*_SECRET``, ``*_API_KEY``, ``*_WEBHOOK_URL``)."""
    env = os.environ if environ is None else environ
    for name in HF_TOKEN_VARIABLES:
        register_secret(env.get(name))
    # The token file is the user's own credential store, not an artifact: reading it is how
    # huggingface_hub finds the token, and the only way to know the value to keep out.
    with contextlib.suppress(OSError):
        register_secret(hf_token_file(env).read_text(encoding="utf-8", errors="replace"))
    for name in INDEX_URL_VARIABLES:
        for url in (env.get(name) or "").split():
            register_url(url)
    for name, value in env.items():
        if _SECRET_NAME.search(name):
            if name.upper().endswith(("WEBHOOK", "WEBHOOK_URL")):
                register_webhook(value)
            else:
                register_secret(value)


def forget_registered_secrets() -> None:
    """Drop every registered value (tests; a long-lived process that changes credentials)."""
    _REGISTRY.clear()


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user + ':' + MARKER if sep else MARKER}@"


def _mask_hf_token(match: re.Match[str], text: str) -> str:
    start = match.start()
    inside_a_word = start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")
    return match[0] if inside_a_word else MARKER


def _mask_authorization(match: re.Match[str]) -> str:
    scheme = f"{match['scheme']} " if match["scheme"] else ""
    return f"{match['head']}{scheme}{MARKER}"


def redact_text(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped string replaced by
    :data:`MARKER`. Idempotent: redacted text comes back unchanged."""
    pattern = _REGISTRY.pattern()
    if pattern is not None:
        text = pattern.sub(MARKER, text)
    if "..." in text:
        text = _mask_cut_pieces(text)
    if "@" in text:
        text = _URL_CREDENTIALS.sub(_mask_userinfo, text)
    # The case-insensitive patterns cannot skip ahead to a literal: run them only when their
    # word is there (one lower-casing of the text is ~30x cheaper than either search).
    lowered = text.lower()
    if "authorization" in lowered:
        text = _AUTHORIZATION.sub(_mask_authorization, text)
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: m["head"] + MARKER, text)
    if "hf_" in text or "hf\\_" in text:  # the Markdown reports write hf\_
        text = _HF_TOKEN.sub(lambda m: _mask_hf_token(m, text), text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m["head"] + MARKER, text)
    return text


def redact_url(url: str) -> str:
    """``url`` with its credentials masked as pip masks them (``https://user:****@host``,
    ``https://****@host`` for a token alone) and its secret query values masked; the
    credentials are registered, so the same token is replaced anywhere else it shows up."""
    register_url(url)
    return redact_text(url)


def redact_data(data: str | bytes) -> str | bytes:
    """:func:`redact_text` for what a writer holds: bytes are redacted as UTF-8, any byte that is
    not UTF-8 kept as it was."""
    if isinstance(data, str):
        return redact_text(data)
    text = data.decode("utf-8", errors="surrogateescape")
    cleaned = redact_text(text)
    return data if cleaned == text else cleaned.encode("utf-8", errors="surrogateescape")


def redact_json(document: Any) -> Any:
    """A JSON-able ``document`` with every string redacted: for what is signed or encoded before
    it is written (an attestation's payload is base64, which no text sink can read)."""
    return json.loads(redact_text(json.dumps(document, ensure_ascii=False)))


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with each of ``secrets`` (known at the call; longest first) replaced by
    :data:`MARKER`, then :func:`redact_text`. The secrets are registered for every other sink."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MARKER)
        register_secret(secret)
    return redact_text(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message and traceback before any handler
    formats it (attached to handlers, it sees every record they emit)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as it would
            return True
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class RedactingStream:
    """A text stream that redacts each write (the CLI's stdout and stderr).

    Redaction is per write: ``print`` writes a line at once, and the CLI prints each message
    whole, so a secret is never split across two writes.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
