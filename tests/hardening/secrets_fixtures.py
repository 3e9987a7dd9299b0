"""What the secrets tests plant and where they look: unique secret values, a loopback server that
rejects every request and echoes its ``Authorization`` header back, and a walk over every file a
run wrote."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Planted:
    """Secret values no other text can contain by chance (each carries random hex)."""

    hf_token: str = field(default_factory=lambda: "hf_" + secrets.token_hex(17))
    token_file: str = field(default_factory=lambda: "hf_" + secrets.token_hex(18))
    index_password: str = field(default_factory=lambda: "s3cr3t-" + secrets.token_hex(8))
    osv_password: str = field(default_factory=lambda: "osv-" + secrets.token_hex(8))
    ci_token: str = field(default_factory=lambda: "ghs_" + secrets.token_hex(12))
    webhook_key: str = field(default_factory=lambda: "whk" + secrets.token_hex(10))

    @property
    def webhook_url(self) -> str:
        return f"https://hooks.slack.com/services/T0001/B0002/{self.webhook_key}"

    def values(self) -> dict[str, str]:
        return {
            "hf_token": self.hf_token,
            "token_file": self.token_file,
            "index_password": self.index_password,
            "osv_password": self.osv_password,
            "ci_token": self.ci_token,
            "webhook_key": self.webhook_key,
        }


class EchoServer:
    """A loopback HTTP server that answers 400 to everything, echoing the request's
    ``Authorization`` header in the body and in ``X-Error-Message`` (the Hub's error header), as a
    misconfigured proxy or a chatty server might; ``authorizations`` keeps what it was sent."""

    def __init__(self) -> None:
        self.authorizations: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reject(self, *, body: bool) -> None:
                auth = self.headers.get("Authorization", "")
                server.authorizations.append(auth)
                text = f"rejected request with Authorization: {auth}"
                payload = json.dumps({"error": text}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Error-Message", text)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def do_GET(self) -> None:
                self._reject(body=True)

            def do_HEAD(self) -> None:
                self._reject(body=False)

            def do_POST(self) -> None:
                self._reject(body=True)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def written_files(roots: Iterable[Path], inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Every regular file under ``roots`` except the ``inputs`` the test itself wrote."""
    skip = {p.resolve() for p in inputs}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.resolve() not in skip:
                yield path


def leaks(planted: Planted, texts: dict[str, bytes]) -> list[str]:
    """``name: secret`` for every planted value found in any of ``texts`` (raw bytes, so a
    file that is not UTF-8 is searched too)."""
    return [
        f"{name}: {kind}"
        for name, data in texts.items()
        for kind, value in planted.values().items()
        if value.encode() in data
    ]
