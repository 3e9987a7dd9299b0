"""Does a project name exist on a package index? Asked through PyPI's JSON API with requests.

A declared name that no one has published is a name anyone can claim: the first upload under it
is what ``pip install`` takes. The index answers ``GET <index>/pypi/<name>/json`` with 200 and the
project's metadata, or 404 when there is no such project; anything else (a 500, a body that is not
the API's JSON, a refused connection, a timeout) is an error, never an answer.
"""

from __future__ import annotations

import threading
from urllib.parse import quote

import requests

from pytest_mlsupply.redaction import redact_url

DEFAULT_INDEX = "https://pypi.org"
TIMEOUT_SECONDS = 10.0


class IndexLookupError(Exception):
    """The index could not say whether the project exists."""


def json_api_base(index: str | None) -> str:
    """The JSON API root of an index given as pip's ``--index-url`` (``…/simple``) or a host."""
    base = (index or DEFAULT_INDEX).rstrip("/")
    if base.endswith("/simple"):
        base = base[: -len("/simple")]
    return base


class IndexClient:
    """Answers "does this project exist?" per index, once per name per process."""

    def __init__(
        self, session: requests.Session | None = None, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout
        self._known: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def exists(self, name: str, index: str | None = None) -> bool:
        """True when the index publishes ``name``, False when it answers 404.

        Raises :class:`IndexLookupError` for every other outcome.
        """
        base = json_api_base(index)
        key = (base, name)
        with self._lock:
            if key in self._known:
                return self._known[key]
        url = f"{base}/pypi/{quote(name, safe='')}/json"
        shown = redact_url(url)
        try:
            response = self.session.get(
                url, timeout=self.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise IndexLookupError(f"cannot reach {shown}: {type(exc).__name__}") from exc
        if response.status_code == 404:
            answer = False
        elif response.status_code == 200:
            try:
                data = response.json()
            except ValueError as exc:
                raise IndexLookupError(f"{shown} answered 200 but not with JSON") from exc
            if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
                raise IndexLookupError(
                    f"{shown} answered 200 without the JSON API's 'info' object (is this "
                    "index serving PyPI's JSON API?)"
                )
            answer = True
        else:
            raise IndexLookupError(f"{shown} answered HTTP {response.status_code}")
        with self._lock:
            self._known[key] = answer
        return answer


_shared: IndexClient | None = None


def shared_client() -> IndexClient:
    """One client (one connection pool, one cache of answers) per process."""
    global _shared
    if _shared is None:
        _shared = IndexClient()
    return _shared
